//! The snapshots as the dashboard shows them: listed per source with their
//! detection verdicts, one directory of one snapshot at a time, one file's
//! content, and what changed between two snapshots.
//!
//! A directory is listed by reading one snapshot object and the trees
//! along its path, nothing else: the time does not grow with the size of
//! the snapshot, only with the depth of the path and the size of the
//! directory (restic's `ls` behind Backrest walks the whole snapshot).
//! The index is loaded when the server starts and kept; the server adds to
//! it in the background the index files a backup wrote since
//! ([`Repository::refresh_index`], which loads it whole again only after a
//! prune removed some), so a listing seldom waits for it. A tree the index does not
//! know belongs to a backup made since it was loaded: the index is then
//! loaded again at once (after the snapshot was read, so it covers it)
//! and the read tried once more.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reprise_format::{Node, NodeKind, Snapshot, SnapshotId};
use reprise_repo::browse::{diff as diff_trees, resolve_subpath, Change, ChangeKind};
use reprise_repo::{RepoError, Repository, WalkBudget};

use crate::overview::source_of;

/// Entries of a directory shown on one page.
pub const PAGE: usize = 1000;
/// Changes of a diff shown, at most.
pub const MOST_CHANGES: usize = 5000;
/// Directories and files a diff may visit (only those that differ are):
/// bounds its memory and time on the server, however large or forged the
/// snapshots. `reprise diff` has no such bound.
pub const MOST_DIFF_ENTRIES: u64 = 200_000;

/// Why a snapshot, a path or a file cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error("{0:?} is not a snapshot id: choose a snapshot from the list")]
    BadId(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many files and directories differ between these snapshots to show them here: compare them with `reprise diff {0} {1}` on the server")]
    DiffTooLarge(String, String),
    #[error("another comparison of snapshots is running: try again when it is done")]
    Busy,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl BrowseError {
    /// Whether it is the request's fault (a 404), not the repository's.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            BrowseError::BadId(_)
                | BrowseError::NotFound(_)
                | BrowseError::Repo(RepoError::SnapshotNotFound(_) | RepoError::PathNotFound(_))
        )
    }
}

/// One snapshot in the list.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub id: SnapshotId,
    pub time: DateTime<Utc>,
    pub hostname: String,
    pub paths: Vec<String>,
    /// `clean`, `suspicious`, `attack`, or empty when detection did not run.
    pub verdict: String,
    pub flagged_files: u64,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
}

/// A source's snapshots, newest first.
#[derive(Debug, Clone)]
pub struct SourceSnapshots {
    pub source: String,
    pub snapshots: Vec<SnapshotRow>,
}

/// Every source's snapshots; reads the snapshot objects only.
pub fn by_source(repo: &Repository) -> Result<Vec<SourceSnapshots>, BrowseError> {
    let list = repo.list_snapshots()?;
    let mut sources: BTreeMap<String, Vec<SnapshotRow>> = BTreeMap::new();
    for (id, s) in list.snapshots.iter().rev() {
        sources.entry(source_of(s)).or_default().push(SnapshotRow {
            id: *id,
            time: s.time,
            hostname: s.hostname.clone(),
            paths: s.paths.clone(),
            verdict: s
                .detection
                .as_ref()
                .map(|d| d.verdict.clone())
                .unwrap_or_default(),
            flagged_files: s.detection.as_ref().map_or(0, |d| d.flagged_files),
            files: s.summary.as_ref().map(|m| m.total_files),
            bytes: s.summary.as_ref().map(|m| m.total_bytes),
        });
    }
    Ok(sources
        .into_iter()
        .map(|(source, snapshots)| SourceSnapshots { source, snapshots })
        .collect())
}

/// One snapshot, read by its full id.
pub fn snapshot(repo: &Repository, id: &str) -> Result<(SnapshotId, Snapshot), BrowseError> {
    let parsed: SnapshotId = id.parse().map_err(|_| BrowseError::BadId(id.to_owned()))?;
    Ok((parsed, repo.load_snapshot(&parsed)?))
}

/// Runs `read` with the index loaded; once more if a blob was missing from
/// it and the index changed since (a backup made since it was loaded, whose
/// index files the refresh added, or another refresh meanwhile). Loads go
/// through [`Repository::refresh_index`], so concurrent requests wait for
/// one load instead of each making its own.
fn with_index<T>(
    repo: &Repository,
    read: impl Fn() -> Result<T, RepoError>,
) -> Result<T, RepoError> {
    if !repo.index_is_loaded() {
        repo.refresh_index()?;
    }
    let generation = repo.index_generation();
    match read() {
        Err(RepoError::BlobNotFound(_))
            if repo.refresh_index()? || repo.index_generation() != generation =>
        {
            read()
        }
        done => done,
    }
}

