//! A town on real PostgreSQL and MariaDB servers, end to end through the
//! library: services depending on each other backed up one snapshot per
//! database, drilled into scratch databases (on the sources' own server,
//! and on a second `[servers]` entry named as the drill server), every
//! restored database verified against its backup-time manifest, and the
//! scratch databases dropped; a recovery that refuses to write over a live
//! database, replaces it when told to, and brings a lost one back.
//!
//! The MariaDB source backs up `databases = "all"`, so the tests of this
//! file take turns (one lock): no other test's database appears in
//! "all" half-made.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Arc, Mutex, MutexGuard};

use common::*;
use reprise_databases::{Engine, Replace};
use reprise_repo::browse::subpath::resolve_subpath;
use reprise_services::report::{RunKind, Status};
use reprise_services::restore::Destination;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The town's live databases (dropped at the end) and its configuration.
struct Live {
    civil: String,
    cadastre: String,
    portail: String,
    _pg: Created,
    _maria: Created,
}

fn live_databases(servers: &Servers) -> Live {
    let pg: Arc<dyn Engine> = Arc::new(servers.pg());
    let maria: Arc<dyn Engine> = Arc::new(servers.maria());
    let civil = unique_name("civil");
    let cadastre = unique_name("cadastre");
    let portail = unique_name("portail");
    let mut pg_created = create(Arc::clone(&pg), &civil, PG_CIVIL);
    pg_created
        .names
        .append(&mut create(pg, &cadastre, PG_CADASTRE).names);
    let maria_created = create(maria, &portail, MARIA_PORTAIL);
    Live {
        civil,
        cadastre,
        portail,
        _pg: pg_created,
        _maria: maria_created,
    }
}

/// Services: the portal (MariaDB, all databases), the civil registry
/// (PostgreSQL, two databases) that needs it, and town planning (no data
/// of its own) that needs the registry.
fn config(servers: &Servers, live: &Live, drill_server: Option<&str>) -> String {
    let mut text = servers.pg_entry("pg", None, None);
    text.push_str(&servers.pg_entry("secours", None, None));
    text.push_str(&servers.maria_entry("maria"));
    text.push_str(&format!(
        r#"
[sources.pg-mairie]
type = "postgres"
server = "pg"
databases = ["{civil}", "{cadastre}"]

[sources.portail-db]
type = "mariadb"
server = "maria"
databases = "all"

[services.portail]
public_name = "Portail citoyen"
priority = 1
sources = ["portail-db"]
health = [{{ type = "sql", source = "portail-db", database = "{portail}", query = "select count(*) from comptes", expect = "2" }}]

[services.etat-civil]
public_name = "État civil"
priority = 1
depends_on = ["portail"]
sources = ["pg-mairie"]
health = [{{ type = "sql", source = "pg-mairie", database = "{civil}", query = "select count(*) from actes", expect = "3" }}]

[services.urbanisme]
public_name = "Urbanisme"
priority = 2
depends_on = ["etat-civil"]
health = [{{ type = "command", run = ["true"] }}]

[recovery]
parallel = 2
health_timeout = "20s"
drill_dir = "{{dir}}/drill"
"#,
        civil = live.civil,
        cadastre = live.cadastre,
        portail = live.portail,
    ));
    if let Some(server) = drill_server {
        text.push_str(&format!("drill_server = \"{server}\"\n"));
    }
    text
}

/// The backup gives one snapshot per database, tagged with its source,
/// its services and its database, its manifest beside the dump.
fn back_up_and_check_snapshots(town: &Town, live: &Live) {
    // Only this town's databases are judged: "all" may find a database
    // another run left on the test server.
    let runs = town.back_up_all();
    for (source, service, database) in [
        ("pg-mairie", "etat-civil", &live.civil),
        ("pg-mairie", "etat-civil", &live.cadastre),
        ("portail-db", "portail", &live.portail),
    ] {
        let tags = [
            format!("source={source}"),
            format!("service={service}"),
            format!("database={database}"),
        ];
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        assert_eq!(town.snapshots_tagged(&tags), 1, "{tags:?}");
        let run = outcome_of(&runs, database);
        assert!(
            run.outcome.is_ok(),
            "{database}: {:?}",
            run.outcome.as_ref().err()
        );
    }
    let list = town.repo.list_snapshots().unwrap();
    let tag = format!("database={}", live.civil);
    let (_, snapshot) = list
        .snapshots
        .iter()
        .find(|(_, s)| s.tags.contains(&tag))
        .unwrap();
    for file in [
        format!("{}.sql", live.civil),
        format!("{}.tables.json", live.civil),
    ] {
        let path = format!("/{file}");
        let found = resolve_subpath(&town.repo, &snapshot.tree, path.as_bytes()).unwrap();
        assert!(found.node.is_some(), "{file} is not in the snapshot");
    }
}

