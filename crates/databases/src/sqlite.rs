//! SQLite sources, through the bundled library (rusqlite) rather than the
//! `sqlite3` program, so a machine needs nothing installed to back up,
//! restore or drill an SQLite database. A "database" is a file path.
//!
//! The dump is plain SQL that the `sqlite3` shell loads too
//! (`sqlite3 new.db < dump.sql`), read inside one read transaction so
//! writers working beside it cannot change what it sees, deterministic and
//! one row per line so it deduplicates from one night to the next (the
//! format is described in [`dump`]). A restore builds the database in a
//! temporary file beside the target and renames it into place only once
//! the whole dump has been loaded and committed, so a failed restore leaves
//! nothing at the target. [`Engine::list_databases`] is an error: SQLite
//! has no server to list, a source names its file.

mod dump;
mod restore;

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{
    DbError, Dump, DumpManifest, DumpOptions, Engine, ManifestHandle, Replace, Verification,
};

/// How long a dump or check waits for a writer holding a lock before it
/// gives up, by default.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The SQLite engine: databases are files on this machine.
#[derive(Debug, Clone)]
pub struct Sqlite {
    busy_timeout: Duration,
}

impl Default for Sqlite {
    fn default() -> Self {
        Self::new()
    }
}

impl Sqlite {
    pub fn new() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }

    /// How long to wait for another program's lock on a database before
    /// failing (60 s by default).
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The library's own version, as the manifest's `tool` names it.
    pub fn tool() -> String {
        format!("SQLite {} (rusqlite)", rusqlite::version())
    }

    /// Opens an existing database read-only, never creating it.
    fn open_read_only(&self, path: &str) -> Result<Connection, DbError> {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(DbError::Sqlite {
                path: path.to_string(),
                message: "no such file; check the source's path".to_string(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(file_path(Path::new(path)), flags)
            .map_err(|e| sqlite_error(path, "open", &e))?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| sqlite_error(path, "set the busy timeout of", &e))?;
        Ok(conn)
    }

    /// Opens `path` read-only and starts the read transaction every table
    /// of a dump is read in, with its schema read inside it.
    fn open_snapshot(&self, path: &str) -> Result<(Connection, dump::Schema), DbError> {
        let conn = self.open_read_only(path)?;
        // A deferred transaction takes its snapshot at the first read (the
        // schema's), then keeps it until the dump ends.
        conn.execute_batch("BEGIN")
            .map_err(|e| sqlite_error(path, "start a read transaction on", &e))?;
        let schema = dump::Schema::read(&conn).map_err(|e| e.for_path(path))?;
        Ok((conn, schema))
    }
}

impl Engine for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    /// Nothing to reach: the library is linked in.
    fn ping(&self) -> Result<(), DbError> {
        Ok(())
    }

    /// Always an error: an SQLite source names its database file, there is
    /// no server whose databases could be listed.
    fn list_databases(&self) -> Result<Vec<String>, DbError> {
        Err(DbError::Invalid(
            "an SQLite source has no server to list databases from: name the database file"
                .to_string(),
        ))
    }

    fn dump(&self, database: &str, options: &DumpOptions) -> Result<Dump, DbError> {
        let (conn, schema) = self.open_snapshot(database)?;
        let (pipe_reader, pipe_writer) = std::io::pipe().map_err(|source| DbError::Io {
            context: format!("creating the pipe for the dump of {database}"),
            source,
        })?;
        let path = database.to_string();
        let writer = std::thread::Builder::new()
            .name("sqlite-dump".to_string())
            .spawn(move || write_manifested_dump(&conn, &schema, &path, pipe_writer))
            .map_err(|source| DbError::Io {
                context: format!("starting the dump of {database}"),
                source,
            })?;
        let manifest = ManifestHandle::default();
        let reader = DumpReader {
            pipe: pipe_reader,
            writer: Some(writer),
            manifest: manifest.clone(),
            options: options.clone(),
            outcome: None,
        };
        Ok(Dump {
            reader: Box::new(reader),
            manifest,
        })
    }

    /// True when anything is at the path, even a dangling symbolic link (a
    /// restore would refuse it too).
    fn exists(&self, database: &str) -> Result<bool, DbError> {
        match std::fs::symlink_metadata(database) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(DbError::Io {
                context: format!("checking whether {database} exists"),
                source,
            }),
        }
    }

    /// Loads the dump into a new file at `database` (mode 0600), replaced
    /// atomically when `replace` allows an existing one.
    fn restore(
        &self,
        database: &str,
        dump: &mut (dyn Read + Send),
        replace: Replace,
    ) -> Result<(), DbError> {
        if replace == Replace::Never && self.exists(database)? {
            return Err(DbError::Exists {
                database: database.to_string(),
            });
        }
        restore::restore_file(Path::new(database), dump)
    }

    fn verify(&self, database: &str, expected: &DumpManifest) -> Result<Verification, DbError> {
        let (conn, schema) = self.open_snapshot(database)?;
        let (tables, _bytes) =
            dump::write_dump(&conn, &schema, std::io::sink()).map_err(|e| e.for_path(database))?;
        Ok(compare_tables(&expected.tables, &tables))
    }

    /// Removes the file and its `-wal`, `-shm` and `-journal` companions;
    /// a file already gone is not an error (a drill's cleanup may run
    /// twice).
    fn drop_database(&self, database: &str) -> Result<(), DbError> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = format!("{database}{suffix}");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DbError::Io {
                        context: format!("removing {path}"),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Runs `sql` on a read-only connection: a health check cannot change
    /// the database. Reals are written as Rust prints them (`1.5`, `2`).
    fn query_scalar(&self, database: &str, sql: &str) -> Result<String, DbError> {
        let conn = self.open_read_only(database)?;
        let failed = |e: rusqlite::Error| DbError::Sqlite {
            path: database.to_string(),
            message: format!("the query {sql:?} failed: {e}"),
        };
        let mut statement = conn.prepare(sql).map_err(failed)?;
        let mut rows = statement.query([]).map_err(failed)?;
        let Some(row) = rows.next().map_err(failed)? else {
            return Ok(String::new());
        };
        let value = row.get_ref(0).map_err(failed)?;
        Ok(scalar_text(value))
    }
}

