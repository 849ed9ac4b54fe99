//! Storage backends: where a repository's objects live, behind one trait.
//!
//! Every backend keeps the same promise, which the rest of reprise is built
//! on: **objects are written once and never modified**. `write_once` either
//! creates the object whole or leaves nothing behind under its name, and it
//! never replaces an existing object. Only `remove` (used by admin
//! operations such as `key remove`, later `prune`) deletes.
//!
//! Backends know nothing of encryption or formats: they move named bytes.
pub mod conformance;
pub mod faulty;
mod local;
mod lock;
mod memory;
pub mod size;

pub use local::LocalBackend;
pub use lock::{LockMode, LockPolicy, ObjectLock};
pub use memory::MemoryBackend;

use std::fmt;
use std::time::SystemTime;

/// The kinds of object in a repository, each in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// The single `config` object.
    Config,
    Key,
    Pack,
    Index,
    Snapshot,
    /// Maintenance records: prune marks and damaged-blob lists (FORMAT.md §18).
    Mark,
}

impl ObjectKind {
    pub fn dir_name(self) -> &'static str {
        match self {
            ObjectKind::Config => "",
            ObjectKind::Key => "keys",
            ObjectKind::Pack => "data",
            ObjectKind::Index => "index",
            ObjectKind::Snapshot => "snapshots",
            ObjectKind::Mark => "marks",
        }
    }

    /// Every kind, config first.
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Config,
        ObjectKind::Key,
        ObjectKind::Pack,
        ObjectKind::Index,
        ObjectKind::Snapshot,
        ObjectKind::Mark,
    ];

    /// The kind whose singular name (as in [`fmt::Display`]) is `name`:
    /// `config`, `key`, `pack`, `index`, `snapshot` or `mark`. Remote
    /// backends use these names in URLs.
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.to_string() == name)
    }

    /// Whether objects of this kind are named by the BLAKE3 of their bytes
    /// (all but `config`), so a server can check a name against the upload.
    pub fn is_content_named(self) -> bool {
        self != ObjectKind::Config
    }

    /// The largest object of this kind a reader accepts (FORMAT.md §16):
    /// anything larger is damaged or not a reprise object, and reading it
    /// whole could exhaust memory.
    pub fn max_size(self) -> u64 {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        const GIB: u64 = 1024 * MIB;
        match self {
            ObjectKind::Config | ObjectKind::Key => 64 * KIB,
            // Blobs start below 4 GiB (u32 offsets) and are at most 1 GiB
            // sealed; the header of 2^20 entries is under 48 MiB.
            ObjectKind::Pack => 5 * GIB + 64 * MIB,
            ObjectKind::Index => GIB,
            ObjectKind::Snapshot => 64 * MIB,
            ObjectKind::Mark => 256 * MIB,
        }
    }
}

/// The name of the config's second copy (FORMAT.md §6, revision 1.3): a
/// `config` object under another name, read when `config` fails to verify.
pub const CONFIG_COPY_NAME: &str = "config.copy";

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Config => "config",
            ObjectKind::Key => "key",
            ObjectKind::Pack => "pack",
            ObjectKind::Index => "index",
            ObjectKind::Snapshot => "snapshot",
            ObjectKind::Mark => "mark",
        })
    }
}

/// What went wrong, with the object and the location it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{kind} {name} not found in {location}")]
    NotFound {
        kind: ObjectKind,
        name: String,
        location: String,
    },
    #[error("no space left on the device holding {location} while writing {kind} {name}: free some space or move the repository, then run the command again")]
    NoSpace {
        kind: ObjectKind,
        name: String,
        location: String,
    },
    #[error("permission denied on {path}: check the repository's ownership and permissions")]
    PermissionDenied { path: String },
    /// A write was refused because this user may not write there.
    #[error("cannot write to {path}: the repository directory is not writable by this user; run reprise as the user who owns the repository, or give this user write access")]
    NotWritable { path: String },
    /// A write was refused because the file system is mounted read-only.
    #[error("cannot write to {path}: the file system holding the repository is read-only; remount it read-write (commands that only read, such as snapshots, ls, restore and check, work as it is)")]
    ReadOnlyFileSystem { path: String },
    /// Something other than a plain file stands where an object should be.
    #[error("{path} is {found}, not a regular file: a repository object must be a plain file; move it out of the repository and run `reprise check`")]
    NotAFile { path: String, found: &'static str },
    /// An object larger than any object of its kind can be.
    #[error("{kind} {name} is {size} bytes, more than any {kind} may be ({max} bytes): it is damaged or not a reprise object")]
    TooLarge {
        kind: ObjectKind,
        name: String,
        size: u64,
        max: u64,
    },
    #[error("invalid object name {name:?}: object names are lowercase hex")]
    InvalidName { name: String },
    #[error("read of {kind} {name} at {offset}+{len} is beyond its end")]
    ShortRead {
        kind: ObjectKind,
        name: String,
        offset: u64,
        len: u64,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The storage holds the object under a retention lock.
    #[error("{kind} {name} in {location} is locked until {until}: it can only be deleted after that date")]
    Locked {
        kind: ObjectKind,
        name: String,
        location: String,
        until: String,
    },
    /// The server or the storage refused the operation for these credentials
    /// (an append-only token asked to delete, an object already there…).
    #[error("{location} refused to {action} {kind} {name}: {reason}")]
    Refused {
        action: &'static str,
        kind: ObjectKind,
        name: String,
        location: String,
        reason: String,
    },
    /// The credentials were missing, unknown or expired.
    #[error("{location} did not accept the credentials: {detail}")]
    Unauthorized { location: String, detail: String },
    /// A network or server failure that persisted through every retry.
    #[error("{location} failed: {detail}")]
    Remote { location: String, detail: String },
    #[error("{location} does not support {what}")]
    Unsupported {
        location: String,
        what: &'static str,
    },
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// An object listed by a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
    /// When the storage received the object, where it records that. Since
    /// objects are never modified this is their creation time, which a
    /// client cannot forge on a server or on S3 (retention uses it to spot
    /// snapshots that claim another date).
    pub stored: Option<SystemTime>,
}

/// Whether `write_once` created the object or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    /// An object of that name existed and was left untouched. Names are
    /// derived from content, so it holds the same bytes unless it is damaged.
    AlreadyExisted,
}

