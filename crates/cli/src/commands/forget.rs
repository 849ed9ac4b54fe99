//! `reprise forget`: applies a retention policy per source and removes the
//! snapshots it does not keep; `--prune` then deletes the data they alone
//! used. The policy itself (and why attack-flagged or forged snapshots can
//! never push clean ones out) lives in `reprise_maintenance::forget`.

use crate::cli::{ForgetArgs, GlobalOptions, PruneArgs};
use crate::commands::{filter_of, prune, snapshots_then_index};
use crate::{exit, output, repo_open};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use reprise_maintenance::forget::{parse_duration, Standing};
use reprise_maintenance::{decide, hold, Candidate, Decision, KeepPolicy};
use reprise_repo::{Repository, SnapshotFilter, SnapshotList};
use reprise_storage::{ObjectKind, StorageError};

pub fn run(g: &GlobalOptions, args: &ForgetArgs) -> Result<u8> {
    let policy = policy_of(args)?;
    let repo = repo_open::open(g)?;
    // The index too: incident holds read trees.
    let list = snapshots_then_index(&repo)?;
    for (name, reason) in &list.unreadable {
        eprintln!("warning: snapshot {name} is unreadable and left alone: {reason}");
    }
    let (candidates, decisions) = plan(
        &repo,
        &list,
        &filter_of(&args.filter),
        &policy,
        args.keep_incident_days,
    )?;
    let outcome = remove_forgotten(&repo, &decisions, args.dry_run)?;
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

/// The fate of every snapshot `filter` selects: what the policy decides,
/// then what ransomware incidents hold whatever it says.
pub fn plan(
    repo: &Repository,
    list: &SnapshotList,
    filter: &SnapshotFilter,
    policy: &KeepPolicy,
    keep_incident_days: u32,
) -> Result<(Vec<Candidate>, Vec<Decision>)> {
    let now = Utc::now();
    let candidates: Vec<Candidate> = list
        .filtered(filter)
        .iter()
        .map(|(id, s)| Candidate {
            id: *id,
            time: s.time,
            stored: list.stored.get(id).map(|t| DateTime::<Utc>::from(*t)),
            hostname: s.hostname.clone(),
            paths: s.source_paths(),
            verdict: s.detection.as_ref().map(|d| d.verdict.clone()),
        })
        .collect();
    let mut decisions = decide(&candidates, policy, now);
    let incidents = reprise_detect::incident::loaded(repo);
    let holds =
        reprise_detect::incident::retention_holds(repo, list, &incidents, keep_incident_days, now)
            .context(
                "cannot work out what the ransomware incidents need kept; nothing was removed",
            )?;
    hold(&mut decisions, &holds);
    Ok((candidates, decisions))
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

#[derive(Default)]
pub struct Outcome {
    pub removed: Vec<reprise_format::SnapshotId>,
    pub locked: Vec<(reprise_format::SnapshotId, String)>,
}

pub fn remove_forgotten(
    repo: &reprise_repo::Repository,
    decisions: &[Decision],
    dry_run: bool,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    if !dry_run && decisions.iter().any(|d| !d.keep) {
        super::refuse_without_delete_rights(repo, "forget")?;
    }
    for d in decisions.iter().filter(|d| !d.keep) {
        if dry_run {
            continue;
        }
        match repo.backend().remove(ObjectKind::Snapshot, &d.id.to_hex()) {
            Ok(()) | Err(StorageError::NotFound { .. }) => outcome.removed.push(d.id),
            Err(StorageError::Locked { until, .. }) => outcome.locked.push((d.id, until)),
            Err(e) => {
                return Err(super::deletion_failure(
                    e,
                    format!("cannot remove snapshot {}", d.id.short()),
                ))
            }
        }
    }
    Ok(outcome)
}

fn print_decisions(
    g: &GlobalOptions,
    candidates: &[Candidate],
    decisions: &[Decision],
    outcome: &Outcome,
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
