//! `diff`: what changed between two snapshots, path by path, from the
//! tree zip. Below a name whose type changed nothing is compared (the type
//! change says it all); below an added or removed directory every entry is
//! listed as added or removed.

use crate::browse::zip::{zip, Pair, ZipVisitor};
use crate::walk::SnapshotPath;
use crate::{Repository, Result, WalkBudget};
use reprise_format::{BlobId, Node, NodeKind};

/// How a path differs between the two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    /// The content of a file, or the target of a symlink.
    Modified,
    /// Mode, owner, times or extended attributes only.
    Metadata,
    /// A file became a directory, a symlink, …
    Type,
}

impl ChangeKind {
    /// Its name in `reprise diff --json`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
            ChangeKind::Metadata => "metadata",
            ChangeKind::Type => "type",
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: SnapshotPath,
    pub kind: ChangeKind,
}

/// The changes from the root tree `from` to the root tree `to`, in walk
/// order (a directory's entries follow it, before its next sibling).
pub fn diff(
    repo: &Repository,
    from: &BlobId,
    to: &BlobId,
    budget: &WalkBudget,
) -> Result<Vec<Change>> {
    let mut all: Vec<Change> = zip(repo, Some(from), Some(to), b"/", budget, &Differ)?
        .into_iter()
        .flatten()
        .collect();
    // Directories are compared in parallel and come back one after the
    // other: comparing paths component by component restores walk order.
    all.sort_by(|a, b| components(&a.path).cmp(components(&b.path)));
    Ok(all)
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|c| *c == b'/')
}

struct Differ;

impl ZipVisitor for Differ {
    type Out = Vec<Change>;

    fn descend(&self, pair: &Pair) -> bool {
        !pair.kind_changed()
    }

    fn directory(&self, _dir: &[u8], pairs: Vec<Pair>) -> Self::Out {
        pairs
            .into_iter()
            .filter_map(|p| {
                let kind = change_of(p.old.as_ref(), p.new.as_ref())?;
                Some(Change { path: p.path, kind })
            })
            .collect()
    }
}

fn change_of(old: Option<&Node>, new: Option<&Node>) -> Option<ChangeKind> {
    let (old, new) = match (old, new) {
        (None, _) => return Some(ChangeKind::Added),
        (_, None) => return Some(ChangeKind::Removed),
        (Some(old), Some(new)) => (old, new),
    };
    if old.kind != new.kind {
        return Some(ChangeKind::Type);
    }
    let owner = |n: &Node| (n.mode, n.uid, n.gid);
    if old.kind == NodeKind::Dir {
        return (owner(old) != owner(new)).then_some(ChangeKind::Metadata);
    }
    if old.content != new.content || old.target != new.target {
        Some(ChangeKind::Modified)
    } else if (owner(old), old.mtime_ns, &old.xattrs) != (owner(new), new.mtime_ns, &new.xattrs) {
        Some(ChangeKind::Metadata)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{budget, fresh_repo, snapshot_of, Entry};
    use crate::RepoError;

    fn listed(changes: &[Change]) -> Vec<(String, &'static str)> {
        changes
            .iter()
            .map(|c| (String::from_utf8(c.path.clone()).unwrap(), c.kind.name()))
            .collect()
    }

    fn owned(rows: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        rows.iter().map(|(p, k)| (p.to_string(), *k)).collect()
    }

    /// Entries of a directory come right after it, before its next
    /// sibling, however the parallel comparison returned them; `a-b`
    /// sorts before `a/x` as text but after it in a walk.
    #[test]
    fn changes_come_in_walk_order() {
        let (_dir, repo) = fresh_repo();
        let (_, old) = snapshot_of(&repo, &[Entry::File("z", b"1")]);
        let (_, new) = snapshot_of(
            &repo,
            &[
                Entry::Dir(
                    "a",
                    vec![
                        Entry::File("x", b"2"),
                        Entry::Dir("y", vec![Entry::File("deep", b"3")]),
                    ],
                ),
                Entry::File("a-b", b"4"),
                Entry::File("z", b"1 changed"),
            ],
        );
        let changes = diff(&repo, &old.tree, &new.tree, &budget()).unwrap();
        assert_eq!(
            listed(&changes),
            owned(&[
                ("/a", "added"),
                ("/a/x", "added"),
                ("/a/y", "added"),
                ("/a/y/deep", "added"),
                ("/a-b", "added"),
                ("/z", "modified"),
            ])
        );
    }

    #[test]
    fn a_type_change_is_one_change_and_removed_directories_list_their_entries() {
        let (_dir, repo) = fresh_repo();
        let (_, old) = snapshot_of(
            &repo,
            &[
                Entry::Dir("d", vec![Entry::File("f", b"1")]),
                Entry::Dir("gone", vec![Entry::File("g", b"2")]),
            ],
        );
        let (_, new) = snapshot_of(&repo, &[Entry::File("d", b"now a file")]);
        let changes = diff(&repo, &old.tree, &new.tree, &budget()).unwrap();
        assert_eq!(
            listed(&changes),
            owned(&[("/d", "type"), ("/gone", "removed"), ("/gone/g", "removed")])
        );
    }

    #[test]
    fn metadata_alone_is_told_apart_from_content() {
        let mut old = Node::new(b"f".to_vec(), NodeKind::File);
        let mut new = old.clone();
        new.mtime_ns = 5;
        assert_eq!(
            change_of(Some(&old), Some(&new)),
            Some(ChangeKind::Metadata)
        );
        new.content.push(BlobId::from_bytes([1; 32]));
        assert_eq!(
            change_of(Some(&old), Some(&new)),
            Some(ChangeKind::Modified)
        );
        old = new.clone();
        assert_eq!(change_of(Some(&old), Some(&new)), None);
        let mut dir = Node::new(b"d".to_vec(), NodeKind::Dir);
        let same_dir = dir.clone();
        dir.mtime_ns = 9;
        assert_eq!(
            change_of(Some(&dir), Some(&same_dir)),
            None,
            "a directory's times follow its entries"
        );
    }

    #[test]
    fn a_missing_tree_is_an_error() {
        let (_dir, repo) = fresh_repo();
        let (_, new) = snapshot_of(&repo, &[Entry::File("a", b"1")]);
        let missing = BlobId::from_bytes([8; 32]);
        let err = diff(&repo, &missing, &new.tree, &budget()).unwrap_err();
        assert!(matches!(err, RepoError::BlobNotFound(_)), "{err}");
    }
}
