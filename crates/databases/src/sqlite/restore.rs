//! Loading an SQLite dump into a new database file, all or nothing.
//!
//! The database is built in a temporary file beside the target, created
//! by reprise itself (never through a link), statement by statement as the
//! dump streams in: a statement ends where SQLite's own completeness test
//! says it does, so schema statements may span lines. Only a dump that ran
//! to its final `COMMIT` without error is synced and renamed over the
//! target, after the `-wal`, `-shm` and `-journal` files of the database it
//! replaces are removed (SQLite would replay them into the new file; the
//! service using the old database must be stopped); anything else removes
//! the temporary file and leaves the target as it was.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags};

use crate::DbError;

/// True when `sql` holds one or more whole statements (ends with a
/// semicolon outside any string, comment or trigger body).
pub(super) fn is_complete(sql: &mut Vec<u8>) -> bool {
    sql.push(0);
    // SAFETY: `sql` ends with the NUL just pushed, so sqlite3_complete's
    // read, which stops at the first NUL, stays inside the buffer; the
    // buffer outlives the call and is not written to during it.
    let complete = unsafe { rusqlite::ffi::sqlite3_complete(sql.as_ptr().cast()) } != 0;
    sql.pop();
    complete
}

/// Restores `dump` into `target`, replacing what is there only once the
/// new database is complete and on disk.
pub(super) fn restore_file(target: &Path, dump: &mut (dyn Read + Send)) -> Result<(), DbError> {
    let display = target.display().to_string();
    let Some(file_name) = target.file_name() else {
        return Err(DbError::Invalid(format!(
            "{display} is not a file path: name the SQLite database file to restore into"
        )));
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = create_temp_file(dir, file_name, &display)?;
    let result = load(&temp, dump, &display)
        .and_then(|()| sync(&temp, &display))
        .and_then(|()| remove_companions(target, &display))
        .and_then(|()| {
            std::fs::rename(&temp, target).map_err(|source| DbError::Io {
                context: format!("renaming the restored database into {display}"),
                source,
            })
        })
        .and_then(|()| sync(dir, &display));
    if result.is_err() {
        remove_temp(&temp);
    }
    result
}

/// Removes the write-ahead log, its index and the rollback journal of the
/// database being replaced (or of one deleted without them): SQLite would
/// replay them into the restored file that takes its name.
fn remove_companions(target: &Path, display: &str) -> Result<(), DbError> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = target.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DbError::Io {
                    context: format!(
                        "removing {display}{suffix}, left by the database being replaced"
                    ),
                    source,
                })
            }
        }
    }
    Ok(())
}

fn create_temp_file(dir: &Path, file_name: &OsStr, display: &str) -> Result<PathBuf, DbError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_error = None;
    for _ in 0..64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let unique = u64::from(std::process::id()) << 32
            ^ u64::from(nanos)
            ^ COUNTER.fetch_add(1, Ordering::Relaxed) << 16;
        let mut name = file_name.to_os_string();
        name.push(format!(".tmp-{:08x}", unique & 0xffff_ffff));
        let path = dir.join(name);
        // create_new: O_CREAT|O_EXCL, which fails on an existing name,
        // a symbolic link included, rather than following it.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(source) => {
                return Err(DbError::Io {
                    context: format!("creating a temporary file beside {display}"),
                    source,
                })
            }
        }
    }
    Err(DbError::Io {
        context: format!("creating a temporary file beside {display}"),
        source: last_error.unwrap_or_else(|| std::io::Error::other("no free name")),
    })
}

/// Runs every statement of the dump on the new file at `temp`.
fn load(temp: &Path, dump: &mut (dyn Read + Send), display: &str) -> Result<(), DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let failed = |action: &str, e: rusqlite::Error| super::sqlite_error(display, action, &e);
    let conn = Connection::open_with_flags(super::file_path(temp), flags)
        .map_err(|e| failed("create", e))?;
    // The file is new and thrown away on any failure, and synced once at
    // the end: no need for a journal on disk or a sync per transaction.
    conn.execute_batch("PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;")
        .map_err(|e| failed("prepare", e))?;
    let last = run_statements(&conn, dump, display)?;
    if !(conn.is_autocommit() && is_commit(&last)) {
        return Err(DbError::Sqlite {
            path: display.to_string(),
            message:
                "the dump does not end with its COMMIT: it is truncated; nothing was restored, \
                      use another snapshot"
                    .to_string(),
        });
    }
    conn.close().map_err(|(_, e)| failed("close", e))
}

/// Executes the dump's statements in order; returns the last one.
fn run_statements(
    conn: &Connection,
    dump: &mut (dyn Read + Send),
    display: &str,
) -> Result<String, DbError> {
    let mut reader = BufReader::with_capacity(64 << 10, dump);
    let mut statement: Vec<u8> = Vec::new();
    let mut last = String::new();
    let mut line_number = 0u64;
    loop {
        let before = statement.len();
        let n = reader
            .read_until(b'\n', &mut statement)
            .map_err(|source| DbError::Io {
                context: format!("reading the dump to restore into {display}"),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_number += 1;
        if statement[before..].contains(&0) {
            return Err(bad_dump(display, line_number, "contains a NUL byte"));
        }
        if !is_complete(&mut statement) {
            continue;
        }
        let text = std::str::from_utf8(&statement)
            .map_err(|_| bad_dump(display, line_number, "is not UTF-8"))?;
        conn.execute_batch(text).map_err(|e| DbError::Sqlite {
            path: display.to_string(),
            message: format!(
                "the dump's statement ending at line {line_number} failed ({e}): {}",
                excerpt(text)
            ),
        })?;
        last = text.to_string();
        statement.clear();
    }
    if !statement.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_dump(
            display,
            line_number,
            "ends in the middle of a statement: it is truncated",
        ));
    }
    Ok(last)
}

fn bad_dump(display: &str, line: u64, what: &str) -> DbError {
    DbError::Sqlite {
        path: display.to_string(),
        message: format!(
            "the dump, at line {line}, {what}; nothing was restored, use another snapshot"
        ),
    }
}

fn excerpt(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// `COMMIT;`, `END;` and their `TRANSACTION` forms.
fn is_commit(statement: &str) -> bool {
    let words: Vec<String> = statement
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["COMMIT"] | ["END"] | ["COMMIT", "TRANSACTION"] | ["END", "TRANSACTION"]
    )
}

fn sync(path: &Path, display: &str) -> Result<(), DbError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| DbError::Io {
            context: format!("syncing {} while restoring {display}", path.display()),
            source,
        })
}

/// Removes the temporary database and any companion SQLite left.
fn remove_temp(temp: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = temp.as_os_str().to_os_string();
        name.push(suffix);
        // Best effort: the restore already failed with its own error.
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}
