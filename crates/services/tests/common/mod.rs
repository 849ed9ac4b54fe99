//! Helpers for the service tests on real database servers: the test
//! servers from the environment (`scripts/db-server` sets it), a town (a
//! repository, a work directory and a configuration written around the
//! servers) and its backups, recoveries and drills through the library.
//!
//! Without `REPRISE_TEST_PG_*` / `REPRISE_TEST_MARIADB_*` the tests
//! **fail**, unless `REPRISE_TEST_SKIP_DB=1` says to skip them (then they
//! print that they were skipped and pass), as the database crate's tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reprise_backup::BackupProgress;
use reprise_crypto::KdfParams;
use reprise_databases::{Connection, Engine, MariaDb, Postgres, Replace};
use reprise_repo::{InitOptions, Repository};
use reprise_services::backup::{back_up_services, SourceRun};
use reprise_services::config::Config;
use reprise_services::journal::Journal;
use reprise_services::pace::Pace;
use reprise_services::recover::{Drill, RepositoryRunner};
use reprise_services::report::{RecoveryReport, RunKind, ServiceReport, Status};
use reprise_services::restore::{Destination, SnapshotChoice};
use reprise_services::schedule::{run, Plan, RunOptions};
use reprise_storage::LocalBackend;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The two test servers.
#[derive(Debug, Clone)]
pub struct Servers {
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_user: Option<String>,
    pub pg_bin: Option<PathBuf>,
    pub maria_host: String,
    pub maria_port: u16,
    pub maria_user: Option<String>,
}

/// The test servers, `None` (after saying so) only when told to skip.
pub fn servers() -> Option<Servers> {
    if var("REPRISE_TEST_SKIP_DB").as_deref() == Some("1") {
        eprintln!("skipped: needs PostgreSQL and MariaDB servers (REPRISE_TEST_SKIP_DB=1)");
        return None;
    }
    let found = (|| {
        Some(Servers {
            pg_host: var("REPRISE_TEST_PG_HOST")?,
            pg_port: var("REPRISE_TEST_PG_PORT")?.parse().ok()?,
            pg_user: var("REPRISE_TEST_PG_USER"),
            pg_bin: var("REPRISE_TEST_PG_BIN").map(PathBuf::from),
            maria_host: var("REPRISE_TEST_MARIADB_HOST")?,
            maria_port: var("REPRISE_TEST_MARIADB_PORT")?.parse().ok()?,
            maria_user: var("REPRISE_TEST_MARIADB_USER"),
        })
    })()
    .filter(|_| var("REPRISE_TEST_MARIADB_PASSWORD").is_some());
    match found {
        Some(servers) => Some(servers),
        None => panic!(
            "this test needs PostgreSQL and MariaDB servers: run scripts/test-all (it starts \
             them), or `scripts/db-server start DIR` and `source DIR/env` first; set \
             REPRISE_TEST_SKIP_DB=1 to skip database tests"
        ),
    }
}

impl Servers {
    pub fn pg(&self) -> Postgres {
        Postgres::new(Connection {
            host: Some(self.pg_host.clone()),
            port: Some(self.pg_port),
            user: self.pg_user.clone(),
            bin_dir: self.pg_bin.clone(),
            ..Connection::default()
        })
    }

    pub fn maria(&self) -> MariaDb {
        MariaDb::new(Connection {
            host: Some(self.maria_host.clone()),
            port: Some(self.maria_port),
            user: self.maria_user.clone(),
            password_env: Some("REPRISE_TEST_MARIADB_PASSWORD".into()),
            ..Connection::default()
        })
    }

