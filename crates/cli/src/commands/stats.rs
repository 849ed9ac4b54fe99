//! `reprise stats`: what the repository stores and how well it deduplicates
//! and compresses (figures from `reprise_repo::browse::stats`).

use crate::cli::GlobalOptions;
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_repo::browse::stats;

pub fn run(g: &GlobalOptions) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let s = stats(&repo)?;
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