/// `path` as SQLite must see it to take it as a file name: this SQLite
/// reads names starting with `file:` as URIs (`file:x.db?mode=rwc`), so a
/// relative path gets a leading `./`.
fn file_path(path: &Path) -> std::path::PathBuf {
    if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

fn scalar_text(value: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => hex::encode(b),
    }
}

/// The dump thread's work: every table into `out`, then the manifest.
fn write_manifested_dump(
    conn: &Connection,
    schema: &dump::Schema,
    path: &str,
    out: std::io::PipeWriter,
) -> Result<DumpManifest, DbError> {
    let (mut tables, bytes) = dump::write_dump(conn, schema, out).map_err(|e| e.for_path(path))?;
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(DumpManifest {
        version: 1,
        engine: "sqlite".to_string(),
        database: path.to_string(),
        tool: Sqlite::tool(),
        bytes,
        tables,
    })
}

/// The reading end of a dump: the pipe's bytes, then at its end the dump
/// thread's outcome (the manifest, or the error the last read returns).
struct DumpReader {
    pipe: std::io::PipeReader,
    writer: Option<JoinHandle<Result<DumpManifest, DbError>>>,
    manifest: ManifestHandle,
    options: DumpOptions,
    /// Set once the end was reached: `Err` holds the failure's message,
    /// repeated by every later read.
    outcome: Option<Result<(), String>>,
}

impl Read for DumpReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(outcome) = &self.outcome {
            return match outcome {
                Ok(()) => Ok(0),
                Err(message) => Err(std::io::Error::other(DbError::Invalid(message.clone()))),
            };
        }
        let n = self.pipe.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        self.finish()
    }
}

impl DumpReader {
    fn finish(&mut self) -> std::io::Result<usize> {
        let written = match self.writer.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(DbError::Invalid(
                    "the SQLite dump thread stopped unexpectedly".to_string(),
                ))
            }),
            None => Err(DbError::Invalid("the SQLite dump ended twice".to_string())),
        };
        let checked = written.and_then(|manifest| {
            self.options
                .check_size(&manifest.database, manifest.bytes)?;
            Ok(manifest)
        });
        match checked {
            Ok(manifest) => {
                set_manifest(&self.manifest.0, manifest);
                self.outcome = Some(Ok(()));
                Ok(0)
            }
            Err(error) => {
                self.outcome = Some(Err(error.to_string()));
                Err(std::io::Error::other(error))
            }
        }
    }
}

fn set_manifest(slot: &Arc<Mutex<Option<DumpManifest>>>, manifest: DumpManifest) {
    // A poisoned lock only means another holder panicked; the value is
    // still ours to set.
    let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = Some(manifest);
}

/// The manifest's tables against a new dump's, one line per difference.
fn compare_tables(expected: &[crate::TableStats], actual: &[crate::TableStats]) -> Verification {
    let mut verification = Verification {
        matching: Vec::new(),
        mismatches: Vec::new(),
    };
    for want in expected {
        match actual.iter().find(|t| t.table == want.table) {
            None => verification
                .mismatches
                .push(format!("table {} is missing", want.table)),
            Some(got) if got.rows != want.rows => verification.mismatches.push(format!(
                "table {}: {} rows, {} at backup time",
                want.table, got.rows, want.rows
            )),
            Some(got) if got.checksum != want.checksum => verification.mismatches.push(format!(
                "table {}: same {} rows but their content differs from the backup's (checksum {}, {} at backup time)",
                want.table, got.rows, got.checksum, want.checksum
            )),
            Some(_) => verification.matching.push(want.table.clone()),
        }
    }
    for got in actual {
        if !expected.iter().any(|t| t.table == got.table) {
            verification
                .mismatches
                .push(format!("table {} was not in the backup", got.table));
        }
    }
    verification
}

/// An SQLite error on `path`, with what to do for the ones a user causes.
fn sqlite_error(path: &str, action: &str, error: &rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode;
    let message = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            format!("not an SQLite database ({error}); check the source's path")
        }
        Some(ErrorCode::DatabaseCorrupt) => format!(
            "the file is damaged ({error}); check it with `sqlite3 FILE 'PRAGMA integrity_check'` and use an earlier backup"
        ),
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            format!("cannot {action} it ({error}); check that it exists and that reprise may read it")
        }
        Some(ErrorCode::ReadOnly) => format!(
            "a program that crashed left its journal or write-ahead log to replay, which a read-only reader cannot do ({error}); \
             open the database once with its application, or run `sqlite3 FILE 'PRAGMA quick_check'`, then try again"
        ),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
            "another program kept it locked too long ({error}); try again when it is less busy"
        ),
        _ => format!("cannot {action} it: {error}"),
    };
    DbError::Sqlite {
        path: path.to_string(),
        message,
    }
}
