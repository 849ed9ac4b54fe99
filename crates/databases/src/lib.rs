//! Database sources: how reprise gets a consistent, deterministic dump out
//! of a database server and puts it back into a new database.
//!
//! Every engine is driven through its own client tools (`pg_dump`/`psql`,
//! `mariadb-dump`/`mariadb`) or, for SQLite, through the library itself,
//! so a dump is exactly what the sysadmin would get by hand and can be
//! restored by hand without reprise.
//!
//! A [`Dump`] is a stream of plain SQL that the backup reads like a file.
//! It is supervised: the tool's exit status, its standard error, an empty
//! output or one suspiciously smaller than the previous night's make the
//! stream's last read fail, so no snapshot can claim a failed dump. While
//! the bytes flow, the dump's rows are counted and checksummed per table
//! into a [`DumpManifest`], stored beside the dump, so a restore can be
//! verified against what was really there ([`Engine::verify`]).

use serde::{Deserialize, Serialize};

/// How to reach a database server (PostgreSQL or MariaDB/MySQL).
///
/// Unset fields fall back to the tools' own defaults (local socket,
/// current user), as `psql` or `mariadb` would with no options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// A file holding the password (first line), readable only by its owner.
    pub password_file: Option<std::path::PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
    /// Where the engine's client tools are, when they are not on `PATH`
    /// (for example `/usr/lib/postgresql/15/bin`).
    pub bin_dir: Option<std::path::PathBuf>,
}

/// One table's content as the dump carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// The table's name as the dump spells it (schema-qualified where the
    /// engine has schemas).
    pub table: String,
    pub rows: u64,
    /// BLAKE3 (hex) of the table's data lines, in dump order.
    pub checksum: String,
}

/// What a dump contained, stored beside it in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpManifest {
    /// The manifest's own format version (1).
    pub version: u32,
    /// `postgres`, `mariadb` or `sqlite`.
    pub engine: String,
    pub database: String,
    /// The dump tool and its version, as it reported itself.
    pub tool: String,
    /// The dump's size in bytes.
    pub bytes: u64,
    /// Every table, sorted by name.
    pub tables: Vec<TableStats>,
}

/// Whether a restore may replace a database that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Refuse: the target database must not exist.
    Never,
    /// Drop the existing database first (`recover --replace`).
    Existing,
}

/// A restored database compared with the manifest captured at backup time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Tables whose row count and checksum match.
    pub matching: Vec<String>,
    /// Everything that differs, one readable line each (missing table,
    /// extra table, row count, checksum).
    pub mismatches: Vec<String>,
}

impl Verification {
    /// True only when every table matches and none is missing or extra.
    pub fn verified(&self) -> bool {
        self.mismatches.is_empty()
    }
}

pub mod error;
pub mod sqlite;
pub use error::DbError;
pub use sqlite::Sqlite;

pub mod command;
pub mod mariadb;
pub mod postgres;
pub mod stats;
mod supervise;
pub use command::CommandSource;
pub use mariadb::MariaDb;
pub use postgres::Postgres;

/// Limits a dump must meet, or its stream fails at the end.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    /// The previous dump's size: an output smaller than
    /// `min_fraction` of it fails as suspiciously shrunken.
    pub previous_bytes: Option<u64>,
    /// Between 0 and 1; `None` means the default (one half).
    pub min_fraction: Option<f64>,
}

impl DumpOptions {
    /// Fails with [`DbError::Shrunk`] when a finished dump of `bytes` is
    /// smaller than `min_fraction` (default one half) of the previous one,
    /// the same rule for every engine.
    pub fn check_size(&self, database: &str, bytes: u64) -> Result<(), DbError> {
        let Some(previous) = self.previous_bytes else {
            return Ok(());
        };
        let fraction = self.min_fraction.unwrap_or(0.5).clamp(0.0, 1.0);
        if (bytes as f64) < fraction * previous as f64 {
            return Err(DbError::Shrunk {
                database: database.to_string(),
                bytes,
                previous,
                percent: (fraction * 100.0).round() as u32,
            });
        }
        Ok(())
    }
}

/// A dump in progress: the SQL bytes, and the manifest they produce.
///
/// The reader's last read (the one that would return end of file) returns
/// an error instead when the tool failed, was killed, wrote to standard
/// error, or produced an empty or shrunken output; the error's inner value
/// is a [`DbError`] (`std::io::Error::into_inner`). Dropping the reader
/// before its end kills the tool.
pub struct Dump {
    pub reader: Box<dyn std::io::Read + Send>,
    pub manifest: ManifestHandle,
}

/// The manifest of a dump, filled in when its reader reached a good end.
#[derive(Debug, Clone, Default)]
pub struct ManifestHandle(pub std::sync::Arc<std::sync::Mutex<Option<DumpManifest>>>);

impl ManifestHandle {
    /// The manifest, once the dump's reader has returned end of file
    /// without error; `None` before that or after a failure.
    pub fn get(&self) -> Option<DumpManifest> {
        self.0.lock().ok().and_then(|m| m.clone())
    }
}

/// A database engine reached through one server (or, for SQLite, the
/// local file system, where a database name is a file path).
pub trait Engine: Send + Sync {
    /// `postgres`, `mariadb` or `sqlite`.
    fn name(&self) -> &'static str;
    /// Checks that the server answers and the credentials work.
    fn ping(&self) -> Result<(), DbError>;
    /// The user databases on the server (system databases left out), for
    /// a source that backs up all of them.
    fn list_databases(&self) -> Result<Vec<String>, DbError>;
    /// Starts a consistent (one transaction), deterministic, plain-SQL
    /// dump of `database`.
    fn dump(&self, database: &str, options: &DumpOptions) -> Result<Dump, DbError>;
    fn exists(&self, database: &str) -> Result<bool, DbError>;
    /// Creates `database` and loads `dump` into it, failing on the first
    /// SQL error. An existing database is refused with
    /// [`DbError::Exists`] unless `replace` allows dropping it first.
    fn restore(
        &self,
        database: &str,
        dump: &mut (dyn std::io::Read + Send),
        replace: Replace,
    ) -> Result<(), DbError>;
    /// Dumps `database` again and compares its tables with `expected`.
    fn verify(&self, database: &str, expected: &DumpManifest) -> Result<Verification, DbError>;
    fn drop_database(&self, database: &str) -> Result<(), DbError>;
    /// Runs `sql` in `database` and returns the first column of the first
    /// row as text (empty when there is no row), for health checks.
    fn query_scalar(&self, database: &str, sql: &str) -> Result<String, DbError>;
}
