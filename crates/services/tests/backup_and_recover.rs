//! A small town on real components: an SQLite database, a file share and a
//! command source backed up as services into a real repository, then a
//! drill and a recovery through the recovery engine, with every restored
//! database checked against the manifest captured at backup time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use reprise_backup::BackupProgress;
use reprise_crypto::KdfParams;
use reprise_databases::{Engine, Replace, Sqlite};
use reprise_repo::{InitOptions, Repository};
use reprise_services::backup::back_up_services;
use reprise_services::config::Config;
use reprise_services::pace::Pace;
use reprise_services::recover::{Drill, RepositoryRunner};
use reprise_services::report::{RecoveryReport, RunKind, Status};
use reprise_services::restore::{Destination, SnapshotChoice};
use reprise_services::schedule::{run, Plan, RunOptions, ServiceProgress, ServiceRunner};
use reprise_storage::LocalBackend;

struct Town {
    dir: tempfile::TempDir,
    repo: Repository,
    config: Config,
}

const CANTINE_SQL: &str = "BEGIN TRANSACTION;\n\
CREATE TABLE repas(id INTEGER PRIMARY KEY, jour TEXT, menu TEXT);\n\
INSERT INTO repas VALUES(1,'lundi','soupe');\n\
INSERT INTO repas VALUES(2,'mardi','gratin\nde courgettes');\n\
INSERT INTO repas VALUES(3,'jeudi','poisson');\n\
CREATE TABLE vide(x);\n\
COMMIT;\n";

impl Town {
    fn new(command_output: &str) -> Town {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("partages/compta")).unwrap();
        std::fs::write(root.join("partages/compta/budget.ods"), b"budget 2027").unwrap();
        std::fs::write(root.join("partages/note.txt"), b"bonjour").unwrap();
        let db = root.join("cantine.sqlite");
        Sqlite::new()
            .restore(
                &db.display().to_string(),
                &mut CANTINE_SQL.as_bytes(),
                Replace::Never,
            )
            .unwrap();
        let output = root.join("annuaire.ldif");
        std::fs::write(&output, command_output).unwrap();
        let config =
            Config::parse(&config_text(root, &db, &output), Path::new("town.toml")).unwrap();
        let backend = Arc::new(LocalBackend::new(root.join("repo")));
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

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn back_up_all(&self) -> Vec<(String, Result<(), String>)> {
        let all: Vec<String> = self.config.services.keys().cloned().collect();
        back_up_services(
            &self.repo,
            &self.config,
            &all,
            "mairie",
            &BackupProgress::default(),
        )
        .into_iter()
        .map(|r| (r.source, r.outcome.map(|_| ()).map_err(|e| e.to_string())))
        .collect()
    }

    fn run(&self, kind: RunKind, destination: Destination, services: &[String]) -> RecoveryReport {
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
        options.health_interval = std::time::Duration::from_millis(50);
        run(&plan, &runner, options, &mut |_: &_| {})
    }
}

fn config_text(root: &Path, db: &Path, ldif: &Path) -> String {
    format!(
        r#"
[sources.partages]
type = "files"
paths = ["{root}/partages"]

[sources.cantine-db]
type = "sqlite"
path = "{db}"

[sources.annuaire]
type = "command"
dump = ["cat", "{ldif}"]
restore = ["sh", "-c", "cat > {root}/annuaire-restored.ldif"]
filename = "annuaire.ldif"

[services.annuaire]
public_name = "Annuaire"
priority = 1
sources = ["annuaire"]

[services.cantine]
public_name = "Cantine scolaire"
priority = 2
depends_on = ["annuaire"]
sources = ["cantine-db"]
health = [{{ type = "sql", source = "cantine-db", query = "select count(*) from repas", expect = "3" }}]

[services.partages]
public_name = "Partages de fichiers"
priority = 3
sources = ["partages"]

[recovery]
parallel = 2
health_timeout = "5s"
drill_dir = "{root}/drill"
"#,
        root = root.display(),
        db = db.display(),
        ldif = ldif.display()
    )
}

#[test]
fn a_drill_restores_every_service_into_scratch_places_verifies_them_and_cleans_up() {
    let town = Town::new("dn: dc=saint-exemple\n");
    for (source, outcome) in town.back_up_all() {
        assert!(outcome.is_ok(), "{source}: {outcome:?}");
    }
    let list = town.repo.list_snapshots().unwrap();
    let cantine: Vec<_> = list
        .snapshots
        .iter()
        .filter(|(_, s)| s.tags.contains(&"source=cantine-db".to_owned()))
        .collect();
    assert_eq!(cantine.len(), 1);
    assert!(cantine[0].1.tags.contains(&"service=cantine".to_owned()));

    let drill = Drill::resume_or_start(&town.config).unwrap();
    let report = town.run(RunKind::Drill, drill.destination(), &[]);
    assert!(report.ok, "{}", report.to_text());
    let cantine = report
        .services
        .iter()
        .find(|s| s.name == "cantine")
        .unwrap();
    assert_eq!(
        cantine.status,
        Status::Up,
        "checked by its SQL health check"
    );
    let check = &cantine.sources[0].databases[0];
    assert!(check.verification.verified(), "{:?}", check.verification);
    assert!(check
        .restored_as
        .starts_with(&drill.dir.display().to_string()));
    let restored = drill.files_dir().join(
        town.path("partages/compta/budget.ods")
            .strip_prefix("/")
            .unwrap(),
    );
    assert_eq!(std::fs::read(restored).unwrap(), b"budget 2027");
    assert!(
        !town.path("annuaire-restored.ldif").exists(),
        "a drill never runs a command source's restore program"
    );

    let problems = drill.clean_up(&town.config, &list, SnapshotChoice::Latest);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!drill.dir.exists());
}

