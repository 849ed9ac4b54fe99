//! The dump supervisor against fake client tools (shell scripts named
//! `pg_dump`, `mariadb-dump`, `mysqldump` in a private `bin_dir`): a tool
//! killed mid-dump, one that writes nothing, one that warns on standard
//! error, one that exits non-zero after writing; a reader dropped early
//! kills and reaps its tool; the password travels in the environment, not
//! the arguments; MySQL's tool names stand in for MariaDB's. No server is
//! needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reprise_databases::{Connection, DbError, DumpOptions, Engine, MariaDb, Postgres};
use std::io::Read;
use std::path::Path;

const SOME_ROWS: &str = "echo 'COPY public.t (x) FROM stdin;'; echo 1; echo 2; echo '\\.'; \
    echo '-- PostgreSQL database dump complete'";

fn postgres_with(bin: &Path) -> Postgres {
    Postgres::new(Connection {
        bin_dir: Some(bin.to_path_buf()),
        ..Connection::default()
    })
}

fn dump_with_fake_pg_dump(script: &str, options: &DumpOptions) -> Result<Vec<u8>, DbError> {
    let bin = fake_tools(&[("pg_dump", script)]);
    let dump = postgres_with(bin.path()).dump("town", options).unwrap();
    read_dump(dump).map(|(bytes, _)| bytes)
}

#[test]
fn a_tool_killed_mid_dump_fails_the_dump() {
    let error =
        dump_with_fake_pg_dump(&format!("{SOME_ROWS}; kill -9 $$"), &DumpOptions::default())
            .unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { status, .. } if status == "killed by signal 9"),
        "{error}"
    );
}

#[test]
fn a_tool_that_writes_nothing_fails_the_dump() {
    let error = dump_with_fake_pg_dump("exit 0", &DumpOptions::default()).unwrap_err();
    assert!(matches!(error, DbError::EmptyDump { .. }), "{error}");
    assert!(error.to_string().contains("town"), "{error}");
}

#[test]
fn a_tool_that_warns_on_standard_error_fails_even_with_status_zero() {
    let script = format!("{SOME_ROWS}; echo 'pg_dump: warning: something is off' >&2; exit 0");
    let error = dump_with_fake_pg_dump(&script, &DumpOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("something is off"), "{message}");
    assert!(message.contains("standard error"), "{message}");
}

#[test]
fn a_tool_that_exits_non_zero_after_writing_fails_with_its_message() {
    let script = format!("{SOME_ROWS}; echo 'pg_dump: error: query failed' >&2; exit 1");
    let error = dump_with_fake_pg_dump(&script, &DumpOptions::default()).unwrap_err();
    assert!(
        matches!(&error, DbError::ToolFailed { status, stderr, .. }
            if status == "exit status 1" && stderr == "pg_dump: error: query failed"),
        "{error}"
    );
}

