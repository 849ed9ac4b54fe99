//! SQLite sources end to end on real database files: dump, restore into a
//! new file, verify against the manifest, and the failures a backup must
//! not hide (truncated dump, damaged file, shrunken dump, existing target).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reprise_databases::{DbError, DumpManifest, DumpOptions, Engine, Replace, Sqlite};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A database with every value kind and every kind of schema object.
fn fixture(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE kinds(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, anything);
         CREATE TABLE codes(code TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID;
         CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
         CREATE TABLE audit(what TEXT);
         CREATE TABLE empty(x);
         CREATE TABLE gen(a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL,
                          c TEXT GENERATED ALWAYS AS (a || 'x') STORED);
         CREATE TABLE \"odd \"\"name\"\"\"(v);
         CREATE TABLE plain(v);
         CREATE TABLE hides_rowid(rowid TEXT, v);
         INSERT INTO hides_rowid VALUES ('b', 2), ('a', 1);
         CREATE TABLE hides_all(rowid, _rowid_, oid);
         INSERT INTO hides_all VALUES (3, 2, 1), (1, 2, 3), (1, 1, 1);
         CREATE TABLE lines(t);
         INSERT INTO lines VALUES (char(10)), (char(10, 10)), ('end' || char(13)), (char(13) || 'start'), ('');",
    )
    .unwrap();
    let mut insert = conn
        .prepare("INSERT INTO kinds(i, r, t, b, anything) VALUES (?1, ?2, ?3, ?4, ?5)")
        .unwrap();
    insert
        .execute(params![
            i64::MIN,
            0.1,
            "it's\nline two\r\nend",
            vec![0u8, 1, 255],
            Value::Null
        ])
        .unwrap();
    insert
        .execute(params![
            i64::MAX,
            1e308,
            "unicode é 漢字 🎉",
            Vec::<u8>::new(),
            -0.0f64
        ])
        .unwrap();
    insert
        .execute(params![0, -0.0f64, "", vec![0u8], 1e-300])
        .unwrap();
    insert
        .execute(params![
            Value::Null,
            f64::INFINITY,
            "'';--",
            vec![39u8],
            f64::NEG_INFINITY
        ])
        .unwrap();
    insert
        .execute(params![
            -1,
            f64::NAN,
            "tab\there",
            Value::Null,
            0.30000000000000004
        ])
        .unwrap();
    insert
        .execute(params![42, 1.5e-7, Value::Null, Value::Null, "12"])
        .unwrap();
    conn.execute_batch(
        "INSERT INTO kinds(t, anything) VALUES (CAST(X'fffe41' AS TEXT), 'a' || char(0) || 'b');
         INSERT INTO codes VALUES ('z', 'last'), ('a', 'first'), ('m', 'middle');
         INSERT INTO events(what) VALUES ('one'), ('two'), ('three');
         DELETE FROM events WHERE what = 'three';
         INSERT INTO gen(a) VALUES (1), (NULL), (3);
         INSERT INTO \"odd \"\"name\"\"\" VALUES ('x');
         INSERT INTO plain VALUES (3), (1), (2);
         DELETE FROM plain WHERE v = 1;
         CREATE INDEX kinds_t ON kinds(t);
         CREATE VIEW named AS SELECT code, label FROM codes;
         CREATE TRIGGER events_audit AFTER INSERT ON events
         BEGIN
             INSERT INTO audit(what) VALUES ('added; ' || NEW.what);
         END;",
    )
    .unwrap();
}

