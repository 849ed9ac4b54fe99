//! Backend wrappers that misbehave on purpose, for tests of what reprise
//! does when storage does: the k-th write fails (optionally reporting a
//! full disk), or a write is torn (part of the bytes land, then an error);
//! or listings name objects that are gone by the time they are read (what a
//! concurrent prune does to a listing). Used by the same tests that use the
//! real backends.

use crate::{Backend, ObjectInfo, ObjectKind, Result, StorageError, WriteOutcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How the chosen write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write fails with "no space left", nothing is stored.
    NoSpace,
    /// Half the bytes are stored under the name, then the write fails: what a
    /// non-atomic backend would leave after a crash.
    Torn,
    /// The storage refuses the write, as an append-only server refuses a
    /// token that may not write.
    Refused,
}

/// Wraps a backend and fails the `fail_at`-th write (1-based) and every later one.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    writes: AtomicU64,
    fail_at: u64,
    fault: Fault,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>, fail_at: u64, fault: Fault) -> Self {
        FaultyBackend {
            inner,
            writes: AtomicU64::new(0),
            fail_at,
            fault,
        }
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

impl Backend for FaultyBackend {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> Result<()> {
        self.inner.create()
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        self.inner.list(kind)
    }
    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        self.inner.read(kind, name)
    }
    fn read_into(&self, kind: ObjectKind, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.read_into(kind, name, buf)
    }
    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.inner.read_range(kind, name, offset, len)
    }
    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }
    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        let n = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.fail_at {
            return self.inner.write_once(kind, name, data);
        }
        if self.fault == Fault::Torn {
            let half = data.get(..data.len() / 2).unwrap_or_default();
            let _ = self.inner.write_once(kind, name, half);
        }
        if self.fault == Fault::Refused {
            return Err(StorageError::Refused {
                action: "write",
                kind,
                name: name.to_string(),
                location: self.location(),
                reason: "this token may not write".into(),
            });
        }
        Err(StorageError::NoSpace {
            kind,
            name: name.to_string(),
            location: self.location(),
        })
    }
    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        self.inner.remove(kind, name)
    }
}

/// Wraps a backend and adds, to every listing of a kind, objects that do
/// not exist: a deterministic stand-in for objects deleted by a concurrent
/// prune between the listing and the read.
pub struct GhostListing {
    inner: Arc<dyn Backend>,
    ghosts: Vec<(ObjectKind, String)>,
}

impl GhostListing {
    pub fn new(inner: Arc<dyn Backend>, ghosts: Vec<(ObjectKind, String)>) -> Self {
        GhostListing { inner, ghosts }
    }
}

impl Backend for GhostListing {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> Result<()> {
        self.inner.create()
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        let mut listed = self.inner.list(kind)?;
        listed.extend(
            self.ghosts
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, name)| ObjectInfo {
                    name: name.clone(),
                    size: 100,
                    stored: None,
                }),
        );
        Ok(listed)
    }
    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        self.inner.read(kind, name)
    }
    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.inner.read_range(kind, name, offset, len)
    }
    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }
    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        self.inner.write_once(kind, name, data)
    }
    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        self.inner.remove(kind, name)
    }
}
