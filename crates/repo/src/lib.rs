//! A reprise repository, opened: keys, config, the in-memory index, writing
//! blobs into packs, verified blob reads, trees and snapshots.
//!
//! # Write order (the crash-safety argument)
//! A backup writes, in this order, each step durable before the next:
//! 1. packs (each a self-describing object, written once under its BLAKE3);
//! 2. an index file listing the new packs;
//! 3. the snapshot, which is the only commit point.
//!
//! A crash before 3 leaves packs (and maybe an index) that no snapshot
//! references: harmless, and the next backup *adopts* them. Opening the
//! index lists `data/`, reads the self-describing header of every pack that
//! no index file mentions, and so deduplicates against everything already
//! uploaded.
//!
//! # Concurrency
//! No lock files exist: every object is written once under a fresh name, so
//! concurrent writers never touch the same object with different content.
//! Which operations may run alongside which is the table in
//! docs/ARCHITECTURE.md, section "Concurrency" (the only one, so it cannot
//! disagree with a copy).

pub mod browse;
pub mod budget;
mod error;
mod index;
mod keys;
pub mod locks;
mod marks;
mod patterns;
pub mod reachable;
mod repair;
mod repository;
mod saver;
mod snapshots;
pub mod walk;

pub use budget::WalkBudget;
pub use error::RepoError;
pub use index::{read_pack_header, BlobLocation, Index, IndexLoadReport, INDEX_BYTES_PER_BLOB};
pub use keys::{hostname, username, DamagedKey, KeyInfo};
pub use marks::{MarkList, StoredCheck, StoredDrill, StoredIncident, StoredMark};
pub use patterns::{PathPatterns, PatternError};
pub use repair::IndexRepair;
pub use repository::{
    lock_policy, policy_of_lock, ConfigCopy, ConfigState, InitOptions, Repository,
};
pub use saver::{write_index_files, BlobSaver, DeltaBase, SaverStats};
pub use snapshots::{SnapshotFilter, SnapshotList};

pub type Result<T> = std::result::Result<T, RepoError>;
