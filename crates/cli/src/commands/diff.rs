//! `reprise diff`: what changed between two snapshots, as
//! `reprise_repo::browse::diff` lists it.

use crate::cli::{DiffArgs, FilterArgs, GlobalOptions};
use crate::commands::{filter_of, select_in};
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_repo::browse::{diff, list_then_index};
use reprise_repo::WalkBudget;
use serde::Serialize;

#[derive(Serialize)]
struct Change {
    path: String,
    /// `added`, `removed`, `modified` (content), `metadata`, or `type`.
    change: &'static str,
}

pub fn run(g: &GlobalOptions, args: &DiffArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let none = FilterArgs::default();
    let list = list_then_index(&repo)?.snapshots;
    let (id_a, a) = select_in(&list, &args.from, &filter_of(&none))?;
    let (id_b, b) = select_in(&list, &args.to, &filter_of(&none))?;
    let budget = WalkBudget::for_snapshots(&[(&id_a, &a), (&id_b, &b)]);
    let changes: Vec<Change> = diff(&repo, &a.tree, &b.tree, &budget)?
        .into_iter()
        .map(|c| Change {
            path: output::lossy(&c.path),
            change: c.kind.name(),
        })
        .collect();
    let count = |c: &str| changes.iter().filter(|x| x.change == c).count();
    if g.json {
        output::json(&serde_json::json!({
            "from": id_a, "to": id_b,
            "added": count("added"), "removed": count("removed"),
            "modified": count("modified"), "metadata": count("metadata"), "type": count("type"),
            "changes": changes,
        }))?;
        return Ok(exit::OK);
    }
    for c in &changes {
        let mark = match c.change {
            "added" => '+',
            "removed" => '-',
            "modified" => 'M',
            "metadata" => 'U',
            _ => 'T',
        };
        println!("{mark}    {}", c.path);
    }
    println!(
        "\n{} added, {} removed, {} modified, {} metadata only, {} type changed",
        count("added"),
        count("removed"),
        count("modified"),
        count("metadata"),
        count("type")
    );
    Ok(exit::OK)
}
