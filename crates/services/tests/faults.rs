//! The fault suite on real servers: what goes wrong on the night of a
//! backup or the day of a recovery, and what reprise says. A failed dump
//! (tool missing, failing, killed, cut short with exit status 0, empty,
//! server down) writes no snapshot and says why; a failed restore (server
//! down, database already there, a load rolled back at COMMIT, a health
//! check that never passes) fails its service and leaves its dependents
//! not started while independent services come up; a dependency cycle is
//! refused; a drill killed with `kill -9` resumes under the same id.
//! Across the suite no database is ever reported verified that is not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use reprise_backup::{BackupOptions, BackupProgress, Stream};
use reprise_databases::{DumpManifest, Engine, Replace, TableStats};
use reprise_repo::Repository;
use reprise_services::backup::{database_tag, dump_file, manifest_file, service_tag, source_tag};
use reprise_services::config::Config;
use reprise_services::report::{RunKind, Status};
use reprise_services::restore::Destination;
use reprise_services::schedule::Plan;
use reprise_storage::LocalBackend;

/// A town with one PostgreSQL source (`db`, on server entry `pg`, written
/// by `server`) used by service `registre`, which `guichet` depends on,
/// and service `affichage` (no data, always healthy) on its own.
fn town_text(server: &str, db: &str, extra: &str) -> String {
    format!(
        r#"{server}
[sources.registre-db]
type = "postgres"
server = "pg"
databases = ["{db}"]

[services.registre]
public_name = "Registre"
priority = 1
sources = ["registre-db"]
health = [{{ type = "sql", source = "registre-db", query = "select count(*) from actes", expect = "3" }}]

[services.guichet]
public_name = "Guichet"
priority = 2
depends_on = ["registre"]
health = [{{ type = "command", run = ["true"] }}]

[services.affichage]
public_name = "Affichage"
priority = 3
health = [{{ type = "command", run = ["true"] }}]

[recovery]
parallel = 2
health_timeout = "20s"
drill_dir = "{{dir}}/drill"
{extra}
"#
    )
}

/// Backs up a town whose dump fails, and returns the error message of
/// `db`'s backup after checking that no snapshot of the source exists.
fn failed_backup(town: &Town, db: &str) -> String {
    let runs = town.back_up_all();
    let run = outcome_of(&runs, db);
    let message = match &run.outcome {
        Ok(_) => panic!("the backup of {db} succeeded"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        town.snapshots_tagged(&["source=registre-db"]),
        0,
        "a failed dump wrote a snapshot: {message}"
    );
    message
}

/// A live database of three `actes`, dropped at the end.
fn live(servers: &Servers, prefix: &str) -> (String, Created) {
    let db = unique_name(prefix);
    let created = create(Arc::new(servers.pg()), &db, PG_CIVIL);
    (db, created)
}

#[test]
fn a_missing_dump_tool_fails_the_backup_and_says_where_it_looked() {
    let Some(servers) = servers() else { return };
    let empty = tempfile::tempdir().unwrap();
    let db = unique_name("missing_tool");
    let server = servers.pg_entry("pg", None, Some(empty.path()));
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(message.contains("pg_dump was not found"), "{message}");
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_failing_dump_of_an_unknown_database_fails_the_backup_with_the_tool_message() {
    let Some(servers) = servers() else { return };
    let db = unique_name("never_created");
    let town = Town::new(&town_text(&servers.pg_entry("pg", None, None), &db, ""));
    let message = failed_backup(&town, &db);
    assert!(
        message.contains("pg_dump failed (exit status 1)"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
}

/// A `bin_dir` whose `pg_dump` runs the real one through `script` (where
/// `$REAL` is the real `pg_dump`), beside the real `psql`.
fn wrapped_pg_dump(servers: &Servers, script: &str) -> tempfile::TempDir {
    let real = servers
        .pg_bin
        .clone()
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into());
    let bin = fake_tools(&[(
        "pg_dump",
        &format!("REAL={}/pg_dump\n{script}", real.display()),
    )]);
    std::os::unix::fs::symlink(real.join("psql"), bin.path().join("psql")).unwrap();
    bin
}

#[test]
fn a_dump_tool_killed_mid_dump_fails_the_backup() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "killed");
    let bin = wrapped_pg_dump(&servers, "\"$REAL\" \"$@\" | head -n 40\nkill -9 $$");
    let server = servers.pg_entry("pg", None, Some(bin.path()));
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(message.contains("killed by signal 9"), "{message}");
}

#[test]
fn a_dump_cut_short_that_exits_zero_fails_the_backup() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "cut_short");
    // The real dump, cut inside the rows of `actes`, with a clean exit:
    // nothing but the dump's own shape tells it is not whole.
    let inside_rows = "\"$REAL\" \"$@\" | sed '/^1\tDupont/q'\nexit 0";
    let bin = wrapped_pg_dump(&servers, inside_rows);
    let server = servers.pg_entry("pg", None, Some(bin.path()));
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(message.contains("cut short"), "{message}");
    assert!(message.contains("public.actes"), "{message}");

    // Cut between two tables: every row block is closed, only the
    // closing line says the rest is missing.
    let between = "\"$REAL\" \"$@\" | sed '/^-- Data for Name: vide/q'\nexit 0";
    let bin = wrapped_pg_dump(&servers, between);
    let server = servers.pg_entry("pg", None, Some(bin.path()));
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(
        message.contains("-- PostgreSQL database dump complete"),
        "{message}"
    );
}

