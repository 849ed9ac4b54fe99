//! Listing, selecting and saving snapshots.
//!
//! A selector is a full id, a unique prefix of one, or `latest` (the newest
//! snapshot that passes the [`SnapshotFilter`]).

use crate::index::verify_name;
use crate::{RepoError, Repository, Result};
use rayon::prelude::*;
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

    /// Resolves a selector to one snapshot.
    pub fn select(
        &self,
        selector: &str,
        filter: &SnapshotFilter,
    ) -> Result<(SnapshotId, Snapshot)> {
        if selector == "latest" {
            return self
                .filtered(filter)
                .last()
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

    /// Writes a snapshot: the commit point of a backup.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        let sealed = snapshot
            .seal(self.key())
            .map_err(|e| RepoError::format("snapshot", e))?;
        let id = SnapshotId::from_bytes(reprise_crypto::storage_hash(&sealed));
        self.backend()
            .write_once(ObjectKind::Snapshot, &id.to_hex(), &sealed)?;
        Ok(id)
    }
}
