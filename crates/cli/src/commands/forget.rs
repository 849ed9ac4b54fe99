//! `reprise forget`: applies a retention policy per source and removes the
//! snapshots it does not keep; `--prune` then deletes the data they alone
//! used. The policy itself (and why attack-flagged or forged snapshots can
//! never push clean ones out) lives in `reprise_maintenance::forget`.

use crate::cli::{ForgetArgs, GlobalOptions, PruneArgs};
use crate::commands::{filter_of, prune};
use crate::{exit, output, repo_open};
use anyhow::{bail, Context, Result};
use chrono::Utc;
use reprise_maintenance::forget::{parse_duration, Standing};
use reprise_maintenance::{
    plan, remove_forgotten, Candidate, Decision, ForgetOutcome, KeepPolicy, MaintenanceError,
};
use reprise_repo::browse::list_then_index;

pub fn run(g: &GlobalOptions, args: &ForgetArgs) -> Result<u8> {
    let policy = policy_of(args)?;
    let repo = repo_open::open(g)?;
    // The index too: incident holds read trees.
    let list = list_then_index(&repo)?.snapshots;
    for (name, reason) in &list.unreadable {
        eprintln!("warning: snapshot {name} is unreadable and left alone: {reason}");
    }
    let (candidates, decisions) = plan(
        &repo,
        &list,
        &filter_of(&args.filter),
        &policy,
        args.keep_incident_days,
        Utc::now(),
    )?;
    if !args.dry_run && decisions.iter().any(|d| !d.keep) {
        super::refuse_without_delete_rights(&repo, "forget")?;
    }
    let outcome = remove_forgotten(&repo, &decisions, args.dry_run).map_err(|e| match e {
        MaintenanceError::RemoveSnapshot { id, source } => {
            super::deletion_failure(*source, format!("cannot remove snapshot {}", id.short()))
        }
        other => other.into(),
    })?;
    print_decisions(g, &candidates, &decisions, &outcome, args.dry_run)?;
    if !outcome.locked.is_empty() && !g.quiet {
        eprintln!(
            "{} under a retention lock and {} until it ends; run forget again later",
            output::count(outcome.locked.len() as u64, "snapshot is", "snapshots are"),
            output::agree(outcome.locked.len() as u64, "stays", "stay")
        );
    }
    if args.prune && !args.dry_run {
        drop(repo);
        return prune::run(
            g,
            &PruneArgs {
                grace: args.grace.clone(),
                dry_run: false,
            },
        );
    }
    Ok(exit::OK)
}

fn policy_of(args: &ForgetArgs) -> Result<KeepPolicy> {
    let within = match &args.keep_within {
        Some(d) => Some(parse_duration(d).with_context(|| {
            format!("--keep-within {d:?} is not a duration: write it like 14d, 12h or 1d12h")
        })?),
        None => None,
    };
    let policy = KeepPolicy {
        last: args.keep_last,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
        within,
    };
    if policy.is_empty() {
        bail!("no retention policy given: use at least one --keep-* option (for example --keep-daily 7 --keep-weekly 5 --keep-monthly 12)");
    }
    Ok(policy)
}

fn print_decisions(
    g: &GlobalOptions,
    candidates: &[Candidate],
    decisions: &[Decision],
    outcome: &ForgetOutcome,
    dry_run: bool,
) -> Result<()> {
    let locked_until = |id| {
        outcome
            .locked
            .iter()
            .find(|(l, _)| *l == id)
            .map(|(_, u)| u.clone())
    };
    if g.json {
        let docs: Vec<_> = candidates
            .iter()
            .zip(decisions)
            .map(|(c, d)| {
                serde_json::json!({
                    "snapshot_id": d.id, "id": d.id, "time": c.time, "hostname": c.hostname, "paths": lossy(&c.paths),
                    "keep": d.keep, "standing": standing_name(d.standing), "reasons": d.reasons,
                    "removed": outcome.removed.contains(&d.id),
                    "locked_until": locked_until(d.id).map(|u| output::json_time_str(&u)),
                })
            })
            .collect();
        return output::json(&serde_json::json!({ "dry_run": dry_run, "snapshots": docs }));
    }
    if g.quiet {
        return Ok(());
    }
    println!(
        "{:<8}  {:<23}  {:<16}  {:<6}  why",
        "ID", "time", "host", "fate"
    );
    for (c, d) in candidates.iter().zip(decisions) {
        let fate = match (d.keep, locked_until(d.id)) {
            (true, _) => "keep".to_string(),
            (false, Some(_)) => "locked".to_string(),
            (false, None) => "remove".to_string(),
        };
        let mut why = d.reasons.clone();
        if let Some(until) = locked_until(d.id) {
            why.push(format!("locked until {}", output::text_time_str(&until)));
        }
        let why = why.join("; ");
        println!(
            "{:<8}  {:<23}  {:<16}  {:<6}  {}",
            d.id.short(),
            output::text_time(&c.time),
            c.hostname,
            fate,
            if why.is_empty() {
                "no rule keeps it".into()
            } else {
                why
            }
        );
    }
    let forgotten = decisions.iter().filter(|d| !d.keep).count();
    if dry_run {
        println!(
            "would remove {forgotten} of {} (dry run)",
            output::count(decisions.len() as u64, "snapshot", "snapshots")
        );
    } else {
        println!(
            "removed {} of {}",
            outcome.removed.len(),
            output::count(decisions.len() as u64, "snapshot", "snapshots")
        );
    }
    Ok(())
}

fn standing_name(s: Standing) -> &'static str {
    match s {
        Standing::Trusted => "trusted",
        Standing::LateArrival => "late_arrival",
        Standing::Flagged => "flagged",
        Standing::FutureDated => "future_dated",
    }
}

/// Paths as text for display; bytes that are not UTF-8 show as U+FFFD.
fn lossy(paths: &[Vec<u8>]) -> Vec<String> {
    paths
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}
