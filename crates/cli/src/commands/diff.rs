//! `reprise diff`: what changed between two snapshots. Identical subtrees
//! (same tree id) are skipped without being read.

use crate::cli::{DiffArgs, FilterArgs, GlobalOptions};
use crate::commands::{filter_of, select_in};
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_format::{BlobId, NodeKind};
use reprise_repo::browse::{list_then_index, zip, Pair, ZipVisitor};
use reprise_repo::walk::SnapshotPath;
use reprise_repo::{Repository, WalkBudget};
use serde::Serialize;

#[derive(Serialize)]
struct Change {
    path: String,
    /// `added`, `removed`, `modified` (content), `metadata`, or `type`.
    change: &'static str,
}

/// What `diff` makes of the compared directories: one change per name
/// that differs. Below a name whose type changed, nothing is compared.
struct Differ;

impl ZipVisitor for Differ {
    type Out = Vec<(SnapshotPath, &'static str)>;

    fn descend(&self, pair: &Pair) -> bool {
        !pair.kind_changed()
    }

    fn directory(&self, _dir: &[u8], pairs: Vec<Pair>) -> Self::Out {
        pairs
            .into_iter()
            .filter_map(|p| change_of(&p).map(|change| (p.path, change)))
            .collect()
    }
}

fn change_of(pair: &Pair) -> Option<&'static str> {
    let (old, new) = match (&pair.old, &pair.new) {
        (None, _) => return Some("added"),
        (_, None) => return Some("removed"),
        (Some(old), Some(new)) => (old, new),
    };
    if old.kind != new.kind {
        return Some("type");
    }
    if old.kind == NodeKind::Dir {
        let changed = (old.mode, old.uid, old.gid) != (new.mode, new.uid, new.gid);
        return changed.then_some("metadata");
    }
    if old.content != new.content || old.target != new.target {
        Some("modified")
    } else if (old.mode, old.uid, old.gid, old.mtime_ns, &old.xattrs)
        != (new.mode, new.uid, new.gid, new.mtime_ns, &new.xattrs)
    {
        Some("metadata")
    } else {
        None
    }
}

/// The changes between two root trees, in the order of a walk (a
/// directory's entries follow it, before its next sibling).
fn changes(
    repo: &Repository,
    from: &BlobId,
    to: &BlobId,
    budget: &WalkBudget,
) -> reprise_repo::Result<Vec<Change>> {
    let mut all: Vec<_> = zip(repo, Some(from), Some(to), b"/", budget, &Differ)?
        .into_iter()
        .flatten()
        .collect();
    // Directories are compared in parallel and come back one after the
    // other: comparing paths component by component restores walk order.
    all.sort_by(|(a, _), (b, _)| a.split(|c| *c == b'/').cmp(b.split(|c| *c == b'/')));
    Ok(all
        .into_iter()
        .map(|(path, change)| Change {
            path: output::lossy(&path),
            change,
        })
        .collect())
}

pub fn run(g: &GlobalOptions, args: &DiffArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let none = FilterArgs::default();
    let list = list_then_index(&repo)?.snapshots;
    let (id_a, a) = select_in(&list, &args.from, &filter_of(&none))?;
    let (id_b, b) = select_in(&list, &args.to, &filter_of(&none))?;
    let budget = WalkBudget::for_snapshots(&[(&id_a, &a), (&id_b, &b)]);
    let changes = changes(&repo, &a.tree, &b.tree, &budget)?;
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
