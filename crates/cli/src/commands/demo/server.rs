//! The demo's last act: the town hall's backup client is in the attacker's
//! hands. Its backups go to an append-only server (reprise-server, started
//! here on a loopback port), and its token lets it add backups and nothing
//! else: deleting a snapshot, replacing one, or planting a forged object is
//! refused, and every snapshot is still there and sound afterwards.

use super::{backup, backup_detail, check_every_byte, Demo};
use anyhow::{bail, Context, Result};
use reprise_repo::{InitOptions, Repository};
use reprise_server::{token, Config, Role, Server, ServerHandle, TokenEntry};
use reprise_storage::{ObjectKind, StorageError, WriteOutcome};
use reprise_storage_rest::RestBackend;
use std::path::Path;
use std::sync::Arc;

const TOKEN_NAME: &str = "poste-mairie";

pub(super) fn run(demo: &mut Demo, share: &Path, work: &Path) -> Result<()> {
    let (server, backend) = demo.timed("start an append-only server", || start(work))?;
    let location = reprise_storage::Backend::location(&backend);
    let (repo, snapshot) = demo.timed("back up through the server (rest:)", || {
        let repo = Repository::init(
            Arc::new(backend),
            b"saint-exemple-demo",
            &InitOptions::default(),
        )?;
        let r = backup(&repo, share)?;
        let detail = format!("{} into {location}", backup_detail(&r));
        Ok(((repo, r.snapshot_id.to_hex()), detail))
    })?;
    let refusals = demo.timed("client tries to destroy backups", || {
        let refusals = attack(&repo, &snapshot)?;
        let detail = "3 attempts, 3 refused: delete (HTTP 403), overwrite (409), forge (400)";
        Ok((refusals, detail.to_string()))
    })?;
    if !demo.json {
        for line in &refusals {
            println!("{:>9}  {line}", "");
        }
    }
    demo.timed("backups on the server intact", || {
        let snapshots = repo.list_snapshots()?.snapshots.len();
        let r = check_every_byte(&repo)?;
        if snapshots != 1 {
            bail!("the server holds {snapshots} snapshot(s) instead of 1");
        }
        Ok((
            (),
            format!(
                "{snapshots} snapshot, {} packs read, no error",
                r.packs_read
            ),
        ))
    })?;
    server.stop()?;
    Ok(())
}

/// A server with one append token, and a client backend holding it.
fn start(work: &Path) -> Result<((ServerHandle, RestBackend), String)> {
    let secret = token::generate()?;
    let mut config = Config::new("127.0.0.1:0".parse()?, work.join("serveur"));
    config.retention_days = 30;
    config.tokens = vec![TokenEntry::new(
        TOKEN_NAME,
        Role::Append,
        token::hash(&secret),
    )];
    let server = Server::bind(&config, None)?;
    let cacert = server
        .generated_cert()
        .context("the demo server has no generated certificate")?
        .to_path_buf();
    let handle = server.spawn()?;
    let url = format!("https://{}/mairie", handle.addr());
    let backend = RestBackend::new(&url, Some(secret), Some(&cacert))?;
    let detail = format!(
        "https://{}: TLS (self-signed), token {TOKEN_NAME} with role append, retention 30 days",
        handle.addr()
    );
    Ok(((handle, backend), detail))
}

/// What malware holding the client's token would try; returns the refusals.
fn attack(repo: &Repository, snapshot: &str) -> Result<Vec<String>> {
    let backend = repo.backend();
    let mut refusals = Vec::new();
    match backend.remove(ObjectKind::Snapshot, snapshot) {
        Err(e @ StorageError::Refused { .. }) => refusals.push(format!("delete: {e}")),
        other => bail!("the server did not refuse to delete a snapshot: {other:?}"),
    }
    match backend.write_once(ObjectKind::Snapshot, snapshot, b"encrypted by ransomware") {
        Ok(WriteOutcome::AlreadyExisted) => refusals.push(format!(
            "overwrite: snapshot {} already exists on the server, which never replaces an object (HTTP 409)",
            &snapshot[..8]
        )),
        other => bail!("the server did not refuse to overwrite a snapshot: {other:?}"),
    }
    let forged = "0".repeat(64);
    match backend.write_once(ObjectKind::Snapshot, &forged, b"a forged snapshot") {
        Err(e @ StorageError::Remote { .. }) => refusals.push(format!("forge: {e}")),
        other => bail!("the server accepted a forged object: {other:?}"),
    }
    Ok(refusals)
}
