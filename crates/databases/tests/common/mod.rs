//! Helpers for the database tests: the test servers from the environment
//! (`scripts/db-server` sets it; `scripts/test-all` starts one), unique
//! database names, fake client tools, and reading a dump to its end.
//!
//! Without `REPRISE_TEST_PG_*` / `REPRISE_TEST_MARIADB_*` the tests that
//! need a server **fail**, unless `REPRISE_TEST_SKIP_DB=1` says to skip
//! them (then they print that they were skipped and pass).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_databases::{Connection, DbError, Dump, DumpManifest, Engine};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True when told to skip the database tests (`REPRISE_TEST_SKIP_DB=1`),
/// for tests that need the client tools but no server.
pub fn skip_db() -> bool {
    let skip = var("REPRISE_TEST_SKIP_DB").as_deref() == Some("1");
    if skip {
        eprintln!("skipped: needs the database client tools (REPRISE_TEST_SKIP_DB=1)");
    }
    skip
}

/// `None` (after saying so) only when told to skip; a missing server fails.
fn missing(what: &str) -> Option<Connection> {
    if var("REPRISE_TEST_SKIP_DB").as_deref() == Some("1") {
        eprintln!("skipped: needs a {what} server (REPRISE_TEST_SKIP_DB=1)");
        return None;
    }
    panic!(
        "this test needs a {what} server: run scripts/test-all (it starts one), or \
         `eval \"$(scripts/db-server)\"` first; set REPRISE_TEST_SKIP_DB=1 to skip database tests"
    );
}

/// The test PostgreSQL server (`REPRISE_TEST_PG_HOST`, `_PORT`, `_USER`,
/// `_BIN`).
pub fn pg_server() -> Option<Connection> {
    let (Some(host), Some(port)) = (var("REPRISE_TEST_PG_HOST"), var("REPRISE_TEST_PG_PORT"))
    else {
        return missing("PostgreSQL");
    };
    Some(Connection {
        host: Some(host),
        port: Some(port.parse().expect("REPRISE_TEST_PG_PORT is a port")),
        user: var("REPRISE_TEST_PG_USER"),
        bin_dir: pg_bin(),
        ..Connection::default()
    })
}

/// Where PostgreSQL's tools are (`REPRISE_TEST_PG_BIN`, else PATH).
pub fn pg_bin() -> Option<PathBuf> {
    var("REPRISE_TEST_PG_BIN").map(PathBuf::from)
}

/// The test MariaDB server, its password passed through
/// `password_env` = `REPRISE_TEST_MARIADB_PASSWORD`.
pub fn mariadb_server() -> Option<Connection> {
    let (Some(host), Some(port), Some(_)) = (
        var("REPRISE_TEST_MARIADB_HOST"),
        var("REPRISE_TEST_MARIADB_PORT"),
        var("REPRISE_TEST_MARIADB_PASSWORD"),
    ) else {
        return missing("MariaDB");
    };
    Some(Connection {
        host: Some(host),
        port: Some(port.parse().expect("REPRISE_TEST_MARIADB_PORT is a port")),
        user: var("REPRISE_TEST_MARIADB_USER"),
        password_env: Some("REPRISE_TEST_MARIADB_PASSWORD".into()),
        ..Connection::default()
    })
}

/// A database name no other test (or run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Drops the named databases when the test ends, passed or not.
pub struct Cleanup<'a> {
    pub engine: &'a dyn Engine,
    pub databases: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for database in &self.databases {
            let _ = self.engine.drop_database(database);
        }
    }
}

/// Reads a dump to its end: its bytes and manifest, or the error its last
/// read returned, as the [`DbError`] inside.
pub fn read_dump(dump: Dump) -> Result<(Vec<u8>, DumpManifest), DbError> {
    let mut reader = dump.reader;
    let mut bytes = Vec::new();
    match reader.read_to_end(&mut bytes) {
        Ok(_) => Ok((
            bytes,
            dump.manifest.get().expect("a good dump has its manifest"),
        )),
        Err(e) => {
            assert!(
                dump.manifest.get().is_none(),
                "a failed dump stored a manifest"
            );
            let inner = e.into_inner().expect("the error carries a DbError");
            Err(*inner.downcast::<DbError>().expect("the error is a DbError"))
        }
    }
}

/// A directory of fake client tools: shell scripts with the given names.
pub fn fake_tools(tools: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, script) in tools {
        write_script(&dir.path().join(name), script);
    }
    dir
}

pub fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A reader that yields `bytes`, then fails (a dump that breaks half-way).
pub struct FailingReader {
    pub bytes: std::io::Cursor<Vec<u8>>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.bytes.read(buf)? {
            0 => Err(std::io::Error::other("the repository went away")),
            n => Ok(n),
        }
    }
}

/// The dump's text without PostgreSQL's per-night `\restrict` lines.
pub fn without_restrict_lines(dump: &[u8]) -> String {
    String::from_utf8_lossy(dump)
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}
