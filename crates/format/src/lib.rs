//! The repository format: every object reprise stores, its byte layout and its
//! encoding, with no I/O and no policy about when objects are written.
//!
//! docs/FORMAT.md is the normative description; this crate is its reference
//! implementation. Decoders take untrusted bytes and never panic: every length
//! and count is checked before use.
// Beyond the workspace's lints: decoders index untrusted bytes only
// through checked accessors.
#![deny(clippy::indexing_slicing)]

pub mod blob;
pub mod config;
pub mod id;
pub mod incident;
pub mod index;
pub mod mark;
pub mod pack;
pub mod sealed;
pub mod snapshot;
pub mod tree;

pub use blob::{BlobType, Compression};
pub use config::{
    ChunkerConfig, LockModeName, ObjectLockConfig, RepoConfig, FORMAT_VERSION, OBJECT_VERSION,
};
pub use id::{BlobId, Id, IndexId, KeyId, PackId, SnapshotId};
pub use incident::{IncidentEvent, IncidentFile, IncidentRecord, IncidentState};
pub use index::{IndexFile, IndexPack};
pub use mark::{CheckRecord, DamagedCopy, Mark, MarkBody};
pub use pack::{PackEntry, PackHeader};
pub use sealed::{JsonObject, SealedObject};
pub use snapshot::{DetectionSummary, Snapshot, SnapshotSummary};
pub use tree::{ContentStats, Node, NodeKind, RawBytes, Tree, Xattr};

/// Errors found while decoding repository bytes. Each names what was being decoded.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what}: decryption failed (damaged, or sealed under another key)")]
    Sealed {
        what: &'static str,
        #[source]
        source: reprise_crypto::CryptoError,
    },
    /// Serialising an object failed (a bug, not a property of the data):
    /// reported rather than sealing empty or partial bytes.
    #[error("{what}: cannot be encoded: {detail}")]
    Encode { what: &'static str, detail: String },
    #[error("repository format version {found} is newer than this reprise understands (up to {supported}): upgrade reprise")]
    NewerVersion { found: u32, supported: u32 },
}

impl FormatError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        FormatError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// A cursor over untrusted bytes whose reads fail instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.bytes.len() < n {
            return Err(FormatError::malformed(self.what, "truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn id(&mut self) -> Result<[u8; 32], FormatError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }
}
