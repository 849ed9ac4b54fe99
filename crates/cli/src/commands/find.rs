//! `reprise find`: every version of matching paths across snapshots, as
//! `reprise_repo::browse::find` returns them.

use crate::cli::{FindArgs, GlobalOptions};
use crate::commands::filter_of;
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_repo::browse::find::FindPattern;
use reprise_repo::browse::{find, list_then_index, Found};

pub fn run(g: &GlobalOptions, args: &FindArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = list_then_index(&repo)?.snapshots;
    let selected = list.filtered(&filter_of(&args.filter));
    let pattern = FindPattern::new(&args.pattern)?;
    let results = find(&repo, &selected, &pattern)?;
    if g.json {
        let docs: Vec<_> = results
            .iter()
            .map(|Found { snapshot: (id, s), path, node }| {
                serde_json::json!({
                    "snapshot_id": id, "snapshot": id, "time": s.time, "path": output::lossy(path),
                    "type": node.kind, "size": node.size, "mtime": output::json_time_ns(node.mtime_ns),
                })
            })
            .collect();
        output::json(&docs)?;
    } else {
        for Found {
            snapshot: (id, s),
            path,
            node,
        } in &results
        {
            println!(
                "{}  {}  {:>12}  {}  {}",
                id.short(),
                output::text_time(&s.time),
                node.size,
                output::text_time_ns(node.mtime_ns),
                output::lossy(path)
            );
        }
        if !g.quiet {
            println!(
                "{}",
                output::count(results.len() as u64, "match", "matches")
            );
        }
    }
    Ok(exit::OK)
}