/// Every table's rows (rowid or key order), with reals by their bits so
/// that -0.0 and 0.0 differ.
fn contents(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let conn = Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let quoted = format!("\"{}\"", table.replace('"', "\"\""));
            let width = conn
                .prepare(&format!("SELECT * FROM {quoted}"))
                .unwrap()
                .column_count();
            let order = (1..=width)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let mut statement = conn
                .prepare(&format!("SELECT * FROM {quoted} ORDER BY {order}"))
                .unwrap();
            let rows = statement
                .query_map([], |row| {
                    Ok((0..width)
                        .map(|i| match row.get_ref(i).unwrap() {
                            ValueRef::Real(r) => format!("real {:#x}", r.to_bits()),
                            ValueRef::Text(t) => format!("text {t:?}"),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>())
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (table, rows)
        })
        .collect()
}

fn schema(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = Connection::open(path).unwrap();
    let rows = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

fn dump(path: &Path) -> (Vec<u8>, DumpManifest) {
    dump_with(path, &DumpOptions::default()).unwrap()
}

fn dump_with(path: &Path, options: &DumpOptions) -> Result<(Vec<u8>, DumpManifest), String> {
    let mut dump = Sqlite::new()
        .dump(path_str(path), options)
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    dump.reader
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let manifest = dump.manifest.get().expect("a manifest after a good end");
    Ok((bytes, manifest))
}

fn restore(bytes: &[u8], target: &Path, replace: Replace) -> Result<(), DbError> {
    Sqlite::new().restore(path_str(target), &mut &bytes[..], replace)
}

/// Files in `dir` other than `keep`: what a failed restore left behind.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

#[test]
fn round_trip_keeps_every_value_and_schema_object_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("restored.db"));
    fixture(&source);
    let (bytes, manifest) = dump(&source);

    assert_eq!(manifest.engine, "sqlite");
    assert!(manifest.tool.starts_with("SQLite 3."), "{}", manifest.tool);
    assert_eq!(manifest.bytes, bytes.len() as u64);
    let names: Vec<&str> = manifest.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(
        names,
        [
            "audit",
            "codes",
            "empty",
            "events",
            "gen",
            "hides_all",
            "hides_rowid",
            "kinds",
            "lines",
            "odd \"name\"",
            "plain",
            "sqlite_sequence"
        ]
    );
    let rows = |name: &str| {
        manifest
            .tables
            .iter()
            .find(|t| t.table == name)
            .unwrap()
            .rows
    };
    assert_eq!((rows("kinds"), rows("empty"), rows("codes")), (7, 0, 3));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"));
    assert!(text.ends_with("COMMIT;\n"));
    assert!(text.contains("INSERT INTO \"kinds\" VALUES(1,-9223372036854775808,0.1,'it''s'||char(10)||'line two'||char(13)||char(10)||'end',X'0001ff',NULL);\n"),
        "{text}"
    );
    assert!(
        text.contains("9e999") && text.contains("CAST(X'fffe41' AS TEXT)"),
        "{text}"
    );
    assert!(
        text.contains(
            "DELETE FROM sqlite_sequence;\nINSERT INTO sqlite_sequence VALUES('events',3);\n"
        ),
        "{text}"
    );

    restore(&bytes, &target, Replace::Never).unwrap();
    let verification = Sqlite::new().verify(path_str(&target), &manifest).unwrap();
    assert!(verification.verified(), "{:?}", verification.mismatches);
    assert_eq!(verification.matching.len(), manifest.tables.len());
    assert_eq!(contents(&target), contents(&source));
    assert_eq!(schema(&target), schema(&source));

    // The restored database behaves like the original: the trigger fires,
    // the AUTOINCREMENT counter goes on from 3, generated columns compute.
    for path in [&source, &target] {
        let conn = Connection::open(path).unwrap();
        conn.execute("INSERT INTO events(what) VALUES ('four')", [])
            .unwrap();
        let id: i64 = conn
            .query_row("SELECT max(id) FROM events", [], |r| r.get(0))
            .unwrap();
        let audit: String = conn
            .query_row(
                "SELECT what FROM audit ORDER BY rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let generated: String = conn
            .query_row("SELECT b || c FROM gen WHERE a = 3", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (id, audit.as_str(), generated.as_str()),
            (4, "added; four", "63x")
        );
    }
}

#[test]
fn the_sqlite3_shell_loads_the_dump() {
    let Ok(status) = Command::new("sqlite3")
        .arg("-version")
        .stdout(Stdio::null())
        .status()
    else {
        eprintln!("sqlite3 is not installed: skipping the shell check");
        return;
    };
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("by-shell.db"));
    fixture(&source);
    let (bytes, manifest) = dump(&source);
    let dump_file = dir.path().join("dump.sql");
    std::fs::write(&dump_file, &bytes).unwrap();
    let output = Command::new("sqlite3")
        .arg("-bail")
        .arg(&target)
        .stdin(std::fs::File::open(&dump_file).unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(contents(&target), contents(&source));
    let verification = Sqlite::new().verify(path_str(&target), &manifest).unwrap();
    assert!(verification.verified(), "{:?}", verification.mismatches);
}

#[test]
fn the_same_database_dumps_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("town.db");
    fixture(&source);
    let (first, first_manifest) = dump(&source);
    let (second, second_manifest) = dump(&source);
    assert_eq!(first, second);
    assert_eq!(first_manifest, second_manifest);
    // And the restored copy dumps to the same bytes as its original.
    let target = dir.path().join("restored.db");
    restore(&first, &target, Replace::Never).unwrap();
    assert_eq!(dump(&target).0, first);
}

/// Two tables that a writer always changes together: a dump that read
/// them at different moments would break `count(a) = count(b)`.
#[test]
fn a_dump_is_one_snapshot_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("busy.db"), dir.path().join("restored.db"));
    let writer = Connection::open(&source).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE a(n INTEGER PRIMARY KEY, pad TEXT);
             CREATE TABLE b(n INTEGER PRIMARY KEY, pad TEXT);
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 4000)
             INSERT INTO a SELECT n, printf('%.60c', 'a') FROM s;
             INSERT INTO b SELECT * FROM a;",
        )
        .unwrap();
    let mut dump = Sqlite::new()
        .dump(path_str(&source), &DumpOptions::default())
        .unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    // The dump thread is held back by the pipe while the writer commits
    // between reads: writes land while the dump is in the middle of `a`.
    for round in 0..10 {
        let n = dump.reader.read(&mut chunk).unwrap();
        bytes.extend_from_slice(&chunk[..n]);
        writer
            .execute_batch(&format!(
                "BEGIN; INSERT INTO a VALUES ({0}, 'new'); INSERT INTO b VALUES ({0}, 'new');
                 DELETE FROM a WHERE n = {1}; DELETE FROM b WHERE n = {1}; COMMIT;",
                10_000 + round,
                3000 + round
            ))
            .unwrap();
    }
    dump.reader.read_to_end(&mut bytes).unwrap();
    let manifest = dump.manifest.get().unwrap();
    restore(&bytes, &target, Replace::Never).unwrap();
    let conn = Connection::open(&target).unwrap();
    let counts: (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
                    (SELECT count(*) FROM a JOIN b USING (n))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(counts, (4000, 4000, 4000));
    assert!(Sqlite::new()
        .verify(path_str(&target), &manifest)
        .unwrap()
        .verified());
}

