//! Two trees merge-joined by name, recursing into directories: the one
//! comparison of snapshots, used by `reprise diff` and by detection's
//! listing of changed files. Subtrees with the same id are skipped unread,
//! so the cost follows the size of the change, not of the share; the
//! subdirectories of a directory are compared in parallel. Every entry
//! compared is charged to a [`WalkBudget`], so a forged snapshot whose
//! trees reuse subtrees cannot make a comparison endless.

use crate::walk::{join, SnapshotPath};
use crate::{Repository, Result, WalkBudget};
use rayon::prelude::*;
use reprise_format::{BlobId, Node, NodeKind};
use std::cmp::Ordering;

/// One name of a compared directory, with its node on each side: at least
/// one of `old` and `new` is present.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The entry's path in the snapshots.
    pub path: SnapshotPath,
    pub old: Option<Node>,
    pub new: Option<Node>,
}

impl Pair {
    /// True when both sides are present and of different kinds.
    pub fn kind_changed(&self) -> bool {
        matches!((&self.old, &self.new), (Some(o), Some(n)) if o.kind != n.kind)
    }

    /// The subtrees to compare below this name: each side's subtree where
    /// that side is a directory. `None` when neither side is one.
    pub fn subtrees(&self) -> Option<(Option<BlobId>, Option<BlobId>)> {
        let dir = |n: &Option<Node>| {
            n.as_ref()
                .filter(|n| n.kind == NodeKind::Dir)
                .map(|n| n.subtree)
        };
        match (dir(&self.old), dir(&self.new)) {
            (None, None) => None,
            (old, new) => Some((old.flatten(), new.flatten())),
        }
    }
}

/// What a comparison makes of the directories it compares.
pub trait ZipVisitor: Sync {
    type Out: Send;

    /// Whether to compare below `pair`, at least one side of which is a
    /// directory (a side that is not counts as empty).
    fn descend(&self, _pair: &Pair) -> bool {
        true
    }

    /// What the pairs of the directory `dir`, in name order, give.
    fn directory(&self, dir: &[u8], pairs: Vec<Pair>) -> Self::Out;
}

/// Compares the trees `old` and `new` (an absent side is an empty tree) of
/// the directory `dir`, and below it every subdirectory the visitor
/// descends into. Returns one output per directory whose trees differ,
/// parents before children, siblings in name order.
pub fn zip<V: ZipVisitor>(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    dir: &[u8],
    budget: &WalkBudget,
    visitor: &V,
) -> Result<Vec<V::Out>> {
    if old == new {
        return Ok(Vec::new());
    }
    let pairs = pairs(repo, old, new, dir, budget)?;
    let below: Vec<(SnapshotPath, Option<BlobId>, Option<BlobId>)> = pairs
        .iter()
        .filter(|p| visitor.descend(p))
        .filter_map(|p| p.subtrees().map(|(o, n)| (p.path.clone(), o, n)))
        .collect();
    let mut out = vec![visitor.directory(dir, pairs)];
    let nested: Vec<Vec<V::Out>> = below
        .par_iter()
        .map(|(path, o, n)| zip(repo, o.as_ref(), n.as_ref(), path, budget, visitor))
        .collect::<Result<_>>()?;
    out.extend(nested.into_iter().flatten());
    Ok(out)
}

/// The entries of two trees paired by name, in name order. Trees are
/// validated sorted by name when decoded, so one merge pass pairs them.
pub fn pairs(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    dir: &[u8],
    budget: &WalkBudget,
) -> Result<Vec<Pair>> {
    let (old, new) = (nodes_of(repo, old)?, nodes_of(repo, new)?);
    budget.charge_nodes(&old)?;
    budget.charge_nodes(&new)?;
    let mut out = Vec::with_capacity(old.len().max(new.len()));
    let mut old = old.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.name.as_bytes().cmp(n.name.as_bytes()),
        };
        let (o, n) = match order {
            Ordering::Less => (old.next(), None),
            Ordering::Greater => (None, new.next()),
            Ordering::Equal => (old.next(), new.next()),
        };
        let Some(name) = o.as_ref().or(n.as_ref()).map(|x| x.name.as_bytes()) else {
            break;
        };
        out.push(Pair {
            path: join(dir, name),
            old: o,
            new: n,
        });
    }
    Ok(out)
}

