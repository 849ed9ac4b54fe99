//! Writing one file's content, through a descriptor opened relative to its
//! directory's handle, never through a symlink: resumable (an existing file
//! has only its differing chunks rewritten), sparse (all-zero chunks past the
//! existing data become holes), and parallel across the chunks of a large
//! file.
//!
//! What is already at the file's name decides how it is written:
//! - nothing: a new file, made with `O_CREAT | O_EXCL`;
//! - a regular file with no other link, under `--overwrite if-changed`:
//!   rewritten in place where its content differs from the snapshot's
//!   (compared chunk by chunk with the repository's keyed blob ids; size and
//!   times are never trusted), and its metadata repaired either way;
//! - a file with other hard links, anything that is not a regular file, or
//!   any file under `--overwrite always`: a new file under a temporary name
//!   in the same directory, renamed over it, so nothing that shares the old
//!   inode (possibly outside the target) is written to;
//! - anything, under `--overwrite never`: left as it is.

use crate::{metadata, Outcome, Overwrite, PlannedEntry, Shared};
use rayon::prelude::*;
use reprise_format::{BlobId, BlobType};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// What is at a file's name.
enum Existing {
    /// A regular file that no other name links to, open (for writing too
    /// when `writable`).
    Sole {
        file: File,
        len: u64,
        writable: bool,
    },
    /// A file with other links, or not a regular file (a symlink included).
    Other,
    Dir,
}

const NEW_FILE: OFlags = OFlags::RDWR
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn create_new(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<File> {
    rustix::fs::openat(dir, name, NEW_FILE, Mode::from_raw_mode(0o600)).map(File::from)
}

/// Tells whether an existing file's other links are all the other members
/// of the entry's own hard-link group inside the target.
pub(crate) type LinksInside<'a> = &'a (dyn Fn(&rustix::fs::Stat) -> bool + Sync);

/// Looks at `name` without following it, and opens it only if it is a
/// regular file whose links are all its own (one, or its hard-link group's
/// inside the target); the checks are repeated on the descriptor, so a swap
/// between the look and the open is caught.
fn open_existing(
    dir: &OwnedFd,
    name: &OsStr,
    writable: bool,
    links_inside: LinksInside,
) -> Result<Existing, String> {
    let sole = |st: &rustix::fs::Stat| st.st_nlink == 1 || links_inside(st);
    let st = match metadata::existing_type(dir, name) {
        Ok(Some(st)) => st,
        Ok(None) => return Ok(Existing::Other),
        Err(e) => return Err(format!("cannot examine the existing file: {e}")),
    };
    match metadata::file_type(&st) {
        FileType::Directory => return Ok(Existing::Dir),
        FileType::RegularFile if sole(&st) => {}
        _ => return Ok(Existing::Other),
    }
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let opened = match writable {
        // A read-only file (mode 444, not root) can still be compared.
        true => match rustix::fs::openat(dir, name, flags | OFlags::RDWR, Mode::empty()) {
            Err(Errno::ACCESS) => {
                rustix::fs::openat(dir, name, flags, Mode::empty()).map(|fd| (fd, false))
            }
            other => other.map(|fd| (fd, true)),
        },
        false => rustix::fs::openat(dir, name, flags, Mode::empty()).map(|fd| (fd, false)),
    };
    let (fd, writable) = match opened {
        Ok(opened) => opened,
        Err(Errno::ACCESS | Errno::LOOP | Errno::NOENT | Errno::NXIO) => {
            return Ok(Existing::Other)
        }
        Err(e) => return Err(format!("cannot open the existing file: {e}")),
    };
    let st =
        rustix::fs::fstat(&fd).map_err(|e| format!("cannot examine the existing file: {e}"))?;
    if metadata::file_type(&st) != FileType::RegularFile || !sole(&st) {
        return Ok(Existing::Other);
    }
    Ok(Existing::Sole {
        file: File::from(fd),
        len: st.st_size as u64,
        writable,
    })
}

/// Restores one file into `dir` (its directory's handle).
pub(crate) fn restore_file(
    shared: &Shared,
    dir: &OwnedFd,
    entry: &PlannedEntry,
    links_inside: LinksInside,
) {
    let result = crate::dirs::leaf_name(&entry.path).and_then(|name| {
        if shared.dry_run {
            preview(shared, dir, name, entry, links_inside)
        } else {
            restore_named(shared, dir, name, entry, links_inside)
        }
    });
    match result {
        Ok(outcome) => shared.count(outcome, &entry.path),
        Err(message) => shared.fail(&entry.path, message),
    }
    shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
}

fn restore_named(
    shared: &Shared,
    dir: &OwnedFd,
    name: &OsStr,
    entry: &PlannedEntry,
    links_inside: LinksInside,
) -> Result<Outcome, String> {
    match create_new(dir, name) {
        Ok(file) => {
            write_content(shared, &file, 0, entry)?;
            apply_metadata(shared, &file, entry);
            return Ok(Outcome::Created);
        }
        Err(Errno::EXIST) => {}
        Err(e) => return Err(format!("cannot create: {e}")),
    }
    match shared.overwrite_for(&entry.path) {
        Overwrite::Never => {
            skip_progress(shared, entry);
            return Ok(Outcome::Kept);
        }
        Overwrite::Always => return replace(shared, dir, name, entry),
        Overwrite::IfChanged => {}
    }
    match open_existing(dir, name, true, links_inside)? {
        Existing::Sole {
            file,
            len,
            writable: true,
        } => {
            let changed = write_content(shared, &file, len, entry)?;
            apply_metadata(shared, &file, entry);
            Ok(if changed {
                Outcome::Replaced
            } else {
                Outcome::Unchanged
            })
        }
        Existing::Sole { file, len, .. } if same_file(shared, &file, len, entry)? => {
            skip_progress(shared, entry);
            apply_metadata(shared, &file, entry);
            Ok(Outcome::Unchanged)
        }
        Existing::Sole { .. } | Existing::Other => replace(shared, dir, name, entry),
        Existing::Dir => Err("a directory is in the way".into()),
    }
}

/// What a restore would do with this file, writing nothing.
fn preview(
    shared: &Shared,
    dir: &OwnedFd,
    name: &OsStr,
    entry: &PlannedEntry,
    links_inside: LinksInside,
) -> Result<Outcome, String> {
    skip_progress(shared, entry);
    let exists = metadata::existing_type(dir, name)
        .map_err(|e| format!("cannot examine the existing file: {e}"))?
        .is_some();
    if !exists {
        return Ok(Outcome::Created);
    }
    match shared.overwrite_for(&entry.path) {
        Overwrite::Never => return Ok(Outcome::Kept),
        Overwrite::Always => return Ok(Outcome::Replaced),
        Overwrite::IfChanged => {}
    }
    match open_existing(dir, name, false, links_inside)? {
        Existing::Sole { file, len, .. } if same_file(shared, &file, len, entry)? => {
            Ok(Outcome::Unchanged)
        }
        Existing::Sole { .. } | Existing::Other => Ok(Outcome::Replaced),
        Existing::Dir => Err("a directory is in the way".into()),
    }
}

/// True when the open file (`len` bytes) holds exactly the entry's content.
fn same_file(shared: &Shared, file: &File, len: u64, entry: &PlannedEntry) -> Result<bool, String> {
    Ok(len == entry.node.size
        && layout(shared, &entry.node.content)?
            .iter()
            .all(|c| same_content(shared, file, c)))
}

fn skip_progress(shared: &Shared, entry: &PlannedEntry) {
    shared
        .progress
        .bytes_done
        .fetch_add(entry.node.size, Ordering::Relaxed);
}

fn apply_metadata(shared: &Shared, file: &File, entry: &PlannedEntry) {
    if let Err(e) = metadata::apply_to_fd(file, &entry.node, shared.as_root) {
        shared.fail(&entry.path, format!("cannot set metadata: {e}"));
    }
}

/// Writes the file anew under a temporary name in the same directory and
/// renames it over `name`: what shared the old inode is left untouched.
fn replace(
    shared: &Shared,
    dir: &OwnedFd,
    name: &OsStr,
    entry: &PlannedEntry,
) -> Result<Outcome, String> {
    let (temp, file) = create_temp(dir)?;
    let written = write_content(shared, &file, 0, entry)
        .and_then(|_| {
            metadata::apply_to_fd(&file, &entry.node, shared.as_root)
                .map_err(|e| format!("cannot set metadata: {e}"))
        })
        .and_then(|()| {
            rustix::fs::renameat(dir, &temp, dir, name)
                .map_err(|e| format!("cannot replace the existing entry: {e}"))
        });
    if let Err(message) = written {
        // Best effort: the temporary file is ours and useless now.
        let _ = rustix::fs::unlinkat(dir, &temp, AtFlags::empty());
        return Err(message);
    }
    Ok(Outcome::Replaced)
}

/// A new file with a name no one else uses, in `dir`.
fn create_temp(dir: &OwnedFd) -> Result<(OsString, File), String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = OsString::from(format!(".reprise-restore.{pid}.{n}"));
        match create_new(dir, &temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e == Errno::EXIST => last = Some(e),
            Err(e) => return Err(format!("cannot create a temporary file beside it: {e}")),
        }
    }
    Err(format!(
        "cannot create a temporary file beside it: {}",
        last.unwrap_or(Errno::EXIST)
    ))
}