/// A place that stores a repository's objects.
pub trait Backend: Send + Sync {
    /// Where this backend points, for messages.
    fn location(&self) -> String;

    /// Prepares an empty repository location; fails if one is already there.
    fn create(&self) -> Result<()>;

    /// All objects of a kind, in no particular order.
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>>;

    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>>;

    /// Reads a whole object into `buf` (cleared first), so a caller reading
    /// many large objects can reuse one buffer.
    fn read_into(&self, kind: ObjectKind, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        *buf = self.read(kind, name)?;
        Ok(())
    }

    /// `len` bytes at `offset`; fails rather than returning fewer.
    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>>;

    /// The size of an object.
    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64>;

    /// Creates the object durably (on return it survives a power loss), or
    /// leaves an existing object of that name untouched.
    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome>;

    /// Deletes an object. Only administrative operations call this.
    /// Storage with retention locks refuses with [`StorageError::Locked`].
    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()>;

    /// Why deleting would be refused with these credentials, when the
    /// storage has already said so (a reprise server names the token's
    /// role in every answer): a command that deletes then stops before
    /// sending a deletion the server would log as refused. `None` when
    /// deleting may be allowed, or the storage does not tell.
    fn deletion_refused(&self) -> Option<String> {
        None
    }

    /// Sets the retention lock every later write gets (S3 Object Lock).
    /// Backends without object locks accept `None` and refuse a policy.
    fn set_lock_policy(&self, policy: Option<LockPolicy>) -> Result<()> {
        match policy {
            None => Ok(()),
            Some(_) => Err(StorageError::Unsupported {
                location: self.location(),
                what: "object locks (only s3: repositories have them)",
            }),
        }
    }

    /// The retention lock on one object; `None` when it has none (or the
    /// backend has no locks).
    fn lock_of(&self, _kind: ObjectKind, _name: &str) -> Result<Option<ObjectLock>> {
        Ok(None)
    }

    /// Extends an object's retention lock to `until` (never shortens it).
    fn extend_lock(&self, _kind: ObjectKind, _name: &str, _until: SystemTime) -> Result<()> {
        Err(StorageError::Unsupported {
            location: self.location(),
            what: "object locks (only s3: repositories have them)",
        })
    }
}

/// The last byte's offset of the range an HTTP backend must request for
/// `offset..offset + len`, or `None` where nothing is to be fetched: an
/// empty range, which HTTP cannot express, is answered from the object's
/// `size` instead. A range that overflows, or an empty one past the end, is
/// `ShortRead`; the REST and S3 backends share this rule.
pub fn http_range_end(
    kind: ObjectKind,
    name: &str,
    offset: u64,
    len: u64,
    size: impl FnOnce() -> Result<u64>,
) -> Result<Option<u64>> {
    let short = || StorageError::ShortRead {
        kind,
        name: name.to_string(),
        offset,
        len,
    };
    let end = offset.checked_add(len).ok_or_else(short)?;
    if len > 0 {
        return Ok(Some(end - 1));
    }
    if end <= size()? {
        Ok(None)
    } else {
        Err(short())
    }
}

/// Object names are lowercase hex (`config` and its copy `config.copy`
/// aside), which keeps them safe as file names and URL path segments.
pub fn validate_name(kind: ObjectKind, name: &str) -> Result<()> {
    let ok = match kind {
        ObjectKind::Config => name == "config" || name == CONFIG_COPY_NAME,
        _ => {
            !name.is_empty()
                && name.len() <= 128
                && name
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidName {
            name: name.to_string(),
        })
    }
}
