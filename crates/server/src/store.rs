//! Repositories on the server's disk: one `LocalBackend` per directory
//! `data_dir/<repo>/`, and the operations the protocol maps onto them.
//!
//! Everything here blocks (file I/O and fsync); the handler calls it inside
//! `spawn_blocking`. Listings and sizes are the local backend's own; an
//! object to send is opened here ([`open_object`]) and read as it is sent
//! (see `body`). Uploads are streamed: their bytes go to a temporary file
//! in the repository's `tmp/` as they arrive, hashed on the way
//! ([`Staged`]), and only a complete, synced file whose name has been
//! checked is linked into place ([`publish`]), with `link`, which never
//! replaces an existing object.
//! Everything the server creates is private to its user: directories 700,
//! files 600.

use reprise_storage::{Backend, LocalBackend, ObjectKind, StorageError};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The repositories under `data_dir`.
#[derive(Debug)]
pub(crate) struct Store {
    data_dir: PathBuf,
    /// Backends already opened: each keeps its cache of open pack files.
    open: Mutex<HashMap<String, LocalBackend>>,
}

/// Whether an object may be deleted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Deletion {
    Allowed,
    /// Still within retention until then.
    Retained(SystemTime),
}

/// What publishing an upload did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upload {
    Created,
    Exists,
}

/// Creates a directory only the server's user can enter.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path)
}

impl Store {
    pub fn new(data_dir: PathBuf) -> Store {
        Store {
            data_dir,
            open: Mutex::default(),
        }
    }

    /// The repository `name` (already validated), if it exists.
    pub fn repo(&self, name: &str) -> Option<LocalBackend> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = open.get(name) {
            return Some(b.clone());
        }
        let dir = self.data_dir.join(name);
        if !dir.is_dir() {
            return None;
        }
        let backend = LocalBackend::new(dir);
        open.insert(name.to_string(), backend.clone());
        Some(backend)
    }

    /// Creates the repository's directory tree; `false` if it existed.
    pub fn create(&self, name: &str) -> Result<bool, StorageError> {
        let dir = self.data_dir.join(name);
        // create_dir is atomic: of two clients creating one repository,
        // exactly one gets 201.
        let created = match create_private_dir(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(source) => return Err(disk_error(&dir, source)),
        };
        let backend = LocalBackend::new(dir);
        // Completes the tree of a creation cut short (by a crash or a full
        // disk); a repository with a config is left alone.
        if created || backend.list(ObjectKind::Config)?.is_empty() {
            backend.create()?;
            make_tree_private(backend.root()).map_err(|e| disk_error(backend.root(), e))?;
        }
        Ok(created)
    }

    /// Starts receiving object `name` of `kind` into repository `backend`.
    pub fn stage(
        &self,
        backend: &LocalBackend,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Staged, StorageError> {
        let dest = backend.path_of(kind, name)?;
        let tmp = backend.root().join("tmp");
        let mut random = [0u8; 12];
        getrandom::getrandom(&mut random)
            .map_err(|e| disk_error(&tmp, io::Error::other(e.to_string())))?;
        let path = tmp.join(format!("upload-{}", hex::encode(random)));
        let mut opened = open_new_private(&path);
        if matches!(&opened, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            // A repository whose `tmp/` was removed by hand.
            let _ = create_private_dir(&tmp);
            opened = open_new_private(&path);
        }
        let file = opened.map_err(|e| disk_error(&path, e))?;
        Ok(Staged {
            temp: TempFile(path),
            file,
            hasher: blake3::Hasher::new(),
            len: 0,
            dest,
        })
    }
}

/// Opens object `name` of `kind` to send it, with its size. Like the local
/// backend's reads: a symbolic link is refused (`O_NOFOLLOW`), a FIFO is
/// not waited on (`O_NONBLOCK`), and what was opened must be a regular file
/// no larger than its kind allows, checked with `fstat` on the open file,
/// whose size is the one announced. Blocking.
pub(crate) fn open_object(
    backend: &LocalBackend,
    kind: ObjectKind,
    name: &str,
) -> Result<(File, u64), StorageError> {
    backend.open_for_read(kind, name)
}

fn open_new_private(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Sets 700 on a repository's directories (the root, its kinds, and the
/// pack directories), whatever the process's umask made them.
fn make_tree_private(root: &Path) -> io::Result<()> {
    let private = || fs::Permissions::from_mode(0o700);
    fs::set_permissions(root, private())?;
    for level in [root.to_path_buf(), root.join("data")] {
        for entry in fs::read_dir(&level)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::set_permissions(entry.path(), private())?;
            }
        }
    }
    Ok(())
}

/// A disk failure, as the handler maps it (a full disk is a 507).
fn disk_error(path: &Path, source: io::Error) -> StorageError {
    if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
        return StorageError::NoSpace {
            kind: ObjectKind::Pack,
            name: String::new(),
            location: path.display().to_string(),
        };
    }
    StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A temporary file, removed when dropped unless it was linked into place
/// (then removing the temporary name is what is wanted anyway).
#[derive(Debug)]
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// An upload being received: what has arrived so far is in a temporary
/// file, and hashed.
#[derive(Debug)]
pub(crate) struct Staged {
    temp: TempFile,
    file: File,
    hasher: blake3::Hasher,
    len: u64,
    dest: PathBuf,
}

