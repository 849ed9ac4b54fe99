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
    if g.json {
        output::json(&report)?;
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
                "checked {} snapshots, {} trees, {} packs{}: {} error(s)",
                report.snapshots,
                report.trees,
                report.packs,
                if options.read_data {
                    format!(
                        " ({} read, {} blobs verified)",
                        report.packs_read, report.blobs_verified
                    )
                } else {
                    String::new()
                },
                report.errors()
            );
        }
    }
    Ok(if report.errors() == 0 {
        exit::OK
    } else {
        exit::FATAL
    })
}
