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

/// The parent, and the snapshots of the source that were passed over
/// because their dates contradict the storage's though they are newer.
#[derive(Debug, Default)]
pub(crate) struct ParentChoice {
    pub parent: Option<(SnapshotId, Snapshot)>,
    pub passed_over: Vec<PassedOver>,
}

/// A snapshot of the source that could not be a parent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PassedOver {
    pub id: SnapshotId,
    /// The date it claims.
    pub time: DateTime<Utc>,
    /// When the storage received it, where the storage says.
    pub stored: Option<DateTime<Utc>>,
}

/// Chooses the parent among the snapshots of `hostname` and `paths`.
pub(crate) fn find_parent(
    list: &SnapshotList,
    hostname: &str,
    paths: &[Vec<u8>],
    now: DateTime<Utc>,
) -> ParentChoice {
    let mut timely = Vec::new();
    let mut untimely = Vec::new();
    for (id, s) in list
        .snapshots
        .iter()
        .filter(|(_, s)| s.is_of(hostname, paths))
    {
        let stored = list.stored.get(id).map(|t| DateTime::<Utc>::from(*t));
        let order = (stored.unwrap_or(s.time), s.time, *id);
        match Standing::of_dates(s.time, stored, now) {
            Standing::Trusted => timely.push((order, s)),
            _ => untimely.push((order, s, stored)),
        }
    }
    let newest = timely.into_iter().max_by(|a, b| a.0.cmp(&b.0));
    let passed_over = untimely
        .into_iter()
        .filter(|(order, _, _)| newest.as_ref().is_none_or(|(n, _)| order > n))
        .map(|((_, time, id), _, stored)| PassedOver { id, time, stored })
        .collect();
    ParentChoice {
        parent: newest.map(|((_, _, id), s)| (id, s.clone())),
        passed_over,
    }
}
