//! `reprise prune`: deletes packs no snapshot references, in two phases
//! (see `reprise_maintenance::prune` for why that is safe alongside backups).

use crate::cli::{GlobalOptions, PruneArgs};
use crate::{exit, output, repo_open};
use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use reprise_maintenance::forget::parse_duration;
use reprise_maintenance::{prune, PruneOptions, PruneReport};

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
    if !args.dry_run {
        super::refuse_without_delete_rights(&repo, "prune")?;
    }
    let options = PruneOptions {
        grace,
        dry_run: args.dry_run,
    };
    let report = prune(&repo, &options, Utc::now()).map_err(|e| {
        super::deletion_failure(e, format!("prune of {} stopped", repo.backend().location()))
    })?;
    if g.json {
        let mut doc = serde_json::to_value(&report)?;
        // Lock ends come from the storage as text, in its own RFC 3339 form.
        for (pack, until) in doc["locked"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .zip(&report.locked)
        {
            pack[1] = output::json_time_str(&until.1).into();
        }
        output::json(&doc)?;
        return Ok(exit::OK);
    }
    if g.quiet {
        return Ok(exit::OK);
    }
    let verb = if report.dry_run { "would " } else { "" };
    println!(
        "{}, {}, {} still referenced",
        output::count(report.snapshots as u64, "snapshot", "snapshots"),
        output::count(report.packs as u64, "pack", "packs"),
        report.packs_used
    );
    println!(
        "{verb}mark {} ({}): deleted by a prune run at least {} from now",
        output::count(
            report.marked.len() as u64,
            "unreferenced pack",
            "unreferenced packs"
        ),
        output::bytes(report.marked_bytes),
        args.grace
    );
    if !report.waiting.is_empty() {
        println!(
            "{} for {} grace period to end",
            output::count(
                report.waiting.len() as u64,
                "marked pack waits",
                "marked packs wait"
            ),
            output::agree(report.waiting.len() as u64, "its", "their")
        );
    }
    print_held(&report);
    println!(
        "{verb}delete {} ({})",
        output::count(report.deleted.len() as u64, "pack", "packs"),
        output::bytes(report.deleted_bytes)
    );
    if let Some((_, until)) = report.locked.iter().max_by(|a, b| a.1.cmp(&b.1)) {
        println!(
            "skipped {} still under {} retention lock (the last until {}): a later prune deletes {}",
            output::count(report.locked.len() as u64, "pack", "packs"),
            output::agree(report.locked.len() as u64, "its", "their"),
            output::text_time_str(until),
            output::agree(report.locked.len() as u64, "it", "them")
        );
    }
    if report.index_files_replaced + report.index_files_locked > 0 {
        println!(
            "replaced {}{}",
            output::count(
                report.index_files_replaced as u64,
                "index file",
                "index files"
            ),
            if report.index_files_locked > 0 {
                format!(
                    "; {} locked and {} until {} lock ends",
                    output::count(
                        report.index_files_locked as u64,
                        "old one is",
                        "old ones are"
                    ),
                    output::agree(report.index_files_locked as u64, "stays", "stay"),
                    output::agree(report.index_files_locked as u64, "its", "their")
                )
            } else {
                String::new()
            }
        );
    }
    Ok(exit::OK)
}

/// Names the backups that keep packs from being deleted: the reason is a
/// start without an end, not the grace period.
fn print_held(report: &PruneReport) {
    if !report.held_as_bases.is_empty() {
        println!(
            "{} kept: deltas in packs that stay are stored against blobs in {}",
            output::count(
                report.held_as_bases.len() as u64,
                "unreferenced pack is",
                "unreferenced packs are"
            ),
            output::agree(report.held_as_bases.len() as u64, "it", "them")
        );
    }
    if report.held_by_running.is_empty() {
        return;
    }
    println!(
        "{} kept because {} that began before {} marked {} not finished:",
        output::count(
            report.held_by_running.len() as u64,
            "unreferenced pack is",
            "unreferenced packs are"
        ),
        output::count(report.running.len() as u64, "backup", "backups"),
        output::agree(report.held_by_running.len() as u64, "it was", "they were"),
        output::agree(report.running.len() as u64, "has", "have")
    );
    for b in &report.running {
        println!(
            "  a backup of {} on host {} started at {} and has neither a snapshot nor an end mark; it is considered dead after {} (started mark {})",
            b.paths.join(" "),
            b.hostname,
            output::text_time(&b.started),
            output::text_time(&b.dead_after),
            b.mark.get(..8).unwrap_or(&b.mark)
        );
    }
    println!("  if no such backup is still running, it was killed: run a backup of the same paths on that host (its snapshot closes the old start), or wait until then");
}
