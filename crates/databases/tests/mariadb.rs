//! MariaDB against a real server (scripts/db-server), its password passed
//! through `password_env` or `password_file`: a dump restored into a new
//! database verifies and holds the same rows (and its view and trigger);
//! dumps of an unchanged database are the same bytes; an existing database
//! is never silently replaced; a restore that fails half-way leaves nothing
//! that verifies; a wrong password, a failing tool, a down server and a
//! shrunken dump fail loudly, and no message shows the password.
//!
//! Needs REPRISE_TEST_MARIADB_HOST, _PORT, _USER and _PASSWORD
//! (scripts/test-all sets them); without them every test fails, unless
//! REPRISE_TEST_SKIP_DB=1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reprise_databases::{Connection, DbError, DumpManifest, DumpOptions, Engine, MariaDb, Replace};

/// Awkward values (newlines, tabs, quotes, backslashes, unicode, NULLs,
/// binary, a row longer than what the statistics keep of a line), an empty
/// table, a quoted mixed-case name, a view and a trigger.
const SETUP: &str = r#"
CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100), note MEDIUMTEXT, photo BLOB, born DATE)
  DEFAULT CHARSET=utf8mb4;
INSERT INTO people VALUES
  (1, 'Zoé Lefèvre', 'line1\nline2\ttab \'quote\' "double" back\\slash', X'00ff0a5c', '1980-02-29'),
  (2, NULL, NULL, NULL, NULL),
  (3, '日本語 ✓', '\\.', X'', '2000-01-01'),
  (4, 'long', REPEAT('a line longer than the parser keeps ', 3000), NULL, NULL);
CREATE TABLE empty_one (x INT);
CREATE TABLE `Invoices` (n INT AUTO_INCREMENT PRIMARY KEY, amount DECIMAL(10,2));
INSERT INTO `Invoices` (amount) SELECT seq * 1.5 FROM seq_1_to_200;
CREATE VIEW adults AS SELECT id, name FROM people WHERE born < '2000-01-01';
CREATE TRIGGER stamp BEFORE INSERT ON empty_one FOR EACH ROW SET NEW.x = NEW.x + 1;
"#;

/// A digest of every row of the test tables, to compare two databases.
const CONTENT: &str = "SELECT CONCAT(\
    (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, COALESCE(name, '-'), COALESCE(note, '-'), \
        COALESCE(HEX(photo), '-'), COALESCE(born, '-')) ORDER BY id SEPARATOR ',')) FROM people), \
    (SELECT MD5(GROUP_CONCAT(CONCAT(n, ':', amount) ORDER BY n)) FROM `Invoices`))";

fn make_database(engine: &MariaDb, name: &str) {
    engine
        .restore(name, &mut SETUP.as_bytes(), Replace::Never)
        .unwrap();
}

#[test]
fn round_trip_verifies_and_keeps_every_value() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let (source, copy) = (unique_name("my_src"), unique_name("my_copy"));
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
    assert_eq!(tables, [("Invoices", 200), ("empty_one", 0), ("people", 4)]);
    assert_eq!(manifest.engine, "mariadb");
    assert!(
        manifest.tool.starts_with("MariaDB dump"),
        "{}",
        manifest.tool
    );

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
            .query_scalar(&copy, "SELECT COUNT(*) FROM adults")
            .unwrap(),
        "1"
    );
    engine
        .query_scalar(&copy, "INSERT INTO empty_one VALUES (41)")
        .unwrap();
    assert_eq!(
        engine
            .query_scalar(&copy, "SELECT x FROM empty_one")
            .unwrap(),
        "42"
    );
    let listed = engine.list_databases().unwrap();
    assert!(
        listed.contains(&source) && listed.contains(&copy),
        "{listed:?}"
    );
    assert!(!listed
        .iter()
        .any(|d| d == "mysql" || d == "information_schema"));
}

#[test]
fn a_password_file_works_and_a_wrong_password_is_never_shown() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let password = std::env::var("REPRISE_TEST_MARIADB_PASSWORD").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\nsecond line ignored\n")).unwrap();
    let with_file = MariaDb::new(Connection {
        password_env: None,
        password_file: Some(file.clone()),
        ..server.clone()
    });
    with_file.ping().unwrap();

    let wrong = "Wr0ng-Pa55word-xyz";
    std::fs::write(&file, format!("{wrong}\n")).unwrap();
    let error = with_file.ping().unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DbError::ToolFailed { .. }), "{message}");
    assert!(message.contains("Access denied"), "{message}");
    assert!(!message.contains(wrong), "{message}");
    let error = read_dump(with_file.dump("mysql", &DumpOptions::default()).unwrap()).unwrap_err();
    assert!(!error.to_string().contains(wrong), "{error}");

    let unset = MariaDb::new(Connection {
        password_env: Some("REPRISE_TEST_NO_SUCH_VARIABLE".into()),
        ..server
    });
    let error = unset.ping().unwrap_err().to_string();
    assert!(error.contains("REPRISE_TEST_NO_SUCH_VARIABLE"), "{error}");
}

