//! Reading a file's content into chunks.
//!
//! Files up to [`WHOLE_READ_MAX`] are read in one go and cut in memory, with
//! no per-file chunker buffer to allocate (a share is mostly small files).
//! Larger files stream through a [`Chunker`], a batch at a time, and the
//! chunks of each batch are saved in parallel.

use crate::delta::{DeltaBasis, OldChunk};
use crate::metadata::{At, EntryStat};
use crate::{BackupError, Context};
use rayon::prelude::*;
use reprise_chunking::{cut_all, Chunker};
use reprise_detect::sample::DetectionKey;
use reprise_detect::Sampler;
use reprise_format::{BlobId, BlobType, ContentStats, Node, NodeKind};
use reprise_repo::{DeltaBase, RepoError};
use rustix::fs::{openat, Mode, OFlags};
use std::fs::File;
use std::io::{Read, Take};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Files up to the default maximum chunk size are read whole.
const WHOLE_READ_MAX: u64 = 8 * 1024 * 1024;
/// Largest read buffer a thread keeps between files.
const RETAINED_BUFFER_MAX: usize = 1024 * 1024;
/// The least a file may grow while read and still be read to its end.
const GROWTH_MARGIN_MIN: u64 = 1024 * 1024;
/// Read-ahead for large files: several average chunks per parallel batch.
const BATCH_BYTES: usize = 16 * 1024 * 1024;

