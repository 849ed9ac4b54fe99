//! Listing, selecting and saving snapshots.
//!
//! A selector is a full id, a unique prefix of one, or `latest` (the newest
//! snapshot that passes the [`SnapshotFilter`]).

use crate::index::verify_name;
use crate::{RepoError, Repository, Result};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use reprise_format::snapshot::Standing;
use reprise_format::{Snapshot, SnapshotId};
use reprise_storage::{ObjectInfo, ObjectKind, StorageError};
use std::collections::HashMap;
use std::time::SystemTime;

/// Which snapshots a command considers.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// A snapshot passes if it carries every one of these tags.
    pub tags: Vec<String>,
    /// A snapshot passes if it backed up every one of these paths.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && self.tags.iter().all(|t| s.has_tag(t))
            && self.paths.iter().all(|p| s.paths.iter().any(|sp| sp == p))
    }
}

/// Every readable snapshot, oldest first, and those that could not be read.
#[derive(Debug, Default)]
pub struct SnapshotList {
    pub snapshots: Vec<(SnapshotId, Snapshot)>,
    pub unreadable: Vec<(String, String)>,
    /// When the storage received each snapshot, where it records that:
    /// unlike the snapshot's own `time`, a client cannot choose it.
    pub stored: HashMap<SnapshotId, SystemTime>,
}

impl SnapshotList {
    pub fn filtered(&self, filter: &SnapshotFilter) -> Vec<&(SnapshotId, Snapshot)> {
        self.snapshots
            .iter()
            .filter(|(_, s)| filter.matches(s))
            .collect()
    }

    /// The snapshots that could not be read and may be newer than `id`:
    /// those the storage received after it, or at a time it does not
    /// record. `latest` passes over them, so a caller should say so.
    pub fn unreadable_not_older_than(&self, id: &SnapshotId) -> Vec<&(String, String)> {
        let chosen = self.stored.get(id);
        self.unreadable
            .iter()
            .filter(|(name, _)| {
                let stored = name
                    .parse::<SnapshotId>()
                    .ok()
                    .and_then(|other| self.stored.get(&other));
                match (stored, chosen) {
                    (Some(other), Some(chosen)) => other >= chosen,
                    _ => true,
                }
            })
            .collect()
    }

    /// Whether `snapshot` claims a date after the storage received it
    /// (beyond clock skew), which only a forgery does: such a snapshot is
    /// never `latest`, as it is never a parent or a keeper for retention.
    pub fn is_future_dated(
        &self,
        id: &SnapshotId,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> bool {
        let stored = self.stored.get(id).map(|t| DateTime::<Utc>::from(*t));
        Standing::of_dates(snapshot.time, stored, now) == Standing::FutureDated
    }

    /// The snapshots passing `filter` that claim a later date than `chosen`
    /// but were passed over by `latest` as dated after their storage.
    pub fn future_dated_after(
        &self,
        chosen: &Snapshot,
        filter: &SnapshotFilter,
    ) -> Vec<&(SnapshotId, Snapshot)> {
        let now = Utc::now();
        self.filtered(filter)
            .into_iter()
            .filter(|(id, s)| s.time > chosen.time && self.is_future_dated(id, s, now))
            .collect()
    }

    /// Resolves a selector to one snapshot: a full id, a unique prefix, or
    /// `latest`, the newest snapshot passing `filter` that is not dated
    /// after the storage received it.
    pub fn select(
        &self,
        selector: &str,
        filter: &SnapshotFilter,
    ) -> Result<(SnapshotId, Snapshot)> {
        if selector == "latest" {
            let now = Utc::now();
            return self
                .filtered(filter)
                .into_iter()
                .rev()
                .find(|(id, s)| !self.is_future_dated(id, s, now))
                .map(|(id, s)| (*id, s.clone()))
                .ok_or_else(|| RepoError::SnapshotNotFound(selector.into()));
        }
        let wanted = selector.to_ascii_lowercase();
        let matches: Vec<_> = self
            .snapshots
            .iter()
            .filter(|(id, _)| id.to_hex().starts_with(&wanted))
            .collect();
        match matches.as_slice() {
            [(id, s)] if !wanted.is_empty() => Ok((*id, s.clone())),
            [] | [_] => Err(RepoError::SnapshotNotFound(selector.into())),
            _ => Err(RepoError::AmbiguousSnapshot(selector.into())),
        }
    }
}

impl Repository {
    /// Reads the objects `names` of `kind` in parallel, checks each against
    /// its name, and opens it with `open`; a failure is kept as its reason.
    pub(crate) fn read_sealed<T: Send>(
        &self,
        kind: ObjectKind,
        names: &[ObjectInfo],
        open: impl Fn(&[u8]) -> std::result::Result<T, String> + Sync,
    ) -> Vec<(ObjectInfo, std::result::Result<T, String>)> {
        names
            .par_iter()
            .filter_map(|o| {
                let r = match self.backend().read(kind, &o.name) {
                    // Deleted since the listing (forget, prune): not there.
                    Err(StorageError::NotFound { .. }) => return None,
                    Err(e) => Err(e.to_string()),
                    Ok(b) => verify_name(&o.name, &b).and_then(|()| open(&b)),
                };
                Some((o.clone(), r))
            })
            .collect()
    }

