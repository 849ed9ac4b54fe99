//! `reprise check`: every problem, with the snapshots and files it affects.

use crate::cli::{CheckArgs, GlobalOptions};
use crate::progress::{self, Ticker};
use crate::{exit, output, repo_open};
use anyhow::{bail, Result};
use reprise_check::{CheckOptions, CheckProgress, Severity};
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn parse_percent(text: &str) -> Result<f64> {
    let value: f64 = text.trim_end_matches('%').trim().parse().map_err(|_| {
        anyhow::anyhow!("--read-data-subset {text:?}: expected a percentage such as 10%")
    })?;
    if !(value > 0.0 && value <= 100.0) {
        bail!("--read-data-subset {text:?}: must be between 0 and 100%");
    }
    Ok(value)
}

pub fn run(g: &GlobalOptions, args: &CheckArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let percent = args
        .read_data_subset
        .as_deref()
        .map(parse_percent)
        .transpose()?;
    let options = CheckOptions {
        read_data: args.read_data || percent.is_some(),
        read_data_percent: percent,
    };
    let progress = Arc::new(CheckProgress::default());
    let ticker = {
        let p = Arc::clone(&progress);
        Ticker::start(
            progress::wanted(g) && options.read_data,
            progress::Unit::Items,
            move || {
                (
                    p.packs_done.load(Ordering::Relaxed),
                    p.packs_total.load(Ordering::Relaxed),
                    "packs".into(),
                )
            },
        )
    };
    let report = reprise_check::run(&repo, &options, &progress)?;
    drop(ticker);
    mark_damaged(g, &repo, &report);
    record_check(g, &repo, &options, &report);
    if g.json {
        let mut doc = serde_json::to_value(&report)?;
        // The snapshot a finding affects is under `snapshot_id`, like every
        // snapshot id in JSON (and, deprecated, `snapshot` as in 0.1).
        let findings = doc["findings"].as_array_mut().into_iter().flatten();
        for affected in findings.flat_map(|f| f["affected"].as_array_mut().into_iter().flatten()) {
            affected["snapshot_id"] = affected["snapshot"].clone();
        }
        output::json(&doc)?;
    } else {
        for f in &report.findings {
            let level = if f.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            println!("{level}: {}: {}", f.object, f.message);
            for a in &f.affected {
                println!(
                    "    affects snapshot {} file {}",
                    a.snapshot.short(),
                    a.path
                );
            }
        }
        if !g.quiet {
            println!(
                "checked {}, {}, {}{}{}: {}",
                output::count(report.snapshots as u64, "snapshot", "snapshots"),
                output::count(report.trees as u64, "tree", "trees"),
                output::count(report.packs as u64, "pack", "packs"),
                if options.read_data {
                    format!(
                        " ({} read, {} verified)",
                        report.packs_read,
                        output::count(report.blobs_verified as u64, "blob", "blobs")
                    )
                } else {
                    String::new()
                },
                if report.locks_checked > 0 {
                    format!(
                        ", {}",
                        output::count(report.locks_checked as u64, "lock", "locks")
                    )
                } else {
                    String::new()
                },
                output::count(report.errors() as u64, "error", "errors")
            );
        }
    }
    Ok(if report.errors() == 0 {
        exit::OK
    } else {
        exit::FATAL
    })
}

/// Records what this check covered and found, for the dashboard and the
/// metrics (how long since every byte was read). A repository this client
/// may not write to is still checked; the record is only missing.
fn record_check(
    g: &GlobalOptions,
    repo: &reprise_repo::Repository,
    options: &CheckOptions,
    report: &reprise_check::CheckReport,
) {
    let read_data_percent = match (options.read_data, options.read_data_percent) {
        (false, _) => 0.0,
        (true, None) => 100.0,
        (true, Some(percent)) => percent,
    };
    let record = reprise_format::CheckRecord {
        read_data_percent,
        snapshots: report.snapshots,
        packs: report.packs,
        packs_read: report.packs_read,
        errors: report.errors() as u64,
    };
    if let Err(e) = repo.save_check_record(record) {
        if !g.quiet {
            eprintln!("warning: the check's record could not be stored ({e}); the check itself is complete");
        }
    }
}

/// Records the blob copies found damaged in a mark, so that the next backup
/// that meets their content stores it again instead of deduplicating
/// against the bad copy (poisoned or bit-rotted). Copies already marked are
/// not marked twice. A repository this client may not write to keeps
/// working; the mark is only an optimisation of healing.
fn mark_damaged(
    g: &GlobalOptions,
    repo: &reprise_repo::Repository,
    report: &reprise_check::CheckReport,
) {
    let known: std::collections::HashSet<(reprise_format::BlobId, reprise_format::PackId)> =
        match repo.list_marks() {
            Ok(list) => list
                .marks
                .iter()
                .filter_map(|m| match &m.mark.body {
                    reprise_format::MarkBody::Damaged { blobs } => Some(blobs),
                    _ => None,
                })
                .flatten()
                .map(|c| (c.blob, c.pack))
                .collect(),
            Err(_) => Default::default(),
        };
    let new: Vec<_> = report
        .damaged_copies
        .iter()
        .filter(|c| !known.contains(&(c.blob, c.pack)))
        .cloned()
        .collect();
    if new.is_empty() {
        return;
    }
    let count = new.len();
    match repo.save_mark(reprise_format::MarkBody::Damaged { blobs: new }) {
        Ok(_) if !g.quiet && !g.json => println!(
            "marked {count} damaged blob cop(ies): the next backups store their content again, which heals every snapshot that uses them"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not record the damaged blobs in a mark ({e}); backups will keep deduplicating against them until one is written"),
    }
}
