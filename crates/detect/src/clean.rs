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
//! snapshot.
//!
//! An attack that writes each encrypted copy under a random name and
//! deletes the original (LockBit 3.0) leaves nothing to pair: the copies are
//! left out and listed, and every file deleted during the attack's intervals
//! in an *affected* directory (one where the attack left a flagged file or
//! note) comes back from its newest clean version. The files of the affected
//! directories that changed since the last clean snapshot without being
//! judged encrypted are counted, so a partial result never looks complete,
//! and with `all_changed` they are put back as they were in that snapshot
//! too. Everything else keeps its state in the chosen snapshot.

use crate::analysis::{Flagged, History};
use crate::changes::{changed_dirs, DirChanges};
use crate::judge::Reason;
use crate::{analyze_changes, earlier_snapshots, Report};
use chrono::{DateTime, Utc};
use reprise_format::{BlobId, Node, NodeKind, RawBytes, Snapshot, SnapshotId, Tree};
use reprise_repo::walk::{components, join};
use reprise_repo::{RepoError, Repository, Result, SnapshotList, WalkBudget};
use serde::Serialize;
use std::collections::{btree_map, hash_map, BTreeMap, BTreeSet, HashMap};

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
    /// The first snapshot that held the encrypted version (or, for a file
    /// brought back for another reason, the snapshot that lost it).
    pub encrypted_in: String,
    pub encrypted_by: DateTime<Utc>,
    /// `encrypted_by - clean_as_of`, in hours: the window of possible loss.
    pub loss_window_hours: f64,
    /// Why it is brought back: "encrypted" (flagged), "deleted" (deleted
    /// during the attack in an affected directory) or "changed" (changed
    /// since the last clean snapshot, not judged encrypted: `--all-changed`).
    pub cause: &'static str,
}

/// A flagged file with no clean version in any earlier snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Unrecoverable {
    pub path: String,
    pub why: String,
}

/// A file of an affected directory that differs from the last clean
/// snapshot without having been judged encrypted.
#[derive(Debug, Clone, Serialize)]
pub struct NotJudged {
    pub path: String,
    /// "modified" or "deleted".
    pub change: &'static str,
}

/// What a path left out of the restore is (for the quarantine and the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// A ransom note.
    Note,
    /// An encrypted file (a renamed or random-named copy, or a file
    /// encrypted in place whose clean version is restored over it).
    EncryptedCopy,
    /// A version changed since the last clean snapshot, replaced by the
    /// clean one (`--all-changed`).
    ChangedVersion,
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
    /// What each path of `omit` and `replace` holds in the chosen snapshot.
    #[serde(skip)]
    pub left_out: BTreeMap<Vec<u8>, LeftOut>,
    pub recovered: Vec<Recovered>,
    pub unrecoverable: Vec<Unrecoverable>,
    pub notes_left_out: Vec<String>,
    /// Flagged files that replaced no known file (random names): left out.
    pub encrypted_copies_left_out: Vec<String>,
    /// The newest snapshot older than the first one whose analysis flagged
    /// files still present in the chosen snapshot.
    pub last_clean_snapshot: Option<String>,
    /// Directories where the attack left a flagged file or note.
    pub affected_dirs: Vec<String>,
    /// Files of the affected directories changed or deleted since the last
    /// clean snapshot and not judged encrypted; with `all_changed`, they are
    /// restored from it as well (and listed in `recovered`).
    pub changed_not_judged: Vec<NotJudged>,
    pub all_changed: bool,
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
            let Some(node) = self
                .load(&tree)?
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

    fn load(&mut self, id: &BlobId) -> Result<&Tree> {
        match self.cache.entry(*id) {
            hash_map::Entry::Occupied(cached) => Ok(cached.into_mut()),
            hash_map::Entry::Vacant(slot) => Ok(slot.insert(self.repo.load_tree(id)?)),
        }
    }

    /// The regular files of the directory at `dir` (the root for `/`), or
    /// none when it is not a directory there.
    fn files_in(&mut self, root: &BlobId, dir: &[u8]) -> Result<Vec<Node>> {
        let tree = if components(dir).is_empty() {
            *root
        } else {
            match self.node(root, dir)? {
                Some(Node {
                    kind: NodeKind::Dir,
                    subtree: Some(sub),
                    ..
                }) => sub,
                _ => return Ok(Vec::new()),
            }
        };
        Ok(self
            .load(&tree)?
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::File)
            .cloned()
            .collect())
    }

    fn is_dir(&mut self, root: &BlobId, dir: &[u8]) -> Result<bool> {
        Ok(components(dir).is_empty()
            || matches!(self.node(root, dir)?, Some(n) if n.kind == NodeKind::Dir))
    }
}

