//! The regular files that differ between two snapshots' trees, directory by
//! directory. Subtrees with the same id are skipped unread, so the cost
//! follows the size of the change, not of the share; subdirectories are
//! compared in parallel (after a first backup, every tree is new and must be
//! read: the analysis runs while the backup waits to write its snapshot).
//! Every directory and file compared is charged to a [`WalkBudget`], so a
//! forged snapshot whose trees reuse subtrees cannot make it endless.

use rayon::prelude::*;
use reprise_format::{BlobId, Node, NodeKind, Tree};
use reprise_repo::walk::join;
use reprise_repo::{Repository, Result, WalkBudget};
use std::collections::BTreeMap;

/// The changed files of one directory.
#[derive(Debug, Default)]
pub struct DirChanges {
    /// The directory's path in the snapshot.
    pub dir: Vec<u8>,
    /// Files whose content changed: (before, after).
    pub modified: Vec<(Node, Node)>,
    /// Files that are new at their name.
    pub added: Vec<Node>,
    /// Files that are gone from their name.
    pub removed: Vec<Node>,
}

/// Every changed directory between `old` (none for a first snapshot) and `new`.
pub fn changed_dirs(
    repo: &Repository,
    old: Option<&BlobId>,
    new: &BlobId,
    budget: &WalkBudget,
) -> Result<Vec<DirChanges>> {
    compare(repo, old, Some(new), b"", budget)
}

fn load(repo: &Repository, id: Option<&BlobId>) -> Result<Vec<Node>> {
    Ok(match id {
        Some(id) => repo.load_tree(id)?.nodes,
        None => Tree::default().nodes,
    })
}

fn compare(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    dir: &[u8],
    budget: &WalkBudget,
) -> Result<Vec<DirChanges>> {
    let mut out = Vec::new();
    if old == new {
        return Ok(out);
    }
    let mut entries: BTreeMap<Vec<u8>, (Option<Node>, Option<Node>)> = BTreeMap::new();
    let (old, new) = (load(repo, old)?, load(repo, new)?);
    budget.charge_nodes(&old)?;
    budget.charge_nodes(&new)?;
    for node in old {
        let name = node.name.as_bytes().to_vec();
        entries.entry(name).or_default().0 = Some(node);
    }
    for node in new {
        let name = node.name.as_bytes().to_vec();
        entries.entry(name).or_default().1 = Some(node);
    }
    let mut here = DirChanges {
        dir: dir.to_vec(),
        ..Default::default()
    };
    let mut subdirs = Vec::new();
    for (name, (before, after)) in entries {
        let before_dir = before
            .as_ref()
            .filter(|n| n.kind == NodeKind::Dir)
            .map(|n| n.subtree);
        let after_dir = after
            .as_ref()
            .filter(|n| n.kind == NodeKind::Dir)
            .map(|n| n.subtree);
        if before_dir.is_some() || after_dir.is_some() {
            subdirs.push((join(dir, &name), before_dir.flatten(), after_dir.flatten()));
        }
        let before = before.filter(|n| n.kind == NodeKind::File);
        let after = after.filter(|n| n.kind == NodeKind::File);
        match (before, after) {
            (Some(b), Some(a)) if b.content != a.content => here.modified.push((b, a)),
            (Some(_), Some(_)) => {}
            (Some(b), None) => here.removed.push(b),
            (None, Some(a)) => here.added.push(a),
            (None, None) => {}
        }
    }
    if !(here.modified.is_empty() && here.added.is_empty() && here.removed.is_empty()) {
        out.push(here);
    }
    let below: Vec<Vec<DirChanges>> = subdirs
        .par_iter()
        .map(|(path, before, after)| compare(repo, before.as_ref(), after.as_ref(), path, budget))
        .collect::<Result<_>>()?;
    out.extend(below.into_iter().flatten());
    Ok(out)
}