fn nodes_of(repo: &Repository, id: Option<&BlobId>) -> Result<Vec<Node>> {
    match id {
        Some(id) => Ok(repo.load_tree(id)?.nodes),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{budget, fresh_repo, snapshot_of, Entry};
    use crate::RepoError;

    /// Lists every pair as (path, old present, new present).
    struct Everything;

    impl ZipVisitor for Everything {
        type Out = Vec<(String, bool, bool)>;
        fn directory(&self, _dir: &[u8], pairs: Vec<Pair>) -> Self::Out {
            pairs
                .into_iter()
                .map(|p| {
                    let path = String::from_utf8(p.path).unwrap();
                    (path, p.old.is_some(), p.new.is_some())
                })
                .collect()
        }
    }

    fn flat(out: Vec<Vec<(String, bool, bool)>>) -> Vec<(String, bool, bool)> {
        out.into_iter().flatten().collect()
    }

    fn row(path: &str, old: bool, new: bool) -> (String, bool, bool) {
        (path.to_string(), old, new)
    }

    #[test]
    fn pairs_are_joined_by_name_and_only_changed_directories_are_read() {
        let (_dir, repo) = fresh_repo();
        let same = || Entry::Dir("same", vec![Entry::File("s", b"unchanged")]);
        let (_, old) = snapshot_of(
            &repo,
            &[
                Entry::File("a", b"1"),
                Entry::File("gone", b"2"),
                same(),
                Entry::Dir("sub", vec![Entry::File("x", b"3")]),
            ],
        );
        let (_, new) = snapshot_of(
            &repo,
            &[
                Entry::File("a", b"1 changed"),
                Entry::Dir("added", vec![Entry::File("y", b"4")]),
                same(),
                Entry::Dir("sub", vec![Entry::File("x", b"3"), Entry::File("z", b"5")]),
            ],
        );
        let out = zip(
            &repo,
            Some(&old.tree),
            Some(&new.tree),
            b"/",
            &budget(),
            &Everything,
        )
        .unwrap();
        assert_eq!(
            out.len(),
            3,
            "the root, `added` and `sub`; `same` is skipped unread"
        );
        assert_eq!(
            flat(out),
            vec![
                row("/a", true, true),
                row("/added", false, true),
                row("/gone", true, false),
                row("/same", true, true),
                row("/sub", true, true),
                row("/added/y", false, true),
                row("/sub/x", true, true),
                row("/sub/z", false, true),
            ]
        );
    }

    #[test]
    fn identical_trees_are_not_read() {
        let (_dir, repo) = fresh_repo();
        let absent = BlobId::from_bytes([7; 32]);
        let out = zip(
            &repo,
            Some(&absent),
            Some(&absent),
            b"/",
            &budget(),
            &Everything,
        )
        .unwrap();
        assert!(out.is_empty());
    }

    struct NotBelowTypeChanges;

    impl ZipVisitor for NotBelowTypeChanges {
        type Out = Vec<SnapshotPath>;
        fn descend(&self, pair: &Pair) -> bool {
            !pair.kind_changed()
        }
        fn directory(&self, _dir: &[u8], pairs: Vec<Pair>) -> Self::Out {
            pairs.into_iter().map(|p| p.path).collect()
        }
    }

    #[test]
    fn the_visitor_chooses_where_to_descend() {
        let (_dir, repo) = fresh_repo();
        let (_, old) = snapshot_of(&repo, &[Entry::Dir("d", vec![Entry::File("f", b"1")])]);
        let (_, new) = snapshot_of(&repo, &[Entry::File("d", b"now a file")]);
        let out = zip(
            &repo,
            Some(&old.tree),
            Some(&new.tree),
            b"",
            &budget(),
            &NotBelowTypeChanges,
        );
        assert_eq!(out.unwrap().concat(), vec![b"/d".to_vec()]);
        let all = zip(
            &repo,
            Some(&old.tree),
            Some(&new.tree),
            b"",
            &budget(),
            &Everything,
        )
        .unwrap();
        assert_eq!(
            flat(all),
            vec![row("/d", true, true), row("/d/f", true, false)]
        );
    }

    #[test]
    fn a_tree_naming_a_missing_blob_is_an_error() {
        let (_dir, repo) = fresh_repo();
        let (_, new) = snapshot_of(&repo, &[Entry::File("a", b"1")]);
        let missing = BlobId::from_bytes([9; 32]);
        let err = zip(
            &repo,
            Some(&missing),
            Some(&new.tree),
            b"/",
            &budget(),
            &Everything,
        )
        .unwrap_err();
        assert!(
            matches!(err, RepoError::BlobNotFound(id) if id == missing),
            "{err}"
        );
    }

    #[test]
    fn the_budget_bounds_the_comparison() {
        let (_dir, repo) = fresh_repo();
        let (_, new) = snapshot_of(&repo, &[Entry::File("a", b"1"), Entry::File("b", b"2")]);
        let tight = WalkBudget::new("the test snapshot", 1);
        let err = zip(&repo, None, Some(&new.tree), b"/", &tight, &Everything).unwrap_err();
        assert!(matches!(err, RepoError::TooManyEntries { .. }), "{err}");
    }
}