/// Runs a drill and checks that every service is up with every database
/// verified under its scratch name on `engine_of(source)`, then cleans up
/// and checks that the scratch databases are gone.
fn drill_and_check(town: &Town, live: &Live, servers: &Servers) {
    let (drill, report) = drill(town);
    assert!(report.ok, "{}", report.to_text());
    for name in ["portail", "etat-civil", "urbanisme"] {
        assert_eq!(service(&report, name).status, Status::Up, "{name}");
    }
    let suffix = format!("_drill_{}", drill.id);
    let mut scratch = Vec::new();
    for (name, engine) in [
        ("etat-civil", Arc::new(servers.pg()) as Arc<dyn Engine>),
        ("portail", Arc::new(servers.maria()) as Arc<dyn Engine>),
    ] {
        for source in &service(&report, name).sources {
            for db in &source.databases {
                assert!(db.verification.verified(), "{db:?}");
                assert!(
                    db.restored_as.starts_with(&format!("{}_", db.database))
                        && db.restored_as.ends_with(&suffix),
                    "{db:?}"
                );
                assert!(engine.exists(&db.restored_as).unwrap(), "{db:?}");
                scratch.push((Arc::clone(&engine), db.restored_as.clone()));
            }
        }
    }
    let restored: Vec<&str> = scratch.iter().map(|(_, n)| n.as_str()).collect();
    for database in [&live.civil, &live.cadastre, &live.portail] {
        assert!(
            restored
                .iter()
                .any(|r| r.starts_with(&format!("{database}_")) && r.ends_with(&suffix)),
            "{database} not restored: {restored:?}"
        );
    }
    town.clean_up(&drill);
    for (engine, name) in scratch {
        assert!(!engine.exists(&name).unwrap(), "{name} left behind");
    }
}

#[test]
fn a_drill_on_the_sources_own_servers_verifies_every_database_and_drops_them_all() {
    let Some(servers) = servers() else { return };
    let _turn = turn();
    let live = live_databases(&servers);
    let town = Town::new(&config(&servers, &live, None));
    back_up_and_check_snapshots(&town, &live);
    drill_and_check(&town, &live, &servers);
}

#[test]
fn a_drill_on_a_drill_server_restores_there_and_mariadb_stays_on_its_own() {
    let Some(servers) = servers() else { return };
    let _turn = turn();
    let live = live_databases(&servers);
    // The drill server is PostgreSQL: the MariaDB source has to be drilled
    // on its own server, not fed to psql.
    let town = Town::new(&config(&servers, &live, Some("secours")));
    town.back_up_all_ok();
    drill_and_check(&town, &live, &servers);
}

#[test]
fn a_recovery_refuses_a_live_database_replaces_it_when_told_and_brings_a_lost_one_back() {
    let Some(servers) = servers() else { return };
    let _turn = turn();
    let live = live_databases(&servers);
    let town = Town::new(&config(&servers, &live, None));
    town.back_up_all_ok();
    let pg = servers.pg();
    let civil = vec!["etat-civil".to_owned()];
    let recovery = |replace| {
        town.run(
            RunKind::Recover,
            Destination::recovery(None, replace),
            &civil,
            None,
        )
    };

    let report = recovery(Replace::Never);
    assert!(!report.ok);
    let reason = failure(&report, "portail");
    assert!(reason.contains("already exists"), "{reason}");
    assert!(reason.contains(&live.portail), "{reason}");
    assert!(matches!(
        service(&report, "etat-civil").status,
        Status::NotStarted { .. }
    ));
    assert_no_false_verified(&report, &[]);

    // Rows changed since the backup are put back as they were.
    pg.query_scalar(&live.civil, "delete from actes where id = 1")
        .unwrap();
    let report = recovery(Replace::Existing);
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(
        pg.query_scalar(&live.civil, "select count(*) from actes")
            .unwrap(),
        "3"
    );
    for source in &service(&report, "etat-civil").sources {
        for db in &source.databases {
            assert!(db.verification.verified(), "{db:?}");
            assert_eq!(db.restored_as, db.database);
        }
    }

    // The town loses its civil registry: the recovery brings it back; the
    // portal, still there, is refused (Replace::Never) and so the
    // registry is recovered on its own.
    pg.drop_database(&live.civil).unwrap();
    pg.drop_database(&live.cadastre).unwrap();
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &[],
        None,
    );
    assert!(failure(&report, "portail").contains("already exists"));
    let maria = servers.maria();
    maria.drop_database(&live.portail).unwrap();
    let report = town.run(
        RunKind::Recover,
        Destination::recovery(None, Replace::Never),
        &civil,
        None,
    );
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(
        pg.query_scalar(&live.cadastre, "select count(*) from parcelles")
            .unwrap(),
        "2"
    );
    assert_eq!(
        maria
            .query_scalar(&live.portail, "select count(*) from comptes")
            .unwrap(),
        "2"
    );
}
