//! The local-disk backend: a repository is a directory.
//!
//! Layout: `config`, `keys/<id>`, `data/<first two hex digits>/<pack id>`,
//! `index/<id>`, `snapshots/<id>`, and `tmp/` for objects being written.
//!
//! Write path of every object, in this order:
//! 1. write the bytes to a new file `tmp/<random>`, and fsync it;
//! 2. hard-link it to its final name: `link` fails if the name exists, so an
//!    object is never replaced, and the name appears only with complete content;
//! 3. unlink the temp file, and fsync the final directory so the name itself
//!    survives a power loss.
//!
//! A crash leaves at worst a stray file in `tmp/`, never a partial object.
//!
//! Directories are created 0700 and files 0600: key files hold the master
//! key wrapped under a password, which anyone who can copy them may try to
//! guess offline.
//!
//! Reads trust nothing about what stands under an object's name: an object
//! is opened without following a symbolic link and without blocking on a
//! FIFO, must be a regular file, and is read no further than its size at
//! open, which must not exceed its kind's maximum ([`ObjectKind::max_size`]).
//!
//! Objects of 1 MiB or more (packs) are written with O_DIRECT where the file
//! system allows it: a backup writes data nobody will read soon, and copying
//! it through the page cache cost a third of a backup's CPU time on two
//! cores while evicting the server's useful cache. The fsync stays, for the
//! unaligned tail and the file's metadata.

use crate::{validate_name, Backend, ObjectInfo, ObjectKind, Result, StorageError, WriteOutcome};
use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A repository in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
    /// Open pack files and their sizes: a restore reads many small blobs
    /// from each pack in turn, and an open and an fstat per blob would cost
    /// more than the read. Objects never change, so a handle never goes stale.
    open_packs: Arc<Mutex<HashMap<String, OpenPack>>>,
}

/// An open pack file and its size.
type OpenPack = (Arc<File>, u64);

/// Enough handles for the packs a parallel restore is reading at once.
const OPEN_PACKS_MAX: usize = 64;

