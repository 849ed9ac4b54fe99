//! PostgreSQL against a real server (scripts/db-server): a dump restored
//! into a new database verifies and holds the same rows; dumps of an
//! unchanged database are the same bytes; an existing database is never
//! silently replaced; a restore that fails or breaks half-way leaves
//! nothing that verifies; a missing tool, a failing tool, a down server and
//! a shrunken dump fail loudly.
//!
//! Needs REPRISE_TEST_PG_HOST and REPRISE_TEST_PG_PORT (scripts/test-all
//! sets them); without them every test fails, unless REPRISE_TEST_SKIP_DB=1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reprise_databases::{Connection, DbError, DumpOptions, Engine, Postgres, Replace};

/// Every kind of awkward value: newlines, tabs, quotes, backslashes, a
/// lone `\.` (COPY's end marker), unicode, NULLs, bytea, a row longer than
/// what the statistics keep of a line; an empty table; a schema and a
/// quoted mixed-case name.
const SETUP: &str = r#"
CREATE TABLE people (id int PRIMARY KEY, name text, note text, photo bytea, born date);
INSERT INTO people VALUES
  (1, 'Zoé Lefèvre', E'line1\nline2\ttab ''quote'' "double" back\\slash', '\x00ff0a5c', '1980-02-29'),
  (2, NULL, NULL, NULL, NULL),
  (3, '日本語 ✓', E'\\.', '\x', '2000-01-01'),
  (4, 'long', repeat('a line longer than the parser keeps ', 3000), NULL, NULL);
CREATE TABLE empty_one (x int);
CREATE SCHEMA finance;
CREATE TABLE finance."Invoices" (n serial PRIMARY KEY, amount numeric(10,2));
INSERT INTO finance."Invoices" (amount) SELECT g * 1.5 FROM generate_series(1, 200) g;
"#;

/// A digest of every row of the test tables, to compare two databases.
const CONTENT: &str = "SELECT md5(string_agg(p::text, ',' ORDER BY id)) || \
    (SELECT md5(string_agg(i::text, ',' ORDER BY n)) FROM finance.\"Invoices\" i) FROM people p";

fn make_database(engine: &Postgres, name: &str) {
    engine
        .restore(name, &mut SETUP.as_bytes(), Replace::Never)
        .unwrap();
}

#[test]
fn round_trip_verifies_and_keeps_every_value() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let (source, copy) = (unique_name("pg_src"), unique_name("pg_copy"));
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone(), copy.clone()],
    };
    make_database(&engine, &source);

    let (bytes, manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let tables: Vec<_> = manifest
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    assert_eq!(
        tables,
        [
            ("finance.\"Invoices\"", 200),
            ("public.empty_one", 0),
            ("public.people", 4)
        ]
    );
    assert_eq!(manifest.engine, "postgres");
    assert_eq!(manifest.bytes, bytes.len() as u64);
    assert!(manifest.tool.starts_with("pg_dump"), "{}", manifest.tool);

    engine
        .restore(&copy, &mut bytes.as_slice(), Replace::Never)
        .unwrap();
    let verification = engine.verify(&copy, &manifest).unwrap();
    assert!(verification.verified(), "{:?}", verification.mismatches);
    assert_eq!(verification.matching.len(), 3);
    assert_eq!(
        engine.query_scalar(&copy, CONTENT).unwrap(),
        engine.query_scalar(&source, CONTENT).unwrap()
    );
    assert_eq!(
        engine
            .query_scalar(&copy, "SELECT note FROM people WHERE id = 1")
            .unwrap(),
        "line1\nline2\ttab 'quote' \"double\" back\\slash"
    );
    let listed = engine.list_databases().unwrap();
    assert!(
        listed.contains(&source) && listed.contains(&copy),
        "{listed:?}"
    );
    assert!(!listed
        .iter()
        .any(|d| d == "postgres" || d.starts_with("template")));
}

#[test]
fn a_changed_row_fails_verification() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let (source, copy) = (unique_name("pg_src"), unique_name("pg_copy"));
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone(), copy.clone()],
    };
    make_database(&engine, &source);
    let (bytes, manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    engine
        .restore(&copy, &mut bytes.as_slice(), Replace::Never)
        .unwrap();
    engine
        .query_scalar(
            &copy,
            "UPDATE people SET name = 'changed' WHERE id = 2; DROP TABLE empty_one",
        )
        .unwrap();
    let verification = engine.verify(&copy, &manifest).unwrap();
    assert!(!verification.verified());
    assert_eq!(
        verification.mismatches.len(),
        2,
        "{:?}",
        verification.mismatches
    );
}

#[test]
fn dumps_of_an_unchanged_database_differ_only_by_the_restrict_key() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let source = unique_name("pg_same");
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone()],
    };
    make_database(&engine, &source);
    let (first, first_manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let (second, second_manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    assert_eq!(
        without_restrict_lines(&first),
        without_restrict_lines(&second)
    );
    assert_eq!(first_manifest.tables, second_manifest.tables);
}

#[test]
fn an_existing_database_is_replaced_only_when_asked() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let (source, copy) = (unique_name("pg_src"), unique_name("pg_copy"));
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone(), copy.clone()],
    };
    make_database(&engine, &source);
    let (bytes, manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    engine
        .restore(
            &copy,
            &mut "CREATE TABLE other (y int);".as_bytes(),
            Replace::Never,
        )
        .unwrap();

    let refused = engine.restore(&copy, &mut bytes.as_slice(), Replace::Never);
    assert!(
        matches!(refused, Err(DbError::Exists { .. })),
        "{refused:?}"
    );
    assert_eq!(
        engine
            .query_scalar(&copy, "SELECT count(*) FROM other")
            .unwrap(),
        "0"
    );

    engine
        .restore(&copy, &mut bytes.as_slice(), Replace::Existing)
        .unwrap();
    assert!(engine.verify(&copy, &manifest).unwrap().verified());
}

