//! Retention locks seen from the repository: which objects are *live* (must
//! stay locked), how long each one's lock must reach, and the parallel lock
//! queries that `check` and `locks extend` make.
//!
//! # The rule
//! A repository with a lock policy (mode, retention) asks that every live
//! object be locked, in the policy's mode or a stronger one, until at least
//! `max(stored + retention, now)`, `stored` being when the storage received
//! it. So:
//! - a lock shorter than the policy asked at write time is an error
//!   (`stored + retention`; extending never shortens a lock, so this holds
//!   for ever);
//! - once `stored + retention` has passed, the lock must still run, which
//!   it does only if it was extended: an expired or missing lock on a live
//!   object is an error.
//!
//! Live objects are the config, key files, index files, snapshots, marks,
//! and every pack holding a blob some snapshot references. Packs no snapshot
//! references are left to expire, so that `prune` can delete them.
//!
//! One hour of slack is allowed on `stored + retention`: the client computes
//! the retain-until date before its upload and the storage stamps `stored`
//! after it, by its own clock.

use crate::reachable::{packs_holding, referenced_blobs};
use crate::{Repository, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use reprise_format::{Snapshot, SnapshotId};
use reprise_storage::{LockMode, LockPolicy, ObjectKind, ObjectLock};
use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Allowance for clock skew and upload time between the date a client
/// locks an object until and the date the storage says it stored it.
pub const LOCK_SLACK: Duration = Duration::from_secs(3600);

/// Concurrent lock requests: they are network round trips, so many more
/// than the cores, yet few enough to be polite to the storage.
pub const LOCK_REQUESTS_IN_FLIGHT: usize = 16;

/// An object that must stay locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    pub kind: ObjectKind,
    pub name: String,
    /// When the storage received it, where it says.
    pub stored: Option<SystemTime>,
}

impl fmt::Display for LiveObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// The live objects of a repository, and what could not be decided.
#[derive(Debug, Default)]
pub struct LiveSet {
    pub objects: Vec<LiveObject>,
    /// Packs no snapshot references (left to expire).
    pub unreferenced_packs: Vec<LiveObject>,
    /// Snapshots whose trees could not all be read: some packs they need
    /// may be among `unreferenced_packs`.
    pub incomplete: Vec<(SnapshotId, String)>,
}

/// Every live object: the config, keys, index files, snapshots and marks as
/// listed, and the packs holding a blob one of `snapshots` references. The
/// index must be loaded after `snapshots` were listed (see
/// `Repository::list_snapshots`).
pub fn live_objects(repo: &Repository, snapshots: &[(SnapshotId, Snapshot)]) -> Result<LiveSet> {
    let mut set = LiveSet::default();
    for kind in [
        ObjectKind::Config,
        ObjectKind::Key,
        ObjectKind::Index,
        ObjectKind::Snapshot,
        ObjectKind::Mark,
    ] {
        set.objects.extend(listed(repo, kind)?);
    }
    let needed = needed_packs(repo, snapshots, &mut set.incomplete)?;
    for pack in listed(repo, ObjectKind::Pack)? {
        if needed.contains(&pack.name) {
            set.objects.push(pack);
        } else {
            set.unreferenced_packs.push(pack);
        }
    }
    Ok(set)
}

fn listed(repo: &Repository, kind: ObjectKind) -> Result<Vec<LiveObject>> {
    Ok(repo
        .backend()
        .list(kind)?
        .into_iter()
        .map(|o| LiveObject {
            kind,
            name: o.name,
            stored: o.stored,
        })
        .collect())
}

/// The names of the packs the snapshots need. A damaged tree fails the walk
/// of all snapshots at once, so the walk is then redone one snapshot at a
/// time, to keep what every readable snapshot needs and name the others.
fn needed_packs(
    repo: &Repository,
    snapshots: &[(SnapshotId, Snapshot)],
    incomplete: &mut Vec<(SnapshotId, String)>,
) -> Result<HashSet<String>> {
    let blobs = match referenced_blobs(repo, snapshots) {
        Ok(blobs) => blobs,
        Err(_) => {
            let mut blobs = HashSet::new();
            for snapshot in snapshots {
                match referenced_blobs(repo, std::slice::from_ref(snapshot)) {
                    Ok(found) => blobs.extend(found),
                    Err(e) => incomplete.push((snapshot.0, e.to_string())),
                }
            }
            blobs
        }
    };
    Ok(packs_holding(repo, &blobs)
        .iter()
        .map(|p| p.to_hex())
        .collect())
}