/// A backup that stops reading (the repository failed, the user pressed
/// Ctrl-C) must not leave the database locked behind it.
#[test]
fn dropping_a_dump_midway_releases_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("busy.db");
    let conn = Connection::open(&source).unwrap();
    conn.execute_batch(
        "CREATE TABLE a(n INTEGER PRIMARY KEY, pad TEXT);
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 4000)
         INSERT INTO a SELECT n, printf('%.60c', 'a') FROM s;",
    )
    .unwrap();
    let mut dump = Sqlite::new()
        .dump(path_str(&source), &DumpOptions::default())
        .unwrap();
    let mut chunk = [0u8; 4096];
    assert_eq!(dump.reader.read(&mut chunk).unwrap(), chunk.len());
    // In rollback-journal mode the dump's read transaction blocks writers
    // until the dump thread notices nobody reads and closes it.
    drop(dump);
    conn.busy_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    conn.execute("DELETE FROM a", []).unwrap();
}

/// A writer in the middle of a commit holds the file's lock: the dump
/// waits for it (up to its busy timeout), then fails naming the file.
#[test]
fn a_dump_waits_for_a_writer_holding_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("locked.db");
    let conn = Connection::open(&source).unwrap();
    conn.execute_batch("CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        .unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);")
        .unwrap();

    let impatient = Sqlite::new().with_busy_timeout(std::time::Duration::from_millis(100));
    let error = impatient
        .dump(path_str(&source), &DumpOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains(path_str(&source)) && error.contains("locked"),
        "{error}"
    );

    let (locked, released) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        locked.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        conn.execute_batch("COMMIT").unwrap();
    });
    released.recv().unwrap();
    let (bytes, manifest) = dump(&source);
    writer.join().unwrap();
    assert!(String::from_utf8(bytes).unwrap().contains("VALUES(2);"));
    assert_eq!(manifest.tables[0].rows, 2);
}

#[test]
fn restore_refuses_an_existing_file_and_replaces_it_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("existing.db"));
    fixture(&source);
    let (bytes, manifest) = dump(&source);
    std::fs::write(&target, b"precious").unwrap();

    let refused = restore(&bytes, &target, Replace::Never).unwrap_err();
    assert!(matches!(refused, DbError::Exists { .. }), "{refused}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");

    restore(&bytes, &target, Replace::Existing).unwrap();
    assert!(Sqlite::new()
        .verify(path_str(&target), &manifest)
        .unwrap()
        .verified());
    assert_eq!(
        leftovers(dir.path(), &["town.db", "existing.db"]),
        Vec::<String>::new()
    );
}