/// One page of a directory of a snapshot.
#[derive(Debug, Clone)]
pub struct Listing {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
    /// The directory, normalised (`/` for the root).
    pub path: Vec<u8>,
    /// The entries of this page, in name order.
    pub entries: Vec<Node>,
    /// How many entries the directory has in all.
    pub total: usize,
    /// The index of the page's first entry.
    pub offset: usize,
}

/// The entries `offset..offset + PAGE` of the directory at `path`.
pub fn list_dir(
    repo: &Repository,
    id: &str,
    path: &[u8],
    offset: usize,
) -> Result<Listing, BrowseError> {
    let (id, snapshot) = snapshot(repo, id)?;
    let (path, nodes) = with_index(repo, || {
        let at = resolve_subpath(repo, &snapshot.tree, path)?;
        match at.tree_below(&snapshot.tree) {
            Some(tree) => Ok(Some((at.path, repo.load_tree(&tree)?.nodes))),
            None => Ok(None),
        }
    })?
    .ok_or_else(|| {
        BrowseError::NotFound(format!(
            "{} is not a directory of the snapshot",
            String::from_utf8_lossy(path)
        ))
    })?;
    let total = nodes.len();
    let offset = offset.min(total);
    let entries = nodes.into_iter().skip(offset).take(PAGE).collect();
    Ok(Listing {
        id,
        snapshot,
        path,
        entries,
        total,
        offset,
    })
}

/// The regular file at `path` of a snapshot.
pub fn file(repo: &Repository, id: &str, path: &[u8]) -> Result<Node, BrowseError> {
    let (_, snapshot) = snapshot(repo, id)?;
    let node = with_index(repo, || resolve_subpath(repo, &snapshot.tree, path))?.node;
    match node {
        Some(node) if node.kind == NodeKind::File => {
            // Its content is read blob by blob later: the index must know
            // them, and it knows the trees that led here.
            Ok(node)
        }
        _ => Err(BrowseError::NotFound(format!(
            "{} is not a file of the snapshot",
            String::from_utf8_lossy(path)
        ))),
    }
}

/// What changed between two snapshots.
#[derive(Debug, Clone)]
pub struct Difference {
    pub from: (SnapshotId, Snapshot),
    pub to: (SnapshotId, Snapshot),
    /// The first [`MOST_CHANGES`], in walk order.
    pub changes: Vec<Change>,
    pub total: usize,
    /// How many changes of each kind, of all of them.
    pub counts: Vec<(ChangeKind, usize)>,
}

/// What changed from snapshot `from` to `to`, visiting at most
/// [`MOST_DIFF_ENTRIES`] directories and files.
pub fn diff(repo: &Repository, from: &str, to: &str) -> Result<Difference, BrowseError> {
    diff_within(repo, from, to, MOST_DIFF_ENTRIES)
}

/// [`diff`], visiting at most `most_entries`.
pub fn diff_within(
    repo: &Repository,
    from: &str,
    to: &str,
    most_entries: u64,
) -> Result<Difference, BrowseError> {
    let from = snapshot(repo, from)?;
    let to = snapshot(repo, to)?;
    let compared = with_index(repo, || {
        let recorded = WalkBudget::for_snapshots(&[(&from.0, &from.1), (&to.0, &to.1)]);
        let budget = WalkBudget::new("the comparison", recorded.limit().min(most_entries));
        diff_trees(repo, &from.1.tree, &to.1.tree, &budget)
    });
    let mut changes = match compared {
        Err(RepoError::TooManyEntries { .. }) => {
            return Err(BrowseError::DiffTooLarge(from.0.short(), to.0.short()))
        }
        other => other?,
    };
    let total = changes.len();
    let counts = [
        ChangeKind::Added,
        ChangeKind::Removed,
        ChangeKind::Modified,
        ChangeKind::Metadata,
        ChangeKind::Type,
    ]
    .into_iter()
    .map(|k| (k, changes.iter().filter(|c| c.kind == k).count()))
    .filter(|(_, n)| *n > 0)
    .collect();
    changes.truncate(MOST_CHANGES);
    Ok(Difference {
        from,
        to,
        changes,
        total,
        counts,
    })
}
