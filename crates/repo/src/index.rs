//! The in-memory index: where each blob lies. Built from index files and,
//! for packs no index file mentions, from the packs' own headers.
//!
//! It is a cache, never the only truth. An index file that fails to decrypt
//! is skipped and its packs are adopted from their headers; a forged entry
//! only adds a wrong location, and every read verifies content against its
//! id and falls back to the other known locations of that blob.

use crate::{RepoError, Result};
use rayon::prelude::*;
use reprise_crypto::MasterKey;
use reprise_format::pack::{PackHeader, TRAILER_LEN};
use reprise_format::{BlobId, BlobType, IndexFile, IndexId, IndexPack, PackEntry, PackId};
use reprise_storage::{Backend, ObjectKind};
use std::collections::{HashMap, HashSet};

/// Where one copy of a blob is: 20 bytes, kept small because a large
/// repository holds hundreds of millions of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: u32,
    pub blob_type: BlobType,
    pub offset: u32,
    pub sealed_len: u32,
    pub raw_len: u32,
    /// Stored as a delta against another data blob.
    pub delta: bool,
}

/// Blob id → first known location. What was loaded at open sits in a
/// vector sorted by id: 52 bytes a blob, against 60 to 120 for a hash map
/// (whose table is a power of two at most 7/8 full), which matters at
/// hundreds of millions of blobs. Blobs added later sit in a small map.
#[derive(Debug, Default)]
struct BlobTable {
    sorted: Vec<(BlobId, BlobLocation)>,
    recent: HashMap<BlobId, BlobLocation>,
}

impl BlobTable {
    fn get(&self, id: &BlobId) -> Option<&BlobLocation> {
        match self.sorted.binary_search_by(|(k, _)| k.cmp(id)) {
            Ok(i) => self.sorted.get(i).map(|(_, loc)| loc),
            Err(_) => self.recent.get(id),
        }
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&BlobId, &BlobLocation)> {
        self.sorted
            .iter()
            .map(|(k, v)| (k, v))
            .chain(self.recent.iter())
    }
}

/// Blobs added after loading kept apart before they are worth sorting in.
const COMPACT_FLOOR: usize = 4096;

/// Bytes the index holds per loaded blob, for documentation and tests.
pub const INDEX_BYTES_PER_BLOB: usize = std::mem::size_of::<(BlobId, BlobLocation)>();

/// Every known blob and pack.
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<PackId>,
    pack_numbers: HashMap<PackId, u32>,
    blobs: BlobTable,
    /// Further copies of blobs stored more than once (concurrent backups,
    /// or a forged index entry): tried when the first copy fails.
    others: HashMap<BlobId, Vec<BlobLocation>>,
    /// Packs a prune mark names (by number): writers do not deduplicate
    /// against them, since prune may delete them.
    shunned_packs: HashSet<u32>,
    /// Copies a damaged mark names: writers store the blob again, readers
    /// try these last.
    shunned_copies: HashSet<(BlobId, u32)>,
}