/// The old database's write-ahead log or rollback journal, left beside it
/// by a crash, must not be replayed into the restored file.
#[test]
fn restore_removes_the_companions_of_the_database_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("crashed.db"));
    fixture(&source);
    let (bytes, manifest) = dump(&source);
    let running = dir.path().join("running.db");
    let conn = Connection::open(&running).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
         CREATE TABLE codes(code TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID;
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)
         INSERT INTO codes SELECT 'c' || n, printf('%.200c', 'w') FROM s;",
    )
    .unwrap();
    // A copy taken while the log holds committed pages: a crashed server.
    std::fs::copy(&running, &target).unwrap();
    std::fs::copy(
        dir.path().join("running.db-wal"),
        dir.path().join("crashed.db-wal"),
    )
    .unwrap();
    drop(conn);
    std::fs::write(dir.path().join("crashed.db-journal"), b"stale").unwrap();

    restore(&bytes, &target, Replace::Existing).unwrap();
    let verification = Sqlite::new().verify(path_str(&target), &manifest).unwrap();
    assert!(verification.verified(), "{:?}", verification.mismatches);
    assert_eq!(contents(&target), contents(&source));
}

#[test]
fn restore_replaces_a_symbolic_link_without_following_it() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("link.db"));
    let elsewhere = dir.path().join("elsewhere");
    fixture(&source);
    let (bytes, _) = dump(&source);
    std::fs::write(&elsewhere, b"not to be touched").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &target).unwrap();

    assert!(matches!(
        restore(&bytes, &target, Replace::Never),
        Err(DbError::Exists { .. })
    ));
    restore(&bytes, &target, Replace::Existing).unwrap();
    assert!(!std::fs::symlink_metadata(&target)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"not to be touched");
}

#[test]
fn a_truncated_dump_fails_and_leaves_nothing_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("restored.db"));
    fixture(&source);
    let (bytes, _) = dump(&source);
    let without_commit = &bytes[..bytes.len() - "COMMIT;\n".len()];
    let mid_line = &bytes[..bytes.len() / 2 + 3];
    let mid_schema = &bytes[..bytes
        .windows(8)
        .position(|w| w == b"BEGIN\n  ")
        .unwrap_or(0)
        .max(60)];
    for cut in [without_commit, mid_line, mid_schema] {
        let error = restore(cut, &target, Replace::Never)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("truncated") && error.contains("restored.db"),
            "{error}"
        );
        assert_eq!(leftovers(dir.path(), &["town.db"]), Vec::<String>::new());
    }
    // Over an existing database the old one stays as it was.
    std::fs::write(&target, b"yesterday").unwrap();
    assert!(restore(mid_line, &target, Replace::Existing).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"yesterday");
    assert_eq!(
        leftovers(dir.path(), &["town.db", "restored.db"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_statement_that_fails_stops_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("restored.db");
    let dump = b"BEGIN TRANSACTION;\nCREATE TABLE t(x UNIQUE);\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(1);\nCOMMIT;\n";
    let error = restore(dump, &target, Replace::Never)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 4") && error.contains("UNIQUE"),
        "{error}"
    );
    assert_eq!(leftovers(dir.path(), &[]), Vec::<String>::new());
}

fn dump_error(path: &Path) -> String {
    dump_with(path, &DumpOptions::default()).unwrap_err()
}

#[test]
fn a_missing_foreign_or_damaged_file_fails_the_dump_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let error = dump_error(&missing);
    assert!(
        error.contains(path_str(&missing)) && error.contains("no such file"),
        "{error}"
    );
    assert!(!missing.exists(), "a dump must not create the file");

    let foreign = dir.path().join("notes.db");
    std::fs::write(&foreign, "minutes of the council meeting\n".repeat(200)).unwrap();
    let error = dump_error(&foreign);
    assert!(
        error.contains(path_str(&foreign)) && error.contains("not an SQLite database"),
        "{error}"
    );

    let damaged = dir.path().join("damaged.db");
    {
        let conn = Connection::open(&damaged).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 4096;
             CREATE TABLE t(n, pad);
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 2000)
             INSERT INTO t SELECT n, printf('%.100c', 'x') FROM s;",
        )
        .unwrap();
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 4096 * 8);
    bytes[4096 * 2..4096 * 6].fill(0xa5);
    std::fs::write(&damaged, &bytes).unwrap();
    let error = dump_error(&damaged);
    assert!(
        error.contains(path_str(&damaged)) && error.contains("damaged"),
        "{error}"
    );
}

