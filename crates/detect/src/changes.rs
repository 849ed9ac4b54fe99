//! The regular files that differ between two snapshots' trees, directory by
//! directory. Subtrees with the same id are skipped unread, so the cost
//! follows the size of the change, not of the share.

use reprise_format::{BlobId, Node, NodeKind, Tree};
use reprise_repo::walk::join;
use reprise_repo::{Repository, Result};
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
) -> Result<Vec<DirChanges>> {
    let mut out = Vec::new();
    compare(repo, old, Some(new), b"", &mut out)?;
    Ok(out)
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
    out: &mut Vec<DirChanges>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let mut entries: BTreeMap<Vec<u8>, (Option<Node>, Option<Node>)> = BTreeMap::new();
    for node in load(repo, old)? {
        let name = node.name.as_bytes().to_vec();
        entries.entry(name).or_default().0 = Some(node);
    }
    for node in load(repo, new)? {
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
    for (path, before, after) in subdirs {
        compare_subdir(repo, before, after, &path, out)?;
    }
    Ok(())
}

/// A directory on either side: an empty directory (no subtree) compares as
/// an empty tree, and one that is only on one side compares with nothing.
fn compare_subdir(
    repo: &Repository,
    before: Option<BlobId>,
    after: Option<BlobId>,
    path: &[u8],
    out: &mut Vec<DirChanges>,
) -> Result<()> {
    compare(repo, before.as_ref(), after.as_ref(), path, out)
}
