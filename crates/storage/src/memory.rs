//! The in-memory backend: a whole repository in a map, gone when the value
//! is dropped. It exists for tests and tools that need a fast, throw-away
//! repository, and keeps the same contract as the real backends
//! ([`crate::conformance`] checks it); it is not a place for anyone's
//! backups, and no `--repo` address leads to it.

use crate::{validate_name, Backend, ObjectInfo, ObjectKind, Result, StorageError, WriteOutcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// A repository held in memory. Clones share the same objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    objects: Arc<Mutex<HashMap<(ObjectKind, String), Stored>>>,
}

#[derive(Debug)]
struct Stored {
    bytes: Arc<[u8]>,
    stored: SystemTime,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> MutexGuard<'_, HashMap<(ObjectKind, String), Stored>> {
        // The map is consistent after any panic elsewhere: every change is one insert or remove.
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of one object, checked by name first.
    fn bytes(&self, kind: ObjectKind, name: &str) -> Result<Arc<[u8]>> {
        validate_name(kind, name)?;
        self.objects()
            .get(&(kind, name.to_string()))
            .map(|s| Arc::clone(&s.bytes))
            .ok_or_else(|| StorageError::NotFound {
                kind,
                name: name.to_string(),
                location: self.location(),
            })
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory:".to_string()
    }

    fn create(&self) -> Result<()> {
        if self
            .objects()
            .contains_key(&(ObjectKind::Config, "config".to_string()))
        {
            return Err(StorageError::Io {
                path: self.location(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a repository already exists here",
                ),
            });
        }
        Ok(())
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .objects()
            .iter()
            // As on disk, the config's second copy is not listed (FORMAT.md §6).
            .filter(|((k, name), _)| *k == kind && name != crate::CONFIG_COPY_NAME)
            .map(|((_, name), s)| ObjectInfo {
                name: name.clone(),
                size: s.bytes.len() as u64,
                stored: Some(s.stored),
            })
            .collect())
    }

    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        Ok(self.bytes(kind, name)?.to_vec())
    }

    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let bytes = self.bytes(kind, name)?;
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?));
        range
            .and_then(|r| bytes.get(r))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| StorageError::ShortRead {
                kind,
                name: name.to_string(),
                offset,
                len,
            })
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        Ok(self.bytes(kind, name)?.len() as u64)
    }

    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        validate_name(kind, name)?;
        let mut objects = self.objects();
        if objects.contains_key(&(kind, name.to_string())) {
            return Ok(WriteOutcome::AlreadyExisted);
        }
        let stored = Stored {
            bytes: Arc::from(data),
            stored: SystemTime::now(),
        };
        objects.insert((kind, name.to_string()), stored);
        Ok(WriteOutcome::Created)
    }

    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        validate_name(kind, name)?;
        match self.objects().remove(&(kind, name.to_string())) {
            Some(_) => Ok(()),
            None => Err(StorageError::NotFound {
                kind,
                name: name.to_string(),
                location: self.location(),
            }),
        }
    }
}
