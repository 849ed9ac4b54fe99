//! The last clean version of every file: what `restore --last-clean` puts
//! back instead of what an attack left.
//!
//! Starting from the chosen snapshot, each earlier snapshot of the same
//! source is analysed against the one before it. Every file flagged there
//! that is still present, unchanged, in the chosen snapshot was left by the
//! attack: ransom notes are left out, and an encrypted file is replaced by
//! the newest version of the file it replaced (under its original name when
//! the attack renamed it) that no analysis flagged. A slow attack that
//! encrypted a few files per backup is undone the same way, snapshot by
//! snapshot. Everything else keeps its state in the chosen snapshot.

use crate::analysis::{Flagged, History};
use crate::judge::Reason;
use crate::{analyze_snapshot, earlier_snapshots, Report};
use chrono::{DateTime, Utc};
use reprise_format::{BlobId, Node, NodeKind, Snapshot, SnapshotId, Tree};
use reprise_repo::walk::components;
use reprise_repo::{Repository, Result, SnapshotList};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many earlier snapshots are examined at most.
pub const MAX_DEPTH: usize = 100;

/// One file brought back.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    /// Where it is restored (its original name).
    pub path: String,
    /// The encrypted copy left out, when the attack renamed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_copy: Option<String>,
    /// The snapshot its clean version comes from, and that snapshot's time:
    /// changes made to the file after it are lost.
    pub from_snapshot: String,
    pub clean_as_of: DateTime<Utc>,
    /// The first snapshot that held the encrypted version.
    pub encrypted_in: String,
    pub encrypted_by: DateTime<Utc>,
    /// `encrypted_by - clean_as_of`, in hours: the window of possible loss.
    pub loss_window_hours: f64,
}

/// A flagged file with no clean version in any earlier snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Unrecoverable {
    pub path: String,
    pub why: String,
}

/// The plan of a last-clean restore, and its report.
#[derive(Debug, Default, Serialize)]
pub struct LastClean {
    /// Snapshot paths to leave out: ransom notes and encrypted copies.
    #[serde(skip)]
    pub omit: BTreeSet<Vec<u8>>,
    /// Snapshot paths whose node is replaced by a clean earlier version.
    #[serde(skip)]
    pub replace: BTreeMap<Vec<u8>, Node>,
    /// Clean versions to add to a directory (by its snapshot path) under
    /// their original names.
    #[serde(skip)]
    pub add: BTreeMap<Vec<u8>, Vec<Node>>,
    pub recovered: Vec<Recovered>,
    pub unrecoverable: Vec<Unrecoverable>,
    pub notes_left_out: Vec<String>,
    pub snapshots_examined: usize,
}

/// Trees by id, loaded once: the same directories are resolved many times.
struct Trees<'r> {
    repo: &'r Repository,
    cache: HashMap<BlobId, Tree>,
}