/// What is wrong with a live object's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockProblem {
    /// The storage holds it without any lock.
    Missing { required: SystemTime },
    /// Its lock has run out although the snapshots still need it.
    Expired { until: SystemTime },
    /// Its lock ends before the policy asks.
    Short {
        until: SystemTime,
        required: SystemTime,
    },
    /// Locked in governance mode where the policy asks for compliance.
    Weaker { mode: LockMode, wanted: LockMode },
}

impl LockProblem {
    /// A stable code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            LockProblem::Missing { .. } => "lock_missing",
            LockProblem::Expired { .. } => "lock_expired",
            LockProblem::Short { .. } => "lock_short",
            LockProblem::Weaker { .. } => "lock_weaker",
        }
    }
}

impl fmt::Display for LockProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockProblem::Missing { required } => write!(
                f,
                "not locked in the storage, though it must be until at least {}: run `reprise locks extend`",
                date(*required)
            ),
            LockProblem::Expired { until } => write!(
                f,
                "its lock expired on {} but the snapshots still need it: run `reprise locks extend`",
                date(*until)
            ),
            LockProblem::Short { until, required } => write!(
                f,
                "locked until {}, before the {} the repository's retention asks: run `reprise locks extend`",
                date(*until),
                date(*required)
            ),
            LockProblem::Weaker { mode, wanted } => write!(
                f,
                "locked in {mode} mode where the repository asks for {wanted} (a privileged user could remove a {mode} lock)"
            ),
        }
    }
}

/// A date as people and logs read it: RFC 3339 in UTC, to the second.
pub fn date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The date a live object's lock must reach: `max(stored + retention, now)`
/// (less the slack on the first), or `now` when the storage keeps no
/// `stored` time.
pub fn required_until(
    policy: &LockPolicy,
    stored: Option<SystemTime>,
    now: SystemTime,
) -> SystemTime {
    let by_policy = stored
        .map(|s| policy.until_from(s))
        .map(|t| t.checked_sub(LOCK_SLACK).unwrap_or(t));
    match by_policy {
        Some(t) if t > now => t,
        _ => now,
    }
}

/// Judges one live object's lock against the policy.
pub fn judge(
    policy: &LockPolicy,
    object: &LiveObject,
    lock: Option<ObjectLock>,
    now: SystemTime,
) -> Option<LockProblem> {
    let required = required_until(policy, object.stored, now);
    let Some(lock) = lock else {
        return Some(LockProblem::Missing { required });
    };
    if lock.until <= now {
        return Some(LockProblem::Expired { until: lock.until });
    }
    if lock.until < required {
        return Some(LockProblem::Short {
            until: lock.until,
            required,
        });
    }
    if policy.mode == LockMode::Compliance && lock.mode == LockMode::Governance {
        return Some(LockProblem::Weaker {
            mode: lock.mode,
            wanted: policy.mode,
        });
    }
    None
}

/// Runs `f` on every object, `LOCK_REQUESTS_IN_FLIGHT` at a time, and
/// returns the results in order.
pub fn for_each_object<T, F>(objects: &[LiveObject], f: F) -> Vec<T>
where
    T: Send,
    F: Fn(&LiveObject) -> T + Sync + Send,
{
    use rayon::prelude::*;
    let run = || objects.par_iter().map(&f).collect();
    // A pool of its own: the global one has a thread per core, and these
    // threads mostly wait on the network.
    match rayon::ThreadPoolBuilder::new()
        .num_threads(LOCK_REQUESTS_IN_FLIGHT)
        .thread_name(|i| format!("reprise-locks-{i}"))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}

/// What renewing the locks did, or would do with `dry_run`.
#[derive(Debug, Default)]
pub struct ExtendReport {
    pub until: Option<SystemTime>,
    /// Objects whose lock was (or would be) moved to `until`.
    pub extended: usize,
    /// Objects already locked at least until `until`.
    pub unchanged: usize,
    /// Objects whose lock could not be read or renewed, with why.
    pub failed: Vec<(String, String)>,
}

