//! `repair index`: rebuilds what damaged index files held from the packs'
//! own headers, writes it as new index files, then deletes the damaged ones
//! and those made obsolete by prune.
//!
//! Only packs that no readable index file mentions are re-read: readable
//! index files stay as they are, since they are the only record of where
//! the blobs of a pack with a damaged header lie. New index files are
//! written before anything is deleted, so a crash leaves at worst an extra
//! index file, and a concurrent backup is unaffected (it only adds objects).

use crate::index::{read_index_files, read_pack_header};
use crate::{write_index_files, Repository, Result};
use rayon::prelude::*;
use reprise_format::{IndexFile, IndexPack, PackId};
use reprise_storage::{ObjectKind, StorageError};
use std::collections::HashSet;

/// What `repair index` found and did (or, with `dry_run`, would do).
#[derive(Debug, Default, serde::Serialize)]
pub struct IndexRepair {
    pub dry_run: bool,
    /// Index files that cannot be read, with the reason.
    pub damaged: Vec<(String, String)>,
    /// Readable index files whose every pack was deleted by prune.
    pub obsolete: Vec<String>,
    /// Packs no readable index file mentions, re-indexed from their headers.
    pub reindexed_packs: Vec<PackId>,
    /// Unindexed packs whose header cannot be read: nothing can index them.
    pub unreadable_packs: Vec<(PackId, String)>,
    /// The new index files.
    pub written: Vec<String>,
    pub deleted: Vec<String>,
    /// Index files the storage would not delete (append-only or locked),
    /// with its answer. Harmless: readers skip damaged index files, and an
    /// obsolete one only names packs that are gone.
    pub not_deleted: Vec<(String, String)>,
}

impl Repository {
    /// Rebuilds the index files; see the module documentation.
    pub fn repair_index(&self, dry_run: bool) -> Result<IndexRepair> {
        let mut repair = IndexRepair {
            dry_run,
            ..IndexRepair::default()
        };
        let packs = self.backend().list(ObjectKind::Pack)?;
        let present: HashSet<PackId> = packs.iter().filter_map(|o| o.name.parse().ok()).collect();
        let pruned: HashSet<PackId> = self.list_marks()?.pruned_packs().collect();
        let mut mentioned = HashSet::new();
        for (name, file) in self.read_index_files()? {
            match file {
                Err(reason) => repair.damaged.push((name, reason)),
                Ok(file) => {
                    let ids: Vec<PackId> = file.packs.iter().map(|p| p.id).collect();
                    if ids
                        .iter()
                        .all(|p| !present.contains(p) && pruned.contains(p))
                    {
                        repair.obsolete.push(name);
                    }
                    mentioned.extend(ids);
                }
            }
        }
        let rebuilt = self.reindex(&packs, &mentioned, &mut repair);
        if dry_run {
            return Ok(repair);
        }
        repair.written = write_index_files(self, rebuilt)?
            .iter()
            .map(|id| id.to_hex())
            .collect();
        let doomed: Vec<String> = repair
            .damaged
            .iter()
            .map(|(n, _)| n.clone())
            .chain(repair.obsolete.iter().cloned())
            .collect();
        for name in doomed {
            match self.backend().remove(ObjectKind::Index, &name) {
                Ok(()) | Err(StorageError::NotFound { .. }) => repair.deleted.push(name),
                Err(e) => repair.not_deleted.push((name, e.to_string())),
            }
        }
        Ok(repair)
    }

    /// Every index file, read and opened, or why it cannot be.
    fn read_index_files(&self) -> Result<Vec<(String, std::result::Result<IndexFile, String>)>> {
        let list = self.backend().list(ObjectKind::Index)?;
        Ok(read_index_files(self.backend(), self.key(), &list))
    }

    /// Reads the header of every pack not in `mentioned`.
    fn reindex(
        &self,
        packs: &[reprise_storage::ObjectInfo],
        mentioned: &HashSet<PackId>,
        repair: &mut IndexRepair,
    ) -> Vec<IndexPack> {
        let unindexed: Vec<(PackId, u64)> = packs
            .iter()
            .filter_map(|o| Some((o.name.parse::<PackId>().ok()?, o.size)))
            .filter(|(id, _)| !mentioned.contains(id))
            .collect();
        let headers: Vec<_> = unindexed
            .par_iter()
            .map(|(id, size)| (*id, read_pack_header(self.backend(), self.key(), id, *size)))
            .collect();
        let mut rebuilt = Vec::new();
        for (id, header) in headers {
            match header {
                Ok(h) => {
                    repair.reindexed_packs.push(id);
                    rebuilt.push(IndexPack {
                        id,
                        entries: h.entries,
                    });
                }
                Err(e) => repair.unreadable_packs.push((id, e.to_string())),
            }
        }
        rebuilt
    }
}
