//! `stats`: what a repository stores, and how well it deduplicates and
//! compresses, from its snapshot list and its index (no pack is read).

use crate::browse::open::list_then_index;
use crate::{Repository, Result, INDEX_BYTES_PER_BLOB};
use reprise_format::BlobType;
use serde::Serialize;

/// The figures of `reprise stats`; the field names are its JSON names.
#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct Stats {
    pub snapshots: u64,
    pub packs: u64,
    pub pack_bytes: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of all unique blobs.
    pub unique_bytes: u64,
    /// Plaintext bytes of the unique file-content chunks.
    pub unique_data_bytes: u64,
    /// Bytes those blobs take once compressed and sealed.
    pub stored_bytes: u64,
    /// Sum of the file sizes of every snapshot (what restoring them all would write).
    pub snapshots_total_bytes: u64,
    /// Unique plaintext bytes per stored byte (0 for an empty repository).
    pub compression_ratio: f64,
    /// Bytes of the snapshots' files per unique content byte (0 when there is none).
    pub dedup_ratio: f64,
    /// Memory the in-memory index takes for the blobs (a sorted table).
    pub index_bytes_per_blob: u64,
    pub index_memory_bytes: u64,
}

/// Lists the snapshots, loads the index and measures both.
pub fn stats(repo: &Repository) -> Result<Stats> {
    let opened = list_then_index(repo)?;
    let mut s = Stats {
        snapshots: opened.snapshots.snapshots.len() as u64,
        packs: repo.index().packs().len() as u64,
        pack_bytes: opened.index.pack_sizes.values().sum(),
        snapshots_total_bytes: opened
            .snapshots
            .snapshots
            .iter()
            .filter_map(|(_, s)| s.summary.as_ref())
            .map(|x| x.total_bytes)
            .fold(0, u64::saturating_add),
        ..Stats::default()
    };
    for (_, loc) in repo.index().blobs() {
        match loc.blob_type {
            BlobType::Data => {
                s.data_blobs += 1;
                s.unique_data_bytes += loc.raw_len as u64;
            }
            BlobType::Tree => s.tree_blobs += 1,
        }
        s.unique_bytes += loc.raw_len as u64;
        s.stored_bytes += loc.sealed_len as u64;
    }
    s.index_bytes_per_blob = INDEX_BYTES_PER_BLOB as u64;
    s.index_memory_bytes = (s.data_blobs + s.tree_blobs) * s.index_bytes_per_blob;
    s.compression_ratio = ratio(s.unique_bytes, s.stored_bytes);
    s.dedup_ratio = ratio(s.snapshots_total_bytes, s.unique_data_bytes);
    Ok(s)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{fresh_repo, snapshot_of, Entry};

    #[test]
    fn an_empty_repository_has_zero_ratios() {
        let (_dir, repo) = fresh_repo();
        let s = stats(&repo).unwrap();
        assert_eq!(
            s,
            Stats {
                index_bytes_per_blob: INDEX_BYTES_PER_BLOB as u64,
                ..Stats::default()
            }
        );
    }

    #[test]
    fn unique_blobs_are_counted_once() {
        let (_dir, repo) = fresh_repo();
        let same = [
            Entry::File("a", b"same content"),
            Entry::File("b", b"same content"),
        ];
        snapshot_of(&repo, &same);
        snapshot_of(&repo, &same);
        let s = stats(&repo).unwrap();
        assert_eq!((s.snapshots, s.data_blobs, s.tree_blobs), (2, 1, 1));
        assert_eq!(s.unique_data_bytes, 12);
        assert!(s.packs >= 1 && s.pack_bytes >= s.stored_bytes);
        assert_eq!(s.index_memory_bytes, 2 * INDEX_BYTES_PER_BLOB as u64);
        assert_eq!(s.dedup_ratio, 0.0, "no snapshot records its total");
    }

    /// Forged summaries whose totals add up past 2^64 give a saturated
    /// total, not an overflow panic.
    #[test]
    fn forged_totals_cannot_overflow() {
        let (_dir, repo) = fresh_repo();
        let (_, mut snapshot) = snapshot_of(&repo, &[Entry::File("a", b"1")]);
        snapshot.summary = Some(reprise_format::SnapshotSummary {
            total_bytes: u64::MAX / 2 + 1,
            ..Default::default()
        });
        repo.save_snapshot(&snapshot).unwrap();
        snapshot.hostname = "other".into();
        repo.save_snapshot(&snapshot).unwrap();
        assert_eq!(stats(&repo).unwrap().snapshots_total_bytes, u64::MAX);
    }
}