/// Renews the lock of every object to `until` (never shortening one).
pub fn extend_locks(
    repo: &Repository,
    policy: &LockPolicy,
    objects: &[LiveObject],
    until: SystemTime,
    dry_run: bool,
) -> ExtendReport {
    let backend = repo.backend();
    let outcomes = for_each_object(objects, |o| -> reprise_storage::Result<bool> {
        let lock = backend.lock_of(o.kind, &o.name)?;
        let long_enough = lock.is_some_and(|l| {
            secs(l.until) >= secs(until)
                && !(policy.mode == LockMode::Compliance && l.mode == LockMode::Governance)
        });
        if long_enough {
            return Ok(false);
        }
        if !dry_run {
            backend.extend_lock(o.kind, &o.name, until)?;
        }
        Ok(true)
    });
    let mut report = ExtendReport {
        until: Some(until),
        ..ExtendReport::default()
    };
    for (object, outcome) in objects.iter().zip(outcomes) {
        match outcome {
            Ok(true) => report.extended += 1,
            Ok(false) => report.unchanged += 1,
            Err(e) => report.failed.push((object.to_string(), e.to_string())),
        }
    }
    report
}

/// Whole seconds: storage keeps lock dates to the second at best.
fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn policy(mode: LockMode) -> LockPolicy {
        LockPolicy {
            mode,
            retention: Duration::from_secs(30 * 86_400),
        }
    }

    fn object(stored: Option<SystemTime>) -> LiveObject {
        LiveObject {
            kind: ObjectKind::Pack,
            name: "ab".repeat(32),
            stored,
        }
    }

    fn lock(mode: LockMode, until: SystemTime) -> Option<ObjectLock> {
        Some(ObjectLock { mode, until })
    }

    #[test]
    fn a_fresh_object_must_be_locked_for_the_whole_retention() {
        let p = policy(LockMode::Compliance);
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let stored = now - DAY;
        let o = object(Some(stored));
        assert_eq!(
            judge(&p, &o, lock(LockMode::Compliance, stored + 30 * DAY), now),
            None
        );
        // Within the slack: the client's clock ran a little behind.
        let close = stored + 30 * DAY - Duration::from_secs(600);
        assert_eq!(judge(&p, &o, lock(LockMode::Compliance, close), now), None);
        let short = stored + 10 * DAY;
        assert_eq!(
            judge(&p, &o, lock(LockMode::Compliance, short), now).map(|e| e.code()),
            Some("lock_short")
        );
        assert_eq!(
            judge(&p, &o, None, now).map(|e| e.code()),
            Some("lock_missing")
        );
    }

    #[test]
    fn an_old_object_must_still_be_locked_after_its_first_retention() {
        let p = policy(LockMode::Compliance);
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let o = object(Some(now - 90 * DAY));
        // Extended: runs past now, though not 30 days past storage + 90.
        assert_eq!(
            judge(&p, &o, lock(LockMode::Compliance, now + DAY), now),
            None
        );
        let expired = now - 60 * DAY;
        assert_eq!(
            judge(&p, &o, lock(LockMode::Compliance, expired), now),
            Some(LockProblem::Expired { until: expired })
        );
        // Without a stored time, only "locked now" can be asked.
        let unknown = object(None);
        assert_eq!(
            judge(&p, &unknown, lock(LockMode::Compliance, now + DAY), now),
            None
        );
    }

    #[test]
    fn governance_does_not_satisfy_a_compliance_policy() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let o = object(Some(now));
        let long = lock(LockMode::Governance, now + 40 * DAY);
        assert_eq!(
            judge(&policy(LockMode::Compliance), &o, long, now).map(|e| e.code()),
            Some("lock_weaker")
        );
        assert_eq!(judge(&policy(LockMode::Governance), &o, long, now), None);
        let stronger = lock(LockMode::Compliance, now + 40 * DAY);
        assert_eq!(
            judge(&policy(LockMode::Governance), &o, stronger, now),
            None
        );
    }

    #[test]
    fn problems_say_what_to_do() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let text = LockProblem::Missing { required: now }.to_string();
        assert!(
            text.contains("reprise locks extend") && text.contains("1972-09-27"),
            "{text}"
        );
    }
}
