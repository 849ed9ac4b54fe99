//! `find`: every version of the paths that match a glob, across snapshots.
//! Matches under a tree are memoised by tree id when the glob looks at
//! names only, so a directory unchanged across a hundred snapshots is
//! searched once.

use crate::walk::{join, SnapshotPath};
use crate::{PathPatterns, PatternError, Repository, Result, WalkBudget};
use reprise_format::{BlobId, Node, NodeKind, Snapshot, SnapshotId};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

/// A glob matched against names, or against whole snapshot paths when it
/// contains a `/`.
pub struct FindPattern {
    patterns: PathPatterns,
    by_name_only: bool,
}

impl FindPattern {
    pub fn new(glob: &str) -> std::result::Result<Self, PatternError> {
        Ok(FindPattern {
            patterns: PathPatterns::new(vec![glob.to_string()])?,
            by_name_only: !glob.contains('/'),
        })
    }
}

/// One matching path of one snapshot.
#[derive(Debug, Clone)]
pub struct Found<'s> {
    pub snapshot: &'s (SnapshotId, Snapshot),
    pub path: SnapshotPath,
    pub node: Node,
}

/// Every path of `snapshots` that `pattern` matches: snapshot by snapshot
/// in the given order, then in the order of a walk. The work is bounded by
/// the snapshots' recorded totals, so forged trees cannot make it endless.
pub fn find<'s>(
    repo: &Repository,
    snapshots: &[&'s (SnapshotId, Snapshot)],
    pattern: &FindPattern,
) -> Result<Vec<Found<'s>>> {
    let named: Vec<_> = snapshots.iter().map(|(id, s)| (id, s)).collect();
    let mut finder = Finder {
        repo,
        pattern,
        memo: HashMap::new(),
        budget: WalkBudget::for_snapshots(&named),
    };
    let mut found = Vec::new();
    for snapshot in snapshots {
        for (path, node) in finder.search(&snapshot.1.tree, b"/")?.iter() {
            found.push(Found {
                snapshot,
                path: path.clone(),
                node: node.clone(),
            });
        }
    }
    Ok(found)
}

/// Matches found under one tree, with paths relative to it.
type Matches = Rc<Vec<(SnapshotPath, Node)>>;

struct Finder<'a> {
    repo: &'a Repository,
    pattern: &'a FindPattern,
    memo: HashMap<BlobId, Matches>,
    /// The memo saves reading shared subtrees again, not copying their
    /// matches: that is charged here.
    budget: WalkBudget,
}

impl Finder<'_> {
    fn search(&mut self, tree: &BlobId, at: &[u8]) -> Result<Matches> {
        // A whole-path pattern depends on where the tree sits, so only name patterns are memoised.
        let memoise = self.pattern.by_name_only;
        if let Some(m) = self.memo.get(tree).filter(|_| memoise) {
            return Ok(Rc::clone(m));
        }
        let mut found = Vec::new();
        let nodes = self.repo.load_tree(tree)?.nodes;
        self.budget.charge_nodes(&nodes)?;
        for node in nodes {
            let rel = join(b"/", node.name.as_bytes());
            let full = if at == b"/" {
                rel.clone()
            } else {
                [at, rel.as_slice()].concat()
            };
            if self
                .pattern
                .patterns
                .matches(Path::new(OsStr::from_bytes(&full)))
            {
                found.push((rel.clone(), node.clone()));
            }
            if let Some(sub) = node.subtree.filter(|_| node.kind == NodeKind::Dir) {
                let below = self.search(&sub, &full)?;
                self.budget.charge(below.len() as u64)?;
                for (p, n) in below.iter() {
                    found.push(([rel.as_slice(), p.as_slice()].concat(), n.clone()));
                }
            }
        }
        let found = Rc::new(found);
        if memoise {
            self.memo.insert(*tree, Rc::clone(&found));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{fresh_repo, snapshot_of, Entry};
    use crate::RepoError;

    fn paths(found: &[Found]) -> Vec<String> {
        found
            .iter()
            .map(|f| String::from_utf8(f.path.clone()).unwrap())
            .collect()
    }

    #[test]
    fn names_match_at_any_depth_in_every_snapshot() {
        let (_dir, repo) = fresh_repo();
        let docs = || {
            Entry::Dir(
                "docs",
                vec![Entry::File("budget.ods", b"v1"), Entry::File("x.txt", b"")],
            )
        };
        let first = snapshot_of(&repo, &[docs()]);
        let second = snapshot_of(&repo, &[docs(), Entry::File("budget.ods", b"v2")]);
        let found = find(
            &repo,
            &[&first, &second],
            &FindPattern::new("*.ods").unwrap(),
        )
        .unwrap();
        assert_eq!(
            paths(&found),
            ["/docs/budget.ods", "/budget.ods", "/docs/budget.ods"]
        );
        assert_eq!(found[0].snapshot.0, first.0);
        assert_eq!(found[2].snapshot.0, second.0);
        assert_eq!(found[1].node.size, 2);
    }

    #[test]
    fn a_glob_with_a_slash_matches_whole_paths() {
        let (_dir, repo) = fresh_repo();
        let snapshot = snapshot_of(
            &repo,
            &[
                Entry::Dir("a", vec![Entry::File("f", b"1")]),
                Entry::Dir("b", vec![Entry::File("f", b"1")]),
            ],
        );
        let found = find(&repo, &[&snapshot], &FindPattern::new("/b/*").unwrap()).unwrap();
        assert_eq!(paths(&found), ["/b/f"]);
    }

    #[test]
    fn a_snapshot_whose_tree_is_missing_is_an_error() {
        let (_dir, repo) = fresh_repo();
        let (id, mut snapshot) = snapshot_of(&repo, &[Entry::File("f", b"1")]);
        snapshot.tree = BlobId::from_bytes([3; 32]);
        let forged = (id, snapshot);
        let err = find(&repo, &[&forged], &FindPattern::new("f").unwrap()).unwrap_err();
        assert!(matches!(err, RepoError::BlobNotFound(_)), "{err}");
    }

    #[test]
    fn an_invalid_glob_is_refused() {
        assert!(FindPattern::new("[").is_err());
    }
}