impl Staged {
    /// Adds bytes that arrived. Blocking.
    pub fn append(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.hasher.update(data);
        self.file
            .write_all(data)
            .map_err(|e| disk_error(&self.temp.0, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Syncs the file once the body is complete. Blocking.
    pub fn finish(self) -> Result<Staged, StorageError> {
        self.file
            .sync_all()
            .map_err(|e| disk_error(&self.temp.0, e))?;
        Ok(self)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The BLAKE3 of the bytes received, in hex.
    pub fn hash(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

/// Links a complete upload to its object name, never over an existing
/// object, and makes the name durable. Blocking.
pub(crate) fn publish(staged: Staged) -> Result<Upload, StorageError> {
    let dest = &staged.dest;
    let mut linked = fs::hard_link(&staged.temp.0, dest);
    if matches!(&linked, Err(e) if e.kind() == io::ErrorKind::NotFound) {
        // A repository made before this kind of object existed lacks its
        // directory (`marks/` came with format revision 1.2).
        if let Some(dir) = dest.parent() {
            let _ = create_private_dir(dir);
        }
        linked = fs::hard_link(&staged.temp.0, dest);
    }
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Upload::Exists),
        Err(e) => return Err(disk_error(dest, e)),
    }
    let dir = dest.parent().unwrap_or(Path::new("/"));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| disk_error(dir, e))?;
    Ok(Upload::Created)
}

/// Whether an object was stored more than `retention` ago, and may go.
pub(crate) fn deletion_allowed(
    backend: &LocalBackend,
    kind: ObjectKind,
    name: &str,
    retention: Duration,
    now: SystemTime,
) -> Result<Deletion, StorageError> {
    let info = backend.info(kind, name)?;
    // A file system without mtimes would make every object look new: keep it.
    let until = info.stored.unwrap_or(now) + retention;
    if now < until {
        return Ok(Deletion::Retained(until));
    }
    Ok(Deletion::Allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn repositories_are_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        assert!(store.repo("m").is_none());
        assert!(store.create("m").unwrap());
        assert!(!store.create("m").unwrap());
        let root = store.repo("m").unwrap().root().to_path_buf();
        assert!(root.join("keys").is_dir());
        for d in [root.clone(), root.join("keys"), root.join("data/ff")] {
            let mode = fs::metadata(&d).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
    }

    fn upload(store: &Store, b: &LocalBackend, kind: ObjectKind, name: &str) -> Upload {
        let mut staged = store.stage(b, kind, name).unwrap();
        staged.append(b"x").unwrap();
        let staged = staged.finish().unwrap();
        assert_eq!(staged.hash(), blake3::hash(b"x").to_hex().to_string());
        publish(staged).unwrap()
    }

    #[test]
    fn uploads_are_published_once_private_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        store.create("m").unwrap();
        let b = store.repo("m").unwrap();
        let hash = blake3::hash(b"x").to_hex().to_string();
        assert_eq!(upload(&store, &b, ObjectKind::Pack, &hash), Upload::Created);
        assert_eq!(upload(&store, &b, ObjectKind::Pack, &hash), Upload::Exists);
        assert_eq!(b.read(ObjectKind::Pack, &hash).unwrap(), b"x");
        let mode = fs::metadata(b.path_of(ObjectKind::Pack, &hash).unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut abandoned = store.stage(&b, ObjectKind::Index, &hash).unwrap();
        abandoned.append(b"partial").unwrap();
        drop(abandoned);
        assert_eq!(fs::read_dir(b.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn objects_are_sent_only_from_regular_files_never_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        store.create("m").unwrap();
        let b = store.repo("m").unwrap();
        b.write_once(ObjectKind::Snapshot, "aa", b"stored").unwrap();
        let (_, size) = open_object(&b, ObjectKind::Snapshot, "aa").unwrap();
        assert_eq!(size, 6);
        assert!(matches!(
            open_object(&b, ObjectKind::Snapshot, "bb"),
            Err(StorageError::NotFound { .. })
        ));
        let outside = dir.path().join("secret");
        fs::write(&outside, b"not an object").unwrap();
        let link = b.path_of(ObjectKind::Snapshot, "cc").unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let fifo = b.path_of(ObjectKind::Snapshot, "dd").unwrap();
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // A FIFO is refused at once, not waited on for a writer.
        for name in ["cc", "dd"] {
            assert!(matches!(
                open_object(&b, ObjectKind::Snapshot, name),
                Err(StorageError::NotAFile { .. })
            ));
        }
    }

    #[test]
    fn deletion_waits_for_the_retention_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        store.create("m").unwrap();
        let b = store.repo("m").unwrap();
        b.write_once(ObjectKind::Snapshot, "ab", b"s").unwrap();
        let stored = b.info(ObjectKind::Snapshot, "ab").unwrap().stored.unwrap();
        let del = |now| deletion_allowed(&b, ObjectKind::Snapshot, "ab", 30 * DAY, now);
        assert_eq!(
            del(stored + 29 * DAY).unwrap(),
            Deletion::Retained(stored + 30 * DAY)
        );
        assert_eq!(del(stored + 30 * DAY).unwrap(), Deletion::Allowed);
        b.remove(ObjectKind::Snapshot, "ab").unwrap();
        assert!(matches!(
            del(stored + 30 * DAY),
            Err(StorageError::NotFound { .. })
        ));
    }
}
