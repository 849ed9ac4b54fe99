//! Deleting the packs no snapshot needs, in two phases, with no lock that
//! would stop backups.
//!
//! 1. **Mark.** Packs holding no blob that any snapshot references are
//!    listed in a prune mark. From then on every backup that loads the
//!    index stores those blobs again rather than deduplicating against them.
//! 2. **Delete**, on a later run once the mark is older than the grace
//!    period: the references are computed again from the snapshots that
//!    exist *now*, and a marked pack is deleted only if still unreferenced.
//!    Index files are then replaced by ones that omit the deleted packs.
//!
//! A backup that was already running when a pack was marked could have
//! deduplicated against it. Every backup announces itself with a started
//! mark before it loads the index, and its snapshot carries the same
//! session: while a backup that started before a pack's mark has no
//! snapshot in the listing prune works from, that pack is kept, however
//! long the backup runs. A started mark stops counting once an ended mark
//! closes it (the backup failed cleanly), once a later snapshot of the same
//! source exists (the backup died) or after [`RUNNING_AT_MOST`]. The grace period adds a margin on top, measured from
//! the storage's own time for the mark, which a client cannot backdate.
//!
//! Storage retention locks (S3 Object Lock, a server's retention) make some
//! deletions fail: those packs stay marked and a later run retries them.
//! Prune marks are never deleted: they also record which packs were removed
//! on purpose, so that index files left behind under a lock do not make
//! those packs look lost.

use crate::MaintenanceError;
use chrono::{DateTime, Duration, Utc};
use reprise_format::snapshot::source_paths;
use reprise_format::{IndexPack, MarkBody, PackId, Snapshot, SnapshotId};
use reprise_repo::browse::list_then_index;
use reprise_repo::{reachable, write_index_files, MarkList, Repository, SnapshotList, StoredMark};
use reprise_storage::{ObjectKind, StorageError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How long a backup without a snapshot may still be running: older
/// started marks are from backups that died.
pub const RUNNING_AT_MOST: Duration = Duration::days(7);

/// How `prune` runs.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// How old a mark must be before its packs are deleted. Zero marks and
    /// deletes in one run: safe only when no backup is running.
    pub grace: Duration,
    /// Report what would happen, change nothing.
    pub dry_run: bool,
}

/// What a prune did (or, dry, would do).
#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub snapshots: usize,
    pub packs: usize,
    /// Packs holding at least one referenced blob.
    pub packs_used: usize,
    /// Unreferenced packs marked by this run.
    pub marked: Vec<PackId>,
    pub marked_bytes: u64,
    /// Marked packs whose grace period has not yet passed.
    pub waiting: Vec<PackId>,
    /// Unreferenced packs that would be deleted now but for a backup still
    /// running that began before they were marked (see `running`).
    pub held_by_running: Vec<PackId>,
    /// Backups (and copies) that were running as far as prune can tell.
    pub backups_running: usize,
    /// Those backups, oldest first: what holds `held_by_running` back.
    pub running: Vec<RunningBackup>,
    /// Unreferenced packs kept because a delta in a pack that stays needs
    /// a base in them (format version 2).
    pub held_as_bases: Vec<PackId>,
    pub deleted: Vec<PackId>,
    pub deleted_bytes: u64,
    /// Packs the storage refused to delete yet, with the lock's end.
    pub locked: Vec<(PackId, String)>,
    /// Index files replaced by ones without the deleted packs.
    pub index_files_replaced: usize,
    /// Old index files the storage kept (locked): harmless, see module doc.
    pub index_files_locked: usize,
    pub mark_written: Option<String>,
    pub dry_run: bool,
}

/// A backup that announced its start and has neither a snapshot nor an
/// ended mark: it may still be running, or it died without a trace.
#[derive(Debug, Clone, Serialize)]
pub struct RunningBackup {
    /// When it started, by the earlier of its own and the storage's clock.
    pub started: DateTime<Utc>,
    pub hostname: String,
    /// Its paths, as text (lossy where they are not UTF-8).
    pub paths: Vec<String>,
    /// When prune stops waiting for it: [`RUNNING_AT_MOST`] after its
    /// start, by the storage's clock.
    pub dead_after: DateTime<Utc>,
    /// The started mark.
    pub mark: String,
}