#[test]
fn a_restore_that_fails_half_way_leaves_nothing_verified() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let names: Vec<String> = (0..4).map(|_| unique_name("pg_half")).collect();
    let _cleanup = Cleanup {
        engine: &engine,
        databases: names.clone(),
    };
    make_database(&engine, &names[0]);
    let (bytes, manifest) =
        read_dump(engine.dump(&names[0], &DumpOptions::default()).unwrap()).unwrap();

    // An SQL error at the very end: the single transaction rolls back.
    let mut broken = bytes.clone();
    broken.extend_from_slice(b"SELECT * FROM no_such_table;\n");
    let failed = engine.restore(&names[1], &mut broken.as_slice(), Replace::Never);
    assert!(
        matches!(&failed, Err(DbError::ToolFailed { stderr, .. }) if stderr.contains("no_such_table")),
        "{failed:?}"
    );
    assert_not_verified(&engine, &names[1], &manifest);

    // The dump cut in the middle of a COPY block.
    let cut = bytes.len() * 3 / 4;
    let result = engine.restore(&names[2], &mut &bytes[..cut], Replace::Never);
    assert!(result.is_err() || !engine.verify(&names[2], &manifest).unwrap().verified());

    // The dump's reader fails half-way: psql is killed before it could
    // commit what it had.
    let mut failing = FailingReader {
        bytes: std::io::Cursor::new(bytes[..bytes.len() / 2].to_vec()),
    };
    let failed = engine.restore(&names[3], &mut failing, Replace::Never);
    assert!(
        matches!(&failed, Err(DbError::Io { source, .. }) if source.to_string().contains("went away")),
        "{failed:?}"
    );
    assert_not_verified(&engine, &names[3], &manifest);
}

fn assert_not_verified(
    engine: &Postgres,
    database: &str,
    manifest: &reprise_databases::DumpManifest,
) {
    if engine.exists(database).unwrap() {
        assert!(!engine.verify(database, manifest).unwrap().verified());
    }
}

#[test]
fn a_missing_tool_names_the_package_and_the_directory() {
    let empty = tempfile::tempdir().unwrap();
    let engine = Postgres::new(Connection {
        bin_dir: Some(empty.path().to_path_buf()),
        ..Connection::default()
    });
    let error = engine.dump("x", &DumpOptions::default()).err().unwrap();
    let message = error.to_string();
    assert!(matches!(error, DbError::ToolMissing { .. }), "{message}");
    assert!(message.contains("postgresql-client"), "{message}");
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    assert!(matches!(engine.ping(), Err(DbError::ToolMissing { .. })));
}

#[test]
fn dumping_an_unknown_database_fails_with_the_tools_message() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let missing = unique_name("pg_nothing");
    let error = read_dump(engine.dump(&missing, &DumpOptions::default()).unwrap()).unwrap_err();
    match error {
        DbError::ToolFailed {
            tool,
            stderr,
            status,
            ..
        } => {
            assert_eq!(tool, "pg_dump");
            assert!(stderr.contains("does not exist"), "{stderr}");
            assert!(status.contains("exit status"), "{status}");
        }
        other => panic!("{other}"),
    }
    assert!(!engine.exists(&missing).unwrap());
}

#[test]
fn a_server_that_is_down_fails_dump_and_restore() {
    if skip_db() {
        return;
    }
    let engine = Postgres::new(Connection {
        host: Some("127.0.0.1".into()),
        port: Some(closed_port()),
        user: Some("postgres".into()),
        bin_dir: pg_bin(),
        ..Connection::default()
    });
    let error = read_dump(engine.dump("anything", &DumpOptions::default()).unwrap()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { stderr, .. } if stderr.contains("refused")),
        "{error}"
    );
    let error = engine
        .restore("anything", &mut "SELECT 1;".as_bytes(), Replace::Never)
        .unwrap_err();
    assert!(matches!(error, DbError::ToolFailed { .. }), "{error}");
    assert!(engine.ping().is_err());
}

#[test]
fn a_dump_much_smaller_than_the_previous_one_fails() {
    let Some(server) = pg_server() else { return };
    let engine = Postgres::new(server);
    let source = unique_name("pg_shrunk");
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone()],
    };
    make_database(&engine, &source);
    let (bytes, _) = read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let size = bytes.len() as u64;

    let shrunk = DumpOptions {
        previous_bytes: Some(size * 3),
        min_fraction: None,
    };
    let error = read_dump(engine.dump(&source, &shrunk).unwrap()).unwrap_err();
    assert!(
        matches!(error, DbError::Shrunk { bytes, previous, percent: 50, .. } if bytes == size && previous == size * 3),
        "{error}"
    );
    let grown = DumpOptions {
        previous_bytes: Some(size + size / 2),
        min_fraction: None,
    };
    read_dump(engine.dump(&source, &grown).unwrap()).unwrap();
}

#[test]
fn system_databases_are_never_dropped() {
    let engine = Postgres::new(Connection::default());
    for name in ["postgres", "template0", "template1"] {
        assert!(matches!(
            engine.drop_database(name),
            Err(DbError::Invalid(_))
        ));
    }
}