/// Only the owner may enter the repository's directories or read its files.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// What a non-regular file is, for messages.
fn file_type_name(t: fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The metadata of an entry listed in a directory, or `None` when the
/// entry vanished between the listing and the `stat` (a concurrent prune
/// deleted it): a listing is a snapshot of a moving directory, and an object
/// that is gone is simply not part of it.
fn listed_metadata(entry: &fs::DirEntry) -> io::Result<Option<fs::Metadata>> {
    match entry.metadata() {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn io_err(path: &Path, source: io::Error) -> StorageError {
    match source.kind() {
        io::ErrorKind::PermissionDenied => StorageError::PermissionDenied {
            path: path.display().to_string(),
        },
        _ => StorageError::Io {
            path: path.display().to_string(),
            source,
        },
    }
}

impl LocalBackend {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend {
            root: root.into(),
            open_packs: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One object's size and stored time, without listing its directory
    /// (the repository server checks retention with it before a deletion).
    pub fn info(&self, kind: ObjectKind, name: &str) -> Result<ObjectInfo> {
        let path = self.path_of(kind, name)?;
        let meta = self.regular_metadata(kind, name, &path)?;
        Ok(ObjectInfo {
            name: name.to_string(),
            size: meta.len(),
            // Objects are never modified: mtime is when it was stored.
            stored: meta.modified().ok(),
        })
    }

    /// Where object `name` of `kind` lives (the repository server streams
    /// uploads to a temporary file and links them there itself).
    pub fn path_of(&self, kind: ObjectKind, name: &str) -> Result<PathBuf> {
        validate_name(kind, name)?;
        Ok(match kind {
            ObjectKind::Config => self.root.join(name),
            ObjectKind::Pack => {
                let prefix = name.get(..2).unwrap_or("00");
                self.root.join("data").join(prefix).join(name)
            }
            _ => self.root.join(kind.dir_name()).join(name),
        })
    }

    fn not_found(&self, kind: ObjectKind, name: &str) -> StorageError {
        StorageError::NotFound {
            kind,
            name: name.to_string(),
            location: self.location(),
        }
    }

    fn map_read_err(
        &self,
        kind: ObjectKind,
        name: &str,
        path: &Path,
        e: io::Error,
    ) -> StorageError {
        if e.kind() == io::ErrorKind::NotFound {
            self.not_found(kind, name)
        } else {
            io_err(path, e)
        }
    }

    fn map_write_err(
        &self,
        kind: ObjectKind,
        name: &str,
        path: &Path,
        e: io::Error,
    ) -> StorageError {
        let path_text = || path.display().to_string();
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => StorageError::NoSpace {
                kind,
                name: name.to_string(),
                location: self.location(),
            },
            Some(libc::EACCES | libc::EPERM) => StorageError::NotWritable { path: path_text() },
            Some(libc::EROFS) => StorageError::ReadOnlyFileSystem { path: path_text() },
            _ => io_err(path, e),
        }
    }

    /// The metadata of an object's file, which must be a regular file (a
    /// symbolic link is not followed).
    fn regular_metadata(&self, kind: ObjectKind, name: &str, path: &Path) -> Result<fs::Metadata> {
        let meta =
            fs::symlink_metadata(path).map_err(|e| self.map_read_err(kind, name, path, e))?;
        if !meta.file_type().is_file() {
            return Err(StorageError::NotAFile {
                path: path.display().to_string(),
                found: file_type_name(meta.file_type()),
            });
        }
        Ok(meta)
    }

    /// Opens object `name` of `kind` for reading, with its size, under the
    /// rules of [`Self::open_object`]: what the server streams to clients.
    pub fn open_for_read(&self, kind: ObjectKind, name: &str) -> Result<(File, u64)> {
        let path = self.path_of(kind, name)?;
        self.open_object(kind, name, &path)
    }

    /// Opens an object for reading and returns it with its size. Refuses a
    /// symbolic link (`O_NOFOLLOW`), does not wait for a writer on a FIFO
    /// (`O_NONBLOCK`), then checks on the opened file that it is a regular
    /// file no larger than its kind allows.
    fn open_object(&self, kind: ObjectKind, name: &str, path: &Path) -> Result<(File, u64)> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => StorageError::NotAFile {
                    path: path.display().to_string(),
                    found: "a symbolic link",
                },
                _ => self.map_read_err(kind, name, path, e),
            })?;
        let meta = file.metadata().map_err(|e| io_err(path, e))?;
        if !meta.file_type().is_file() {
            return Err(StorageError::NotAFile {
                path: path.display().to_string(),
                found: file_type_name(meta.file_type()),
            });
        }
        let size = meta.len();
        if size > kind.max_size() {
            return Err(StorageError::TooLarge {
                kind,
                name: name.to_string(),
                size,
                max: kind.max_size(),
            });
        }
        Ok((file, size))
    }

    /// Reads a whole object into `buf`: exactly the size it had when opened.
    fn read_object_into(&self, kind: ObjectKind, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        let path = self.path_of(kind, name)?;
        let (file, size) = self.open_object(kind, name, &path)?;
        buf.clear();
        buf.try_reserve_exact(size as usize)
            .map_err(|e| io_err(&path, io::Error::new(io::ErrorKind::OutOfMemory, e)))?;
        file.take(size)
            .read_to_end(buf)
            .map_err(|e| io_err(&path, e))?;
        if (buf.len() as u64) < size {
            return Err(StorageError::ShortRead {
                kind,
                name: name.to_string(),
                offset: 0,
                len: size,
            });
        }
        Ok(())
    }

    /// Opens an object for ranged reads, through the handle cache for packs.
    fn open_with_size(
        &self,
        kind: ObjectKind,
        name: &str,
        path: &Path,
    ) -> Result<(Arc<File>, u64)> {
        if kind == ObjectKind::Pack {
            let cache = self.open_packs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((file, size)) = cache.get(name) {
                return Ok((Arc::clone(file), *size));
            }
        }
        let (file, size) = self.open_object(kind, name, path)?;
        let file = Arc::new(file);
        if kind == ObjectKind::Pack {
            let mut cache = self.open_packs.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= OPEN_PACKS_MAX {
                cache.clear();
            }
            cache.insert(name.to_string(), (Arc::clone(&file), size));
        }
        Ok((file, size))
    }

    fn temp_path(&self) -> Result<PathBuf> {
        let mut rnd = [0u8; 12];
        getrandom::getrandom(&mut rnd).map_err(|e| StorageError::Io {
            path: self.root.display().to_string(),
            source: io::Error::other(e.to_string()),
        })?;
        Ok(self.root.join("tmp").join(hex::encode(rnd)))
    }

    fn write_temp(&self, temp: &Path, data: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(temp)?;
        let direct = if data.len() >= DIRECT_MIN {
            write_direct(&mut f, data)?
        } else {
            0
        };
        f.write_all(&data[direct..])?;
        f.sync_all()
    }
}

