//! Ransomware detection: what reprise notices in every backup, and how it
//! finds the last clean version of every file afterwards.
//!
//! - [`sample`] measures each file while the backup streams it (randomness
//!   of sampled windows, type from magic bytes and trailers); the result is
//!   stored in the file's tree node, so no analysis ever reads data again.
//! - [`changes`] lists what changed between two snapshots, skipping
//!   identical subtrees; [`judge`] weighs one file against its previous
//!   version; [`analysis`] turns a snapshot's changes into a verdict
//!   (`clean`, `suspicious`, `attack`) with its evidence.
//! - [`clean`] walks back through a source's snapshots to the newest clean
//!   version of every file an attack touched, for `restore --last-clean`.
//!
//! docs/DETECTION.md explains the signals, their limits and how to tune them.

// Beyond the workspace's lints: this crate reads attacker-controlled bytes
// (file content, names, notes), so no index may panic.
#![deny(clippy::indexing_slicing)]

pub mod analysis;
pub mod changes;
pub mod clean;
pub mod incident;
pub mod judge;
pub mod magic;
pub mod notes;
pub mod sample;
pub mod window;

pub use analysis::{Flagged, History, Report, Verdict};
pub use clean::{last_clean, last_clean_with, LastClean, LeftOut, NotJudged, Recovered};
pub use sample::Sampler;

use reprise_format::{BlobType, DetectionSummary, Node, Snapshot, SnapshotId};
use reprise_repo::{Repository, Result, SnapshotList, WalkBudget};

/// Two snapshots of the same source: same host, same backed-up paths, byte
/// for byte.
pub fn same_source(a: &Snapshot, b: &Snapshot) -> bool {
    a.same_source(b)
}

/// Whether `snapshot` was taken of `paths` (in any order, byte-exact) on
/// `hostname`.
pub fn is_source(snapshot: &Snapshot, hostname: &str, paths: &[Vec<u8>]) -> bool {
    snapshot.is_of(hostname, paths)
}

/// The snapshots of the same source taken before `snapshot`, newest first.
pub fn earlier_snapshots<'a>(
    list: &'a SnapshotList,
    snapshot: &Snapshot,
) -> Vec<&'a (SnapshotId, Snapshot)> {
    let mut earlier: Vec<_> = list
        .snapshots
        .iter()
        .filter(|(_, s)| s.time < snapshot.time && same_source(s, snapshot))
        .collect();
    earlier.sort_by_key(|e| std::cmp::Reverse(e.1.time));
    earlier
}

/// What earlier snapshots (newest first) say about a source's usual churn
/// and about flagged files still accumulating.
pub fn history(earlier: &[&(SnapshotId, Snapshot)]) -> History {
    let change_rates = earlier
        .iter()
        .filter_map(|(_, s)| s.summary.as_ref())
        .filter(|s| s.total_files > 0 && s.files_unmodified > 0)
        .map(|s| (s.files_new + s.files_changed) as f64 / s.total_files as f64)
        .collect();
    let recent_flagged = earlier
        .iter()
        .map_while(|(_, s)| s.detection.as_ref().filter(|d| d.verdict != "clean"))
        .map(|d| d.flagged_files)
        .sum();
    History {
        change_rates,
        recent_flagged,
    }
}

/// Notes are read only when small.
const READ_MAX: u64 = 64 * 1024;

/// The content of a small file, for ransom-note checks.
fn read_small(repo: &Repository, node: &Node) -> Option<Vec<u8>> {
    if node.size > READ_MAX {
        return None;
    }
    let mut out = Vec::with_capacity(node.size as usize);
    for id in &node.content {
        out.extend(repo.read_blob(BlobType::Data, id).ok()?);
    }
    Some(out)
}

/// Analyses `snapshot` against `previous` (the source's snapshot before it,
/// if any).
pub fn analyze_snapshot(
    repo: &Repository,
    snapshot: &Snapshot,
    previous: Option<&Snapshot>,
    history: &History,
) -> Result<Report> {
    let compared: Vec<&Snapshot> = std::iter::once(snapshot).chain(previous).collect();
    let budget = WalkBudget::for_unnamed(&compared);
    let dirs = changes::changed_dirs(repo, previous.map(|p| &p.tree), &snapshot.tree, &budget)?;
    Ok(analyze_changes(repo, &dirs, snapshot, history))
}

/// Analyses the changes of `snapshot` already listed by directory (a backup
/// collects them during its walk); only candidate ransom notes are read.
pub fn analyze_changes(
    repo: &Repository,
    dirs: &[changes::DirChanges],
    snapshot: &Snapshot,
    history: &History,
) -> Report {
    let total = snapshot.summary.as_ref().map_or(0, |s| s.total_files);
    let reader = |node: &Node| read_small(repo, node);
    analysis::analyze(dirs, total, history, &reader)
}

/// The part of a report stored in the snapshot.
pub fn summary_of(report: &Report) -> DetectionSummary {
    DetectionSummary {
        verdict: report.verdict.as_str().to_string(),
        score: report.score,
        flagged_files: report.flagged.len() as u64,
        evidence: report.evidence.clone(),
        detector: env!("CARGO_PKG_VERSION").to_string(),
        incident: None,
    }
}