#[test]
fn an_empty_dump_fails_the_backup() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "empty");
    let bin = wrapped_pg_dump(&servers, "exit 0");
    let server = servers.pg_entry("pg", None, Some(bin.path()));
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(message.contains("is empty"), "{message}");
}

#[test]
fn a_server_down_during_backup_fails_the_backup() {
    let Some(servers) = servers() else { return };
    let db = unique_name("down_backup");
    let server = servers.pg_entry("pg", Some(closed_port()), None);
    let town = Town::new(&town_text(&server, &db, ""));
    let message = failed_backup(&town, &db);
    assert!(message.contains("pg_dump failed"), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
}

#[test]
fn a_server_down_during_restore_fails_its_service_and_dependents_only() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "down_restore");
    let mut server = servers.pg_entry("pg", None, None);
    server.push_str(&servers.pg_entry("secours", Some(closed_port()), None));
    let town = Town::new(&town_text(&server, &db, "drill_server = \"secours\""));
    town.back_up_all_ok();
    let (drill, report) = drill(&town);
    assert!(!report.ok);
    let reason = failure(&report, "registre");
    assert!(reason.contains("Connection refused"), "{reason}");
    let Status::NotStarted { because } = &service(&report, "guichet").status else {
        panic!("{}", report.to_text())
    };
    assert!(because.contains("registre"), "{because}");
    assert_eq!(service(&report, "affichage").status, Status::Up);
    assert_no_false_verified(&report, &[]);

    // The clean-up cannot reach the server either, and says so; the work
    // directory goes all the same.
    let list = town.repo.list_snapshots().unwrap();
    let problems = drill.clean_up(
        &town.config,
        &list,
        reprise_services::restore::SnapshotChoice::Latest,
    );
    assert!(problems.iter().any(|p| p.contains(&db)), "{problems:?}");
    assert!(!drill.dir.exists());
}

#[test]
fn a_recovery_over_an_existing_database_is_refused_and_leaves_it_untouched() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "existing");
    let town = Town::new(&town_text(&servers.pg_entry("pg", None, None), &db, ""));
    town.back_up_all_ok();
    let pg = servers.pg();
    pg.query_scalar(&db, "insert into actes values (4, 'Nouveau')")
        .unwrap();
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &["guichet".to_owned()],
        None,
    );
    let reason = failure(&report, "registre");
    assert!(
        reason.contains(&format!("database {db} already exists")),
        "{reason}"
    );
    assert!(matches!(
        service(&report, "guichet").status,
        Status::NotStarted { .. }
    ));
    assert_eq!(
        pg.query_scalar(&db, "select count(*) from actes").unwrap(),
        "4",
        "today's row is still there"
    );
    assert_no_false_verified(&report, &[]);
}

#[test]
fn a_health_check_that_never_passes_fails_the_service_and_its_dependents_wait() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "unhealthy");
    let text = town_text(&servers.pg_entry("pg", None, None), &db, "")
        .replace("expect = \"3\"", "expect = \"999\"")
        .replace("health_timeout = \"20s\"", "health_timeout = \"1s\"");
    let town = Town::new(&text);
    town.back_up_all_ok();
    let (drill, report) = drill(&town);
    assert!(!report.ok);
    let reason = failure(&report, "registre");
    assert!(reason.contains("999"), "{reason}");
    assert!(matches!(
        service(&report, "guichet").status,
        Status::NotStarted { .. }
    ));
    assert_eq!(service(&report, "affichage").status, Status::Up);
    town.clean_up(&drill);
}