/// Objects at least this large are written around the page cache (see `write_direct`).
const DIRECT_MIN: usize = 1 << 20;
/// O_DIRECT needs block-aligned memory, offsets and lengths; a page satisfies every
/// block size Linux file systems use.
const DIRECT_ALIGN: usize = 4096;
const BOUNCE_LEN: usize = 1 << 20;

/// A page-aligned window into an over-sized Vec: O_DIRECT needs aligned memory and std
/// has no aligned Vec, and slicing at the right offset needs no unsafe code.
struct Bounce(Vec<u8>);

impl Bounce {
    fn new() -> Bounce {
        Bounce(vec![0; BOUNCE_LEN + DIRECT_ALIGN])
    }
    fn slice(&mut self) -> &mut [u8] {
        let start = self.0.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
        &mut self.0[start..start + BOUNCE_LEN]
    }
}

thread_local! {
    static BOUNCE: std::cell::RefCell<Option<Bounce>> = const { std::cell::RefCell::new(None) };
}

fn set_direct(f: &File, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain fcntl calls on an fd we own.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes what it can of `data` with O_DIRECT, in whole pages, and returns how many bytes
/// it wrote; the caller writes the rest through the page cache. A file system that refuses
/// O_DIRECT (tmpfs, some FUSE) just gets everything the ordinary way.
fn write_direct(f: &mut File, data: &[u8]) -> io::Result<usize> {
    if set_direct(f, true).is_err() {
        return Ok(0);
    }
    let aligned = data.len() / DIRECT_ALIGN * DIRECT_ALIGN;
    let written = BOUNCE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let bounce = cell.get_or_insert_with(Bounce::new).slice();
        let mut done = 0;
        while done < aligned {
            let n = (aligned - done).min(BOUNCE_LEN);
            bounce[..n].copy_from_slice(&data[done..done + n]);
            match f.write(&bounce[..n]) {
                Ok(k) => {
                    done += k;
                    if k != n {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    })?;
    set_direct(f, false)?;
    Ok(written)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Backend for LocalBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn create(&self) -> Result<()> {
        if self.root.join("config").exists() {
            return Err(io_err(
                &self.root,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a repository already exists here",
                ),
            ));
        }
        let mut dirs = vec![
            self.root.clone(),
            self.root.join("keys"),
            self.root.join("data"),
            self.root.join("index"),
            self.root.join("snapshots"),
            self.root.join("marks"),
            self.root.join("tmp"),
        ];
        dirs.extend((0..=255u8).map(|b| self.root.join("data").join(hex::encode([b]))));
        for d in &dirs {
            create_private_dir_all(d)
                .map_err(|e| self.map_write_err(ObjectKind::Config, "config", d, e))?;
        }
        // The root may have existed (an empty directory made beforehand),
        // with whatever mode it was given.
        fs::set_permissions(&self.root, fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| self.map_write_err(ObjectKind::Config, "config", &self.root, e))?;
        sync_dir(&self.root).map_err(|e| io_err(&self.root, e))?;
        Ok(())
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        let dirs: Vec<PathBuf> = match kind {
            ObjectKind::Config => {
                return Ok(match fs::symlink_metadata(self.root.join("config")) {
                    Ok(m) => vec![ObjectInfo {
                        name: "config".into(),
                        size: m.len(),
                        stored: m.modified().ok(),
                    }],
                    Err(_) => vec![],
                })
            }
            ObjectKind::Pack => (0..=255u8)
                .map(|b| self.root.join("data").join(hex::encode([b])))
                .collect(),
            _ => vec![self.root.join(kind.dir_name())],
        };
        let mut out = Vec::new();
        for dir in dirs {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err(&dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                // Anything that is not a valid object name is not ours to list.
                if validate_name(kind, &name).is_err() {
                    continue;
                }
                let Some(meta) = listed_metadata(&entry).map_err(|e| io_err(&entry.path(), e))?
                else {
                    continue;
                };
                out.push(ObjectInfo {
                    name,
                    size: meta.len(),
                    // Objects are never modified: mtime is when it was stored.
                    stored: meta.modified().ok(),
                });
            }
        }
        Ok(out)
    }

    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_object_into(kind, name, &mut buf)?;
        Ok(buf)
    }

    fn read_into(&self, kind: ObjectKind, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        self.read_object_into(kind, name, buf)
    }

    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path_of(kind, name)?;
        let (file, size) = self.open_with_size(kind, name, &path)?;
        // Check the object's real size before allocating: `len` may come from
        // a forged index entry.
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(StorageError::ShortRead {
                kind,
                name: name.to_string(),
                offset,
                len,
            });
        }
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                StorageError::ShortRead {
                    kind,
                    name: name.to_string(),
                    offset,
                    len,
                }
            } else {
                io_err(&path, e)
            }
        })?;
        Ok(buf)
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        let path = self.path_of(kind, name)?;
        Ok(self.regular_metadata(kind, name, &path)?.len())
    }

    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        let path = self.path_of(kind, name)?;
        if path.exists() {
            return Ok(WriteOutcome::AlreadyExisted);
        }
        let temp = self.temp_path()?;
        if let Err(e) = self.write_temp(&temp, data) {
            let _ = fs::remove_file(&temp);
            return Err(self.map_write_err(kind, name, &temp, e));
        }
        let mut linked = fs::hard_link(&temp, &path);
        if matches!(&linked, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            // A repository made before this kind of object existed lacks its
            // directory (`marks/` came with format revision 1.2).
            if let Some(dir) = path.parent() {
                let _ = create_private_dir_all(dir);
            }
            linked = fs::hard_link(&temp, &path);
        }
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Ok(WriteOutcome::AlreadyExisted)
            }
            Err(e) => return Err(self.map_write_err(kind, name, &path, e)),
        }
        let dir = path.parent().unwrap_or(&self.root);
        sync_dir(dir).map_err(|e| io_err(dir, e))?;
        Ok(WriteOutcome::Created)
    }

    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        let path = self.path_of(kind, name)?;
        if kind == ObjectKind::Pack {
            self.open_packs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
        }
        fs::remove_file(&path).map_err(|e| self.map_read_err(kind, name, &path, e))?;
        let dir = path.parent().unwrap_or(&self.root);
        sync_dir(dir).map_err(|e| io_err(dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, LocalBackend) {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        (dir, b)
    }

    /// Large objects take the O_DIRECT path: aligned and unaligned lengths, unaligned
    /// source memory, and a file system without O_DIRECT (tmpfs, where there is one)
    /// all come back byte for byte.
    #[test]
    fn large_objects_round_trip_through_direct_writes() {
        let (_d, b) = repo();
        let shm = Path::new("/dev/shm");
        let tmpfs_dir = shm.is_dir().then(|| tempfile::tempdir_in(shm).unwrap());
        let tmpfs = tmpfs_dir.as_ref().map(|d| {
            let b = LocalBackend::new(d.path().join("repo"));
            b.create().unwrap();
            b
        });
        let pattern: Vec<u8> = (0..(5 << 20) + 1).map(|i| (i * 7 % 251) as u8).collect();
        for (i, len) in [DIRECT_MIN, 3 * DIRECT_MIN + 123, BOUNCE_LEN * 4]
            .iter()
            .enumerate()
        {
            let data = &pattern[1..=*len];
            for backend in std::iter::once(&b).chain(tmpfs.as_ref()) {
                let name = format!("{i:02}");
                backend.write_once(ObjectKind::Pack, &name, data).unwrap();
                assert_eq!(backend.read(ObjectKind::Pack, &name).unwrap(), data);
            }
        }
    }

    #[test]
    fn objects_are_written_once_and_never_replaced() {
        let (_d, b) = repo();
        assert_eq!(
            b.write_once(ObjectKind::Pack, "abcd", b"first").unwrap(),
            WriteOutcome::Created
        );
        assert_eq!(
            b.write_once(ObjectKind::Pack, "abcd", b"second").unwrap(),
            WriteOutcome::AlreadyExisted
        );
        assert_eq!(b.read(ObjectKind::Pack, "abcd").unwrap(), b"first");
        assert_eq!(
            b.read_range(ObjectKind::Pack, "abcd", 1, 3).unwrap(),
            b"irs"
        );
        assert!(matches!(
            b.read_range(ObjectKind::Pack, "abcd", 3, 10),
            Err(StorageError::ShortRead { .. })
        ));
        let listed = b.list(ObjectKind::Pack).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].name.as_str(), listed[0].size), ("abcd", 5));
        assert!(listed[0].stored.is_some());
        assert_eq!(fs::read_dir(b.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn names_that_could_escape_the_repository_are_refused() {
        let (_d, b) = repo();
        for bad in ["../x", "ABC", "a/b", ""] {
            assert!(matches!(
                b.write_once(ObjectKind::Index, bad, b"x"),
                Err(StorageError::InvalidName { .. })
            ));
        }
    }

    /// Finding 14: an object deleted (by a concurrent prune) between the
    /// directory listing and the `stat` of its entry is left out, instead of
    /// failing the whole listing.
    #[test]
    fn an_entry_that_vanishes_after_the_listing_is_skipped() {
        let (_d, b) = repo();
        b.write_once(ObjectKind::Index, "aa", b"one").unwrap();
        b.write_once(ObjectKind::Index, "bb", b"two").unwrap();
        let dir = b.root().join("index");
        let entries: Vec<fs::DirEntry> = fs::read_dir(&dir)
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap();
        fs::remove_file(dir.join("aa")).unwrap();
        let kept: Vec<String> = entries
            .iter()
            .filter_map(|e| {
                listed_metadata(e)
                    .unwrap()
                    .map(|_| e.file_name().into_string().unwrap())
            })
            .collect();
        assert_eq!(kept, ["bb"]);
    }

    /// Finding 20: a symbolic link (here to /dev/zero) is refused, never
    /// followed and read until memory runs out.
    #[test]
    fn a_symlink_to_dev_zero_is_refused() {
        let (_d, b) = repo();
        let path = b.root().join("snapshots").join("ab");
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        for err in [
            b.read(ObjectKind::Snapshot, "ab").unwrap_err(),
            b.read_range(ObjectKind::Snapshot, "ab", 0, 8).unwrap_err(),
            b.size(ObjectKind::Snapshot, "ab").unwrap_err(),
        ] {
            assert!(
                matches!(
                    &err,
                    StorageError::NotAFile {
                        found: "a symbolic link",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("snapshots/ab"), "{err}");
        }
    }

    /// Finding 20: a FIFO where an object should be is refused at once
    /// rather than waited on.
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let (_d, b) = repo();
        let path = b.root().join("index").join("cd");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = b.read(ObjectKind::Index, "cd").unwrap_err();
        assert!(
            matches!(
                &err,
                StorageError::NotAFile {
                    found: "a FIFO (named pipe)",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// Finding 20: an object larger than its kind allows is refused before
    /// anything is allocated (a sparse file costs no disk).
    #[test]
    fn an_oversized_object_is_refused_before_reading() {
        let (_d, b) = repo();
        let path = b.root().join("keys").join("ef");
        let f = File::create(&path).unwrap();
        f.set_len(ObjectKind::Key.max_size() + 1).unwrap();
        let err = b.read(ObjectKind::Key, "ef").unwrap_err();
        assert!(matches!(&err, StorageError::TooLarge { .. }), "{err}");
    }

    /// Finding 23: only the owner can read a repository.
    #[test]
    fn directories_are_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let b = LocalBackend::new(&root);
        b.create().unwrap();
        b.write_once(ObjectKind::Key, "ab", b"key").unwrap();
        b.write_once(ObjectKind::Config, "config", b"config")
            .unwrap();
        b.write_once(ObjectKind::Pack, "cdef", &vec![7; DIRECT_MIN])
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for d in [
            "",
            "keys",
            "data",
            "data/cd",
            "index",
            "snapshots",
            "marks",
            "tmp",
        ] {
            assert_eq!(mode(&root.join(d)), 0o700, "{d}");
        }
        for f in ["keys/ab", "config", "data/cd/cdef"] {
            assert_eq!(mode(&root.join(f)), 0o600, "{f}");
        }
    }

    /// Finding 21: a write refused by permissions or a read-only file
    /// system says so, instead of a generic I/O error.
    #[test]
    fn refused_writes_name_the_reason() {
        let (_d, b) = repo();
        let path = b.root().join("index");
        let mapped = |errno| {
            b.map_write_err(
                ObjectKind::Index,
                "ab",
                &path,
                io::Error::from_raw_os_error(errno),
            )
            .to_string()
        };
        assert!(mapped(libc::EACCES).contains("not writable by this user"));
        assert!(mapped(libc::EPERM).contains("not writable by this user"));
        assert!(mapped(libc::EROFS).contains("read-only"));
    }

    #[test]
    fn missing_objects_are_reported_by_name() {
        let (_d, b) = repo();
        let err = b.read(ObjectKind::Snapshot, "beef").unwrap_err();
        assert!(err.to_string().contains("snapshot beef not found"), "{err}");
    }
}
