//! Choosing a backup's parent: the snapshot whose entries let the backup
//! skip reading files that look unchanged, reusing their stored content.
//!
//! Reusing content is trusting it, and any holder of the repository key can
//! write a snapshot. So the parent is chosen with the trust rules retention
//! uses (`reprise_format::snapshot::Standing`): among the snapshots of the
//! same source (host and byte-exact paths), only one whose date is
//! consistent with when the storage received it (not dated in the future,
//! not a late arrival) can be a parent, and the newest is the one the
//! storage received last, where the storage records that, not the one that
//! claims the latest date. A forged snapshot dated in the future therefore
//! never becomes a parent. Detection verdicts play no part: a forger can
//! write any verdict, and an honest flagged snapshot holds what was read.

use chrono::{DateTime, Utc};
use reprise_format::snapshot::Standing;
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::SnapshotList;

/// The newest snapshot of `hostname` and `paths` that may be a parent.
pub(crate) fn find_parent(
    list: &SnapshotList,
    hostname: &str,
    paths: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Option<(SnapshotId, Snapshot)> {
    list.snapshots
        .iter()
        .filter(|(_, s)| s.is_of(hostname, paths))
        .filter_map(|(id, s)| {
            let stored = list.stored.get(id).map(|t| DateTime::<Utc>::from(*t));
            let timely = Standing::of_dates(s.time, stored, now) == Standing::Trusted;
            timely.then_some((stored.unwrap_or(s.time), s.time, id, s))
        })
        .max_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
        .map(|(_, _, id, s)| (*id, s.clone()))
}
