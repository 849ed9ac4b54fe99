//! `reprise backup --service NAME | --all`: every source of the named
//! services of the configuration file, each as its own snapshot.

use anyhow::{bail, Result};
use reprise_backup::BackupProgress;
use reprise_detect::Verdict;
use reprise_services::backup::{back_up_services, SourceRun};
use reprise_services::config::Config;

use crate::cli::{BackupArgs, GlobalOptions};
use crate::{exit, output, repo_open};

/// The configuration file, which these commands cannot do without.
pub fn required_config(g: &GlobalOptions, command: &str) -> Result<Config> {
    match crate::commands::config::load(g)? {
        Some(loaded) => Ok(loaded.config),
        None => bail!(
            "{command} works from the configuration file: give it with --config FILE (or \
             REPRISE_CONFIG), or write /etc/reprise/reprise.toml (docs/CONFIG.md)"
        ),
    }
}

/// Checks that every name is a service of the configuration.
pub fn known_services(config: &Config, names: &[String]) -> Result<()> {
    for name in names {
        if !config.services.contains_key(name) {
            let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
            bail!(
                "there is no service {name} in the configuration (its services: {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

pub fn backup(g: &GlobalOptions, args: &BackupArgs) -> Result<u8> {
    let config = required_config(g, "backup --service")?;
    let services: Vec<String> = if args.all {
        config.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    known_services(&config, &services)?;
    let repo = repo_open::open(g)?;
    let hostname = args.host.clone().unwrap_or_else(reprise_repo::hostname);
    let runs = back_up_services(
        &repo,
        &config,
        &services,
        &hostname,
        &BackupProgress::default(),
    );
    if g.json {
        output::json(&runs.iter().map(run_json).collect::<Vec<_>>())?;
    } else {
        for run in &runs {
            output::line(&run_line(run))?;
        }
    }
    Ok(exit_status(&runs))
}

fn label(run: &SourceRun) -> String {
    match &run.database {
        Some(database) => format!("{} ({database})", run.source),
        None => run.source.clone(),
    }
}

fn run_line(run: &SourceRun) -> String {
    match &run.outcome {
        Ok(report) => {
            let summary = report.snapshot.summary.as_ref();
            let verdict = report.detection.as_ref().map_or_else(
                || "no detection".to_owned(),
                |d| d.verdict.as_str().to_owned(),
            );
            format!(
                "{}: snapshot {}, {} ({} new), verdict {verdict}",
                label(run),
                report.snapshot_id.short(),
                output::bytes(summary.map_or(0, |s| s.total_bytes)),
                output::bytes(summary.map_or(0, |s| s.bytes_added)),
            )
        }
        Err(e) => format!("{}: FAILED: {e}", label(run)),
    }
}

fn run_json(run: &SourceRun) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "source": run.source,
        "database": run.database,
        "services": run.services,
    });
    match &run.outcome {
        Ok(report) => {
            doc["snapshot_id"] = report.snapshot_id.to_string().into();
            doc["verdict"] = report
                .detection
                .as_ref()
                .map(|d| d.verdict.as_str().to_owned())
                .into();
            doc["total_bytes"] = report
                .snapshot
                .summary
                .as_ref()
                .map(|s| s.total_bytes)
                .into();
        }
        Err(e) => doc["error"] = e.to_string().into(),
    }
    doc
}

/// 1 when a source failed (no snapshot claims it), else 4 on an attack
/// verdict, else 3 when a snapshot is incomplete, else 0.
fn exit_status(runs: &[SourceRun]) -> u8 {
    let reports = || runs.iter().filter_map(|r| r.outcome.as_ref().ok());
    if runs.iter().any(|r| r.outcome.is_err()) {
        exit::FATAL
    } else if reports().any(|r| {
        r.detection
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::Attack)
    }) {
        exit::ATTACK
    } else if reports().any(|r| r.is_incomplete()) {
        exit::INCOMPLETE
    } else {
        exit::OK
    }
}