    /// A `[servers.NAME]` entry for the PostgreSQL server, on `port` when
    /// given (a closed one for faults) and with `bin_dir` when given.
    pub fn pg_entry(&self, name: &str, port: Option<u16>, bin_dir: Option<&Path>) -> String {
        let bin = bin_dir
            .map(Path::to_path_buf)
            .or_else(|| self.pg_bin.clone());
        let mut entry = format!(
            "[servers.{name}]\nengine = \"postgres\"\nhost = \"{}\"\nport = {}\n",
            self.pg_host,
            port.unwrap_or(self.pg_port)
        );
        if let Some(user) = &self.pg_user {
            entry.push_str(&format!("user = \"{user}\"\n"));
        }
        if let Some(bin) = bin {
            entry.push_str(&format!("bin_dir = \"{}\"\n", bin.display()));
        }
        entry
    }

    /// A `[servers.NAME]` entry for the MariaDB server.
    pub fn maria_entry(&self, name: &str) -> String {
        let mut entry = format!(
            "[servers.{name}]\nengine = \"mariadb\"\nhost = \"{}\"\nport = {}\n\
             password_env = \"REPRISE_TEST_MARIADB_PASSWORD\"\n",
            self.maria_host, self.maria_port
        );
        if let Some(user) = &self.maria_user {
            entry.push_str(&format!("user = \"{user}\"\n"));
        }
        entry
    }
}

/// A database name no other test (or run) uses: `prefix`, the process and
/// a counter, lowercase so it is the same on every server.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos & 0xffff
    )
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A directory of fake client tools: shell scripts with the given names.
pub fn fake_tools(tools: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, script) in tools {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Databases dropped when the test ends, passed or not.
pub struct Created {
    pub engine: Arc<dyn Engine>,
    pub names: Vec<String>,
}

impl Drop for Created {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.engine.drop_database(name);
        }
    }
}

/// Creates `name` on `engine` from `sql`, and returns the guard that drops it.
pub fn create(engine: Arc<dyn Engine>, name: &str, sql: &str) -> Created {
    engine
        .restore(name, &mut sql.as_bytes(), Replace::Never)
        .unwrap();
    Created {
        engine,
        names: vec![name.to_owned()],
    }
}

/// A repository, a work directory and the configuration of a town.
pub struct Town {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
    pub config: Config,
}

impl Town {
    /// A town whose configuration is `text`, where `{dir}` stands for
    /// the town's work directory.
    pub fn new(text: &str) -> Town {
        let dir = tempfile::tempdir().unwrap();
        let text = text.replace("{dir}", &dir.path().display().to_string());
        let config =
            Config::parse(&text, Path::new("town.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
        let options = InitOptions {
            kdf: KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            ..InitOptions::default()
        };
        let repo = Repository::init(backend, b"pw", &options).unwrap();
        Town { dir, repo, config }
    }

    /// A town around an opened repository, for a child process.
    pub fn from_parts(repo: Repository, config: Config) -> Town {
        Town {
            dir: tempfile::tempdir().unwrap(),
            repo,
            config,
        }
    }

    /// Backs up every service; the outcome of each snapshot as text.
    pub fn back_up_all(&self) -> Vec<SourceRun> {
        let all: Vec<String> = self.config.services.keys().cloned().collect();
        back_up_services(
            &self.repo,
            &self.config,
            &all,
            "mairie",
            &BackupProgress::default(),
        )
    }

    /// Backs up every service and fails the test on any error.
    pub fn back_up_all_ok(&self) -> Vec<SourceRun> {
        let runs = self.back_up_all();
        for run in &runs {
            if let Err(e) = &run.outcome {
                panic!("{} {:?}: {e}", run.source, run.database);
            }
        }
        runs
    }

    /// Runs a recovery or a drill of `services` (all when empty).
    pub fn run(
        &self,
        kind: RunKind,
        destination: Destination,
        services: &[String],
        journal: Option<Journal>,
    ) -> RecoveryReport {
        let list = self.repo.list_snapshots().unwrap();
        self.repo.ensure_index().unwrap();
        let runner = RepositoryRunner {
            repo: &self.repo,
            list: &list,
            config: &self.config,
            choice: SnapshotChoice::Latest,
            destination,
            pace: Pace::of_repository(&self.repo).unwrap(),
        };
        let plan = Plan::from_config(&self.config, services).unwrap();
        let mut options = RunOptions::new(kind, &self.config.recovery);
        options.health_interval = Duration::from_millis(50);
        options.journal = journal;
        run(&plan, &runner, options, &mut |_: &_| {})
    }

    /// A drill's journal, named after the drill and its plan.
    pub fn drill_journal(&self, drill: &Drill) -> Journal {
        let names = Plan::from_config(&self.config, &[]).unwrap().names();
        Journal::open(&drill.journal_dir(), &drill.id, &names).unwrap()
    }

    /// Drops the drill's scratch databases and work directory.
    pub fn clean_up(&self, drill: &Drill) {
        let list = self.repo.list_snapshots().unwrap();
        let problems = drill.clean_up(&self.config, &list, SnapshotChoice::Latest);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!drill.dir.exists());
    }

    /// The snapshots whose tags include every one of `tags`.
    pub fn snapshots_tagged(&self, tags: &[&str]) -> usize {
        let list = self.repo.list_snapshots().unwrap();
        list.snapshots
            .iter()
            .filter(|(_, s)| tags.iter().all(|t| s.tags.contains(&(*t).to_owned())))
            .count()
    }
}

/// The service named `name` of a report.
pub fn service<'r>(report: &'r RecoveryReport, name: &str) -> &'r ServiceReport {
    report
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name} in\n{}", report.to_text()))
}