#[test]
fn a_dependency_cycle_is_refused_naming_it() {
    let text = r#"
[services.a]
public_name = "A"
depends_on = ["c"]
[services.b]
public_name = "B"
depends_on = ["a"]
[services.c]
public_name = "C"
depends_on = ["b"]
[services.d]
public_name = "D"
"#;
    let config: Config = toml::from_str(text).unwrap();
    let error = Plan::from_config(&config, &[]).unwrap_err().to_string();
    assert!(error.contains("cycle"), "{error}");
    assert!(error.contains("a -> c -> b -> a"), "{error}");
    if let Err(errors) = Config::parse(text, Path::new("town.toml")) {
        let message = errors.to_string();
        assert!(message.contains("cycle"), "{message}");
    }
}

/// The dump of a database whose one foreign key is deferred to COMMIT and
/// broken by its rows: every statement succeeds, the COMMIT fails, and
/// nothing is kept.
const BROKEN_AT_COMMIT: &str = "\
CREATE TABLE public.actes (id integer PRIMARY KEY, nom text);\n\
CREATE TABLE public.mentions (id integer, acte integer REFERENCES public.actes \
DEFERRABLE INITIALLY DEFERRED);\n\
COPY public.actes (id, nom) FROM stdin;\n1\tDupont\n2\tMartin\n3\tDurand\n\\.\n\
COPY public.mentions (id, acte) FROM stdin;\n1\t42\n\\.\n\
--\n-- PostgreSQL database dump complete\n--\n";

/// A snapshot of `db` for source `registre-db` holding `dump` and a
/// manifest that matches it, as a backup would have written it.
fn write_snapshot(repo: &Repository, db: &str, dump: &str, tables: Vec<TableStats>) {
    let manifest = DumpManifest {
        version: 1,
        engine: "postgres".into(),
        database: db.into(),
        tool: "pg_dump (PostgreSQL) 15".into(),
        bytes: dump.len() as u64,
        tables,
    };
    let json = serde_json::to_vec(&manifest).unwrap();
    let mut options = BackupOptions::new(Vec::new(), "mairie");
    options.streams = vec![
        Stream {
            name: dump_file(db),
            label: "dump".into(),
            open: Box::new({
                let dump = dump.as_bytes().to_vec();
                move || Ok(Box::new(std::io::Cursor::new(dump)))
            }),
            allow_empty: false,
            delta: false,
        },
        Stream {
            name: manifest_file(db),
            label: "manifest".into(),
            open: Box::new(move || Ok(Box::new(std::io::Cursor::new(json)))),
            allow_empty: false,
            delta: false,
        },
    ];
    options.tags = vec![
        source_tag("registre-db"),
        service_tag("registre"),
        database_tag(db),
    ];
    reprise_backup::run(repo, options, &BackupProgress::default()).unwrap();
}

#[test]
fn a_restore_rolled_back_at_commit_is_a_failure_not_a_verified_database() {
    let Some(servers) = servers() else { return };
    let db = unique_name("rolled_back");
    let town = Town::new(&town_text(&servers.pg_entry("pg", None, None), &db, ""));
    // The manifest of exactly these rows: were the restore to look done,
    // the verification would pass.
    let tables = {
        let scratch = unique_name("manifest_of");
        let pg: Arc<dyn Engine> = Arc::new(servers.pg());
        let unchecked =
            BROKEN_AT_COMMIT.replace(" REFERENCES public.actes DEFERRABLE INITIALLY DEFERRED", "");
        let _made = create(Arc::clone(&pg), &scratch, &unchecked);
        let dump = pg.dump(&scratch, &Default::default()).unwrap();
        let mut reader = dump.reader;
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        dump.manifest.get().unwrap().tables
    };
    write_snapshot(&town.repo, &db, BROKEN_AT_COMMIT, tables);
    let pg = servers.pg();
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &["guichet".to_owned()],
        None,
    );
    let _dropped = Created {
        engine: Arc::new(servers.pg()),
        names: vec![db.clone()],
    };
    let reason = failure(&report, "registre");
    assert!(reason.contains("foreign key"), "{reason}");
    assert!(
        !pg.exists(&db).unwrap(),
        "the empty database is dropped, so that nothing looks restored"
    );
    assert!(matches!(
        service(&report, "guichet").status,
        Status::NotStarted { .. }
    ));
    assert_no_false_verified(&report, &[]);
}

