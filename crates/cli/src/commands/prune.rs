//! `reprise prune`: deletes packs no snapshot references, in two phases
//! (see `reprise_maintenance::prune` for why that is safe alongside backups).

use crate::cli::{GlobalOptions, PruneArgs};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use reprise_maintenance::forget::parse_duration;
use reprise_maintenance::{prune, PruneOptions};

pub fn run(g: &GlobalOptions, args: &PruneArgs) -> Result<u8> {
    let grace = if args.grace.trim() == "0" {
        Duration::zero()
    } else {
        parse_duration(&args.grace).with_context(|| {
            format!(
                "--grace {:?} is not a duration: write it like 1d, 12h or 0",
                args.grace
            )
        })?
    };
    let repo = repo_open::open(g)?;
    let options = PruneOptions {
        grace,
        dry_run: args.dry_run,
    };
    let report = prune(&repo, &options, Utc::now()).map_err(|e| {
        super::deletion_failure(e, format!("prune of {} stopped", repo.backend().location()))
    })?;
    if g.json {
        output::json(&report)?;
        return Ok(exit::OK);
    }
    if g.quiet {
        return Ok(exit::OK);
    }
    let verb = if report.dry_run { "would " } else { "" };
    println!(
        "{} snapshot(s), {} pack(s), {} still referenced",
        report.snapshots, report.packs, report.packs_used
    );
    println!(
        "{verb}mark {} unreferenced pack(s) ({}): deleted by a prune run at least {} from now",
        report.marked.len(),
        output::bytes(report.marked_bytes),
        args.grace
    );
    if !report.waiting.is_empty() {
        println!(
            "{} marked pack(s) wait for their grace period to end",
            report.waiting.len()
        );
    }
    println!(
        "{verb}delete {} pack(s) ({})",
        report.deleted.len(),
        output::bytes(report.deleted_bytes)
    );
    if let Some((_, until)) = report.locked.iter().max_by(|a, b| a.1.cmp(&b.1)) {
        println!(
            "skipped {} pack(s) still under their retention lock (the last until {until}): a later prune deletes them",
            report.locked.len()
        );
    }
    if report.index_files_replaced + report.index_files_locked > 0 {
        println!(
            "replaced {} index file(s){}",
            report.index_files_replaced,
            if report.index_files_locked > 0 {
                format!(
                    "; {} old one(s) are locked and stay until their lock ends",
                    report.index_files_locked
                )
            } else {
                String::new()
            }
        );
    }
    Ok(exit::OK)
}
