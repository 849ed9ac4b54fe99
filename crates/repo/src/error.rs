//! Typed errors of repository operations. Each names the object concerned.

use reprise_crypto::CryptoError;
use reprise_format::{BlobId, FormatError, KeyId, PackId};
use reprise_storage::StorageError;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{location} is not a reprise repository (no config found): check --repo, or create one with `reprise init`")]
    NotARepository { location: String },
    #[error("a repository already exists at {location}")]
    AlreadyExists { location: String },
    #[error("wrong password: no key file of this repository opens with it ({keys} tried)")]
    WrongPassword { keys: usize },
    /// No key file opened with the password, and some key files are damaged.
    #[error("{}", damaged_keys_message(.intact, .damaged))]
    DamagedKeys {
        intact: usize,
        damaged: Vec<crate::keys::DamagedKey>,
    },
    #[error("the repository has no key files: it cannot be opened")]
    NoKeys,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{object}: {source}")]
    Format {
        object: String,
        #[source]
        source: FormatError,
    },
    #[error("blob {0} is not in the repository's index (is a pack missing? run `reprise check`)")]
    BlobNotFound(BlobId),
    #[error("blob {id} in pack {pack} is damaged: {reason}")]
    BlobDamaged {
        id: BlobId,
        pack: PackId,
        reason: String,
    },
    #[error("no snapshot matches {0:?}: list them with `reprise snapshots`")]
    SnapshotNotFound(String),
    #[error("snapshot {id} is damaged: {why} (run `reprise check`)")]
    SnapshotDamaged { id: String, why: String },
    #[error("{0:?} matches several snapshots: give more digits of the id")]
    AmbiguousSnapshot(String),
    /// `key remove` of the key the repository was opened with.
    #[error(
        "refusing to remove the key this command was opened with: open with another password first"
    )]
    KeyInUse,
    #[error("no key {0} in this repository")]
    KeyNotFound(KeyId),
    #[error("no key matches {0:?}: see `reprise key list`")]
    NoKeyMatches(String),
    #[error("{0:?} matches several keys: give more digits")]
    AmbiguousKey(String),
    /// Making a key file, or drawing random numbers, failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A pack upload failed. Shared: every caller of the saver after the
    /// failure gets this same error, so all see the same kind (a refusal
    /// of the storage stays a refusal).
    #[error(transparent)]
    Upload(Arc<StorageError>),
    #[error("writing to the repository failed: {0}")]
    UploadFailed(String),
    #[error("path {0:?} not found in the snapshot")]
    PathNotFound(String),
    #[error("{name} is a {kind:?}, not a regular file: it has no content to read")]
    NotAFile {
        name: String,
        kind: reprise_format::NodeKind,
    },
    #[error("{what} expands to more than {limit} directories and files, far more than its backup recorded: its trees reuse the same subtrees over and over, as only a forged snapshot does, so it is not walked further (run `reprise check`, and restore from an earlier snapshot)")]
    TooManyEntries { what: String, limit: u64 },
}

fn damaged_keys_message(intact: &usize, damaged: &[crate::keys::DamagedKey]) -> String {
    let list: Vec<String> = damaged
        .iter()
        .map(|k| format!("keys/{} ({})", k.name, k.reason))
        .collect();
    format!(
        "no key file opens with this password, and {} damaged: {}. The password may be one of the damaged key files': no password can open those, but the others ({intact}) may still open the repository with their own password; restore keys/ from a copy if none is left",
        if damaged.len() == 1 { "1 key file is".to_string() } else { format!("{} key files are", damaged.len()) },
        list.join(", ")
    )
}

impl RepoError {
    pub(crate) fn format(object: impl Into<String>, source: FormatError) -> Self {
        RepoError::Format {
            object: object.into(),
            source,
        }
    }

    /// The storage error behind this one, if any: what decides whether the
    /// storage refused (exit 13) or did not accept the credentials (14).
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            RepoError::Storage(e) => Some(e),
            RepoError::Upload(e) => Some(e),
            _ => None,
        }
    }

    /// True when the error means "this data is damaged", as opposed to
    /// "the repository or the system cannot be used".
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            RepoError::BlobDamaged { .. } | RepoError::BlobNotFound(_) | RepoError::Format { .. }
        ) || matches!(
            self,
            RepoError::Storage(
                StorageError::NotFound { .. }
                    | StorageError::ShortRead { .. }
                    | StorageError::NotAFile { .. }
                    | StorageError::TooLarge { .. }
            )
        )
    }
}