/// One interval of the chain: the analysis of snapshot `k` against `k + 1`,
/// and the files deleted in it, by directory.
struct Interval {
    report: Report,
    removed: BTreeMap<Vec<u8>, Vec<Node>>,
}

/// The chain of snapshots, newest first, and their analyses, computed as needed.
struct Chain<'a, 'r> {
    repo: &'r Repository,
    snapshots: Vec<&'a (SnapshotId, Snapshot)>,
    /// The analyses done so far, by position in `snapshots`.
    intervals: BTreeMap<usize, Interval>,
}

/// Snapshot `k` of a chain. Every `k` the planner uses is a position of the
/// chain; the error keeps a slip from becoming a panic.
fn nth<'c>(
    snapshots: &[&'c (SnapshotId, Snapshot)],
    k: usize,
) -> Result<&'c (SnapshotId, Snapshot)> {
    snapshots.get(k).copied().ok_or_else(|| {
        RepoError::SnapshotNotFound(format!("the snapshot {k} before the one restored"))
    })
}

impl Chain<'_, '_> {
    /// The analysis of snapshot `k` against snapshot `k + 1`.
    fn interval(&mut self, k: usize) -> Result<&Interval> {
        match self.intervals.entry(k) {
            btree_map::Entry::Occupied(done) => Ok(done.into_mut()),
            btree_map::Entry::Vacant(slot) => {
                Ok(slot.insert(analyse(self.repo, &self.snapshots, k)?))
            }
        }
    }

    fn report(&mut self, k: usize) -> Result<&Report> {
        Ok(&self.interval(k)?.report)
    }

    fn flagged_at(&mut self, k: usize, path: &[u8]) -> Result<Option<Flagged>> {
        Ok(self
            .report(k)?
            .flagged
            .iter()
            .find(|f| f.path_bytes == path)
            .cloned())
    }

    /// (id, time) of snapshot `k`.
    fn stamp(&self, k: usize) -> Result<(String, DateTime<Utc>)> {
        let (id, s) = nth(&self.snapshots, k)?;
        Ok((id.short(), s.time))
    }

    /// The root tree of snapshot `k`.
    fn tree(&self, k: usize) -> Result<BlobId> {
        Ok(nth(&self.snapshots, k)?.1.tree)
    }
}

/// The analysis of snapshot `k` of the chain against snapshot `k + 1`.
fn analyse(repo: &Repository, snapshots: &[&(SnapshotId, Snapshot)], k: usize) -> Result<Interval> {
    let snapshot = &nth(snapshots, k)?.1;
    let previous = snapshots.get(k + 1).map(|(_, s)| s);
    let compared: Vec<&Snapshot> = std::iter::once(snapshot).chain(previous).collect();
    let budget = WalkBudget::for_unnamed(&compared);
    let dirs = changed_dirs(repo, previous.map(|p| &p.tree), &snapshot.tree, &budget)?;
    let report = analyze_changes(repo, &dirs, snapshot, &History::default());
    Ok(Interval {
        report,
        removed: removed_by_dir(dirs),
    })
}

/// The deleted files of each changed directory (the rest is not kept: a
/// first snapshot's analysis lists every file as added).
fn removed_by_dir(dirs: Vec<DirChanges>) -> BTreeMap<Vec<u8>, Vec<Node>> {
    dirs.into_iter()
        .filter(|d| !d.removed.is_empty())
        .map(|d| {
            // The root's changes are listed under the empty path.
            let dir = if d.dir.is_empty() {
                b"/".to_vec()
            } else {
                d.dir
            };
            (dir, d.removed)
        })
        .collect()
}