    /// Reads every snapshot, in parallel.
    pub fn list_snapshots(&self) -> Result<SnapshotList> {
        let names = self.backend().list(ObjectKind::Snapshot)?;
        let stored = names
            .iter()
            .filter_map(|o| Some((o.name.parse().ok()?, o.stored?)))
            .collect();
        let mut list = SnapshotList {
            stored,
            ..SnapshotList::default()
        };
        let read = self.read_sealed(ObjectKind::Snapshot, &names, |b| {
            Snapshot::open(self.key(), b).map_err(|e| e.to_string())
        });
        for (o, r) in read {
            let name = o.name.clone();
            match (r, name.parse::<SnapshotId>()) {
                (Ok(s), Ok(id)) => list.snapshots.push((id, s)),
                (Err(e), _) => list.unreadable.push((name, e)),
                (_, Err(e)) => list.unreadable.push((name, e)),
            }
        }
        list.snapshots
            .sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(list)
    }

    /// Reads one snapshot by its id, checked against it: one object read,
    /// where [`Self::list_snapshots`] reads them all.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let name = id.to_hex();
        let bytes = match self.backend().read(ObjectKind::Snapshot, &name) {
            Err(StorageError::NotFound { .. }) => return Err(RepoError::SnapshotNotFound(name)),
            read => read?,
        };
        crate::index::verify_name(&name, &bytes).map_err(|why| RepoError::SnapshotDamaged {
            id: name.clone(),
            why,
        })?;
        Snapshot::open(self.key(), &bytes)
            .map_err(|e| RepoError::format(format!("snapshot {name}"), e))
    }

    /// Writes a snapshot: the commit point of a backup.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        let (id, sealed) = self.seal_snapshot(snapshot)?;
        self.write_sealed_snapshot(&id, &sealed)?;
        Ok(id)
    }

    /// Seals a snapshot without writing it: its id and bytes, for a writer
    /// that must name the snapshot in another object written before it.
    pub fn seal_snapshot(&self, snapshot: &Snapshot) -> Result<(SnapshotId, Vec<u8>)> {
        let sealed = snapshot
            .seal(self.key())
            .map_err(|e| RepoError::format("snapshot", e))?;
        let id = SnapshotId::from_bytes(reprise_crypto::storage_hash(&sealed));
        Ok((id, sealed))
    }

    /// Writes a snapshot sealed by [`Self::seal_snapshot`]: the commit point.
    pub fn write_sealed_snapshot(&self, id: &SnapshotId, sealed: &[u8]) -> Result<()> {
        self.backend()
            .write_once(ObjectKind::Snapshot, &id.to_hex(), sealed)?;
        Ok(())
    }
}