thread_local! {
    /// The buffer small files are read into, kept per thread: a share is
    /// mostly small files, and a fresh buffer each would cost page faults.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The chunks of some content (or the repository error that stopped saving
/// them), how many bytes were read, and the content's statistics for
/// ransomware detection (none when detection is off).
pub(crate) type SavedContent = (Result<Vec<BlobId>, RepoError>, u64, Option<ContentStats>);

/// What a file's read gave: its chunks, its length, its statistics.
pub(crate) type FileContent = (Vec<BlobId>, u64, Option<ContentStats>);

/// Opens a file through its directory's handle, without following a swap
/// to a symlink, FIFO or device (O_NONBLOCK keeps a FIFO from blocking) and
/// without touching atime when permitted.
fn open_for_backup(at: &At) -> std::io::Result<File> {
    let name = at
        .c_name()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let base = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match openat(
        at.dir,
        name.as_c_str(),
        base | OFlags::NOATIME,
        Mode::empty(),
    ) {
        Err(e) if e == rustix::io::Errno::PERM => {
            openat(at.dir, name.as_c_str(), base, Mode::empty())
        }
        other => other,
    }?;
    Ok(File::from(fd))
}

/// The metadata of an open file, as a node records it.
fn stat_of(file: &File) -> std::io::Result<EntryStat> {
    Ok(EntryStat::from(&rustix::fs::fstat(file)?))
}

fn save_ranges(
    ctx: &Context,
    data: &[u8],
    ranges: Vec<Range<usize>>,
) -> Result<Vec<BlobId>, RepoError> {
    ranges
        .into_par_iter()
        .map(|r| ctx.saver.save(BlobType::Data, &data[r]).map(|(id, _)| id))
        .collect()
}

/// A piece of a stream to save: its bytes in the batch, its id when already
/// known (a whole chunk), and its base.
type PlannedPiece = (Range<usize>, Option<BlobId>, Option<Arc<OldChunk>>);

/// Saves chunks, those not stored yet as deltas against the old chunks
/// `basis` picks (in order: the cursor moves with the stream; a chunk may
/// be cut in pieces that line up with old chunks), in parallel.
fn save_ranges_as_deltas(
    ctx: &Context,
    data: &[u8],
    ranges: Vec<Range<usize>>,
    basis: &mut DeltaBasis<'_>,
) -> Result<Vec<BlobId>, RepoError> {
    let key = ctx.repo.key();
    let ids: Vec<BlobId> = ranges
        .par_iter()
        .map(|r| BlobType::Data.id_of(key, &data[r.clone()]))
        .collect();
    let mut pieces: Vec<PlannedPiece> = Vec::new();
    for (range, id) in ranges.into_iter().zip(ids) {
        if ctx.repo.index().has_usable_copy(&id) {
            basis.passed(&id);
            pieces.push((range, Some(id), None));
            continue;
        }
        let planned = basis.plan(&data[range.clone()]);
        if let [(_, base)] = planned.as_slice() {
            pieces.push((range, Some(id), base.clone()));
            continue;
        }
        for (part, base) in planned {
            let piece = range.start + part.start..range.start + part.end;
            pieces.push((piece, None, base));
        }
    }
    pieces
        .into_par_iter()
        .map(|(range, id, base)| {
            let chunk = &data[range];
            let id = id.unwrap_or_else(|| BlobType::Data.id_of(key, chunk));
            let base = base.as_ref().map(|old| DeltaBase {
                id: old.id,
                data: &old.data,
            });
            ctx.saver
                .save_dump_chunk(id, chunk, base.as_ref())
                .map(|(id, _)| id)
        })
        .collect()
}

/// Reads and saves a file's chunks; returns them and the number of bytes
/// read, which is the size the snapshot records (the file may have grown or
/// shrunk since it was listed). `None` (after a warning) if it cannot be read.
pub(crate) fn save_content(
    ctx: &Context,
    at: &At,
    node: &Node,
) -> Result<Option<FileContent>, BackupError> {
    let path = at.path;
    let file = match open_for_backup(at) {
        Ok(f) => f,
        Err(e) => {
            ctx.warn(path, format!("cannot open: {e}"));
            return Ok(None);
        }
    };
    let before = match stat_of(&file) {
        Ok(m) if m.kind == NodeKind::File => m,
        Ok(_) => {
            ctx.warn(
                path,
                "replaced by something that is not a regular file while backing up",
            );
            return Ok(None);
        }
        Err(e) => {
            ctx.warn(path, format!("cannot stat: {e}"));
            return Ok(None);
        }
    };
    // A file that grows while it is read (a log, a database, a hostile
    // writer) is read only up to a little past its size at open: the read
    // ends, and memory stays bounded, however fast it grows.
    let limit = read_limit(before.size);
    let bounded = (&file).take(limit);
    let result = if before.size <= WHOLE_READ_MAX {
        read_whole(ctx, bounded, before.size)
    } else {
        save_reader(ctx, bounded, before.size, None)
    };
    let (content, len, stats) = match result {
        Ok((content, len, stats)) => (content?, len, stats),
        Err(e) => {
            ctx.warn(path, format!("read error: {e}"));
            return Ok(None);
        }
    };
    // The same open file, stat'ed again: a change to it while it was read.
    let changed = match stat_of(&file) {
        Ok(after) => {
            len != node.size
                || after.size != len
                || after.mtime_ns != before.mtime_ns
                || after.ctime_ns != before.ctime_ns
        }
        Err(_) => true,
    };
    if len >= limit {
        ctx.notice(
            path,
            format!(
                "file grew while it was being read: only its first {len} bytes are in the snapshot (it had {} when opened)",
                before.size
            ),
        );
    } else if changed {
        ctx.notice(path, "file changed while it was being read: the snapshot may hold a mix of old and new content");
    }
    Ok(Some((content, len, stats)))
}

/// How much of a file to read, given its size when opened: that size plus
/// a margin (1 MiB or 1 %, whichever is larger) for appends made meanwhile.
pub(crate) fn read_limit(size_at_open: u64) -> u64 {
    let margin = (size_at_open / 100).max(GROWTH_MARGIN_MIN);
    size_at_open.saturating_add(margin)
}

fn read_whole(ctx: &Context, file: Take<&File>, size_hint: u64) -> std::io::Result<SavedContent> {
    // Taken out of the thread-local for the duration: while this thread
    // waits for the chunks to be saved, rayon may run another file here.
    let mut data = READ_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let result = read_and_save(ctx, file, size_hint, &mut data);
    // Keep only a small buffer: a rare large file should not pin memory.
    if data.capacity() <= RETAINED_BUFFER_MAX {
        data.clear();
        READ_BUFFER.with(|b| *b.borrow_mut() = data);
    }
    result
}

fn read_and_save(
    ctx: &Context,
    mut file: Take<&File>,
    size_hint: u64,
    data: &mut Vec<u8>,
) -> std::io::Result<SavedContent> {
    data.reserve(size_hint as usize);
    file.read_to_end(data)?;
    ctx.counters
        .bytes_read
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    ctx.progress
        .bytes_done
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    // Measured on the bytes already in memory: detection never reads twice.
    let stats = ctx
        .options
        .detection
        .then(|| Sampler::of_keyed(data, &detection_key(ctx)));
    let params = ctx.repo.chunker_params();
    let ranges = if data.is_empty() {
        Vec::new()
    } else if data.len() <= params.min_size {
        std::iter::once(0..data.len()).collect()
    } else {
        cut_all(data, params)
    };
    Ok((save_ranges(ctx, data, ranges), data.len() as u64, stats))
}

/// The repository's secret that places the windows detection samples (a
/// hash of 29 bytes per file: nothing beside reading it).
fn detection_key(ctx: &Context) -> DetectionKey {
    DetectionKey::new(ctx.repo.detection_key())
}

/// Chunks and saves a stream of about `size_hint` bytes (0: unknown),
/// new chunks as deltas against `basis` when there is one; returns its
/// chunk ids, length and statistics.
pub(crate) fn save_reader(
    ctx: &Context,
    reader: impl Read,
    size_hint: u64,
    mut basis: Option<DeltaBasis<'_>>,
) -> std::io::Result<SavedContent> {
    let mut chunker = Chunker::new(reader, ctx.repo.chunker_params(), BATCH_BYTES);
    let mut sampler = ctx.options.detection.then(|| match size_hint {
        0 => Sampler::stream_keyed(&detection_key(ctx)),
        size => Sampler::keyed(size, &detection_key(ctx)),
    });
    let mut content = Vec::new();
    let mut total = 0u64;
    while let Some((buf, ranges)) = chunker.next_batch()? {
        let batch_len: usize = ranges.iter().map(|r| r.len()).sum();
        if let (Some(sampler), Some(first)) = (sampler.as_mut(), ranges.first()) {
            sampler.feed(total, &buf[first.start..first.start + batch_len]);
        }
        total += batch_len as u64;
        ctx.counters
            .bytes_read
            .fetch_add(batch_len as u64, Ordering::Relaxed);
        ctx.progress
            .bytes_done
            .fetch_add(batch_len as u64, Ordering::Relaxed);
        let saved = match basis.as_mut() {
            Some(basis) => save_ranges_as_deltas(ctx, buf, ranges, basis),
            None => save_ranges(ctx, buf, ranges),
        };
        match saved {
            Ok(ids) => content.extend(ids),
            Err(e) => return Ok((Err(e), total, None)),
        }
    }
    Ok((Ok(content), total, sampler.map(Sampler::finish)))
}