/// The state of the planning, shared by its steps.
struct Planner<'c, 'a, 'r> {
    chain: &'c mut Chain<'a, 'r>,
    trees: Trees<'r>,
    plan: LastClean,
    /// Indices of the snapshots whose analysis flagged files still present
    /// in the target (the attack's snapshots).
    attack: BTreeSet<usize>,
    /// Directories (snapshot paths) holding such files.
    affected: BTreeSet<Vec<u8>>,
    /// Original paths already brought back.
    restored: BTreeSet<Vec<u8>>,
}

/// Plans the last-clean restore of `target` (with id `target_id`): the
/// flagged files and the files the attack deleted (see the module doc).
pub fn last_clean(
    repo: &Repository,
    list: &SnapshotList,
    target_id: &SnapshotId,
    target: &Snapshot,
) -> Result<LastClean> {
    last_clean_with(repo, list, target_id, target, false)
}

/// [`last_clean`], and with `all_changed`, every file of the affected
/// directories changed or deleted since the last clean snapshot comes back
/// as it was in that snapshot too.
pub fn last_clean_with(
    repo: &Repository,
    list: &SnapshotList,
    target_id: &SnapshotId,
    target: &Snapshot,
    all_changed: bool,
) -> Result<LastClean> {
    let own = (*target_id, target.clone());
    let mut snapshots = vec![&own];
    snapshots.extend(earlier_snapshots(list, target).into_iter().take(MAX_DEPTH));
    let mut chain = Chain {
        repo,
        intervals: BTreeMap::new(),
        snapshots,
    };
    let mut p = Planner {
        trees: Trees {
            repo,
            cache: HashMap::new(),
        },
        plan: LastClean {
            snapshots_examined: chain.snapshots.len(),
            all_changed,
            ..Default::default()
        },
        chain: &mut chain,
        attack: BTreeSet::new(),
        affected: BTreeSet::new(),
        restored: BTreeSet::new(),
    };
    for k in 0..p.chain.snapshots.len() {
        let flagged = p.chain.report(k)?.flagged.clone();
        for f in flagged {
            p.undo(k, &f)?;
        }
    }
    let attack: Vec<usize> = p.attack.iter().copied().collect();
    for &k in &attack {
        p.leave_out_random_new_files(k)?;
    }
    for k in attack {
        p.bring_back_deleted(k)?;
    }
    let last_clean = p.attack.last().map(|k| k + 1);
    if let Some(l) = last_clean.filter(|l| *l < p.chain.snapshots.len()) {
        p.plan.last_clean_snapshot = Some(p.chain.stamp(l)?.0);
        p.count_not_judged(l)?;
    }
    p.plan.affected_dirs = p.affected.iter().map(|d| lossy(d)).collect();
    Ok(p.plan)
}