#[test]
fn a_service_is_estimated_from_its_snapshots_bytes_weighed_by_their_kind_then_by_past_drills() {
    let town = Town::new("dn: dc=saint-exemple\n");
    let bytes_of = |list: &reprise_repo::SnapshotList, source: &str| -> u64 {
        let tag = format!("source={source}");
        list.snapshots
            .iter()
            .filter(|(_, s)| s.tags.contains(&tag))
            .filter_map(|(_, s)| s.summary.as_ref().map(|m| m.total_bytes))
            .sum()
    };
    let estimates = |list: &reprise_repo::SnapshotList| {
        let runner = RepositoryRunner {
            repo: &town.repo,
            list,
            config: &town.config,
            choice: SnapshotChoice::Latest,
            destination: Destination::recovery(None, Replace::Never),
            pace: Pace::of_repository(&town.repo).unwrap(),
        };
        ["cantine", "partages", "ghost"].map(|s| runner.estimate(s))
    };
    let before = town.repo.list_snapshots().unwrap();
    let zero = Some(std::time::Duration::ZERO);
    assert_eq!(
        estimates(&before),
        [zero, zero, None],
        "nothing to restore yet"
    );

    for (source, outcome) in town.back_up_all() {
        assert!(outcome.is_ok(), "{source}: {outcome:?}");
    }
    let list = town.repo.list_snapshots().unwrap();
    let [cantine, partages, ghost] = estimates(&list);
    assert_eq!(ghost, None);
    let (cantine, partages) = (cantine.unwrap(), partages.unwrap());
    // Seconds a byte: before any drill, an SQLite database is guessed to
    // reload 2.5 times slower than files are written (40 against 100 MiB/s).
    let per_byte = |estimate: std::time::Duration, source: &str| {
        estimate.as_secs_f64() / bytes_of(&list, source) as f64
    };
    let ratio = per_byte(cantine, "cantine-db") / per_byte(partages, "partages");
    assert!((ratio - 2.5).abs() < 0.01, "{ratio}");

    // A drill that found the share slow (ten seconds) teaches the next
    // estimate; a service it restored too fast to tell keeps the guess.
    let drill = Drill::resume_or_start(&town.config).unwrap();
    let mut drilled = town.run(RunKind::Drill, drill.destination(), &[]);
    assert!(drilled.ok, "{}", drilled.to_text());
    assert!(drill
        .clean_up(&town.config, &list, SnapshotChoice::Latest)
        .is_empty());
    for service in &mut drilled.services {
        if service.name == "partages" {
            service.restore_seconds = Some(10.0);
        }
    }
    let record = serde_json::to_value(&drilled).unwrap();
    town.repo.save_drill_record("slowshare", record).unwrap();
    let [cantine_after, partages_after, _] = estimates(&list);
    assert_eq!(partages_after, Some(std::time::Duration::from_secs(10)));
    assert_eq!(
        cantine_after,
        Some(cantine),
        "restored in under half a second"
    );
}

#[test]
fn a_services_progress_moves_with_the_files_and_the_dump_it_restores() {
    let town = Town::new("dn: dc=saint-exemple\n");
    for (source, outcome) in town.back_up_all() {
        assert!(outcome.is_ok(), "{source}: {outcome:?}");
    }
    let list = town.repo.list_snapshots().unwrap();
    town.repo.ensure_index().unwrap();
    let drill = Drill::resume_or_start(&town.config).unwrap();
    let runner = RepositoryRunner {
        repo: &town.repo,
        list: &list,
        config: &town.config,
        choice: SnapshotChoice::Latest,
        destination: drill.destination(),
        pace: Pace::default(),
    };
    for service in ["partages", "cantine"] {
        let progress = ServiceProgress::new();
        runner.restore(service, &progress).unwrap();
        let counted = progress.restoring().bytes_done.load(Ordering::Relaxed);
        let view = progress.view();
        assert!(counted > 0, "{service}: nothing counted as it restored");
        assert!(
            view.bytes_total > 0 && view.bytes_done == view.bytes_total,
            "{service}: {view:?}"
        );
        if service == "partages" {
            assert!(view.files_done > 0, "{view:?}");
        }
    }
    assert!(drill
        .clean_up(&town.config, &list, SnapshotChoice::Latest)
        .is_empty());
}

