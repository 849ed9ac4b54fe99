//! A bound on the work of walking a snapshot's trees.
//!
//! Trees are named by their content, so one tree blob may be the subtree of
//! many directories: a snapshot is a directed acyclic graph, and its
//! expansion into paths can be exponentially larger than the blobs that
//! store it. Honest backups share subtrees only where the file system has
//! identical directories, but a key holder can forge a snapshot of 41 tree
//! blobs, each directory naming the next one twice, that expands to 2^40
//! paths. Any walk that produces one result per path (ls, diff, detect,
//! restore, last-clean) would then run for ever.
//!
//! Every such walk charges a [`WalkBudget`] for each directory and file it
//! visits. The budget comes from the totals the backup recorded in the
//! snapshot's summary, with room to spare; a walk that exceeds it stops with
//! [`RepoError::TooManyEntries`]. A forger who also inflates the recorded
//! totals makes the walk as long as the totals claim, and no longer: the
//! totals are shown by `reprise snapshots --json`, where such a lie is plain.
//! Walks that can memoise by tree id (check, prune's reachability, copy) do
//! not need a budget: their cost follows the number of distinct trees.

use crate::{RepoError, Result};
use reprise_format::{Snapshot, SnapshotId};
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries allowed for a snapshot that records no totals (written by a
/// program that does not record them). Ten times the 100 million files
/// reprise is designed for would take hours to walk, not for ever.
pub const ENTRIES_WITHOUT_TOTALS: u64 = 1_000_000_000;

/// Slack over the recorded totals: a last-clean restore adds earlier
/// versions of files, and symlinks and special files are not counted in
/// the totals (they are not charged either).
const SLACK_FACTOR: u64 = 2;
const SLACK_ENTRIES: u64 = 100_000;

/// How many directories and files a walk may still visit.
#[derive(Debug)]
pub struct WalkBudget {
    /// What is walked, for the error message (`snapshot 1a2b3c4d`).
    what: String,
    limit: u64,
    used: AtomicU64,
}

impl WalkBudget {
    /// The budget for walking `snapshot` once, derived from its recorded totals.
    pub fn for_snapshot(id: &SnapshotId, snapshot: &Snapshot) -> Self {
        WalkBudget::new(format!("snapshot {}", id.short()), limit_of(snapshot))
    }

    /// One budget for walking several snapshots together (diff, detect).
    pub fn for_snapshots(snapshots: &[(&SnapshotId, &Snapshot)]) -> Self {
        let names: Vec<String> = snapshots.iter().map(|(id, _)| id.short()).collect();
        let limit = snapshots
            .iter()
            .map(|(_, s)| limit_of(s))
            .fold(0u64, u64::saturating_add);
        WalkBudget::new(format!("snapshots {}", names.join(", ")), limit)
    }

    /// One budget for comparing snapshots whose ids the caller does not
    /// have (a backup's snapshot before it is written); each is named by
    /// its host and time.
    pub fn for_unnamed(snapshots: &[&Snapshot]) -> Self {
        let names: Vec<String> = snapshots
            .iter()
            .map(|s| format!("{} {}", s.hostname, s.time.format("%Y-%m-%d %H:%M:%S")))
            .collect();
        let limit = snapshots
            .iter()
            .map(|s| limit_of(s))
            .fold(0u64, u64::saturating_add);
        WalkBudget::new(format!("the snapshots of {}", names.join(" and ")), limit)
    }

    pub fn new(what: impl Into<String>, limit: u64) -> Self {
        WalkBudget {
            what: what.into(),
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Counts `entries` more visited entries; fails once the limit is passed.
    pub fn charge(&self, entries: u64) -> Result<()> {
        let add = |used: u64| Some(used.saturating_add(entries));
        let before = match self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add)
        {
            Ok(before) | Err(before) => before,
        };
        if before.saturating_add(entries) > self.limit {
            return Err(RepoError::TooManyEntries {
                what: self.what.clone(),
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Charges the directories and regular files among `nodes`.
    pub fn charge_nodes(&self, nodes: &[reprise_format::Node]) -> Result<()> {
        use reprise_format::NodeKind;
        let counted = nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Dir | NodeKind::File))
            .count();
        self.charge(counted as u64)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl Default for WalkBudget {
    /// The budget of a snapshot without recorded totals.
    fn default() -> Self {
        WalkBudget::new("the snapshot", ENTRIES_WITHOUT_TOTALS)
    }
}

impl Clone for WalkBudget {
    /// A fresh budget with the same limit: nothing is charged yet.
    fn clone(&self) -> Self {
        WalkBudget::new(self.what.clone(), self.limit)
    }
}

/// The entries a walk of `snapshot` may visit: twice its recorded
/// directories and files, plus a margin.
fn limit_of(snapshot: &Snapshot) -> u64 {
    match &snapshot.summary {
        Some(s) => [s.total_files, s.dirs_new, s.dirs_changed, s.dirs_unmodified]
            .into_iter()
            .fold(0u64, u64::saturating_add)
            .saturating_mul(SLACK_FACTOR)
            .saturating_add(SLACK_ENTRIES),
        None => ENTRIES_WITHOUT_TOTALS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charging_past_the_limit_fails_and_names_what_is_walked() {
        let budget = WalkBudget::new("snapshot abcd", 10);
        assert!(budget.charge(10).is_ok());
        let err = budget.charge(1).unwrap_err().to_string();
        assert!(err.contains("snapshot abcd"), "{err}");
        assert!(err.contains("10"), "{err}");
    }

    #[test]
    fn a_huge_charge_does_not_wrap_around() {
        let budget = WalkBudget::new("x", u64::MAX - 1);
        assert!(budget.charge(u64::MAX - 1).is_ok());
        assert!(budget.charge(u64::MAX).is_err());
    }
}