impl Planner<'_, '_, '_> {
    fn target_tree(&self) -> Result<BlobId> {
        self.chain.tree(0)
    }

    /// Undoes one file flagged in snapshot `k`, if the target still holds it.
    fn undo(&mut self, k: usize, f: &Flagged) -> Result<()> {
        let path = &f.path_bytes;
        if self.plan.omit.contains(path) || self.plan.replace.contains_key(path) {
            return Ok(());
        }
        let target_tree = self.target_tree()?;
        let in_target = self.trees.node(&target_tree, path)?;
        let in_k = self.trees.node(&self.chain.tree(k)?, path)?;
        let still_there =
            matches!((&in_target, &in_k), (Some(a), Some(b)) if a.content == b.content);
        if !still_there {
            return Ok(());
        }
        self.attack.insert(k);
        self.affected.insert(split(path).0.to_vec());
        if f.reason == Reason::RansomNote {
            self.leave_out(path, LeftOut::Note);
            self.plan.notes_left_out.push(f.path.clone());
            return Ok(());
        }
        let before = match self.chain.snapshots.get(k + 1) {
            Some((_, s)) => self.trees.node(&s.tree, path)?,
            None => None,
        };
        if f.replaced_bytes.is_none() && before.is_none() && k + 1 < self.chain.snapshots.len() {
            // New under a name no earlier snapshot had, replacing no known
            // file: a random-named copy; its original, deleted in the same
            // interval, is brought back by `bring_back_deleted`.
            self.leave_out(path, LeftOut::EncryptedCopy);
            self.plan.encrypted_copies_left_out.push(f.path.clone());
            return Ok(());
        }
        let original = f.replaced_bytes.clone().unwrap_or_else(|| path.clone());
        match find_clean(self.chain, &mut self.trees, k + 1, original.clone())? {
            Ok((j, node)) => {
                let copy = (original != *path).then(|| f.path.clone());
                self.recover(&original, node, (j, k), "encrypted", copy)?;
                self.leave_out(path, LeftOut::EncryptedCopy);
                if original == *path {
                    return Ok(());
                }
                // Renamed: the clean version goes in beside, not over the
                // copy. A file the target holds under the original name is
                // newer work, kept, unless it was left out itself.
                if self.trees.node(&target_tree, &original)?.is_none() {
                    if let Some(node) = self.plan.replace.remove(&original) {
                        let dir = split(&original).0.to_vec();
                        self.plan.add.entry(dir).or_default().push(node);
                    }
                } else if !self.plan.left_out.contains_key(&original) {
                    self.plan.replace.remove(&original);
                }
            }
            Err(why) => {
                self.leave_out(path, LeftOut::EncryptedCopy);
                self.plan.omit.insert(path.clone());
                self.plan.unrecoverable.push(Unrecoverable {
                    path: f.path.clone(),
                    why,
                });
            }
        }
        Ok(())
    }

    /// Records `path` as left out: omitted unless a clean version replaces it.
    fn leave_out(&mut self, path: &[u8], what: LeftOut) {
        if !self.plan.replace.contains_key(path) {
            self.plan.omit.insert(path.to_vec());
        }
        self.plan.left_out.insert(path.to_vec(), what);
    }

    /// Plans `node` (snapshot `j`'s version) at `original`, lost in
    /// snapshot `k`. It replaces the target's entry at that path, if any
    /// (the caller moves it into `add` otherwise).
    fn recover(
        &mut self,
        original: &[u8],
        mut node: Node,
        (j, k): (usize, usize),
        cause: &'static str,
        encrypted_copy: Option<String>,
    ) -> Result<()> {
        node.name = RawBytes(split(original).1.to_vec());
        // A clean version restored alone is no longer part of a hard-link group.
        node.links = node.links.min(1);
        let (clean_id, clean_time) = self.chain.stamp(j)?;
        let (bad_id, bad_time) = self.chain.stamp(k)?;
        self.plan.recovered.push(Recovered {
            path: lossy(original),
            encrypted_copy,
            from_snapshot: clean_id,
            clean_as_of: clean_time,
            encrypted_in: bad_id,
            encrypted_by: bad_time,
            loss_window_hours: (bad_time - clean_time).num_seconds() as f64 / 3600.0,
            cause,
        });
        self.restored.insert(original.to_vec());
        self.plan.omit.remove(original);
        self.plan.replace.insert(original.to_vec(), node);
        Ok(())
    }

    /// Adds `node` under `original`, a path the target lacks.
    fn recover_missing(
        &mut self,
        original: &[u8],
        node: Node,
        jk: (usize, usize),
        cause: &'static str,
    ) -> Result<()> {
        self.recover(original, node, jk, cause, None)?;
        if let Some(node) = self.plan.replace.remove(original) {
            let dir = split(original).0.to_vec();
            self.plan.add.entry(dir).or_default().push(node);
        }
        Ok(())
    }

    /// Leaves out the new random-looking files of interval `k` (an
    /// attack's) in the affected directories that the analysis found only
    /// unusual: which copies an attack's random names let it pair with a
    /// deleted original depends on inode reuse, and the unpaired rest are
    /// encrypted copies just the same. They are listed (and, in place,
    /// moved to the quarantine, never deleted).
    fn leave_out_random_new_files(&mut self, k: usize) -> Result<()> {
        let unusual: Vec<Flagged> = self
            .chain
            .report(k)?
            .unusual
            .iter()
            .filter(|f| f.reason == Reason::RandomContent && f.replaced_bytes.is_none())
            .filter(|f| self.affected.contains(split(&f.path_bytes).0))
            .cloned()
            .collect();
        let target_tree = self.target_tree()?;
        for f in unusual {
            let path = &f.path_bytes;
            if self.plan.left_out.contains_key(path) {
                continue;
            }
            let in_target = self.trees.node(&target_tree, path)?;
            let in_k = self.trees.node(&self.chain.tree(k)?, path)?;
            let before = match self.chain.snapshots.get(k + 1) {
                Some((_, s)) => self.trees.node(&s.tree, path)?,
                None => continue,
            };
            let still_there =
                matches!((&in_target, &in_k), (Some(a), Some(b)) if a.content == b.content);
            if still_there && before.is_none() {
                self.leave_out(path, LeftOut::EncryptedCopy);
                self.plan.encrypted_copies_left_out.push(f.path.clone());
            }
        }
        Ok(())
    }

    /// Brings back the files deleted in interval `k` (an attack's) from
    /// the affected directories, when the target lacks them.
    fn bring_back_deleted(&mut self, k: usize) -> Result<()> {
        let removed = self.chain.interval(k)?.removed.clone();
        let target_tree = self.target_tree()?;
        for (dir, nodes) in removed {
            if !self.affected.contains(&dir) {
                continue;
            }
            for node in nodes {
                let path = join(&dir, node.name.as_bytes());
                if self.restored.contains(&path) || self.trees.node(&target_tree, &path)?.is_some()
                {
                    continue;
                }
                if !self.trees.is_dir(&target_tree, &dir)? {
                    self.plan.unrecoverable.push(Unrecoverable {
                        path: lossy(&path),
                        why: "deleted by the attack, and its directory is gone from the snapshot: restore it from an earlier snapshot".into(),
                    });
                    continue;
                }
                match find_clean(self.chain, &mut self.trees, k + 1, path.clone())? {
                    Ok((j, clean)) => self.recover_missing(&path, clean, (j, k), "deleted")?,
                    Err(why) => self.plan.unrecoverable.push(Unrecoverable {
                        path: lossy(&path),
                        why,
                    }),
                }
            }
        }
        Ok(())
    }

    /// Lists the files of the affected directories that differ from the
    /// last clean snapshot `l` without having been dealt with; with
    /// `all_changed`, plans their clean versions too.
    fn count_not_judged(&mut self, l: usize) -> Result<()> {
        let target_tree = self.target_tree()?;
        let clean_tree = self.chain.tree(l)?;
        let affected: Vec<Vec<u8>> = self.affected.iter().cloned().collect();
        for dir in affected {
            let clean = self.trees.files_in(&clean_tree, &dir)?;
            let now = self.trees.files_in(&target_tree, &dir)?;
            for (node, change) in not_judged(&clean, &now) {
                let path = join(&dir, node.name.as_bytes());
                if self.restored.contains(&path) || self.plan.left_out.contains_key(&path) {
                    continue;
                }
                self.plan.changed_not_judged.push(NotJudged {
                    path: lossy(&path),
                    change,
                });
                if !self.plan.all_changed {
                    continue;
                }
                if change == "deleted" {
                    self.recover_missing(&path, node, (l, 0), "changed")?;
                } else {
                    self.recover(&path, node, (l, 0), "changed", None)?;
                    self.plan.left_out.insert(path, LeftOut::ChangedVersion);
                }
            }
        }
        Ok(())
    }
}

