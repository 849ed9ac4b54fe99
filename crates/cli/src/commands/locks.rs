//! `reprise locks extend`: renews the storage lock of every object the
//! snapshots still need to now + retention, so that a repository whose
//! objects were locked for 30 days stays locked as long as it is used.
//! Packs no snapshot references are left to expire, for `prune`.

use crate::cli::{GlobalOptions, LocksCommand, LocksExtendArgs};
use crate::{exit, output, repo_open};
use anyhow::{bail, Result};
use reprise_repo::browse::list_then_index;
use reprise_repo::locks::{self, ExtendReport, LiveSet};
use std::time::SystemTime;

pub fn run(g: &GlobalOptions, command: &LocksCommand) -> Result<u8> {
    match command {
        LocksCommand::Extend(args) => extend(g, args),
    }
}

fn extend(g: &GlobalOptions, args: &LocksExtendArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let Some(policy) = repo.lock_policy() else {
        bail!(
            "the repository at {} has no lock policy: only repositories created with `reprise init --object-lock` have locks to extend",
            repo.backend().location()
        );
    };
    let list = list_then_index(&repo)?.snapshots;
    let mut live = locks::live_objects(&repo, &list.snapshots)?;
    // Without every tree, which packs are needed is unknown: keep them all.
    if !live.incomplete.is_empty() {
        live.objects.append(&mut live.unreferenced_packs);
    }
    let until = policy.until_from(SystemTime::now());
    let report = locks::extend_locks(&repo, &policy, &live.objects, until, args.dry_run);
    if g.json {
        output::json(&summary(&live, &report, args.dry_run))?;
    } else {
        print_text(g, &live, &report, args.dry_run);
    }
    Ok(if report.failed.is_empty() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn summary(live: &LiveSet, report: &ExtendReport, dry_run: bool) -> serde_json::Value {
    serde_json::json!({
        "dry_run": dry_run,
        "until": report.until.map(|t| output::json_time(&t.into())),
        "live_objects": live.objects.len(),
        "extended": report.extended,
        "unchanged": report.unchanged,
        "failed": report.failed.iter().map(|(object, error)| {
            serde_json::json!({ "object": object, "error": error })
        }).collect::<Vec<_>>(),
        "unreferenced_packs": live.unreferenced_packs.len(),
        "incomplete_snapshots": live.incomplete.iter().map(|(id, reason)| {
            serde_json::json!({ "snapshot_id": id, "snapshot": id, "error": reason })
        }).collect::<Vec<_>>(),
    })
}

fn print_text(g: &GlobalOptions, live: &LiveSet, report: &ExtendReport, dry_run: bool) {
    for (object, error) in &report.failed {
        eprintln!("reprise: error: {object}: {error}");
    }
    for (id, reason) in &live.incomplete {
        eprintln!(
            "reprise: warning: snapshot {}: not every tree could be read ({reason}); every pack was kept locked",
            id.short()
        );
    }
    if g.quiet {
        return;
    }
    let until = report
        .until
        .map(|t| output::text_time(&t.into()))
        .unwrap_or_default();
    let verb = if dry_run { "would renew" } else { "renewed" };
    println!(
        "{verb} the locks of {} until {until}; {} already locked that long{}",
        output::count(report.extended as u64, "object", "objects"),
        report.unchanged,
        if report.failed.is_empty() {
            String::new()
        } else {
            format!("; {} failed", report.failed.len())
        }
    );
    println!(
        "{} no snapshot needs {} left to expire",
        output::count(live.unreferenced_packs.len() as u64, "pack", "packs"),
        output::agree(live.unreferenced_packs.len() as u64, "was", "were")
    );
}
