//! The demo's last act: the town hall's services, not just its files.
//! A small catalogue (see `catalogue`) is backed up into the demo's
//! repository, one snapshot per source and database with its row counts
//! and checksums beside each dump; a drill then brings every service back
//! into scratch places in dependency order, checks each restored database
//! against what was backed up, runs the health checks and cleans up; the
//! demo prints the drill's RTO table. Nothing needs a server: SQLite goes
//! through the library, and PostgreSQL joins in only when its programs
//! are installed, on a throw-away cluster (see `postgres`) — if anything
//! about it fails, the demo says so in one line and drills the rest.

use super::catalogue::{self, Generated, WaterServer, WATER_DATABASE};
use super::postgres::{installed_bin_dir, Cluster};
use super::Demo;
use anyhow::{bail, Context, Result};
use reprise_backup::BackupProgress;
use reprise_databases::{Connection, Engine, Postgres, Replace};
use reprise_repo::Repository;
use reprise_services::backup::back_up_services;
use reprise_services::config::Config;
use reprise_services::pace::Pace;
use reprise_services::recover::{Drill, RepositoryRunner};
use reprise_services::report::{RecoveryReport, RunKind};
use reprise_services::restore::SnapshotChoice;
use reprise_services::schedule::{self, Plan, RunOptions};
use std::path::Path;
use std::time::Duration;

/// The source of water billing in the catalogue.
const WATER_SOURCE: &str = "eau-db";

/// Runs the act in `work/services`; returns the drill's report.
pub(super) fn run(demo: &mut Demo, repo: &Repository, work: &Path) -> Result<RecoveryReport> {
    let mut cluster = demo.timed("start a throw-away PostgreSQL", || Ok(optional_postgres()))?;
    let generated = demo.timed("generate the services' data", || {
        let generated = catalogue::generate(&work.join("services"))?;
        let detail = generated.summary.clone();
        Ok((generated, detail))
    })?;
    let water = cluster.as_ref().map(|(c, bin)| WaterServer {
        port: c.port,
        bin: bin.clone(),
    });
    let config = demo.timed("back up the services", || {
        back_up(repo, &generated, water.as_ref())
    })?;
    let drilled = demo.timed("drill: every service, in order", || drill(repo, &config));
    if let Some((mut cluster, _)) = cluster.take() {
        demo.timed("stop the throw-away PostgreSQL", || {
            let detail = match cluster.stop() {
                Ok(()) => "stopped; its directory is removed".to_string(),
                Err(e) => format!("could not stop it: {e:#}"),
            };
            Ok(((), detail))
        })?;
    }
    let report = drilled?;
    if !demo.json {
        print_table(&report, &generated);
    }
    Ok(report)
}

/// A running cluster holding water billing's database, or why not.
fn optional_postgres() -> (Option<(Cluster, std::path::PathBuf)>, String) {
    let Some(bin) = installed_bin_dir() else {
        return (
            None,
            "skipped: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)".into(),
        );
    };
    match start_with_water_billing(&bin) {
        Ok(cluster) => {
            let detail = format!(
                "PostgreSQL {} on 127.0.0.1:{} (data in {}), database {WATER_DATABASE} ({} bills)",
                version_of(&bin),
                cluster.port,
                cluster.data_dir().display(),
                catalogue::BILLS
            );
            crate::interrupt::say_on_interrupt(&format!(
                "interrupted: stop the demo's PostgreSQL with {} -D {} stop",
                bin.join("pg_ctl").display(),
                cluster.data_dir().display()
            ));
            (Some((cluster, bin)), detail)
        }
        Err(e) => (None, format!("skipped, the demo goes on without it: {e:#}")),
    }
}

/// `15` for `/usr/lib/postgresql/15/bin`.
fn version_of(bin: &Path) -> String {
    bin.parent()
        .and_then(Path::file_name)
        .map_or_else(String::new, |v| v.to_string_lossy().into_owned())
}

fn start_with_water_billing(bin: &Path) -> Result<Cluster> {
    let cluster = Cluster::start(bin)?;
    let server = Postgres::new(Connection {
        host: Some("127.0.0.1".into()),
        port: Some(cluster.port),
        user: Some("postgres".into()),
        bin_dir: Some(bin.to_path_buf()),
        ..Connection::default()
    });
    let sql = catalogue::water_billing_sql();
    server
        .restore(WATER_DATABASE, &mut sql.as_bytes(), Replace::Never)
        .with_context(|| format!("cannot create the database {WATER_DATABASE}"))?;
    Ok(cluster)
}

