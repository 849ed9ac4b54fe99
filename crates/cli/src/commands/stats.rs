//! `reprise stats`: what the repository stores and how well it deduplicates
//! and compresses.

use crate::cli::GlobalOptions;
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_format::BlobType;
use serde::Serialize;

#[derive(Serialize, Default)]
struct Stats {
    snapshots: u64,
    packs: u64,
    pack_bytes: u64,
    data_blobs: u64,
    tree_blobs: u64,
    /// Plaintext bytes of all unique blobs.
    unique_bytes: u64,
    /// Plaintext bytes of the unique file-content chunks.
    unique_data_bytes: u64,
    /// Bytes those blobs take once compressed and sealed.
    stored_bytes: u64,
    /// Sum of the file sizes of every snapshot (what restoring them all would write).
    snapshots_total_bytes: u64,
    compression_ratio: f64,
    dedup_ratio: f64,
    /// Memory the in-memory index takes for the blobs (a sorted table).
    index_bytes_per_blob: u64,
    index_memory_bytes: u64,
}

pub fn run(g: &GlobalOptions) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = repo.list_snapshots()?;
    let load = repo.load_index()?;
    let mut s = Stats {
        snapshots: list.snapshots.len() as u64,
        packs: repo.index().packs().len() as u64,
        pack_bytes: load.pack_sizes.values().sum(),
        snapshots_total_bytes: list
            .snapshots
            .iter()
            .filter_map(|(_, s)| s.summary.as_ref())
            .map(|x| x.total_bytes)
            .sum(),
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
    s.index_bytes_per_blob = reprise_repo::INDEX_BYTES_PER_BLOB as u64;
    s.index_memory_bytes = (s.data_blobs + s.tree_blobs) * s.index_bytes_per_blob;
    s.compression_ratio = ratio(s.unique_bytes, s.stored_bytes);
    s.dedup_ratio = ratio(s.snapshots_total_bytes, s.unique_data_bytes);
    if g.json {
        output::json(&s)?;
        return Ok(exit::OK);
    }
    println!("snapshots:             {}", s.snapshots);
    println!(
        "files in all snapshots: {}",
        output::bytes(s.snapshots_total_bytes)
    );
    println!(
        "unique data:           {} in {} chunks and {} trees",
        output::bytes(s.unique_bytes),
        s.data_blobs,
        s.tree_blobs
    );
    println!(
        "stored:                {} in {} packs ({})",
        output::bytes(s.stored_bytes),
        s.packs,
        output::bytes(s.pack_bytes)
    );
    println!("compression ratio:     {:.2}x", s.compression_ratio);
    println!("deduplication ratio:   {:.2}x", s.dedup_ratio);
    println!(
        "index in memory:       {} ({} bytes a blob)",
        output::bytes(s.index_memory_bytes),
        s.index_bytes_per_blob
    );
    Ok(exit::OK)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
