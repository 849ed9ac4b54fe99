//! `command` sources: a program's output is the dump, under the same
//! supervision as the database tools, and a program takes it back; a
//! restore whose input breaks kills its program before it sees an end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reprise_databases::{CommandSource, DbError, DumpOptions};

fn source(dump: &str, restore: &str) -> CommandSource {
    let words = |script: &str| vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    CommandSource {
        dump: words(dump),
        restore: words(restore),
    }
}

#[test]
fn a_dump_goes_through_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("restored");
    let command = source(
        "printf 'dn: cn=mairie\\nou: etat-civil\\n'",
        &format!("cat > {}", out.display()),
    );
    let (bytes, manifest) = read_dump(command.dump(&DumpOptions::default()).unwrap()).unwrap();
    assert_eq!(bytes, b"dn: cn=mairie\nou: etat-civil\n");
    assert_eq!(manifest.engine, "command");
    assert_eq!(manifest.database, "sh");
    assert!(manifest.tables.is_empty());
    command.restore(&mut bytes.as_slice()).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn a_failing_dump_program_fails_the_dump() {
    let failing = source("echo partial; exit 3", "cat");
    let error = read_dump(failing.dump(&DumpOptions::default()).unwrap()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { status, .. } if status == "exit status 3"),
        "{error}"
    );
    let silent = source("true", "cat");
    let error = read_dump(silent.dump(&DumpOptions::default()).unwrap()).unwrap_err();
    assert!(matches!(error, DbError::EmptyDump { .. }), "{error}");
    let warning = source("echo data; echo 'disk quota' >&2", "cat");
    let error = read_dump(warning.dump(&DumpOptions::default()).unwrap()).unwrap_err();
    assert!(error.to_string().contains("disk quota"), "{error}");
}

#[test]
fn a_failing_restore_program_fails_with_its_message() {
    let command = source(
        "echo x",
        "cat > /dev/null; echo 'import refused' >&2; exit 2",
    );
    let error = command.restore(&mut "data\n".as_bytes()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { status, stderr, .. }
            if status == "exit status 2" && stderr == "import refused"),
        "{error}"
    );
    // A program that stops reading early and claims success.
    let quitter = source("echo x", "exit 0");
    let big = vec![b'x'; 4 << 20];
    assert!(quitter.restore(&mut big.as_slice()).is_err());
}

#[test]
fn a_restore_whose_input_breaks_kills_the_program_before_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    // The program would mark the import done once its input ended.
    let command = source(
        "echo x",
        &format!("cat > /dev/null && touch {}", done.display()),
    );
    let mut failing = FailingReader {
        bytes: std::io::Cursor::new(b"half a dump\n".to_vec()),
    };
    let error = command.restore(&mut failing).unwrap_err();
    assert!(error.to_string().contains("went away"), "{error}");
    assert!(
        !done.exists(),
        "the program saw an end of input and went on"
    );
}

#[test]
fn a_missing_or_empty_program_is_named() {
    let missing = CommandSource {
        dump: vec!["no-such-export-tool".into()],
        restore: vec!["/nowhere/import".into()],
    };
    let error = missing.dump(&DumpOptions::default()).err().unwrap();
    assert!(
        matches!(&error, DbError::ToolMissing { tool, .. } if tool == "no-such-export-tool"),
        "{error}"
    );
    let error = missing.restore(&mut "x".as_bytes()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolMissing { tool, .. } if tool == "/nowhere/import"),
        "{error}"
    );
    let empty = CommandSource {
        dump: vec![],
        restore: vec![],
    };
    assert!(matches!(
        empty.dump(&DumpOptions::default()),
        Err(DbError::Invalid(_))
    ));
}