/// Writes the catalogue and backs up every service; water billing is left
/// out (said in the detail) when its backup fails.
fn back_up(
    repo: &Repository,
    generated: &Generated,
    water: Option<&WaterServer>,
) -> Result<(Config, String)> {
    let (config, runs) = back_up_catalogue(repo, generated, water)?;
    let failed: Vec<String> = runs
        .iter()
        .filter_map(|(source, outcome)| outcome.as_ref().err().map(|e| format!("{source}: {e}")))
        .collect();
    let snapshots = runs.len() - failed.len();
    if failed.iter().all(|f| f.starts_with(WATER_SOURCE)) && !failed.is_empty() {
        let text = catalogue::config_text(generated, None)?;
        let config = write_config(&text, generated)?;
        let detail = format!(
            "{snapshots} snapshots; PostgreSQL left out, its backup failed: {}",
            failed.join("; ")
        );
        return Ok((config, detail));
    }
    if !failed.is_empty() {
        bail!("the services' backup failed: {}", failed.join("; "));
    }
    let services = config.services.len();
    let detail = format!(
        "{services} services, {snapshots} snapshots tagged service= and source=, \
         each dump with its tables' row counts and checksums"
    );
    Ok((config, detail))
}

/// Each source's outcome, named.
type Runs = Vec<(String, Result<(), String>)>;

fn back_up_catalogue(
    repo: &Repository,
    generated: &Generated,
    water: Option<&WaterServer>,
) -> Result<(Config, Runs)> {
    let text = catalogue::config_text(generated, water)?;
    let config = write_config(&text, generated)?;
    let all: Vec<String> = config.services.keys().cloned().collect();
    let runs = back_up_services(
        repo,
        &config,
        &all,
        "mairie-saint-exemple",
        &BackupProgress::default(),
    )
    .into_iter()
    .map(|r| (r.source, r.outcome.map(drop).map_err(|e| e.to_string())))
    .collect();
    Ok((config, runs))
}

/// Keeps the catalogue beside its data, for the curious, and parses it.
fn write_config(text: &str, generated: &Generated) -> Result<Config> {
    let file = generated.config_file();
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    catalogue::parse(text, &file)
}

/// A drill of every service from the latest snapshots, cleaned up after.
fn drill(repo: &Repository, config: &Config) -> Result<(RecoveryReport, String)> {
    let list = repo.list_snapshots()?;
    repo.ensure_index()?;
    let drill = Drill::resume_or_start(config).context("cannot create the drill's directory")?;
    let runner = RepositoryRunner {
        repo,
        list: &list,
        config,
        choice: SnapshotChoice::Latest,
        destination: drill.destination(),
        pace: Pace::of_repository(repo)?,
    };
    let plan = Plan::from_config(config, &[])?;
    let mut options = RunOptions::new(RunKind::Drill, &config.recovery);
    // A drill this small is up in well under a second: check often.
    options.health_interval = Duration::from_millis(100);
    let report = schedule::run(&plan, &runner, options, &mut |_: &schedule::Event| {});
    let problems = drill.clean_up(config, &list, SnapshotChoice::Latest);
    if !report.ok {
        bail!("the drill failed:\n{}", report.to_text());
    }
    if !problems.is_empty() {
        bail!(
            "the drill could not clean up: {}; remove these by hand",
            problems.join("; ")
        );
    }
    let (verified, databases) = database_counts(&report);
    let detail = format!(
        "{} services up, {verified} of {databases} databases verified against their backup; \
         scratch copies removed",
        report.services.len()
    );
    Ok((report, detail))
}

/// (verified, all) restored databases of the report.
fn database_counts(report: &RecoveryReport) -> (usize, usize) {
    let checks: Vec<bool> = report
        .services
        .iter()
        .flat_map(|s| &s.sources)
        .flat_map(|s| &s.databases)
        .map(|d| d.verification.verified())
        .collect();
    (checks.iter().filter(|v| **v).count(), checks.len())
}

fn print_table(report: &RecoveryReport, generated: &Generated) {
    println!(
        "\nThe drill's RTO table (the catalogue is {}):\n",
        generated.config_file().display()
    );
    for line in report.to_text().lines() {
        println!("  {line}");
    }
    let (verified, databases) = database_counts(report);
    println!(
        "\nFor each service: the snapshot it came back from, that snapshot's detection \
         verdict, the data it lost (RPO), when it was up and whether that met its target; \
         the last line gives the time to the first service and until all were up, \
         and every database was checked against the row counts and checksums recorded \
         at backup time ({verified} of {databases} verified)."
    );
}
