//! `reprise incident list|show|open|resolve`: the ransomware incidents of a
//! repository (`reprise_detect::incident`), and the operator's two
//! decisions: confirming a suspicious snapshot as an attack, and closing an
//! incident after the clean-up.

use crate::cli::{GlobalOptions, IncidentCommand};
use crate::commands::select_in;
use crate::{exit, output, repo_open};
use anyhow::{bail, Result};
use reprise_detect::incident::{self, Incident};
use reprise_repo::browse::list_then_index;
use reprise_repo::{SnapshotFilter, SnapshotList};

pub fn run(g: &GlobalOptions, command: &IncidentCommand) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = list_then_index(&repo)?.snapshots;
    let incidents = incident::loaded(&repo);
    match command {
        IncidentCommand::List => print_list(g, &incidents),
        IncidentCommand::Show { id } => print_one(g, &list, found(&incidents, id)?),
        IncidentCommand::Open { snapshot, reason } => {
            let (id, s) = select_in(&list, snapshot, &SnapshotFilter::default())?;
            if let Some(open) = incidents.iter().find(|i| i.is_open() && i.is_of(&s)) {
                bail!(
                    "incident {} is already open for this source: see `reprise incident show {}`",
                    short(&open.id),
                    short(&open.id)
                );
            }
            let record = incident::confirm(&repo, &list, &id, &s, reason)?;
            let new_id = record.incident.clone();
            repo.save_incident_record(record)?;
            if g.json {
                output::json(&serde_json::json!({
                    "action": "opened", "incident": new_id, "snapshot_id": id,
                }))?;
            } else if !g.quiet {
                println!(
                    "incident {} opened for snapshot {}: every backup of this source now reports it until it is cleaned up or resolved",
                    short(&new_id),
                    id.short()
                );
            }
            Ok(exit::OK)
        }
        IncidentCommand::Resolve { id, reason } => {
            let incident = found(&incidents, id)?;
            if !incident.is_open() {
                bail!(
                    "incident {} is already closed ({})",
                    short(&incident.id),
                    incident.status_phrase()
                );
            }
            repo.save_incident_record(incident::resolution(incident, reason))?;
            if g.json {
                output::json(&serde_json::json!({
                    "action": "resolved", "incident": incident.id,
                }))?;
            } else if !g.quiet {
                println!(
                    "incident {} resolved; its clean copies stay kept by forget for --keep-incident-days (default {}) from now",
                    short(&incident.id),
                    incident::KEEP_INCIDENT_DAYS
                );
            }
            Ok(exit::OK)
        }
    }
}

fn short(id: &str) -> &str {
    incident::short_id(id)
}

fn found<'a>(incidents: &'a [Incident], id: &str) -> Result<&'a Incident> {
    match incident::find(incidents, id) {
        Some(i) => Ok(i),
        None if incidents.iter().any(|i| i.id.starts_with(id)) => {
            bail!("incident id {id:?} is ambiguous: give more digits (see `reprise incident list`)")
        }
        None => bail!("no incident {id:?} in this repository (see `reprise incident list`)"),
    }
}

/// An incident as JSON: the snapshot of a wave or closure is under
/// `snapshot_id`, like every snapshot id in JSON (and, deprecated, under
/// `snapshot` as in 0.1).
fn incident_json(i: &Incident) -> serde_json::Value {
    let mut doc = serde_json::json!(i);
    let alias = |part: &mut serde_json::Value| {
        if part.is_object() {
            part["snapshot_id"] = part["snapshot"].clone();
        }
    };
    doc["waves"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .for_each(alias);
    alias(&mut doc["closed"]);
    doc
}

fn print_list(g: &GlobalOptions, incidents: &[Incident]) -> Result<u8> {
    let mut sorted: Vec<&Incident> = incidents.iter().collect();
    sorted.sort_by_key(|i| (!i.is_open(), std::cmp::Reverse(i.opened)));
    if g.json {
        output::json(&sorted.iter().map(|i| incident_json(i)).collect::<Vec<_>>())?;
        return Ok(exit::OK);
    }
    if sorted.is_empty() {
        output::line("no incident")?;
        return Ok(exit::OK);
    }
    output::line(&format!(
        "{:<8}  {:<6}  {:<16}  {:<23}  {:>5}  {:>5}  paths",
        "ID", "state", "host", "opened", "files", "notes"
    ))?;
    for i in sorted {
        let notes = i.files.iter().filter(|f| f.note).count();
        output::line(&format!(
            "{:<8}  {:<6}  {:<16}  {:<23}  {:>5}  {:>5}  {}",
            short(&i.id),
            if i.is_open() { "OPEN" } else { "closed" },
            i.hostname,
            output::text_time(&i.opened),
            i.files.len() - notes,
            notes,
            i.paths.join(" ")
        ))?;
    }
    Ok(exit::OK)
}

fn print_one(g: &GlobalOptions, list: &SnapshotList, i: &Incident) -> Result<u8> {
    if g.json {
        output::json(&incident_json(i))?;
        return Ok(exit::OK);
    }
    output::line(&format!("incident {} ({})", i.id, i.status_phrase()))?;
    output::line(&format!("  source: {} {}", i.hostname, i.paths.join(" ")))?;
    let snap = |s: &Option<reprise_format::SnapshotId>| s.map_or("-".to_string(), |s| s.short());
    output::line(&format!("  seen in snapshot: {}", snap(&i.opened_by)))?;
    output::line(&format!(
        "  last clean snapshot: {}",
        i.last_clean.map_or(
            "none (the first backup was already attacked)".to_string(),
            |s| s.short()
        )
    ))?;
    for (n, w) in i.waves.iter().enumerate() {
        output::line(&format!(
            "  wave {}: {}, {} (snapshot {})",
            n + 1,
            output::count(w.files as u64, "file", "files"),
            output::text_time(&w.at),
            snap(&w.snapshot)
        ))?;
    }
    if let Some(c) = &i.closed {
        output::line(&format!(
            "  closed by {} on {}{}: {}",
            c.by,
            c.host,
            c.snapshot
                .map(|s| format!(" (snapshot {})", s.short()))
                .unwrap_or_default(),
            c.reason
        ))?;
    }
    output::line("  files:")?;
    for f in &i.files {
        let what = match (&f.replaced, f.note) {
            (_, true) => "ransom note".to_string(),
            (Some(r), _) => format!("encrypted copy of {r}"),
            (None, _) => "encrypted".to_string(),
        };
        output::line(&format!("    {}  ({what})", f.path))?;
    }
    let newest = list
        .snapshots
        .iter()
        .filter(|(_, s)| i.is_of(s))
        .max_by_key(|(_, s)| s.time);
    if let (true, Some((id, _))) = (i.is_open(), newest) {
        output::line(&format!(
            "recover with: reprise restore {} --last-clean --in-place PATH (or --target DIR); close with: reprise incident resolve {} --reason TEXT",
            id.short(),
            short(&i.id)
        ))?;
    }
    Ok(exit::OK)
}
