//! `reprise recover` and `reprise drill`: services brought back in
//! dependency order by the recovery engine (`reprise_services::schedule`),
//! for real or into scratch places, with the report at the end.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use reprise_databases::Replace;
use reprise_services::operation::{self, DrillRequest, RecoverRequest};
use reprise_services::report::RecoveryReport;
use reprise_services::restore::SnapshotChoice;
use reprise_services::schedule::Event;

use crate::cli::{DrillArgs, GlobalOptions, RecoverArgs};
use crate::commands::services::{known_services, required_config};
use crate::{exit, output, repo_open};

pub fn recover(g: &GlobalOptions, args: &RecoverArgs) -> Result<u8> {
    let config = required_config(g, "recover")?;
    known_services(&config, &args.services)?;
    let request = RecoverRequest {
        services: args.services.clone(),
        choice: choice_of(args)?,
        target_root: args.target_root.clone(),
        replace: replace_of(args.replace),
        state_dir: args.state_dir.clone(),
        restart: args.restart,
    };
    let repo = repo_open::open(g)?;
    crate::interrupt::say_on_interrupt(
        "recover was interrupted: run the same command again, it resumes where it stopped",
    );
    let report = operation::recover(&repo, &config, &request, &mut live_display(g))?;
    for note in &report.notes {
        eprintln!("warning: {note}");
    }
    print_report(g, &report, args.html.as_deref())?;
    Ok(if report.ok { exit::OK } else { exit::FATAL })
}

pub fn drill(g: &GlobalOptions, args: &DrillArgs) -> Result<u8> {
    let config = required_config(g, "drill")?;
    known_services(&config, &args.services)?;
    let repo = repo_open::open(g)?;
    crate::interrupt::say_on_interrupt(
        "the drill was interrupted: run it again to resume, or with --restart to clean up and start over",
    );
    let request = DrillRequest {
        services: args.services.clone(),
        restart: args.restart,
    };
    let outcome = operation::drill(&repo, &config, &request, &mut live_display(g))?;
    for problem in &outcome.left_behind {
        eprintln!("warning: could not clean up {problem}");
    }
    for note in &outcome.report.notes {
        eprintln!("warning: {note}");
    }
    print_report(g, &outcome.report, args.html.as_deref())?;
    if let Some(e) = outcome.record_error {
        bail!("the drill ran, but its record could not be stored in the repository: {e}");
    }
    Ok(if outcome.report.ok {
        exit::OK
    } else {
        exit::FATAL
    })
}

fn choice_of(args: &RecoverArgs) -> Result<SnapshotChoice> {
    Ok(match (&args.snapshot_time, args.last_clean) {
        (Some(_), true) => bail!("give --snapshot-time or --last-clean, not both"),
        (Some(time), false) => SnapshotChoice::AtOrBefore(parse_time(time)?),
        (None, true) => SnapshotChoice::LastClean,
        (None, false) => SnapshotChoice::Latest,
    })
}

/// "2026-12-03 03:00:00" (UTC), "2026-12-03T03:00:00Z" or "2026-12-03"
/// (the end of that day, UTC).
fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let trimmed = text.trim_end_matches(" UTC");
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Some(t) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
    {
        return Ok(t.and_utc());
    }
    bail!("{text:?} is not a time: write it as 2026-12-03, 2026-12-03 03:00:00 (UTC) or 2026-12-03T03:00:00Z")
}

fn replace_of(replace: bool) -> Replace {
    if replace {
        Replace::Existing
    } else {
        Replace::Never
    }
}

/// Prints the run's events as they come (progress at most every 10 s per
/// service), unless --quiet or --json.
fn live_display(g: &GlobalOptions) -> impl FnMut(&Event) {
    let show = !g.quiet && !g.json;
    let mut last_progress = std::collections::HashMap::new();
    move |event: &Event| {
        if !show {
            return;
        }
        if let Event::Progress { service, .. } = event {
            let now = std::time::Instant::now();
            let due = last_progress
                .get(service)
                .is_none_or(|t: &std::time::Instant| now.duration_since(*t).as_secs() >= 10);
            if !due {
                return;
            }
            last_progress.insert(service.clone(), now);
        }
        eprintln!("{}", event.describe());
    }
}

fn print_report(g: &GlobalOptions, report: &RecoveryReport, html: Option<&Path>) -> Result<()> {
    if let Some(path) = html {
        std::fs::write(path, report.to_html())
            .with_context(|| format!("cannot write the HTML report to {}", path.display()))?;
    }
    if g.json {
        return output::json(report);
    }
    output::line(&report.to_text())
}

/// The repository's drills, for `reprise drills`.
pub fn drills(g: &GlobalOptions) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let marks = repo.list_marks()?;
    let drills = marks.drill_records();
    if g.json {
        let docs: Vec<serde_json::Value> = drills
            .iter()
            .map(|d| {
                serde_json::json!({
                    "drill": d.drill,
                    "stored": output::json_time(&d.stored),
                    "hostname": d.hostname,
                    "report": d.report,
                })
            })
            .collect();
        output::json(&docs)?;
        return Ok(exit::OK);
    }
    if drills.is_empty() {
        output::line("no drill yet: run `reprise drill`")?;
        return Ok(exit::OK);
    }
    for line in crate::commands::drills::history(&drills) {
        output::line(&line)?;
    }
    Ok(exit::OK)
}