/// Runs one prune: deletes what earlier marks made deletable, marks what is
/// newly unreferenced.
pub fn prune(
    repo: &Repository,
    options: &PruneOptions,
    now: DateTime<Utc>,
) -> Result<PruneReport, MaintenanceError> {
    // Listed first: index files written after this, by concurrent backups,
    // are never replaced.
    let old_index_files = repo.backend().list(ObjectKind::Index)?;
    let snapshots = list_then_index(repo)?.snapshots;
    if let Some((name, reason)) = snapshots.unreadable.first() {
        return Err(MaintenanceError::UnreadableSnapshot {
            name: name.clone(),
            reason: reason.clone(),
        });
    }
    let referenced = reachable::referenced_blobs(repo, &snapshots.snapshots)?;
    let used = reachable::packs_holding(repo, &referenced);
    let sizes = pack_sizes(repo)?;
    let mut report = PruneReport {
        snapshots: snapshots.snapshots.len(),
        packs: sizes.len(),
        packs_used: used.len(),
        dry_run: options.dry_run,
        ..PruneReport::default()
    };
    let marks = repo.list_marks()?;
    let marked_at = marked_since(&marks);
    let (running, finished) = backups_running(&marks, &snapshots, now);
    report.backups_running = running.len();
    // A running backup that began before a pack was marked may use it.
    let safe = |marked: DateTime<Utc>| running.iter().all(|b| b.started > marked);
    let mut deletable = Vec::new();
    for pack in sizes.keys().filter(|p| !used.contains(*p)) {
        match marked_at.get(pack) {
            Some(t) if now - *t < options.grace => report.waiting.push(*pack),
            Some(t) if safe(*t) => deletable.push(*pack),
            Some(_) => report.held_by_running.push(*pack),
            None => report.marked.push(*pack),
        }
    }
    report.marked_bytes = report.marked.iter().filter_map(|p| sizes.get(p)).sum();
    let without_grace = options.grace <= Duration::zero();
    let nothing_running = safe(now);
    report.running = running;
    if options.dry_run {
        if without_grace && nothing_running {
            deletable.append(&mut report.marked.clone());
        }
        report.held_as_bases = reachable::keep_delta_bases(repo, &mut deletable)?;
        report.deleted_bytes = deletable.iter().filter_map(|p| sizes.get(p)).sum();
        report.deleted = deletable;
        return Ok(report);
    }
    if !report.marked.is_empty() {
        let packs = report.marked.clone();
        report.mark_written = Some(repo.save_mark(MarkBody::Prune { packs })?);
        if without_grace {
            hold_or_delete_just_marked(repo, &snapshots, &mut deletable, &mut report)?;
        }
    }
    report.held_as_bases = reachable::keep_delta_bases(repo, &mut deletable)?;
    delete_packs(repo, &deletable, &sizes, &mut report)?;
    for name in finished {
        // Only tidiness: a leftover started mark costs a few bytes.
        let _ = repo.backend().remove(ObjectKind::Mark, &name);
    }
    if !report.deleted.is_empty() {
        let deleted = report.deleted.clone();
        replace_index_files(repo, &deleted, &old_index_files, &mut report)?;
    }
    Ok(report)
}

/// Without a grace period, the packs this run just marked may go at once,
/// but only if no backup may be running. The marks listed at the start of
/// the run cannot tell: a backup that announced its start after that
/// listing but before the prune mark was written began before the mark,
/// loaded an index without it, and may deduplicate against those packs. So
/// the marks are listed again once the prune mark is durable; a backup
/// that announces itself after that reads the mark and stores its data
/// again.
fn hold_or_delete_just_marked(
    repo: &Repository,
    snapshots: &SnapshotList,
    deletable: &mut Vec<PackId>,
    report: &mut PruneReport,
) -> Result<(), MaintenanceError> {
    let marks = repo.list_marks()?;
    let (running, _) = backups_running(&marks, snapshots, Utc::now());
    if running.is_empty() {
        deletable.extend(report.marked.iter().copied());
    } else {
        report.held_by_running.extend(report.marked.iter().copied());
        report.backups_running = report.backups_running.max(running.len());
        report.running = running;
    }
    Ok(())
}

fn pack_sizes(repo: &Repository) -> Result<HashMap<PackId, u64>, MaintenanceError> {
    let index = repo.index();
    let listed = repo.backend().list(ObjectKind::Pack)?;
    // Only packs the index knows: a pack whose header cannot be read has
    // unknown contents and is never deleted.
    Ok(listed
        .into_iter()
        .filter_map(|o| Some((o.name.parse::<PackId>().ok()?, o.size)))
        .filter(|(id, _)| index.contains_pack(id))
        .collect())
}