/// Full-text and R-tree indexes come back with their content, and the
/// `sqlite3` shell loads the same dump.
#[test]
fn virtual_tables_come_back_with_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("search.db");
    Connection::open(&source)
        .unwrap()
        .execute_batch(
            "CREATE VIRTUAL TABLE docs USING fts5(body);
             INSERT INTO docs VALUES ('council minutes'), ('town hall budget'), ('school canteen menu');
             CREATE VIRTUAL TABLE zones USING rtree(id, x0, x1);
             INSERT INTO zones VALUES (1, 0.5, 2.5), (2, 10, 20);
             CREATE TABLE plain(v);
             INSERT INTO plain VALUES ('x');",
        )
        .unwrap();
    let (bytes, manifest) = dump(&source);
    assert!(manifest
        .tables
        .iter()
        .any(|t| t.table == "docs_content" && t.rows == 3));
    let ask = |path: &Path| -> (i64, i64, String) {
        let conn = Connection::open(path).unwrap();
        let hit = conn
            .query_row(
                "SELECT rowid FROM docs WHERE docs MATCH 'budget'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let zone = conn
            .query_row(
                "SELECT id FROM zones WHERE x0 <= 15 AND x1 >= 15",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let integrity = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (hit, zone, integrity)
    };
    let mut targets = vec![dir.path().join("restored.db")];
    restore(&bytes, &targets[0], Replace::Never).unwrap();
    if Command::new("sqlite3")
        .arg("-version")
        .stdout(Stdio::null())
        .status()
        .is_ok()
    {
        let by_shell = dir.path().join("by-shell.db");
        let mut child = Command::new("sqlite3")
            .arg("-bail")
            .arg(&by_shell)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        targets.push(by_shell);
    }
    for target in &targets {
        assert_eq!(ask(target), (2, 2, "ok".to_string()));
        let verification = Sqlite::new().verify(path_str(target), &manifest).unwrap();
        assert!(verification.verified(), "{:?}", verification.mismatches);
        assert_eq!(dump(target).0, bytes);
    }
}

#[test]
fn a_shrunken_dump_fails_its_last_read() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("town.db");
    fixture(&source);
    let (bytes, _) = dump(&source);
    let options = DumpOptions {
        previous_bytes: Some(bytes.len() as u64 * 3),
        min_fraction: None,
    };
    let mut dump = Sqlite::new().dump(path_str(&source), &options).unwrap();
    let mut read = Vec::new();
    let error = dump.reader.read_to_end(&mut read).unwrap_err();
    assert!(
        matches!(
            error.get_ref().and_then(|e| e.downcast_ref::<DbError>()),
            Some(DbError::Shrunk { .. })
        ),
        "{error}"
    );
    assert!(dump.manifest.get().is_none());
    assert!(
        dump.reader.read(&mut [0u8; 16]).is_err(),
        "the failure is not forgotten"
    );
    // A previous size it is close to passes.
    let options = DumpOptions {
        previous_bytes: Some(bytes.len() as u64 + 10),
        min_fraction: Some(0.9),
    };
    assert!(dump_with(&source, &options).is_ok());
}

#[test]
fn verify_names_a_changed_row_a_missing_table_and_an_extra_one() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("town.db"), dir.path().join("restored.db"));
    fixture(&source);
    let (bytes, manifest) = dump(&source);
    restore(&bytes, &target, Replace::Never).unwrap();
    Connection::open(&target)
        .unwrap()
        .execute_batch(
            "UPDATE codes SET label = 'changed' WHERE code = 'm';
             DROP TABLE empty;
             DELETE FROM plain WHERE v = 2;
             CREATE TABLE stranger(x);",
        )
        .unwrap();
    let verification = Sqlite::new().verify(path_str(&target), &manifest).unwrap();
    assert!(!verification.verified());
    let mismatches = verification.mismatches.join("\n");
    assert!(
        mismatches.contains("table codes: same 3 rows but their content differs"),
        "{mismatches}"
    );
    assert!(
        mismatches.contains("table empty is missing"),
        "{mismatches}"
    );
    assert!(
        mismatches.contains("table plain: 1 rows, 2 at backup time"),
        "{mismatches}"
    );
    assert!(
        mismatches.contains("table stranger was not in the backup"),
        "{mismatches}"
    );
    assert!(verification.matching.contains(&"kinds".to_string()));
}