/// The files of a directory's clean version that its current version holds
/// with other content ("modified") or lacks ("deleted"), with their clean
/// node. New files are not changes of a clean file.
fn not_judged(clean: &[Node], now: &[Node]) -> Vec<(Node, &'static str)> {
    let current: HashMap<&[u8], &Node> = now.iter().map(|n| (n.name.as_bytes(), n)).collect();
    clean
        .iter()
        .filter_map(|c| match current.get(c.name.as_bytes()) {
            None => Some((c.clone(), "deleted")),
            Some(n) if n.content != c.content => Some((c.clone(), "modified")),
            Some(_) => None,
        })
        .collect()
}

/// The newest version of `path`, from snapshot `j` back, that no analysis
/// flagged: (snapshot index, node), or why there is none. A version is
/// judged by the analysis of the snapshot where its content appeared, not
/// of the snapshot holding it: after unchanged backups, an encrypted file
/// is not flagged again, and must not pass for clean.
fn find_clean(
    chain: &mut Chain,
    trees: &mut Trees,
    mut j: usize,
    mut path: Vec<u8>,
) -> Result<std::result::Result<(usize, Node), String>> {
    let first = j;
    while j < chain.snapshots.len() {
        let Some(node) = trees.node(&chain.tree(j)?, &path)? else {
            return Ok(Err(format!("no earlier snapshot holds {}", lossy(&path))));
        };
        let appeared = first_holding(chain, trees, j, &path, &node)?;
        match chain.flagged_at(appeared, &path)? {
            None => return Ok(Ok((j, node))),
            Some(f) => {
                path = f.replaced_bytes.unwrap_or(path);
                j = appeared + 1;
            }
        }
    }
    let why = if j == first {
        "no earlier snapshot of this source exists"
    } else {
        "every earlier snapshot examined holds an encrypted version"
    };
    Ok(Err(format!("{why} ({})", lossy(&path))))
}