/// When the storage received a mark, or failing that, the mark's own date.
fn stored_time(m: &StoredMark) -> DateTime<Utc> {
    m.stored.map(DateTime::<Utc>::from).unwrap_or(m.mark.time)
}

/// The backups that may still be running, oldest first, and the started
/// marks of those that are over (finished, failed or dead), for removal.
fn backups_running(
    marks: &MarkList,
    snapshots: &SnapshotList,
    now: DateTime<Utc>,
) -> (Vec<RunningBackup>, Vec<String>) {
    let mut closed: HashSet<&str> = snapshots
        .snapshots
        .iter()
        .filter_map(|(_, s)| s.session.as_deref())
        .collect();
    for m in &marks.marks {
        if let MarkBody::Ended { session } = &m.mark.body {
            closed.insert(session);
        }
    }
    let snapshot_stored = |id: &SnapshotId, s: &Snapshot| {
        snapshots
            .stored
            .get(id)
            .map(|t| DateTime::<Utc>::from(*t))
            .unwrap_or(s.time)
    };
    let mut running = Vec::new();
    let mut over = Vec::new();
    for m in &marks.marks {
        let MarkBody::Started {
            session,
            paths,
            paths_bytes,
        } = &m.mark.body
        else {
            continue;
        };
        // The earlier of the two dates: a start placed too early only
        // makes prune wait longer.
        let start = stored_time(m).min(m.mark.time);
        let source = source_paths(paths, paths_bytes.as_deref());
        let superseded = snapshots.snapshots.iter().any(|(id, s)| {
            s.is_of(&m.mark.hostname, &source) && snapshot_stored(id, s) > stored_time(m)
        });
        if closed.contains(session.as_str()) || superseded || now - stored_time(m) > RUNNING_AT_MOST
        {
            over.push(m.name.clone());
        } else {
            running.push(RunningBackup {
                started: start,
                hostname: m.mark.hostname.clone(),
                paths: paths.clone(),
                dead_after: stored_time(m) + RUNNING_AT_MOST,
                mark: m.name.clone(),
            });
        }
    }
    running.sort_by_key(|b| b.started);
    (running, over)
}

/// For every pack a prune mark names, the earliest time it was marked, by
/// the storage's clock where the storage keeps one.
fn marked_since(marks: &MarkList) -> HashMap<PackId, DateTime<Utc>> {
    let mut since: HashMap<PackId, DateTime<Utc>> = HashMap::new();
    for m in &marks.marks {
        let MarkBody::Prune { packs } = &m.mark.body else {
            continue;
        };
        // A mark's own date is whatever its writer said; the storage's is
        // not. The later of the two only makes prune wait longer.
        let t = stored_time(m).max(m.mark.time);
        for p in packs {
            since
                .entry(*p)
                .and_modify(|e| *e = (*e).min(t))
                .or_insert(t);
        }
    }
    since
}

fn delete_packs(
    repo: &Repository,
    packs: &[PackId],
    sizes: &HashMap<PackId, u64>,
    report: &mut PruneReport,
) -> Result<(), MaintenanceError> {
    for pack in packs {
        match repo.backend().remove(ObjectKind::Pack, &pack.to_hex()) {
            Ok(()) | Err(StorageError::NotFound { .. }) => {
                report.deleted.push(*pack);
                report.deleted_bytes += sizes.get(pack).copied().unwrap_or(0);
            }
            Err(StorageError::Locked { until, .. }) => report.locked.push((*pack, until)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes index files for every pack still there, then deletes the index
/// files listed before this prune began.
fn replace_index_files(
    repo: &Repository,
    deleted: &[PackId],
    old: &[reprise_storage::ObjectInfo],
    report: &mut PruneReport,
) -> Result<(), MaintenanceError> {
    let gone: HashSet<&PackId> = deleted.iter().collect();
    let packs: Vec<IndexPack> = repo
        .index()
        .entries_by_pack()
        .into_iter()
        .filter(|(id, _)| !gone.contains(id))
        .map(|(id, entries)| IndexPack { id, entries })
        .collect();
    let written: HashSet<String> = write_index_files(repo, packs)?
        .iter()
        .map(|id| id.to_hex())
        .collect();
    for o in old.iter().filter(|o| !written.contains(&o.name)) {
        match repo.backend().remove(ObjectKind::Index, &o.name) {
            Ok(()) | Err(StorageError::NotFound { .. }) => report.index_files_replaced += 1,
            Err(StorageError::Locked { .. }) => report.index_files_locked += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
