//! Keeping a repository's size in check without giving an attacker a way
//! to destroy it: which snapshots to keep ([`forget`]), deleting the data
//! nothing needs any more in two phases ([`prune`]), and copying snapshots
//! to another repository, such as an offline disk ([`copy`]).
//!
//! Every destructive step here needs storage credentials that may delete
//! (a server's `admin` token, S3 keys with delete rights); a backup
//! client's append-only credentials make these commands fail cleanly, and
//! storage retention locks make them skip what is still locked.
pub mod copy;
pub mod forget;
pub mod forget_plan;
pub mod prune;

pub use copy::{copy_snapshots, CopyReport};
pub use forget::{decide, hold, Candidate, Decision, KeepPolicy, Standing};
pub use forget_plan::{plan, remove_forgotten, ForgetOutcome};
pub use prune::{prune, PruneOptions, PruneReport, RunningBackup};

use reprise_repo::RepoError;
use reprise_storage::StorageError;

/// Why a maintenance command stopped.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Prune cannot know what an unreadable snapshot references, so it
    /// deletes nothing rather than guess.
    #[error("snapshot {name} cannot be read ({reason}): prune would not know what it needs, so it deletes nothing; run `reprise check`, and remove the snapshot with `reprise forget` if it is beyond repair")]
    UnreadableSnapshot { name: String, reason: String },
    /// Forget removes nothing when it cannot tell what incidents hold.
    #[error("cannot work out what the ransomware incidents need kept; nothing was removed")]
    IncidentHolds(#[source] RepoError),
    #[error("cannot remove snapshot {}", .id.short())]
    RemoveSnapshot {
        id: reprise_format::SnapshotId,
        #[source]
        source: Box<StorageError>,
    },
}