#[test]
fn health_checks_and_housekeeping() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("town.db");
    fixture(&source);
    let engine = Sqlite::new();
    let db = path_str(&source);
    engine.ping().unwrap();
    assert!(engine.list_databases().is_err());
    assert_eq!(
        engine
            .query_scalar(db, "SELECT count(*) FROM codes")
            .unwrap(),
        "3"
    );
    assert_eq!(
        engine
            .query_scalar(db, "SELECT label FROM codes WHERE code = 'a'")
            .unwrap(),
        "first"
    );
    assert_eq!(engine.query_scalar(db, "SELECT 1 WHERE 0").unwrap(), "");
    assert!(
        engine.query_scalar(db, "DELETE FROM codes").is_err(),
        "health checks are read-only"
    );
    assert!(engine.exists(db).unwrap());
    let wal: PathBuf = dir.path().join("town.db-wal");
    std::fs::write(&wal, b"").unwrap();
    engine.drop_database(db).unwrap();
    assert!(!engine.exists(db).unwrap() && !wal.exists());
    engine.drop_database(db).unwrap();
}
/// Copies of databases whose program crashed: the committed pages in a
/// write-ahead log are part of the dump; a hot rollback journal, which
/// only a writer may replay, fails the dump saying what to do.
#[test]
fn a_crashed_database_is_dumped_with_its_log_or_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let (running, crashed) = (dir.path().join("running.db"), dir.path().join("crashed.db"));
    let conn = Connection::open(&running).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
         CREATE TABLE codes(code TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID;
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)
         INSERT INTO codes SELECT 'c' || n, printf('%.200c', 'w') FROM s;",
    )
    .unwrap();
    std::fs::copy(&running, &crashed).unwrap();
    std::fs::copy(
        dir.path().join("running.db-wal"),
        dir.path().join("crashed.db-wal"),
    )
    .unwrap();
    let (_, manifest) = dump(&crashed);
    assert_eq!(manifest.tables[0].rows, 500);

    let (writing, hot) = (dir.path().join("writing.db"), dir.path().join("hot.db"));
    let conn = Connection::open(&writing).unwrap();
    // A one-page cache makes the open transaction spill into the file,
    // with the pages it overwrote in the journal.
    conn.execute_batch(
        "CREATE TABLE t(v); INSERT INTO t VALUES (1);
         PRAGMA cache_size=1; BEGIN;
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 5000)
         INSERT INTO t SELECT n FROM s;",
    )
    .unwrap();
    std::fs::copy(&writing, &hot).unwrap();
    std::fs::copy(
        dir.path().join("writing.db-journal"),
        dir.path().join("hot.db-journal"),
    )
    .unwrap();
    let error = dump_error(&hot);
    assert!(
        error.contains(path_str(&hot))
            && error.contains("journal")
            && error.contains("then try again"),
        "{error}"
    );
}

/// A relative path that looks like an SQLite URI is still a file name
/// (this SQLite is built to read `file:` names as URIs). The check runs in
/// a child process, which may change its working directory.
#[test]
fn a_relative_path_is_never_read_as_a_uri() {
    let dir = tempfile::tempdir().unwrap();
    fixture(&dir.path().join("town.db"));
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "relative_path_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("REPRISE_SQLITE_CHILD_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    let target = dir.path().join("file:restored.db?mode=memory");
    assert_eq!(contents(&target), contents(&dir.path().join("town.db")));
}

/// The child of [`a_relative_path_is_never_read_as_a_uri`]; does nothing
/// on its own.
#[test]
fn relative_path_child() {
    let Some(dir) = std::env::var_os("REPRISE_SQLITE_CHILD_DIR") else {
        return;
    };
    std::env::set_current_dir(dir).unwrap();
    let (bytes, manifest) = dump(Path::new("town.db"));
    let target = Path::new("file:restored.db?mode=memory");
    restore(&bytes, target, Replace::Never).unwrap();
    assert!(Sqlite::new()
        .verify(path_str(target), &manifest)
        .unwrap()
        .verified());
    assert_eq!(dump(target).0, bytes);
}