#[test]
fn a_good_fake_dump_passes_with_its_statistics() {
    let bin = fake_tools(&[("pg_dump", SOME_ROWS)]);
    let (bytes, manifest) = read_dump(
        postgres_with(bin.path())
            .dump("town", &DumpOptions::default())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(bytes.len(), 74);
    assert_eq!(manifest.tables.len(), 1);
    assert_eq!(manifest.tables[0].rows, 2);
    assert_eq!(manifest.tool, "pg_dump");
}

#[test]
fn a_shrunken_output_fails_and_a_bad_fraction_is_refused() {
    let options = DumpOptions {
        previous_bytes: Some(149),
        min_fraction: None,
    };
    let error = dump_with_fake_pg_dump(SOME_ROWS, &options).unwrap_err();
    assert!(
        matches!(
            error,
            DbError::Shrunk {
                bytes: 74,
                previous: 149,
                ..
            }
        ),
        "{error}"
    );
    let options = DumpOptions {
        previous_bytes: Some(148),
        min_fraction: None,
    };
    dump_with_fake_pg_dump(SOME_ROWS, &options).unwrap();

    let bin = fake_tools(&[("pg_dump", SOME_ROWS)]);
    let bad = DumpOptions {
        previous_bytes: None,
        min_fraction: Some(1.5),
    };
    let error = postgres_with(bin.path()).dump("town", &bad).err().unwrap();
    assert!(matches!(error, DbError::Invalid(_)), "{error}");
}

#[test]
fn a_reader_dropped_before_the_end_kills_and_reaps_the_tool() {
    let bin = tempfile::tempdir().unwrap();
    let pid_file = bin.path().join("pid");
    // exec: the sleeping process is the tool itself, not a child of it.
    write_script(
        &bin.path().join("pg_dump"),
        &format!(
            "echo $$ > {}; {SOME_ROWS}; exec sleep 60",
            pid_file.display()
        ),
    );
    let dump = postgres_with(bin.path())
        .dump("town", &DumpOptions::default())
        .unwrap();
    let mut reader = dump.reader;
    let mut first = [0u8; 4];
    reader.read_exact(&mut first).unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_entry = format!("/proc/{}", pid.trim());
    assert!(Path::new(&proc_entry).exists());
    drop(reader);
    // Killed and waited for: not even a zombie is left.
    assert!(
        !Path::new(&proc_entry).exists(),
        "{proc_entry} is still there"
    );
    assert!(dump.manifest.get().is_none());
}

#[test]
fn the_password_travels_in_the_environment_not_the_arguments() {
    let secret = "S3cret-Value-42";
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, format!("{secret}\n")).unwrap();
    let bin = fake_tools(&[
        (
            "pg_dump",
            "echo \"args: $*\"; echo \"env: $PGPASSWORD\"; echo '-- PostgreSQL database dump complete'",
        ),
        (
            "mariadb-dump",
            "echo \"args: $*\"; echo \"env: $MYSQL_PWD\"; echo '-- Dump completed'",
        ),
    ]);
    let connection = Connection {
        host: Some("db.example".into()),
        user: Some("backup".into()),
        password_file: Some(password_file),
        bin_dir: Some(bin.path().to_path_buf()),
        ..Connection::default()
    };
    let engines: [Box<dyn Engine>; 2] = [
        Box::new(Postgres::new(connection.clone())),
        Box::new(MariaDb::new(connection)),
    ];
    for engine in engines {
        let (bytes, _) = read_dump(engine.dump("town", &DumpOptions::default()).unwrap()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        let (args, env) = (lines.next().unwrap(), lines.next().unwrap());
        assert!(
            args.contains("db.example") && args.contains("town"),
            "{args}"
        );
        assert!(!args.contains(secret), "{}: {args}", engine.name());
        assert_eq!(env.trim(), format!("env: {secret}"), "{}", engine.name());
    }
}

#[test]
fn mysql_tool_names_stand_in_for_mariadb_ones() {
    let bin = fake_tools(&[(
        "mysqldump",
        "echo 'INSERT INTO `t` VALUES (1);'; echo '-- Dump completed'",
    )]);
    let engine = MariaDb::new(Connection {
        bin_dir: Some(bin.path().to_path_buf()),
        ..Connection::default()
    });
    let (_, manifest) = read_dump(engine.dump("town", &DumpOptions::default()).unwrap()).unwrap();
    assert_eq!(manifest.tables[0].table, "t");
    assert_eq!(manifest.tool, "mysqldump");

    let empty = tempfile::tempdir().unwrap();
    let engine = MariaDb::new(Connection {
        bin_dir: Some(empty.path().to_path_buf()),
        ..Connection::default()
    });
    let message = engine
        .dump("town", &DumpOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("mariadb-dump or mysqldump"), "{message}");
    assert!(message.contains("mariadb-client"), "{message}");
}

#[test]
fn a_huge_standard_error_is_cut_and_does_not_block_the_tool() {
    // 1 MiB on standard error, more than a pipe holds: the tool must not
    // block on it, and the message keeps only its start.
    let script = format!("{SOME_ROWS}; head -c 1048576 /dev/zero | tr '\\0' e >&2; exit 2");
    let error = dump_with_fake_pg_dump(&script, &DumpOptions::default()).unwrap_err();
    match error {
        DbError::ToolFailed { stderr, .. } => {
            assert!(stderr.len() < 70 * 1024, "{}", stderr.len());
            assert!(stderr.ends_with("[standard error cut at 64 KiB]"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_dump_cut_short_with_exit_status_zero_fails() {
    // Half a COPY block, then a clean exit: a tool stopped half-way by
    // something that hides it (a wrapper, a full disk on a pipe).
    let open_rows = "echo 'COPY public.t (x) FROM stdin;'; echo 1; exit 0";
    let message = dump_with_fake_pg_dump(open_rows, &DumpOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("inside the rows of table public.t"),
        "{message}"
    );
    assert!(message.contains("cut short"), "{message}");

    // Whole tables, but not pg_dump's closing line: later tables are lost.
    let no_end = "echo 'COPY public.t (x) FROM stdin;'; echo 1; echo '\\.'; exit 0";
    let message = dump_with_fake_pg_dump(no_end, &DumpOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("-- PostgreSQL database dump complete"),
        "{message}"
    );

    let bin = fake_tools(&[("mariadb-dump", "echo 'INSERT INTO `t` VALUES (1);'")]);
    let engine = MariaDb::new(Connection {
        bin_dir: Some(bin.path().to_path_buf()),
        ..Connection::default()
    });
    let error = read_dump(engine.dump("town", &DumpOptions::default()).unwrap()).unwrap_err();
    assert!(error.to_string().contains("-- Dump completed"), "{error}");
}
