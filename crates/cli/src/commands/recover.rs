//! `reprise recover` and `reprise drill`: services brought back in
//! dependency order by the recovery engine (`reprise_services::schedule`),
//! for real or into scratch places, with the report at the end.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use reprise_databases::Replace;
use reprise_repo::browse::list_then_index;
use reprise_repo::SnapshotList;
use reprise_services::config::{Config, HealthCheck};
use reprise_services::journal::Journal;
use reprise_services::live::LiveWriter;
use reprise_services::pace::Pace;
use reprise_services::recover::{Drill, RepositoryRunner};
use reprise_services::report::{RecoveryReport, RunKind};
use reprise_services::restore::{choose_snapshots, Destination, SnapshotChoice};
use reprise_services::schedule::{run, Event, Plan, RunOptions};

use crate::cli::{DrillArgs, GlobalOptions, RecoverArgs};
use crate::commands::services::{known_services, required_config};
use crate::{exit, output, repo_open};

pub fn recover(g: &GlobalOptions, args: &RecoverArgs) -> Result<u8> {
    let config = required_config(g, "recover")?;
    known_services(&config, &args.services)?;
    let choice = choice_of(args)?;
    let repo = repo_open::open(g)?;
    let list = list_then_index(&repo)?.snapshots;
    let plan = Plan::from_config(&config, &args.services)?;
    let destination = Destination::recovery(args.target_root.clone(), replace_of(args.replace));
    let state = args
        .state_dir
        .clone()
        .unwrap_or_else(|| config.recovery.state_dir());
    let identity = identity(&plan, &list, &config, choice, &destination);
    if args.restart {
        Journal::discard(&state)?;
    }
    let journal = Journal::open(&state, &identity, &plan.names()).map_err(|e| {
        anyhow::Error::new(e).context("run `reprise recover --restart` to start over")
    })?;
    crate::interrupt::say_on_interrupt(
        "recover was interrupted: run the same command again, it resumes where it stopped",
    );
    let mut options = RunOptions::new(RunKind::Recover, &config.recovery);
    options.journal = Some(journal);
    let runner = RepositoryRunner {
        repo: &repo,
        list: &list,
        config: &config,
        choice,
        destination,
        pace: pace_of(&repo),
    };
    let mut live = LiveWriter::new(&state, RunKind::Recover, &plan.names());
    let mut display = live_display(g);
    let report = run(&plan, &runner, options, &mut |event: &Event| {
        live.observe(event);
        display(event);
    });
    if let Some(problem) = live.finish() {
        eprintln!("warning: {problem}");
    }
    if report.ok {
        Journal::discard(&state)?;
    }
    print_report(g, &report, args.html.as_deref())?;
    Ok(if report.ok { exit::OK } else { exit::FATAL })
}

pub fn drill(g: &GlobalOptions, args: &DrillArgs) -> Result<u8> {
    let config = required_config(g, "drill")?;
    known_services(&config, &args.services)?;
    let repo = repo_open::open(g)?;
    let list = list_then_index(&repo)?.snapshots;
    let mut plan = Plan::from_config(&config, &args.services)?;
    // TCP, HTTP and command checks would reach the live services, not the
    // scratch copies: a drill runs the SQL checks only.
    plan.retain_checks(|check| matches!(check, HealthCheck::Sql { .. }));
    let choice = SnapshotChoice::Latest;
    let mut drill =
        Drill::resume_or_start(&config).context("cannot prepare the drill's directory")?;
    if args.restart {
        for problem in drill.clean_up(&config, &list, choice) {
            eprintln!("warning: the interrupted drill left {problem}");
        }
        drill = Drill::resume_or_start(&config).context("cannot prepare the drill's directory")?;
    }
    let destination = drill.destination();
    let identity = identity(&plan, &list, &config, choice, &destination);
    let journal = Journal::open(&drill.journal_dir(), &identity, &plan.names()).map_err(|e| {
        anyhow::Error::new(e)
            .context("run `reprise drill --restart` to clean up and start a new drill")
    })?;
    crate::interrupt::say_on_interrupt(
        "the drill was interrupted: run it again to resume, or with --restart to clean up and start over",
    );
    let mut options = RunOptions::new(RunKind::Drill, &config.recovery);
    options.journal = Some(journal);
    let runner = RepositoryRunner {
        repo: &repo,
        list: &list,
        config: &config,
        choice,
        destination,
        pace: pace_of(&repo),
    };
    let report = run(&plan, &runner, options, &mut live_display(g));
    let record = serde_json::to_value(&report)?;
    let saved = repo.save_drill_record(&drill.id, record);
    for problem in drill.clean_up(&config, &list, choice) {
        eprintln!("warning: could not clean up {problem}");
    }
    print_report(g, &report, args.html.as_deref())?;
    saved.context("the drill ran, but its record could not be stored in the repository")?;
    Ok(if report.ok { exit::OK } else { exit::FATAL })
}

/// What past drills measured, for the order; without it the order guesses
/// from each source's kind, so a failure to read it is only a warning.
fn pace_of(repo: &reprise_repo::Repository) -> Pace {
    Pace::of_repository(repo).unwrap_or_else(|e| {
        eprintln!(
            "warning: cannot read the past drills' restore times ({e}): the order guesses them"
        );
        Pace::default()
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

/// What makes two runs the same recovery: the services, the snapshots
/// chosen for their sources, and where they go.
fn identity(
    plan: &Plan,
    list: &SnapshotList,
    config: &Config,
    choice: SnapshotChoice,
    destination: &Destination,
) -> String {
    let mut parts = vec![
        format!("{:?}", destination.target_root),
        format!("{:?}", destination.replace),
    ];
    for service in plan.services() {
        parts.push(format!("service {}", service.name));
        let sources = config
            .services
            .get(&service.name)
            .map(|s| s.sources.clone());
        for source in sources.unwrap_or_default() {
            for (database, (id, _)) in choose_snapshots(list, &source, choice) {
                parts.push(format!("{source} {database:?} {id}"));
            }
        }
    }
    hex::encode(reprise_crypto::storage_hash(parts.join("\n").as_bytes()))
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
