//! Retention locks: with a lock policy, every live object (see
//! `reprise_repo::locks` for which, and the rule) must carry a lock that
//! reaches far enough. One lock query per object, many in flight at once.

use crate::{CheckReport, Finding, Severity};
use reprise_repo::locks::{self, judge, LiveObject};
use reprise_repo::{RepoError, Repository, SnapshotList};
use reprise_storage::{LockPolicy, ObjectLock, StorageError};
use std::time::SystemTime;

pub(crate) fn check_locks(
    repo: &Repository,
    policy: &LockPolicy,
    list: &SnapshotList,
    report: &mut CheckReport,
) -> Result<(), RepoError> {
    let live = locks::live_objects(repo, &list.snapshots)?;
    for (snapshot, reason) in &live.incomplete {
        report.findings.push(Finding {
            severity: Severity::Warning,
            code: "locks_incomplete",
            object: format!("snapshot {snapshot}"),
            message: format!("the locks of the packs it needs were not all checked: {reason}"),
            affected: vec![],
        });
    }
    let now = SystemTime::now();
    let backend = repo.backend();
    let locks: Vec<Result<Option<ObjectLock>, StorageError>> =
        locks::for_each_object(&live.objects, |o| backend.lock_of(o.kind, &o.name));
    report.locks_checked = live.objects.len() as u64;
    for (object, lock) in live.objects.iter().zip(locks) {
        if let Some(finding) = finding_of(policy, object, lock, now) {
            report.findings.push(finding);
        }
    }
    Ok(())
}

fn finding_of(
    policy: &LockPolicy,
    object: &LiveObject,
    lock: Result<Option<ObjectLock>, StorageError>,
    now: SystemTime,
) -> Option<Finding> {
    let (code, message) = match lock {
        Err(e) => (
            "lock_unreadable",
            format!("its lock could not be read: {e}"),
        ),
        Ok(lock) => {
            let problem = judge(policy, object, lock, now)?;
            (problem.code(), problem.to_string())
        }
    };
    Some(Finding {
        severity: Severity::Error,
        code,
        object: object.to_string(),
        message,
        affected: vec![],
    })
}