/// The child of the kill -9 test: a drill of the town whose configuration
/// file is named by `REPRISE_SERVICES_DRILL_CHILD`, until killed.
#[test]
fn drill_child() {
    let Some(path) = std::env::var_os("REPRISE_SERVICES_DRILL_CHILD") else {
        return;
    };
    let config = Config::load(Path::new(&path)).unwrap();
    let root = Path::new(&path).parent().unwrap();
    let backend = Arc::new(LocalBackend::new(root.join("repo")));
    let repo = Repository::open(backend, b"pw").unwrap();
    let town = Town::from_parts(repo, config);
    let _ = drill(&town);
}

#[test]
fn a_drill_killed_with_kill_9_resumes_with_the_same_id_and_cleans_up_everything() {
    let Some(servers) = servers() else { return };
    let (db, _created) = live(&servers, "resumed");
    let (db2, _created2) = {
        let db2 = unique_name("resumed_bis");
        let created = create(Arc::new(servers.pg()), &db2, PG_CADASTRE);
        (db2, created)
    };
    // `guichet` gets data of its own and waits for a file the parent
    // writes only after the kill: the child can never finish the drill.
    let extra_source = format!(
        "[sources.guichet-db]\ntype = \"postgres\"\nserver = \"pg\"\ndatabases = [\"{db2}\"]\n"
    );
    let text = town_text(&servers.pg_entry("pg", None, None), &db, "").replace(
        "health = [{ type = \"command\", run = [\"true\"] }]\n\n[services.affichage]",
        "sources = [\"guichet-db\"]\nhealth = [{ type = \"command\", run = [\"test\", \"-e\", \"{dir}/go\"] }]\n\n[services.affichage]",
    ) + &extra_source;
    let town = Town::new(&text);
    town.back_up_all_ok();
    let config_path = town.dir.path().join("town.toml");
    std::fs::write(
        &config_path,
        text.replace("{dir}", &town.dir.path().display().to_string()),
    )
    .unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "drill_child", "--nocapture"])
        .env("REPRISE_SERVICES_DRILL_CHILD", &config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = town
        .dir
        .path()
        .join("drill/journal")
        .join(reprise_services::journal::FILE_NAME);
    let registre_up = wait_for_line(
        &journal,
        "\"service\":\"registre\"",
        Duration::from_secs(60),
    );
    // Give the child the time to restore `guichet` too, most often:
    // the resume must cope with a scratch database left behind.
    // Scratch names are DATABASE_SOURCE_drill_ID (the source's `-` as `_`).
    let guichet_scratch = |id: &str| format!("{db2}_guichet_db_drill_{id}");
    let id = std::fs::read_to_string(town.dir.path().join("drill/drill-id")).unwrap();
    let _scratch = Created {
        engine: Arc::new(servers.pg()),
        names: vec![
            format!("{db}_registre_db_drill_{}", id.trim()),
            guichet_scratch(id.trim()),
        ],
    };
    let pg = servers.pg();
    for _ in 0..100 {
        if pg.exists(&guichet_scratch(id.trim())).unwrap() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(registre_up, "the child drill never brought registre up");

    std::fs::write(town.dir.path().join("go"), b"").unwrap();
    let (drill, report) = drill(&town);
    assert_eq!(drill.id, id.trim(), "the same drill, resumed");
    assert!(report.ok, "{}", report.to_text());
    assert!(matches!(
        service(&report, "registre").status,
        Status::Resumed { checked: true }
    ));
    assert_eq!(service(&report, "guichet").status, Status::Up);
    for source in &service(&report, "guichet").sources {
        for check in &source.databases {
            assert!(check.verification.verified(), "{check:?}");
        }
    }
    town.clean_up(&drill);
    for scratch in [
        format!("{db}_registre_db_drill_{}", drill.id),
        guichet_scratch(&drill.id),
    ] {
        assert!(!pg.exists(&scratch).unwrap(), "{scratch} left behind");
    }
}
