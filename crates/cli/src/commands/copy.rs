//! `reprise copy --to REPO2`: copies snapshots, incrementally, to another
//! repository, re-encrypted with its keys (`reprise_maintenance::copy`).

use crate::cli::{CopyArgs, GlobalOptions};
use crate::commands::{filter_of, select_in};
use crate::password::Source;
use crate::{exit, output, password, repo_open};
use anyhow::{bail, Context, Result};
use reprise_format::{Snapshot, SnapshotId};
use reprise_maintenance::copy_snapshots;
use reprise_repo::browse::list_then_index;
use reprise_repo::{RepoError, Repository};
use std::io::IsTerminal;

pub fn run(g: &GlobalOptions, args: &CopyArgs) -> Result<u8> {
    let src = repo_open::open(g)?;
    let dst = open_destination(g, args)?;
    if dst.config().id == src.config().id {
        bail!("--to names the repository being copied from: give another repository");
    }
    let list = list_then_index(&src)?.snapshots;
    let filter = filter_of(&args.filter);
    let selected: Vec<(SnapshotId, Snapshot)> = if args.snapshots.is_empty() {
        list.filtered(&filter).into_iter().cloned().collect()
    } else {
        args.snapshots
            .iter()
            .map(|s| select_in(&list, s, &filter))
            .collect::<Result<_, _>>()?
    };
    let report = copy_snapshots(&src, &dst, &selected)
        .with_context(|| format!("copy to {} stopped", dst.backend().location()))?;
    if g.json {
        output::json(&report)?;
    } else if !g.quiet {
        for (from, to) in &report.copied {
            println!("copied {} as {}", from.short(), to.short());
        }
        println!(
            "{} copied, {} already there; {} added ({})",
            output::count(report.copied.len() as u64, "snapshot", "snapshots"),
            report.already_there.len(),
            output::count(report.blobs_added as u64, "blob", "blobs"),
            output::bytes(report.bytes_added)
        );
    }
    Ok(exit::OK)
}

/// The destination, checked to exist before its password is asked.
fn open_destination(g: &GlobalOptions, args: &CopyArgs) -> Result<Repository> {
    let mut to = g.clone();
    to.repo = Some(args.to.clone());
    let backend = repo_open::backend(&to)?;
    let location = backend.location();
    let cannot_open = || format!("cannot open the destination repository at {location}");
    repo_open::ensure_repository(backend.as_ref())
        .map_err(|e| match e {
            RepoError::NotARepository { .. } => anyhow::Error::new(e).context(format!(
                "create it first with `reprise init --repo {}`",
                args.to
            )),
            other => other.into(),
        })
        .with_context(cannot_open)?;
    let (pw, source) = destination_password(args)?;
    Repository::open(backend, pw.as_bytes())
        .map_err(|e| repo_open::name_password_source(e, &source))
        .with_context(cannot_open)
}

/// The destination's password: `--to-password-command`, else
/// `--to-password-file`, else `REPRISE_TO_PASSWORD`, else a prompt.
fn destination_password(args: &CopyArgs) -> Result<(String, Source)> {
    let (pw, source) = if let Some(cmd) = &args.to_password_command {
        let how = "--to-password-command or REPRISE_TO_PASSWORD_COMMAND";
        (
            password::from_command(cmd)?,
            Source::Command(cmd.clone(), how.into()),
        )
    } else if let Some(file) = &args.to_password_file {
        let how = "--to-password-file or REPRISE_TO_PASSWORD_FILE";
        (
            password::from_file(file)?,
            Source::File(file.clone(), how.into()),
        )
    } else if let Ok(p) = std::env::var("REPRISE_TO_PASSWORD") {
        (p, Source::Variable("REPRISE_TO_PASSWORD".into()))
    } else if std::io::stdin().is_terminal() {
        (
            password::prompt(&format!("Password of the destination {}: ", args.to))?,
            Source::Prompt,
        )
    } else {
        bail!("no password for the destination {}: use --to-password-command or --to-password-file, or set REPRISE_TO_PASSWORD_FILE or REPRISE_TO_PASSWORD", args.to);
    };
    if pw.is_empty() {
        bail!("the destination's password from {source} is empty");
    }
    Ok((pw, source))
}