/// Writes the content over a file holding `existing_len` bytes; returns
/// whether anything changed (a chunk written or the length set).
fn write_content(
    shared: &Shared,
    file: &File,
    existing_len: u64,
    entry: &PlannedEntry,
) -> Result<bool, String> {
    let chunks = layout(shared, &entry.node.content)?;
    let covered_end = AtomicU64::new(0);
    let changed = AtomicBool::new(false);
    let write = |c: &Placed| write_chunk(shared, file, c, existing_len, &covered_end, &changed);
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
        changed.store(true, Ordering::Relaxed);
    }
    Ok(changed.into_inner())
}

/// Writes one chunk unless the file already holds it; `covered_end` tracks
/// the end of the furthest chunk whose bytes are now in the file.
fn write_chunk(
    shared: &Shared,
    file: &File,
    chunk: &Placed,
    existing_len: u64,
    covered_end: &AtomicU64,
    changed: &AtomicBool,
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
    changed.store(true, Ordering::Relaxed);
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
pub(crate) fn verify_file(
    shared: &Shared,
    dir: &OwnedFd,
    entry: &PlannedEntry,
) -> Result<(), String> {
    let name = crate::dirs::leaf_name(&entry.path)?;
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|e| e.to_string())?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    if metadata::file_type(&st) != FileType::RegularFile {
        return Err("not a regular file".into());
    }
    let (file, len) = (File::from(fd), st.st_size as u64);
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
