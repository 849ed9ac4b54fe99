//! Walking every snapshot's trees: each tree readable, each chunk known and
//! not damaged. Problems found under a tree are memoised by tree id, so a
//! subtree shared by a hundred snapshots is read once yet reported for each.
//! The paths reported below one tree are capped at [`PATHS_PER_TREE_MAX`]:
//! a forged snapshot whose directories all name one damaged subtree would
//! otherwise report 2^40 paths from 41 tree blobs.

use crate::{Affected, CheckReport, Damage, Finding, Severity};
use reprise_format::{BlobId, NodeKind};
use reprise_repo::walk::join;
use reprise_repo::{RepoError, Repository, SnapshotList};
use std::collections::HashMap;
use std::rc::Rc;

/// Affected paths kept below one tree; the findings themselves are all kept.
pub const PATHS_PER_TREE_MAX: usize = 10_000;

/// A problem at a path relative to the tree it was found under: empty for
/// the tree itself, else `/name/...`.
#[derive(Clone)]
struct Problem {
    path: Vec<u8>,
    finding: usize,
}

struct Walker<'a> {
    repo: &'a Repository,
    report: &'a mut CheckReport,
    damage: &'a mut Damage,
    memo: HashMap<BlobId, Rc<Vec<Problem>>>,
    damaged_trees: HashMap<BlobId, usize>,
}

pub(crate) fn check_snapshots(
    repo: &Repository,
    list: &SnapshotList,
    report: &mut CheckReport,
    damage: &mut Damage,
) {
    for (name, reason) in &list.unreadable {
        report.findings.push(Finding {
            severity: Severity::Error,
            code: "snapshot_damaged",
            object: format!("snapshot {name}"),
            message: reason.clone(),
            affected: vec![],
        });
    }
    report.snapshots = list.snapshots.len() as u64;
    let mut walker = Walker {
        repo,
        report,
        damage,
        memo: HashMap::new(),
        damaged_trees: HashMap::new(),
    };
    for (id, snapshot) in &list.snapshots {
        let problems = walker.tree(&snapshot.tree);
        for p in problems.iter() {
            let affected = Affected {
                snapshot: *id,
                path: if p.path.is_empty() {
                    "/".into()
                } else {
                    String::from_utf8_lossy(&p.path).into_owned()
                },
            };
            if let Some(f) = walker.report.findings.get_mut(p.finding) {
                f.affected.push(affected);
            }
        }
    }
    walker.report.trees = walker.memo.len() as u64;
}

impl Walker<'_> {
    /// Problems under `tree`, with paths relative to it.
    fn tree(&mut self, tree: &BlobId) -> Rc<Vec<Problem>> {
        if let Some(p) = self.memo.get(tree) {
            return Rc::clone(p);
        }
        let problems = Rc::new(self.tree_uncached(tree));
        self.memo.insert(*tree, Rc::clone(&problems));
        problems
    }

    fn tree_uncached(&mut self, tree: &BlobId) -> Vec<Problem> {
        let loaded = match self.repo.load_tree(tree) {
            Ok(t) => t,
            Err(e) => {
                let finding = self.tree_finding(tree, e);
                return vec![Problem {
                    path: Vec::new(),
                    finding,
                }];
            }
        };
        let mut problems = Vec::new();
        for node in loaded.nodes {
            let path = join(b"/", node.name.as_bytes());
            match node.kind {
                NodeKind::Dir => {
                    if let Some(sub) = &node.subtree {
                        let room = PATHS_PER_TREE_MAX.saturating_sub(problems.len());
                        problems.extend(self.tree(sub).iter().take(room).map(|p| Problem {
                            path: [path.as_slice(), &p.path].concat(),
                            finding: p.finding,
                        }));
                    }
                }
                NodeKind::File => {
                    let bad = self.first_bad_chunk(&node.content);
                    if let Some(finding) = bad.filter(|_| problems.len() < PATHS_PER_TREE_MAX) {
                        problems.push(Problem { path, finding });
                    }
                }
                _ => {}
            }
        }
        problems
    }

    fn first_bad_chunk(&mut self, content: &[BlobId]) -> Option<usize> {
        for id in content {
            if let Some(f) = self.damage.blobs.get(id) {
                return Some(*f);
            }
            if !self.repo.index().contains(id) {
                let f = self.report.findings.len();
                self.report.findings.push(Finding {
                    severity: Severity::Error,
                    code: "blob_missing",
                    object: format!("blob {id}"),
                    message: "a file needs this chunk but no pack holds it".into(),
                    affected: vec![],
                });
                self.damage.blobs.insert(*id, f);
                return Some(f);
            }
        }
        None
    }

    fn tree_finding(&mut self, tree: &BlobId, e: RepoError) -> usize {
        if let Some(f) = self.damaged_trees.get(tree) {
            return *f;
        }
        let f = self.report.findings.len();
        self.report.findings.push(Finding {
            severity: Severity::Error,
            code: "tree_damaged",
            object: format!("tree {tree}"),
            message: format!("{e}; everything below this directory is unreachable"),
            affected: vec![],
        });
        self.damaged_trees.insert(*tree, f);
        f
    }
}