#[test]
fn a_recovery_never_writes_over_an_existing_database_and_brings_a_lost_one_back() {
    let town = Town::new("dn: dc=saint-exemple\n");
    for (source, outcome) in town.back_up_all() {
        assert!(outcome.is_ok(), "{source}: {outcome:?}");
    }
    let cantine = vec!["cantine".to_owned()];
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &cantine,
    );
    assert!(!report.ok);
    let failed = report
        .services
        .iter()
        .find(|s| s.name == "cantine")
        .unwrap();
    let Status::Failed { reason } = &failed.status else {
        panic!("{:?}", failed.status)
    };
    assert!(reason.contains("already exists"), "{reason}");

    // The town loses its database: the recovery brings it back, the
    // annuaire it depends on first, through its restore program.
    let db = town.path("cantine.sqlite");
    std::fs::remove_file(&db).unwrap();
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &cantine,
    );
    assert!(report.ok, "{}", report.to_text());
    let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["annuaire", "cantine"]);
    assert_eq!(
        std::fs::read_to_string(town.path("annuaire-restored.ldif")).unwrap(),
        "dn: dc=saint-exemple\n"
    );
    let count = Sqlite::new()
        .query_scalar(&db.display().to_string(), "select count(*) from repas")
        .unwrap();
    assert_eq!(count, "3");
}

#[test]
fn a_command_that_writes_nothing_fails_its_source_and_writes_no_snapshot() {
    let town = Town::new("");
    let outcomes = town.back_up_all();
    let (_, annuaire) = outcomes.iter().find(|(s, _)| s == "annuaire").unwrap();
    let message = annuaire.as_ref().unwrap_err();
    assert!(message.contains("annuaire"), "{message}");
    assert!(message.contains("empty"), "{message}");
    let list = town.repo.list_snapshots().unwrap();
    assert!(list
        .snapshots
        .iter()
        .all(|(_, s)| !s.tags.contains(&"source=annuaire".to_owned())));
    assert!(
        outcomes
            .iter()
            .filter(|(s, _)| s != "annuaire")
            .all(|(_, o)| o.is_ok()),
        "the other sources are backed up all the same: {outcomes:?}"
    );
}

/// The cantine's database with `rows` meals, those whose number is in
/// `changed` with another menu.
fn cantine_sql(rows: u32, changed: impl Fn(u32) -> bool) -> String {
    let mut sql = String::from(
        "BEGIN TRANSACTION;\nCREATE TABLE repas(id INTEGER PRIMARY KEY, jour TEXT, menu TEXT);\n",
    );
    for id in 1..=rows {
        let menu = if changed(id) {
            "poisson pané"
        } else {
            "gratin de courgettes"
        };
        sql.push_str(&format!(
            "INSERT INTO repas VALUES({id},'jour {}','{menu} n°{}');\n",
            id % 7,
            id * 7919 % 10_007
        ));
    }
    sql.push_str("COMMIT;\n");
    sql
}

#[test]
fn a_night_with_scattered_changes_is_stored_as_deltas_and_its_drill_verifies() {
    let town = Town::new("dn: dc=saint-exemple\n");
    let db = town.path("cantine.sqlite").display().to_string();
    let night = |changed: &dyn Fn(u32) -> bool| {
        let sql = cantine_sql(60_000, changed);
        Sqlite::new()
            .restore(&db, &mut sql.as_bytes(), Replace::Existing)
            .unwrap();
        for (source, outcome) in town.back_up_all() {
            assert!(outcome.is_ok(), "{source}: {outcome:?}");
        }
    };
    night(&|_| false);
    assert!(
        !has_deltas(&town.repo),
        "a first night has nothing to be a delta of"
    );
    night(&|id| id % 100 == 0);
    assert!(
        has_deltas(&town.repo),
        "the second night's changed chunks are deltas"
    );

    let drill = Drill::resume_or_start(&town.config).unwrap();
    let report = town.run(RunKind::Drill, drill.destination(), &["cantine".to_owned()]);
    // Its health check expects the 3 meals of the town's first menu: only
    // the restore and its verification are looked at here.
    let cantine = report
        .services
        .iter()
        .find(|s| s.name == "cantine")
        .unwrap();
    let check = &cantine.sources[0].databases[0];
    assert!(check.verification.verified(), "{:?}", check.verification);
    let list = town.repo.list_snapshots().unwrap();
    assert!(drill
        .clean_up(&town.config, &list, SnapshotChoice::Latest)
        .is_empty());
}

fn has_deltas(repo: &Repository) -> bool {
    let index = repo.index();
    let any = index.blobs().any(|(id, _)| index.has_delta_copy(id));
    any
}