/// What loading the index found, for `check` and for warnings.
#[derive(Debug, Default)]
pub struct IndexLoadReport {
    pub index_files: usize,
    /// The index files read whole: what a later refresh need not read again.
    pub read_index_files: Vec<String>,
    pub damaged_index_files: Vec<(IndexId, String)>,
    /// Packs that index files mention but that do not exist.
    pub missing_packs: Vec<PackId>,
    /// Packs that no index file mentions, read from their own headers.
    pub adopted_packs: Vec<IndexPack>,
    pub damaged_packs: Vec<(PackId, String)>,
    pub pack_sizes: HashMap<PackId, u64>,
    /// Marks read and applied (see `reprise_format::mark`).
    pub marks: usize,
    /// Marks that could not be read, with the reason: skipped, which is
    /// safe since a mark only ever makes writers store more.
    pub unreadable_marks: Vec<(String, String)>,
    /// Packs that index files mention, that are gone, and that a prune mark
    /// names: deleted on purpose (their old index files may outlive them
    /// where storage locks keep them).
    pub pruned_packs: Vec<PackId>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.len() == 0
    }

    /// Whether any copy of the blob is known, usable or not.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.blobs.get(id).is_some()
    }

    /// Whether a writer may deduplicate against this blob: it has a copy
    /// that no mark shuns (not in a pack prune may delete, not known damaged).
    pub fn has_usable_copy(&self, id: &BlobId) -> bool {
        if self.shunned_packs.is_empty() && self.shunned_copies.is_empty() {
            return self.contains(id);
        }
        self.copies(id).any(|l| !self.is_shunned(id, &l))
    }

    /// The copy to read first: one no mark shuns if there is one.
    pub fn get(&self, id: &BlobId) -> Option<(PackId, BlobLocation)> {
        self.locations(id).into_iter().next()
    }

    /// Every known copy of a blob, the first one first and shunned ones last.
    pub fn locations(&self, id: &BlobId) -> Vec<(PackId, BlobLocation)> {
        let (usable, shunned): (Vec<BlobLocation>, Vec<BlobLocation>) =
            self.copies(id).partition(|l| !self.is_shunned(id, l));
        usable
            .into_iter()
            .chain(shunned)
            .filter_map(|l| Some((self.pack_id(l.pack)?, l)))
            .collect()
    }

    /// Whether some copy of `id` is stored as a delta (and so needs a base).
    pub fn has_delta_copy(&self, id: &BlobId) -> bool {
        self.copies(id).any(|l| l.delta)
    }

    fn copies(&self, id: &BlobId) -> impl Iterator<Item = BlobLocation> + '_ {
        let first = self.blobs.get(id).into_iter().copied();
        let rest = self.others.get(id).into_iter().flatten().copied();
        first.chain(rest)
    }

    fn is_shunned(&self, id: &BlobId, loc: &BlobLocation) -> bool {
        self.shunned_packs.contains(&loc.pack) || self.shunned_copies.contains(&(*id, loc.pack))
    }

    /// Stops writers deduplicating against a pack (a prune mark names it).
    pub fn shun_pack(&mut self, pack: &PackId) {
        if let Some(n) = self.pack_numbers.get(pack) {
            self.shunned_packs.insert(*n);
        }
    }

    /// Marks one copy of a blob as known damaged.
    pub fn shun_copy(&mut self, blob: &BlobId, pack: &PackId) {
        if let Some(n) = self.pack_numbers.get(pack) {
            self.shunned_copies.insert((*blob, *n));
        }
    }

    /// Every pack's entries, rebuilt from the blob table (prune writes them
    /// to new index files), in offset order.
    pub fn entries_by_pack(&self) -> HashMap<PackId, Vec<PackEntry>> {
        let mut out: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
        for (id, loc) in self.all_locations() {
            if let Some(pack) = self.pack_id(loc.pack) {
                out.entry(pack).or_default().push(PackEntry {
                    blob_type: loc.blob_type,
                    id: *id,
                    offset: loc.offset,
                    sealed_len: loc.sealed_len,
                    raw_len: loc.raw_len,
                    delta: loc.delta,
                });
            }
        }
        for entries in out.values_mut() {
            entries.sort_by_key(|e| e.offset);
        }
        out
    }

    /// Whether a prune mark names this pack.
    pub fn is_pack_shunned(&self, pack: &PackId) -> bool {
        self.pack_numbers
            .get(pack)
            .is_some_and(|n| self.shunned_packs.contains(n))
    }

    pub fn pack_id(&self, number: u32) -> Option<PackId> {
        self.packs.get(number as usize).copied()
    }

    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    pub fn contains_pack(&self, id: &PackId) -> bool {
        self.pack_numbers.contains_key(id)
    }

    /// All blobs with their first location.
    pub fn blobs(&self) -> impl Iterator<Item = (&BlobId, &BlobLocation)> {
        self.blobs.iter()
    }

    /// Every known copy of every blob.
    pub fn all_locations(&self) -> impl Iterator<Item = (&BlobId, &BlobLocation)> {
        let others = self
            .others
            .iter()
            .flat_map(|(id, locs)| locs.iter().map(move |l| (id, l)));
        self.blobs.iter().chain(others)
    }

    fn pack_number(&mut self, pack: PackId) -> u32 {
        *self.pack_numbers.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            (self.packs.len() - 1) as u32
        })
    }

    fn location(number: u32, e: &PackEntry) -> BlobLocation {
        BlobLocation {
            pack: number,
            blob_type: e.blob_type,
            offset: e.offset,
            sealed_len: e.sealed_len,
            raw_len: e.raw_len,
            delta: e.delta,
        }
    }

    fn add_other(&mut self, id: BlobId, loc: BlobLocation) {
        let others = self.others.entry(id).or_default();
        if !others.contains(&loc) {
            others.push(loc);
        }
    }

    /// Adds the blobs of a pack written or found after the index was loaded.
    pub fn add_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        let number = self.pack_number(pack);
        for e in entries {
            let loc = Self::location(number, e);
            match self.blobs.get(&e.id).copied() {
                None => {
                    self.blobs.recent.insert(e.id, loc);
                }
                Some(existing) if existing == loc => {}
                Some(_) => self.add_other(e.id, loc),
            }
        }
    }

    /// Moves the blobs added since loading into the sorted table once they
    /// have grown past an eighth of it (and a floor), so a long-lived
    /// reader that adds every backup's index files (the dashboard) keeps
    /// the compact table rather than an ever larger hash map. Sorting is
    /// paid once per eighth of growth.
    pub fn compact_if_grown(&mut self) {
        if self.blobs.recent.len() <= self.blobs.sorted.len() / 8 + COMPACT_FLOOR {
            return;
        }
        let recent = std::mem::take(&mut self.blobs.recent);
        // Exactly what it needs: `extend` alone would double the capacity.
        self.blobs.sorted.reserve_exact(recent.len());
        self.blobs.sorted.extend(recent);
        // No id is in both: a blob is added to `recent` only when the sorted
        // table lacks it.
        self.blobs.sorted.sort_unstable_by_key(|(id, _)| *id);
    }

    /// While loading: appends without lookups; [`finish_loading`](Self::finish_loading) sorts.
    fn push_loaded(&mut self, pack: PackId, entries: &[PackEntry]) {
        let number = self.pack_number(pack);
        self.blobs
            .sorted
            .extend(entries.iter().map(|e| (e.id, Self::location(number, e))));
    }

    /// Sorts the loaded blobs by id; further copies of a blob move to `others`.
    fn finish_loading(&mut self) {
        let mut sorted = std::mem::take(&mut self.blobs.sorted);
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.pack.cmp(&b.1.pack)));
        let mut extra = Vec::new();
        sorted.dedup_by(|later, kept| {
            let same_id = later.0 == kept.0;
            if same_id && later.1 != kept.1 {
                extra.push(*later);
            }
            same_id
        });
        sorted.shrink_to_fit();
        self.blobs.sorted = sorted;
        for (id, loc) in extra {
            self.add_other(id, loc);
        }
    }

    /// Loads every index file, then adopts packs that none mentions.
    pub fn load(backend: &dyn Backend, key: &MasterKey) -> Result<(Index, IndexLoadReport)> {
        let mut report = IndexLoadReport::default();
        // Index files before packs: a writer uploads a pack before the index
        // file naming it, so every pack a listed index file names is in the
        // later pack listing (the other order could see a new index file
        // and miss its new pack, and a refresh would never read it again).
        let index_list = backend.list(ObjectKind::Index)?;
        let pack_list = backend.list(ObjectKind::Pack)?;
        report.pack_sizes = pack_list
            .iter()
            .filter_map(|o| Some((o.name.parse::<PackId>().ok()?, o.size)))
            .collect();
        report.index_files = index_list.len();
        let loaded = read_index_files(backend, key, &index_list);
        let mut index = Index::default();
        let mut mentioned = HashSet::new();
        for (name, file) in loaded {
            match file {
                Ok(file) => {
                    report.read_index_files.push(name);
                    for p in &file.packs {
                        mentioned.insert(p.id);
                        if report.pack_sizes.contains_key(&p.id) {
                            index.push_loaded(p.id, &p.entries);
                        }
                    }
                }
                Err(reason) => {
                    let id = name.parse().unwrap_or_default();
                    report.damaged_index_files.push((id, reason));
                }
            }
        }
        report.missing_packs = mentioned
            .iter()
            .filter(|p| !report.pack_sizes.contains_key(p))
            .copied()
            .collect();
        let unindexed: Vec<(PackId, u64)> = report
            .pack_sizes
            .iter()
            .filter(|(id, _)| !mentioned.contains(id))
            .map(|(id, size)| (*id, *size))
            .collect();
        let headers: Vec<(PackId, Result<PackHeader>)> = unindexed
            .par_iter()
            .map(|(id, size)| (*id, read_pack_header(backend, key, id, *size)))
            .collect();
        for (id, header) in headers {
            match header {
                Ok(h) => {
                    index.push_loaded(id, &h.entries);
                    report.adopted_packs.push(IndexPack {
                        id,
                        entries: h.entries,
                    });
                }
                Err(e) => report.damaged_packs.push((id, e.to_string())),
            }
        }
        index.finish_loading();
        Ok((index, report))
    }
}

