//! `reprise demo --web`: after the demo, its town on the dashboard and the
//! public status page (reprise_web::server), with a one-time account, until
//! interrupted.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use reprise_repo::Repository;
use reprise_services::config::{Config, WebAccount};
use reprise_web::server::auth::hash_password;
use reprise_web::server::WebServer;

/// The demo's address: the dashboard's usual port on loopback, or any free
/// one when it is taken.
const DEMO_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8443);

/// Serves the demo town in `work` until the process is interrupted.
pub(super) fn serve(repo: Repository, work: &Path, json: bool) -> Result<()> {
    let catalogue = work.join("services/reprise.toml");
    let mut config = Config::load(&catalogue)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read the demo's catalogue {}", catalogue.display()))?;
    let password = one_time_password()?;
    config.web.town = Some("Saint-Exemple".into());
    config.web.data_dir = Some(work.join("web"));
    config.web.accounts = vec![WebAccount {
        name: "demo".into(),
        password_hash: hash_password(&password).map_err(anyhow::Error::msg)?,
    }];
    if config.recovery.state_dir.is_none() {
        config.recovery.state_dir = Some(work.join("recover-state"));
    }
    let preferred = SocketAddr::from(DEMO_LISTEN);
    let server = match WebServer::bind(config.clone(), repo, Some(preferred)) {
        Ok(server) => server,
        Err(_) => {
            let reopened = reopen(work)?;
            WebServer::bind(
                config,
                reopened,
                Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            )?
        }
    };
    let base = format!("https://{}", server.local_addr());
    if json {
        crate::output::json(&serde_json::json!({
            "dashboard": format!("{base}/admin"),
            "status_page": format!("{base}/"),
            "account": "demo",
            "password": password,
        }))?;
    } else {
        println!("\nThe demo town on the dashboard (Ctrl-C to stop):");
        println!("  dashboard:   {base}/admin   account demo, password {password}");
        println!("  public page: {base}/   (and {base}/en/)");
        if let Some(cert) = server.generated_cert() {
            println!(
                "  the certificate is self-signed ({}): the browser asks once to accept it",
                cert.display()
            );
        }
    }
    server.run()?;
    Ok(())
}

/// The demo's repository again (the first was given to a server that could
/// not bind).
fn reopen(work: &Path) -> Result<Repository> {
    let backend = std::sync::Arc::new(reprise_storage::LocalBackend::new(work.join("depot")));
    Ok(Repository::open(backend, b"saint-exemple-demo")?)
}

/// Eighteen lowercase letters and digits.
fn one_time_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 18];
    reprise_crypto::fill_random(&mut bytes).context("no randomness for the demo's password")?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}