/// The oldest snapshot, from `j` back without a gap, holding `node`'s
/// content at `path`.
fn first_holding(
    chain: &Chain,
    trees: &mut Trees,
    mut j: usize,
    path: &[u8],
    node: &Node,
) -> Result<usize> {
    while let Some((_, older)) = chain.snapshots.get(j + 1) {
        match trees.node(&older.tree, path)? {
            Some(n) if n.kind == node.kind && n.content == node.content => j += 1,
            _ => break,
        }
    }
    Ok(j)
}

fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// `/a/b/c` → (`/a/b`, `c`).
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => {
            let name = path.get(i + 1..).unwrap_or_default();
            match path.get(..i) {
                Some(dir) if i > 0 => (dir, name),
                _ => (b"/", name),
            }
        }
        None => (b"/", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, seed: u8) -> Node {
        let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
        n.content = vec![BlobId::from_bytes([seed; 32])];
        n
    }

    fn names(changes: &[(Node, &'static str)]) -> Vec<(String, &'static str)> {
        changes
            .iter()
            .map(|(n, c)| (lossy(n.name.as_bytes()), *c))
            .collect()
    }

    #[test]
    fn not_judged_lists_modified_and_deleted_files_but_not_new_ones() {
        let clean = [file("same", 1), file("edited", 2), file("gone", 3)];
        let now = [file("same", 1), file("edited", 9), file("new", 4)];
        assert_eq!(
            names(&not_judged(&clean, &now)),
            vec![("edited".into(), "modified"), ("gone".into(), "deleted")]
        );
        assert!(not_judged(&clean, &clean).is_empty());
    }

    #[test]
    fn the_roots_deletions_are_keyed_like_the_paths_split_gives() {
        let dirs = vec![
            DirChanges {
                dir: Vec::new(),
                removed: vec![file("a", 1)],
                ..Default::default()
            },
            DirChanges {
                dir: b"/srv/partage".to_vec(),
                added: vec![file("b", 2)],
                ..Default::default()
            },
        ];
        let removed = removed_by_dir(dirs);
        assert_eq!(removed.keys().collect::<Vec<_>>(), vec![&b"/".to_vec()]);
        assert_eq!(split(b"/a"), (&b"/"[..], &b"a"[..]));
        assert_eq!(
            split(b"/srv/partage/x.odt"),
            (&b"/srv/partage"[..], &b"x.odt"[..])
        );
        assert_eq!(join(split(b"/a").0, b"a"), b"/a".to_vec());
    }
}
