//! `forget` against a repository: the plan (what the retention policy of
//! [`crate::forget`] decides for each selected snapshot, then what open or
//! recent ransomware incidents hold whatever it says) and the removal of
//! the snapshots the plan forgets.

use crate::forget::{decide, hold, Candidate, Decision, KeepPolicy};
use crate::MaintenanceError;
use chrono::{DateTime, Utc};
use reprise_detect::incident;
use reprise_format::SnapshotId;
use reprise_repo::{Repository, SnapshotFilter, SnapshotList};
use reprise_storage::{ObjectKind, StorageError};

/// The fate of every snapshot of `list` that `filter` selects, in the
/// list's order: the candidates, and for each its decision.
pub fn plan(
    repo: &Repository,
    list: &SnapshotList,
    filter: &SnapshotFilter,
    policy: &KeepPolicy,
    keep_incident_days: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<Candidate>, Vec<Decision>), MaintenanceError> {
    let candidates: Vec<Candidate> = list
        .filtered(filter)
        .iter()
        .map(|(id, s)| Candidate {
            id: *id,
            time: s.time,
            stored: list.stored.get(id).map(|t| DateTime::<Utc>::from(*t)),
            hostname: s.hostname.clone(),
            paths: s.source_paths(),
            verdict: s.detection.as_ref().map(|d| d.verdict.clone()),
        })
        .collect();
    let mut decisions = decide(&candidates, policy, now);
    let incidents = incident::loaded(repo);
    let holds = incident::retention_holds(repo, list, &incidents, keep_incident_days, now)
        .map_err(MaintenanceError::IncidentHolds)?;
    hold(&mut decisions, &holds);
    Ok((candidates, decisions))
}

/// What removing the forgotten snapshots did.
#[derive(Debug, Default)]
pub struct ForgetOutcome {
    pub removed: Vec<SnapshotId>,
    /// Snapshots under a storage retention lock, with the date it ends.
    pub locked: Vec<(SnapshotId, String)>,
}

/// Removes the snapshots `decisions` do not keep (none in a dry run). A
/// snapshot already gone counts as removed; one under a retention lock
/// stays, and is reported with its date.
pub fn remove_forgotten(
    repo: &Repository,
    decisions: &[Decision],
    dry_run: bool,
) -> Result<ForgetOutcome, MaintenanceError> {
    let mut outcome = ForgetOutcome::default();
    for d in decisions.iter().filter(|d| !d.keep && !dry_run) {
        match repo.backend().remove(ObjectKind::Snapshot, &d.id.to_hex()) {
            Ok(()) | Err(StorageError::NotFound { .. }) => outcome.removed.push(d.id),
            Err(StorageError::Locked { until, .. }) => outcome.locked.push((d.id, until)),
            Err(source) => {
                return Err(MaintenanceError::RemoveSnapshot {
                    id: d.id,
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_crypto::KdfParams;
    use reprise_format::{BlobType, Snapshot, Tree};
    use reprise_repo::{BlobSaver, InitOptions};
    use reprise_storage::LocalBackend;
    use std::sync::Arc;

    fn fresh_repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            kdf: KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            ..InitOptions::default()
        };
        let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
        (dir, Repository::init(backend, b"pw", &options).unwrap())
    }

    /// Three snapshots of one source, an hour apart, oldest first.
    fn three_snapshots(repo: &Repository) -> Vec<SnapshotId> {
        let saver = BlobSaver::new(repo);
        let empty = serde_json::to_vec(&Tree::default()).unwrap();
        let (tree, _) = saver.save(BlobType::Tree, &empty).unwrap();
        saver.finish(Vec::new()).unwrap();
        let now = Utc::now();
        (0..3i64)
            .map(|i| {
                let json = serde_json::json!({
                    "version": 1, "time": now - chrono::Duration::hours(3 - i), "tree": tree,
                    "paths": ["/srv"], "hostname": "mairie", "username": "root", "uid": 0,
                    "gid": 0, "program_version": "test",
                });
                let snapshot: Snapshot = serde_json::from_value(json).unwrap();
                repo.save_snapshot(&snapshot).unwrap()
            })
            .collect()
    }

    /// The plan of `forget --keep-last 2` for every snapshot of `repo`.
    fn keep_last_two(repo: &Repository) -> (Vec<Candidate>, Vec<Decision>) {
        let list = reprise_repo::browse::list_then_index(repo).unwrap();
        let policy = KeepPolicy {
            last: 2,
            ..KeepPolicy::default()
        };
        let all = SnapshotFilter::default();
        plan(repo, &list.snapshots, &all, &policy, 90, Utc::now()).unwrap()
    }

    #[test]
    fn the_plan_keeps_what_the_policy_keeps_and_removal_removes_the_rest() {
        let (_dir, repo) = fresh_repo();
        let ids = three_snapshots(&repo);
        let (candidates, decisions) = keep_last_two(&repo);
        assert_eq!(candidates.len(), 3);
        let forgotten: Vec<_> = decisions.iter().filter(|d| !d.keep).map(|d| d.id).collect();
        assert_eq!(forgotten, [ids[0]]);
        let dry = remove_forgotten(&repo, &decisions, true).unwrap();
        assert!(dry.removed.is_empty());
        assert_eq!(repo.list_snapshots().unwrap().snapshots.len(), 3);
        let done = remove_forgotten(&repo, &decisions, false).unwrap();
        assert_eq!(done.removed, [ids[0]]);
        assert_eq!(repo.list_snapshots().unwrap().snapshots.len(), 2);
        let again = remove_forgotten(&repo, &decisions, false).unwrap();
        assert_eq!(
            again.removed,
            [ids[0]],
            "a snapshot already gone counts as removed"
        );
    }

    #[test]
    fn a_removal_that_fails_stops_with_the_snapshot_named() {
        let (dir, repo) = fresh_repo();
        let ids = three_snapshots(&repo);
        let (_, decisions) = keep_last_two(&repo);
        // A directory where the snapshot was: removing it fails, even for root.
        let path = dir.path().join("repo/snapshots").join(ids[0].to_hex());
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let err = remove_forgotten(&repo, &decisions, false).unwrap_err();
        assert!(
            matches!(&err, MaintenanceError::RemoveSnapshot { id, .. } if *id == ids[0]),
            "{err}"
        );
        assert!(err.to_string().contains(&ids[0].short()), "{err}");
    }
}