/// Reads and opens index files, in parallel. One deleted since the listing
/// (prune replaces index files) is left out: prune wrote its replacement
/// first, and a pack no index file read mentions is adopted from its header.
pub(crate) fn read_index_files(
    backend: &dyn Backend,
    key: &MasterKey,
    list: &[reprise_storage::ObjectInfo],
) -> Vec<(String, std::result::Result<IndexFile, String>)> {
    list.par_iter()
        .filter_map(|o| {
            let file = match backend.read(ObjectKind::Index, &o.name) {
                Err(reprise_storage::StorageError::NotFound { .. }) => return None,
                Err(e) => Err(e.to_string()),
                Ok(bytes) => verify_name(&o.name, &bytes)
                    .and_then(|()| IndexFile::open(key, &bytes).map_err(|e| e.to_string())),
            };
            Some((o.name.clone(), file))
        })
        .collect()
}

/// Objects named by their BLAKE3 must hash to their name.
pub(crate) fn verify_name(name: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    let actual = hex::encode(reprise_crypto::storage_hash(bytes));
    if actual == name {
        Ok(())
    } else {
        Err(format!(
            "content does not match its name (hashes to {actual})"
        ))
    }
}

/// Reads and opens a pack's header with two small reads from its end.
pub fn read_pack_header(
    backend: &dyn Backend,
    key: &MasterKey,
    id: &PackId,
    size: u64,
) -> Result<PackHeader> {
    let name = id.to_hex();
    let object = format!("pack {name}");
    if size < TRAILER_LEN as u64 {
        return Err(RepoError::format(
            object,
            reprise_format::FormatError::Malformed {
                what: "pack",
                detail: "shorter than its trailer".into(),
            },
        ));
    }
    let trailer = backend.read_range(
        ObjectKind::Pack,
        &name,
        size - TRAILER_LEN as u64,
        TRAILER_LEN as u64,
    )?;
    let (start, len) =
        PackHeader::locate(&trailer, size).map_err(|e| RepoError::format(&object, e))?;
    let sealed = backend.read_range(ObjectKind::Pack, &name, start, len as u64)?;
    PackHeader::open(key, &sealed, start).map_err(|e| RepoError::format(object, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u8, offset: u32) -> PackEntry {
        PackEntry {
            blob_type: BlobType::Data,
            id: BlobId::from_bytes([id; 32]),
            offset,
            sealed_len: 10,
            raw_len: 5,
            delta: false,
        }
    }

    #[test]
    fn a_loaded_blob_costs_52_bytes() {
        assert_eq!(INDEX_BYTES_PER_BLOB, 52);
    }

    #[test]
    fn loaded_and_added_blobs_are_found_and_copies_kept() {
        let mut index = Index::default();
        let (p1, p2) = (PackId::from_bytes([1; 32]), PackId::from_bytes([2; 32]));
        index.push_loaded(p1, &[entry(9, 0), entry(3, 10)]);
        index.push_loaded(p2, &[entry(3, 0)]);
        index.finish_loading();
        index.add_pack(p2, &[entry(7, 10), entry(9, 20)]);
        assert_eq!(index.len(), 3);
        for id in [3u8, 7, 9] {
            assert!(index.contains(&BlobId::from_bytes([id; 32])));
        }
        assert!(!index.contains(&BlobId::from_bytes([4; 32])));
        assert_eq!(index.locations(&BlobId::from_bytes([3; 32])).len(), 2);
        assert_eq!(index.locations(&BlobId::from_bytes([9; 32])).len(), 2);
        assert_eq!(index.all_locations().count(), 5);
    }

    #[test]
    fn blobs_added_after_loading_are_sorted_in_once_they_grow_and_still_found() {
        let mut index = Index::default();
        let p1 = PackId::from_bytes([1; 32]);
        index.push_loaded(p1, &[entry(200, 0)]);
        index.finish_loading();
        let many: Vec<PackEntry> = (0..COMPACT_FLOOR as u32 + 10)
            .map(|i| {
                let mut e = entry(0, i);
                let mut id = [0xaa; 32];
                id[..4].copy_from_slice(&i.to_be_bytes());
                e.id = BlobId::from_bytes(id);
                e
            })
            .collect();
        index.add_pack(PackId::from_bytes([2; 32]), &many);
        index.add_pack(PackId::from_bytes([3; 32]), &[entry(200, 5)]);
        index.compact_if_grown();
        assert!(index.blobs.recent.is_empty(), "sorted in");
        assert_eq!(index.len(), many.len() + 1);
        for e in &many {
            assert_eq!(index.get(&e.id).unwrap().1.offset, e.offset);
        }
        assert_eq!(index.locations(&BlobId::from_bytes([200; 32])).len(), 2);
        index.add_pack(PackId::from_bytes([4; 32]), &[entry(201, 0)]);
        index.compact_if_grown();
        assert_eq!(index.blobs.recent.len(), 1, "a few stay apart");
        assert!(index.contains(&BlobId::from_bytes([201; 32])));
    }

    #[test]
    fn shunned_copies_are_read_last_and_never_deduplicated_against() {
        let mut index = Index::default();
        let (p1, p2) = (PackId::from_bytes([1; 32]), PackId::from_bytes([2; 32]));
        index.push_loaded(p1, &[entry(3, 0), entry(5, 10)]);
        index.push_loaded(p2, &[entry(3, 0)]);
        index.finish_loading();
        let (three, five) = (BlobId::from_bytes([3; 32]), BlobId::from_bytes([5; 32]));
        index.shun_copy(&three, &p1);
        assert!(index.has_usable_copy(&three), "the copy in p2 is usable");
        assert_eq!(
            index.get(&three).unwrap().0,
            p2,
            "the good copy is read first"
        );
        assert_eq!(
            index.locations(&three).len(),
            2,
            "the bad one is still tried"
        );
        index.shun_pack(&p2);
        assert!(!index.has_usable_copy(&three));
        assert!(index.contains(&three), "readers still see every copy");
        assert!(index.has_usable_copy(&five));
        index.shun_pack(&p1);
        assert!(!index.has_usable_copy(&five));
        assert!(index.is_pack_shunned(&p1));
    }
}
