//! Writing one file's content: resumable (only differing chunks are
//! rewritten), sparse (all-zero chunks past the existing data become holes),
//! and parallel across the chunks of a large file.

use crate::{metadata, PlannedEntry, Shared};
use rayon::prelude::*;
use reprise_format::{BlobId, BlobType};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::{AtomicU64, Ordering};

/// A chunk of the file and where it goes.
struct Placed {
    id: BlobId,
    offset: u64,
    len: u64,
}

fn layout(shared: &Shared, content: &[BlobId]) -> Result<Vec<Placed>, String> {
    let index = shared.repo.index();
    let mut offset = 0;
    content
        .iter()
        .map(|id| {
            let (_, loc) = index
                .get(id)
                .ok_or_else(|| format!("chunk {id} is missing from the repository"))?;
            let placed = Placed {
                id: *id,
                offset,
                len: loc.raw_len as u64,
            };
            offset += loc.raw_len as u64;
            Ok(placed)
        })
        .collect()
}

fn already_restored(meta: &std::fs::Metadata, entry: &PlannedEntry) -> bool {
    let mtime_ns = meta
        .mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec());
    meta.is_file() && meta.len() == entry.node.size && mtime_ns == entry.node.mtime_ns
}

pub(crate) fn restore_file(shared: &Shared, entry: &PlannedEntry) {
    let size = entry.node.size;
    let existing = std::fs::symlink_metadata(&entry.path).ok();
    if existing
        .as_ref()
        .is_some_and(|m| already_restored(m, entry))
    {
        shared.unchanged.fetch_add(1, Ordering::Relaxed);
        shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
        shared
            .progress
            .bytes_done
            .fetch_add(size, Ordering::Relaxed);
        return;
    }
    let file = match write_content(shared, entry, existing) {
        Ok(file) => file,
        Err(message) => {
            shared.fail(&entry.path, message);
            return;
        }
    };
    if let Err(e) = metadata::apply_to_file(&file, &entry.node, shared.as_root) {
        shared.fail(&entry.path, format!("cannot set metadata: {e}"));
    }
    shared.restored.fetch_add(1, Ordering::Relaxed);
    shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
}

/// Writes the content and returns the open file, for its metadata.
fn write_content(
    shared: &Shared,
    entry: &PlannedEntry,
    existing: Option<std::fs::Metadata>,
) -> Result<File, String> {
    let existing_len = match &existing {
        Some(m) if m.is_file() => m.len(),
        Some(m) if m.is_dir() => return Err("a directory is in the way".into()),
        Some(_) => {
            std::fs::remove_file(&entry.path).map_err(|e| format!("cannot replace: {e}"))?;
            0
        }
        None => 0,
    };
    let chunks = layout(shared, &entry.node.content)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&entry.path)
        .map_err(|e| format!("cannot create: {e}"))?;
    let covered_end = AtomicU64::new(0);
    let write = |c: &Placed| write_chunk(shared, &file, c, existing_len, &covered_end);
    if chunks.len() > 1 {
        chunks.par_iter().try_for_each(write)?;
    } else {
        chunks.iter().try_for_each(write)?;
    }
    // The length is already right when the last byte was written over a
    // file no longer than the snapshot's; otherwise (a hole at the end, or
    // a longer old file) it is set explicitly.
    let size = entry.node.size;
    if existing_len > size || covered_end.into_inner() != size {
        file.set_len(size)
            .map_err(|e| format!("cannot set length: {e}"))?;
    }
    Ok(file)
}

/// Writes one chunk unless the file already holds it; `covered_end` tracks
/// the end of the furthest chunk whose bytes are now in the file.
fn write_chunk(
    shared: &Shared,
    file: &File,
    chunk: &Placed,
    existing_len: u64,
    covered_end: &AtomicU64,
) -> Result<(), String> {
    shared
        .progress
        .bytes_done
        .fetch_add(chunk.len, Ordering::Relaxed);
    let end = chunk.offset + chunk.len;
    if end <= existing_len && same_content(shared, file, chunk) {
        covered_end.fetch_max(end, Ordering::Relaxed);
        return Ok(());
    }
    let data = shared
        .repo
        .read_blob(BlobType::Data, &chunk.id)
        .map_err(|e| e.to_string())?;
    // Zeros beyond what the file already holds stay a hole: set_len fills them.
    if chunk.offset >= existing_len && data.iter().all(|b| *b == 0) {
        return Ok(());
    }
    file.write_all_at(&data, chunk.offset)
        .map_err(|e| format!("write error: {e}"))?;
    covered_end.fetch_max(end, Ordering::Relaxed);
    shared
        .bytes_written
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    Ok(())
}

fn same_content(shared: &Shared, file: &File, chunk: &Placed) -> bool {
    let mut buf = vec![0u8; chunk.len as usize];
    file.read_exact_at(&mut buf, chunk.offset).is_ok()
        && BlobType::Data.id_of(shared.repo.key(), &buf) == chunk.id
}

/// Re-reads a restored file and checks every chunk against its id.
pub(crate) fn verify_file(shared: &Shared, entry: &PlannedEntry) -> Result<(), String> {
    let file = File::open(&entry.path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len != entry.node.size {
        return Err(format!("size is {len}, expected {}", entry.node.size));
    }
    for chunk in layout(shared, &entry.node.content)? {
        if !same_content(shared, &file, &chunk) {
            return Err(format!(
                "content at offset {} differs from chunk {}",
                chunk.offset, chunk.id
            ));
        }
    }
    Ok(())
}
