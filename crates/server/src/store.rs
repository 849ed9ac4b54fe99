//! Repositories on the server's disk: one `LocalBackend` per directory
//! `data_dir/<repo>/`, and the operations the protocol maps onto them.
//!
//! Everything here blocks (file I/O and fsync); the handler calls it inside
//! `spawn_blocking`. Only retention-checked deletion is new: reads and
//! write-once creation are the local backend's own.

use reprise_storage::{Backend, LocalBackend, ObjectKind, StorageError, WriteOutcome};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The repositories under `data_dir`.
#[derive(Debug)]
pub(crate) struct Store {
    data_dir: PathBuf,
    /// Backends already opened: each keeps its cache of open pack files.
    open: Mutex<HashMap<String, LocalBackend>>,
}

/// What a deletion did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Deletion {
    Deleted,
    /// Still within retention until then.
    Retained(SystemTime),
}

/// What an upload did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upload {
    Created,
    Exists,
    /// The name is not the BLAKE3 of the bytes (which is given, in hex).
    WrongName(String),
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
        let created = match std::fs::create_dir(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(source) => {
                return Err(StorageError::Io {
                    path: dir.display().to_string(),
                    source,
                })
            }
        };
        let backend = LocalBackend::new(dir);
        // Completes the tree of a creation cut short (by a crash or a full
        // disk); a repository with a config is left alone.
        if created || backend.list(ObjectKind::Config)?.is_empty() {
            backend.create()?;
        }
        Ok(created)
    }
}

/// Creates an object after checking its name against its bytes.
pub(crate) fn upload(
    backend: &LocalBackend,
    kind: ObjectKind,
    name: &str,
    data: &[u8],
    hash: &str,
) -> Result<Upload, StorageError> {
    if kind.is_content_named() && hash != name {
        return Ok(Upload::WrongName(hash.to_string()));
    }
    Ok(match backend.write_once(kind, name, data)? {
        WriteOutcome::Created => Upload::Created,
        WriteOutcome::AlreadyExisted => Upload::Exists,
    })
}

/// Deletes an object stored more than `retention` ago.
pub(crate) fn delete_after_retention(
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
    backend.remove(kind, name)?;
    Ok(Deletion::Deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn repositories_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        assert!(store.repo("m").is_none());
        assert!(store.create("m").unwrap());
        assert!(!store.create("m").unwrap());
        assert!(store.repo("m").unwrap().root().join("keys").is_dir());
    }

    #[test]
    fn uploads_must_be_named_by_their_hash_except_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        store.create("m").unwrap();
        let b = store.repo("m").unwrap();
        let hash = blake3::hash(b"x").to_hex().to_string();
        let up = |kind, name: &str| upload(&b, kind, name, b"x", &hash).unwrap();
        assert_eq!(up(ObjectKind::Pack, "00"), Upload::WrongName(hash.clone()));
        assert_eq!(up(ObjectKind::Pack, &hash), Upload::Created);
        assert_eq!(up(ObjectKind::Pack, &hash), Upload::Exists);
        assert_eq!(up(ObjectKind::Config, "config"), Upload::Created);
    }

    #[test]
    fn deletion_waits_for_the_retention_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        store.create("m").unwrap();
        let b = store.repo("m").unwrap();
        b.write_once(ObjectKind::Snapshot, "ab", b"s").unwrap();
        let stored = b.info(ObjectKind::Snapshot, "ab").unwrap().stored.unwrap();
        let del = |now| delete_after_retention(&b, ObjectKind::Snapshot, "ab", 30 * DAY, now);
        assert_eq!(
            del(stored + 29 * DAY).unwrap(),
            Deletion::Retained(stored + 30 * DAY)
        );
        assert!(b.read(ObjectKind::Snapshot, "ab").is_ok());
        assert_eq!(del(stored + 30 * DAY).unwrap(), Deletion::Deleted);
        assert!(matches!(
            del(stored + 30 * DAY),
            Err(StorageError::NotFound { .. })
        ));
    }
}
