//! `reprise copy --to REPO2`: copies snapshots, incrementally, to another
//! repository, re-encrypted with its keys (`reprise_maintenance::copy`).

use crate::cli::{CopyArgs, GlobalOptions};
use crate::commands::{filter_of, select_in};
use crate::{exit, output, password, repo_open};
use anyhow::{bail, Context, Result};
use reprise_format::{Snapshot, SnapshotId};
use reprise_maintenance::copy_snapshots;
use reprise_repo::browse::list_then_index;
use reprise_repo::Repository;

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
            "{} snapshot(s) copied, {} already there; {} blob(s) added ({})",
            report.copied.len(),
            report.already_there.len(),
            report.blobs_added,
            output::bytes(report.bytes_added)
        );
    }
    Ok(exit::OK)
}

fn open_destination(g: &GlobalOptions, args: &CopyArgs) -> Result<Repository> {
    let mut to = g.clone();
    to.repo = Some(args.to.clone());
    let backend = repo_open::backend(&to)?;
    let location = backend.location();
    let pw = match (&args.to_password_file, std::env::var("REPRISE_TO_PASSWORD")) {
        (Some(file), _) => password::from_file(file)?,
        (None, Ok(p)) if !p.is_empty() => p,
        _ => bail!("no password for the destination {location}: use --to-password-file or set REPRISE_TO_PASSWORD_FILE or REPRISE_TO_PASSWORD"),
    };
    Repository::open(backend, pw.as_bytes())
        .with_context(|| format!("cannot open the destination repository at {location}"))
}