impl Trees<'_> {
    fn node(&mut self, root: &BlobId, path: &[u8]) -> Result<Option<Node>> {
        let mut tree = *root;
        let parts = components(path);
        for (i, name) in parts.iter().enumerate() {
            if !self.cache.contains_key(&tree) {
                let loaded = self.repo.load_tree(&tree)?;
                self.cache.insert(tree, loaded);
            }
            let Some(node) = self.cache[&tree]
                .nodes
                .iter()
                .find(|n| n.name.as_bytes() == *name)
            else {
                return Ok(None);
            };
            if i + 1 == parts.len() {
                return Ok(Some(node.clone()));
            }
            match (node.kind, node.subtree) {
                (NodeKind::Dir, Some(sub)) => tree = sub,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// The chain of snapshots, newest first, and their analyses, computed as needed.
struct Chain<'a, 'r> {
    repo: &'r Repository,
    snapshots: Vec<&'a (SnapshotId, Snapshot)>,
    reports: Vec<Option<Report>>,
}

impl Chain<'_, '_> {
    /// The analysis of snapshot `k` against snapshot `k + 1`.
    fn report(&mut self, k: usize) -> Result<&Report> {
        let report = match self.reports[k].take() {
            Some(r) => r,
            None => {
                let previous = self.snapshots.get(k + 1).map(|(_, s)| s);
                analyze_snapshot(
                    self.repo,
                    &self.snapshots[k].1,
                    previous,
                    &History::default(),
                )?
            }
        };
        Ok(self.reports[k].insert(report))
    }

    fn flagged_at(&mut self, k: usize, path: &[u8]) -> Result<Option<Flagged>> {
        Ok(self
            .report(k)?
            .flagged
            .iter()
            .find(|f| f.path_bytes == path)
            .cloned())
    }
}

/// Plans the last-clean restore of `target` (with id `target_id`).
pub fn last_clean(
    repo: &Repository,
    list: &SnapshotList,
    target_id: &SnapshotId,
    target: &Snapshot,
) -> Result<LastClean> {
    let own = (*target_id, target.clone());
    let mut snapshots = vec![&own];
    snapshots.extend(earlier_snapshots(list, target).into_iter().take(MAX_DEPTH));
    let mut chain = Chain {
        repo,
        reports: vec![None; snapshots.len()],
        snapshots,
    };
    let mut trees = Trees {
        repo,
        cache: HashMap::new(),
    };
    let mut plan = LastClean {
        snapshots_examined: chain.snapshots.len(),
        ..Default::default()
    };
    for k in 0..chain.snapshots.len() {
        let flagged = chain.report(k)?.flagged.clone();
        for f in flagged {
            undo(&mut chain, &mut trees, &mut plan, k, &f)?;
        }
    }
    Ok(plan)
}

/// Undoes one file flagged in snapshot `k`, if the target still holds it.
fn undo(
    chain: &mut Chain,
    trees: &mut Trees,
    plan: &mut LastClean,
    k: usize,
    f: &Flagged,
) -> Result<()> {
    let path = &f.path_bytes;
    if plan.omit.contains(path) || plan.replace.contains_key(path) {
        return Ok(());
    }
    let target_tree = chain.snapshots[0].1.tree;
    let in_target = trees.node(&target_tree, path)?;
    let in_k = trees.node(&chain.snapshots[k].1.tree, path)?;
    let still_there = matches!((&in_target, &in_k), (Some(a), Some(b)) if a.content == b.content);
    if !still_there {
        return Ok(());
    }
    if f.reason == Reason::RansomNote {
        plan.omit.insert(path.clone());
        plan.notes_left_out.push(f.path.clone());
        return Ok(());
    }
    let original = f.replaced_bytes.clone().unwrap_or_else(|| path.clone());
    let (dir, name) = split(&original);
    match find_clean(chain, trees, k + 1, original.clone())? {
        Ok((j, mut node)) => {
            node.name = reprise_format::RawBytes(name.to_vec());
            // A clean version restored alone is no longer part of a hard-link group.
            node.links = node.links.min(1);
            let (clean_id, clean) = chain.snapshots[j];
            let (bad_id, bad) = chain.snapshots[k];
            plan.recovered.push(Recovered {
                path: String::from_utf8_lossy(&original).into_owned(),
                encrypted_copy: (original != *path).then(|| f.path.clone()),
                from_snapshot: clean_id.short(),
                clean_as_of: clean.time,
                encrypted_in: bad_id.short(),
                encrypted_by: bad.time,
                loss_window_hours: (bad.time - clean.time).num_seconds() as f64 / 3600.0,
            });
            if original == *path {
                plan.replace.insert(original, node);
            } else {
                plan.omit.insert(path.clone());
                if trees.node(&target_tree, &original)?.is_none() {
                    plan.add.entry(dir.to_vec()).or_default().push(node);
                }
            }
        }
        Err(why) => {
            plan.omit.insert(path.clone());
            plan.unrecoverable.push(Unrecoverable {
                path: f.path.clone(),
                why,
            });
        }
    }
    Ok(())
}

/// The newest version of `path`, from snapshot `j` back, that no analysis
/// flagged: (snapshot index, node), or why there is none.
fn find_clean(
    chain: &mut Chain,
    trees: &mut Trees,
    mut j: usize,
    mut path: Vec<u8>,
) -> Result<std::result::Result<(usize, Node), String>> {
    let first = j;
    while j < chain.snapshots.len() {
        let Some(node) = trees.node(&chain.snapshots[j].1.tree, &path)? else {
            return Ok(Err(format!(
                "no earlier snapshot holds {}",
                String::from_utf8_lossy(&path)
            )));
        };
        match chain.flagged_at(j, &path)? {
            None => return Ok(Ok((j, node))),
            Some(f) => {
                path = f.replaced_bytes.unwrap_or(path);
                j += 1;
            }
        }
    }
    let why = if j == first {
        "no earlier snapshot of this source exists"
    } else {
        "every earlier snapshot examined holds an encrypted version"
    };
    Ok(Err(format!("{why} ({})", String::from_utf8_lossy(&path))))
}

/// `/a/b/c` → (`/a/b`, `c`).
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"/", path),
    }
}