/// The reason a service failed, or the test fails.
pub fn failure(report: &RecoveryReport, name: &str) -> String {
    match &service(report, name).status {
        Status::Failed { reason } => reason.clone(),
        other => panic!("{name} is {other:?}, not failed\n{}", report.to_text()),
    }
}

/// No database of the report claims to be verified unless `verified` is
/// expected for it: every database check of a service that is not up
/// must not exist or must not be verified.
pub fn assert_no_false_verified(report: &RecoveryReport, truly_verified: &[&str]) {
    for service in &report.services {
        for source in &service.sources {
            for db in &source.databases {
                if db.verification.verified() {
                    assert!(
                        truly_verified.contains(&db.database.as_str()),
                        "{} claims {} verified\n{}",
                        service.name,
                        db.database,
                        report.to_text()
                    );
                }
            }
        }
    }
}

/// The outcome of every database snapshot as `database: Ok/Err(message)`.
pub fn outcome_of<'r>(runs: &'r [SourceRun], database: &str) -> &'r SourceRun {
    runs.iter()
        .find(|r| r.database.as_deref() == Some(database))
        .unwrap_or_else(|| panic!("no backup of {database}"))
}

/// Runs a drill with a journal and cleans up; the report.
pub fn drill(town: &Town) -> (Drill, RecoveryReport) {
    let drill = Drill::resume_or_start(&town.config).unwrap();
    let journal = town.drill_journal(&drill);
    let report = town.run(RunKind::Drill, drill.destination(), &[], Some(journal));
    (drill, report)
}

/// A PostgreSQL database of a few rows: `actes` (3 rows) and `vide`.
pub const PG_CIVIL: &str = "CREATE TABLE actes(id int PRIMARY KEY, nom text);\n\
INSERT INTO actes VALUES (1, 'Dupont'), (2, 'Martin'), (3, 'Durand');\n\
CREATE TABLE vide(x int);\n";

/// Another: `parcelles` (2 rows).
pub const PG_CADASTRE: &str = "CREATE TABLE parcelles(ref text PRIMARY KEY, surface int);\n\
INSERT INTO parcelles VALUES ('AB12', 540), ('AC07', 1200);\n";

/// A MariaDB database: `comptes` (2 rows).
pub const MARIA_PORTAIL: &str = "CREATE TABLE comptes(id INT PRIMARY KEY, email VARCHAR(100));\n\
INSERT INTO comptes VALUES (1, 'a@mairie.example'), (2, 'b@mairie.example');\n";

/// Waits (bounded) until `path` exists with a line containing `needle`.
pub fn wait_for_line(path: &Path, needle: &str, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
