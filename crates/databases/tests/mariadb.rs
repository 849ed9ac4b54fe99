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

/// Rows that could fool a rewriter of `INSERT`s: statement and tuple
/// punctuation, quotes, backslashes, newlines and emoji inside strings,
/// binary values and NULLs, a row longer than a merged statement may be, a
/// table named with a backquote, a space and a semicolon, many rows on
/// both sides of other statements, and a routine whose body has one-row
/// `INSERT` lines that must stay as they are.
const HOSTILE: &str = r#"
SET NAMES utf8mb4;
CREATE TABLE `we``ird tab;le (x)` (id INT PRIMARY KEY, s MEDIUMTEXT, b LONGBLOB)
  DEFAULT CHARSET=utf8mb4;
INSERT INTO `we``ird tab;le (x)` VALUES
  (1, '),(', X'00'), (2, ');', NULL), (3, 'a\nb\r\tc\0d', X'0a0d'),
  (4, 'it''s "q" \\ back\\', X'5c27225c'), (5, '😀 Zoé ✓', X''), (6, NULL, X'00ff00ff'),
  (7, REPEAT('x),(\n', 300000), X'1a');
INSERT INTO `we``ird tab;le (x)`
  SELECT seq + 100, CONCAT('row ', seq, ' ''),(''; \\'), UNHEX(HEX(seq)) FROM seq_1_to_3000;
CREATE TABLE plain (n INT PRIMARY KEY);
INSERT INTO plain SELECT seq FROM seq_1_to_3000;
DELIMITER ;;
CREATE PROCEDURE refill() BEGIN
INSERT INTO `plain` VALUES (-1);
INSERT INTO `plain` VALUES (-2);
END;;
DELIMITER ;
"#;

/// A digest of every row of the hostile tables (row by row: one long row
/// would not fit in GROUP_CONCAT's default length), and of the routine's
/// body.
const HOSTILE_CONTENT: &str = "SELECT CONCAT(\
    (SELECT MD5(GROUP_CONCAT(MD5(CONCAT_WS('|', id, COALESCE(s, '-'), COALESCE(HEX(b), '-'))) \
        ORDER BY id)) FROM `we``ird tab;le (x)`), \
    (SELECT MD5(GROUP_CONCAT(n ORDER BY n)) FROM plain), \
    (SELECT MD5(ROUTINE_DEFINITION) FROM information_schema.ROUTINES \
        WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'refill'))";

#[test]
fn hostile_rows_load_as_multi_row_inserts_and_verify() {
    let Some(server) = mariadb_server() else {
        return;
    };
    let engine = MariaDb::new(server);
    let (source, copy) = (unique_name("my_hostile"), unique_name("my_hostile_copy"));
    let _cleanup = Cleanup {
        engine: &engine,
        databases: vec![source.clone(), copy.clone()],
    };
    engine
        .restore(&source, &mut HOSTILE.as_bytes(), Replace::Never)
        .unwrap();
    let (mut bytes, manifest) =
        read_dump(engine.dump(&source, &DumpOptions::default()).unwrap()).unwrap();
    let rows: Vec<_> = manifest.tables.iter().map(|t| t.rows).collect();
    assert_eq!(rows, [3000, 3007]);

    // The restoring session counts its INSERT statements into a table; the
    // dump's last line then has no newline.
    bytes.extend_from_slice(
        b"CREATE TABLE restore_inserts AS SELECT VARIABLE_VALUE AS n \
          FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_INSERT';",
    );
    engine
        .restore(&copy, &mut bytes.as_slice(), Replace::Never)
        .unwrap();
    let inserts: u64 = engine
        .query_scalar(&copy, "SELECT n FROM restore_inserts")
        .unwrap()
        .parse()
        .unwrap();
    // 6007 one-row INSERT lines: merged, a few statements of up to 1 MiB,
    // the long row alone.
    assert!(inserts <= 10, "{inserts} INSERT statements for 6007 rows");
    engine
        .query_scalar(&copy, "DROP TABLE restore_inserts")
        .unwrap();

    let verification = engine.verify(&copy, &manifest).unwrap();
    assert!(verification.verified(), "{:?}", verification.mismatches);
    assert_eq!(
        engine.query_scalar(&copy, HOSTILE_CONTENT).unwrap(),
        engine.query_scalar(&source, HOSTILE_CONTENT).unwrap()
    );
}
