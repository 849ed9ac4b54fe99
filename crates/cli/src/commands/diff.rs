//! `reprise diff`: what changed between two snapshots. Identical subtrees
//! (same tree id) are skipped without being read.

use crate::cli::{DiffArgs, FilterArgs, GlobalOptions};
use crate::commands::{filter_of, select_in, snapshots_then_index};
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_format::{BlobId, Node, NodeKind, Tree};
use reprise_repo::walk::{join, walk};
use reprise_repo::{Repository, WalkBudget};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Change {
    path: String,
    /// `added`, `removed`, `modified` (content), `metadata`, or `type`.
    change: &'static str,
}

struct Differ<'a> {
    repo: &'a Repository,
    /// Bounds the walk of forged snapshots whose trees reuse subtrees.
    budget: WalkBudget,
    changes: Vec<Change>,
}

fn tree_or_empty(repo: &Repository, id: Option<&BlobId>) -> reprise_repo::Result<Tree> {
    match id {
        Some(id) => repo.load_tree(id),
        None => Ok(Tree::default()),
    }
}

impl Differ<'_> {
    fn push(&mut self, path: &[u8], change: &'static str) {
        self.changes.push(Change {
            path: output::lossy(path),
            change,
        });
    }

    fn all_under(
        &mut self,
        node: &Node,
        path: &[u8],
        change: &'static str,
    ) -> reprise_repo::Result<()> {
        self.push(path, change);
        if let Some(sub) = node.subtree.filter(|_| node.kind == NodeKind::Dir) {
            let mut found = Vec::new();
            walk(self.repo, &sub, path, &self.budget, &mut |p, _| {
                found.push(p.to_vec());
                Ok(true)
            })?;
            for p in found {
                self.push(&p, change);
            }
        }
        Ok(())
    }

    fn trees(
        &mut self,
        a: Option<&BlobId>,
        b: Option<&BlobId>,
        base: &[u8],
    ) -> reprise_repo::Result<()> {
        if a == b {
            return Ok(());
        }
        let mut entries: BTreeMap<Vec<u8>, (Option<Node>, Option<Node>)> = BTreeMap::new();
        let (a, b) = (tree_or_empty(self.repo, a)?, tree_or_empty(self.repo, b)?);
        self.budget.charge_nodes(&a.nodes)?;
        self.budget.charge_nodes(&b.nodes)?;
        for n in a.nodes {
            let name = n.name.0.clone();
            entries.entry(name).or_default().0 = Some(n);
        }
        for n in b.nodes {
            let name = n.name.0.clone();
            entries.entry(name).or_default().1 = Some(n);
        }
        for (name, pair) in entries {
            let path = join(base, &name);
            match pair {
                (None, Some(new)) => self.all_under(&new, &path, "added")?,
                (Some(old), None) => self.all_under(&old, &path, "removed")?,
                (Some(old), Some(new)) => self.pair(&old, &new, &path)?,
                (None, None) => {}
            }
        }
        Ok(())
    }

    fn pair(&mut self, old: &Node, new: &Node, path: &[u8]) -> reprise_repo::Result<()> {
        if old.kind != new.kind {
            self.push(path, "type");
            return Ok(());
        }
        if old.kind == NodeKind::Dir {
            if (old.mode, old.uid, old.gid) != (new.mode, new.uid, new.gid) {
                self.push(path, "metadata");
            }
            return self.trees(old.subtree.as_ref(), new.subtree.as_ref(), path);
        }
        if old.content != new.content || old.target != new.target {
            self.push(path, "modified");
        } else if (old.mode, old.uid, old.gid, old.mtime_ns, &old.xattrs)
            != (new.mode, new.uid, new.gid, new.mtime_ns, &new.xattrs)
        {
            self.push(path, "metadata");
        }
        Ok(())
    }
}

pub fn run(g: &GlobalOptions, args: &DiffArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let none = FilterArgs::default();
    let list = snapshots_then_index(&repo)?;
    let (id_a, a) = select_in(&list, &args.from, &filter_of(&none))?;
    let (id_b, b) = select_in(&list, &args.to, &filter_of(&none))?;
    let mut differ = Differ {
        repo: &repo,
        budget: WalkBudget::for_snapshots(&[(&id_a, &a), (&id_b, &b)]),
        changes: Vec::new(),
    };
    differ.trees(Some(&a.tree), Some(&b.tree), b"/")?;
    let count = |c: &str| differ.changes.iter().filter(|x| x.change == c).count();
    if g.json {
        output::json(&serde_json::json!({
            "from": id_a, "to": id_b,
            "added": count("added"), "removed": count("removed"),
            "modified": count("modified"), "metadata": count("metadata"), "type": count("type"),
            "changes": differ.changes,
        }))?;
        return Ok(exit::OK);
    }
    for c in &differ.changes {
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
