//! `reprise snapshots`: the list of snapshots, oldest first.

use crate::cli::{FilterArgs, GlobalOptions};
use crate::commands::filter_of;
use crate::{exit, output, repo_open};
use anyhow::Result;

pub fn run(g: &GlobalOptions, args: &FilterArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = repo.list_snapshots()?;
    for (name, reason) in &list.unreadable {
        eprintln!("warning: snapshot {name} is unreadable: {reason}");
    }
    let shown = list.filtered(&filter_of(args));
    if g.json {
        let docs: Vec<_> = shown
            .iter()
            .map(|(id, s)| {
                serde_json::json!({
                    "snapshot_id": id, "id": id, "short_id": id.short(), "time": s.time, "tree": s.tree,
                    "paths": s.paths, "hostname": s.hostname, "username": s.username,
                    "tags": s.tags, "parent": s.parent, "summary": s.summary,
                    "verdict": s.detection.as_ref().map(|d| d.verdict.as_str()),
                    "detection": s.detection,
                    "incident": s.detection.as_ref().and_then(|d| d.incident.as_ref()).map(|i| &i.id),
                })
            })
            .collect();
        output::json(&docs)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<8}  {:<23}  {:<16}  {:<12}  {:>10}  {:<10}  {:<8}  paths",
        "ID", "time", "host", "tags", "size", "verdict", "incident"
    );
    for (id, s) in &shown {
        let size = s
            .summary
            .as_ref()
            .map(|x| output::bytes(x.total_bytes))
            .unwrap_or_default();
        let verdict = s.detection.as_ref().map_or("-", |d| d.verdict.as_str());
        // Taken while an incident was open: its id (the snapshot that closed
        // it included).
        let incident = s
            .detection
            .as_ref()
            .and_then(|d| d.incident.as_ref())
            .map_or("-", |i| reprise_detect::incident::short_id(&i.id));
        println!(
            "{:<8}  {:<23}  {:<16}  {:<12}  {:>10}  {:<10}  {:<8}  {}",
            id.short(),
            output::text_time(&s.time),
            s.hostname,
            s.tags.join(","),
            size,
            verdict,
            incident,
            s.paths.join(" ")
        );
    }
    println!(
        "{}",
        output::count(shown.len() as u64, "snapshot", "snapshots")
    );
    Ok(exit::OK)
}
