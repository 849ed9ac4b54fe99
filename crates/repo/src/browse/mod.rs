//! The read side of a repository, as a library: what `ls`, `find`, `diff`,
//! `dump`, `stats`, detection and the dashboard to come ask of snapshots.
//! The CLI only parses arguments and prints what these functions return.
//!
//! - [`open`]: list the snapshots, then load the index, in that order;
//! - [`zip`]: two trees merge-joined by name, recursing into directories
//!   (`diff`, and detection's change listing);
//! - [`diff`]: what changed between two snapshots, path by path;
//! - [`find`]: every version of matching paths across snapshots;
//! - [`reader`]: a file's content read blob by blob;
//! - [`subpath`]: `SNAPSHOT:/path`, resolved to a node of a snapshot;
//! - [`stats`]: what the repository stores and how well it deduplicates.

pub mod diff;
pub mod find;
pub mod open;
pub mod reader;
pub mod stats;
pub mod subpath;
pub mod zip;

pub use diff::{diff, Change, ChangeKind};
pub use find::{find, Found};
pub use open::{list_then_index, Listed, Opened};
pub use reader::FileReader;
pub use stats::{stats, Stats};
pub use subpath::{resolve_subpath, split_selector, Subpath};
pub use zip::{zip, Pair, ZipVisitor};

#[cfg(test)]
pub(crate) mod testing;