#[test]
fn dumps_of_an_unchanged_database_are_identical() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let source = unique_name("my_same");
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone()],
    };
    make_database(&engine, &source);
    let (first, _) = read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let (second, _) = read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    assert!(first == second, "two dumps of an unchanged database differ");
}

#[test]
fn an_existing_database_is_replaced_only_when_asked() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let (source, copy) = (unique_name("my_src"), unique_name("my_copy"));
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
            &mut "CREATE TABLE other (y INT);".as_bytes(),
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
            .query_scalar(&copy, "SELECT COUNT(*) FROM other")
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
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let names: Vec<String> = (0..4).map(|_| unique_name("my_half")).collect();
    let _cleanup = Cleanup {
        engine: &engine,
        databases: names.clone(),
    };
    make_database(&engine, &names[0]);
    let (bytes, manifest) =
        read_dump(engine.dump(&names[0], &DumpOptions::default()).unwrap()).unwrap();

    // An SQL error at the very end, after every table was loaded.
    let mut broken = bytes.clone();
    broken.extend_from_slice(b"SELECT * FROM no_such_table;\n");
    let failed = engine.restore(&names[1], &mut broken.as_slice(), Replace::Never);
    assert!(
        matches!(&failed, Err(DbError::ToolFailed { stderr, .. }) if stderr.contains("no_such_table")),
        "{failed:?}"
    );
    assert_not_verified(&engine, &names[1], &manifest);

    // The dump cut in the middle.
    let cut = bytes.len() * 3 / 4;
    let result = engine.restore(&names[2], &mut &bytes[..cut], Replace::Never);
    assert!(result.is_err() || !engine.verify(&names[2], &manifest).unwrap().verified());

    // The dump's reader fails half-way.
    let mut failing = FailingReader {
        bytes: std::io::Cursor::new(bytes[..bytes.len() / 2].to_vec()),
    };
    assert!(engine
        .restore(&names[3], &mut failing, Replace::Never)
        .is_err());
    assert_not_verified(&engine, &names[3], &manifest);
}

fn assert_not_verified(engine: &MariaDb, database: &str, manifest: &DumpManifest) {
    if engine.exists(database).unwrap() {
        assert!(!engine.verify(database, manifest).unwrap().verified());
    }
}

#[test]
fn dumping_an_unknown_database_fails_with_the_tools_message() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let missing = unique_name("my_nothing");
    let error = read_dump(engine.dump(&missing, &DumpOptions::default()).unwrap()).unwrap_err();
    match error {
        DbError::ToolFailed { tool, stderr, .. } => {
            assert_eq!(tool, "mariadb-dump");
            assert!(stderr.contains("Unknown database"), "{stderr}");
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
    let engine = MariaDb::new(Connection {
        host: Some("127.0.0.1".into()),
        port: Some(closed_port()),
        user: Some("root".into()),
        ..Connection::default()
    });
    let error = read_dump(engine.dump("anything", &DumpOptions::default()).unwrap()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { stderr, .. } if stderr.contains("Can't connect")),
        "{error}"
    );
    let error = engine
        .restore("anything", &mut "SELECT 1;".as_bytes(), Replace::Never)
        .unwrap_err();
    assert!(matches!(error, DbError::ToolFailed { .. }), "{error}");
}

#[test]
fn a_dump_much_smaller_than_the_previous_one_fails() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let source = unique_name("my_shrunk");
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone()],
    };
    make_database(&engine, &source);
    let (bytes, _) = read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let options = DumpOptions {
        previous_bytes: Some(bytes.len() as u64 * 10),
        min_fraction: Some(0.8),
    };
    let error = read_dump(engine.dump(&source, &options).unwrap()).unwrap_err();
    assert!(
        matches!(error, DbError::Shrunk { percent: 80, .. }),
        "{error}"
    );
}

#[test]
fn system_databases_are_never_dropped() {
    let engine = MariaDb::new(Connection::default());
    for name in ["mysql", "information_schema", "performance_schema", "sys"] {
        assert!(matches!(
            engine.drop_database(name),
            Err(DbError::Invalid(_))
        ));
    }
}
