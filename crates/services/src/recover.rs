//! Recovery and drills from a repository: the [`ServiceRunner`] that
//! restores each service from its chosen snapshots, and the scratch places
//! a drill restores into and removes afterwards.
//!
//! A drill lives in a work directory (`[recovery] drill_dir`, by default
//! under the system's temporary directory) holding its id, its journal and
//! its restored files. Its databases get scratch names derived from the
//! id (`DATABASE_SOURCE_drill_ID` on the drill server or the source's own; SQLite
//! copies inside the work directory), so a drill killed midway and run
//! again resumes with the same names, and the cleanup finds every copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reprise_databases::{Engine, Replace};
use reprise_repo::{Repository, SnapshotList};

use crate::config::{Config, SourceConfig};
use crate::engines;
use crate::health::HealthContext;
use crate::pace::Pace;
use crate::report::{DatabaseCheck, RestoreOutcome, SourceOutcome};
use crate::restore::{
    choose_snapshots, restore_service, Destination, SnapshotChoice, SourceRestored,
};
use crate::schedule::{ServiceProgress, ServiceRunner};

/// Restores services from the repository for the recovery engine.
pub struct RepositoryRunner<'a> {
    pub repo: &'a Repository,
    pub list: &'a SnapshotList,
    pub config: &'a Config,
    pub choice: SnapshotChoice,
    pub destination: Destination,
    /// Restore rates past drills measured, for the order services start in.
    pub pace: Pace,
}

impl HealthContext for RepositoryRunner<'_> {
    fn sql_target(
        &self,
        source: &str,
        database: Option<&str>,
    ) -> Result<(Arc<dyn Engine>, String), String> {
        let server = self.destination.server.as_deref();
        let engine = engines::for_source_on(self.config, source, server)
            .map_err(|e| e.to_string())?
            .engine()
            .ok_or_else(|| format!("source {source} is not a database source"))?;
        let Some(source_config) = self.config.sources.get(source) else {
            return Err(format!("source {source} is not in the configuration"));
        };
        let database = match database {
            Some(database) => database.to_owned(),
            None => self.only_database(source)?,
        };
        Ok((
            engine,
            (self.destination.rename)(source, source_config, &database),
        ))
    }
}

impl RepositoryRunner<'_> {
    /// The one database of `source` in the chosen snapshots, for an SQL
    /// check that names none.
    fn only_database(&self, source: &str) -> Result<String, String> {
        let databases: Vec<String> = choose_snapshots(self.list, source, self.choice)
            .into_iter()
            .filter_map(|(database, _)| database)
            .collect();
        match databases.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("source {source} has no database snapshot to check")),
            _ => Err(format!(
                "source {source} has several databases ({}): name one with `database` in the check",
                databases.join(", ")
            )),
        }
    }

    /// The bytes the service's chosen snapshots hold, for the ETA.
    fn planned_bytes(&self, service: &str) -> u64 {
        let Some(service) = self.config.services.get(service) else {
            return 0;
        };
        service
            .sources
            .iter()
            .flat_map(|source| choose_snapshots(self.list, source, self.choice))
            .filter_map(|(_, (_, s))| s.summary.as_ref().map(|summary| summary.total_bytes))
            .sum()
    }
}

impl ServiceRunner for RepositoryRunner<'_> {
    /// The chosen snapshots' bytes at the rate the last drill of the
    /// service measured ([`Pace`]); without one, at a typical rate for each
    /// source's kind ([`restore_rate`]).
    fn estimate(&self, service: &str) -> Option<Duration> {
        if let Some(learned) = self.pace.estimate(service, self.planned_bytes(service)) {
            return Some(learned);
        }
        let service = self.config.services.get(service)?;
        let seconds = service
            .sources
            .iter()
            .filter_map(|name| {
                let source = self.config.sources.get(name)?;
                let bytes: u64 = choose_snapshots(self.list, name, self.choice)
                    .into_iter()
                    .filter_map(|(_, (_, s))| s.summary.as_ref().map(|m| m.total_bytes))
                    .sum();
                Some(bytes as f64 / restore_rate(source))
            })
            .sum::<f64>();
        Duration::try_from_secs_f64(seconds).ok()
    }

    fn restore(&self, service: &str, progress: &ServiceProgress) -> Result<RestoreOutcome, String> {
        progress.set_total(self.planned_bytes(service));
        let restored = restore_service(
            self.repo,
            self.list,
            self.config,
            service,
            self.choice,
            &self.destination,
            progress.restoring(),
        )
        .map_err(|e| e.to_string())?;
        progress.finish();
        let sources = restored.into_iter().map(outcome_of).collect::<Vec<_>>();
        Ok(RestoreOutcome { sources })
    }
}

/// Bytes a second a restore of `source` typically reaches, verification
/// included, before any drill measured it (reprise's database figures of
/// bench/RESULTS.md, 2026-12-04, on a two-core machine): only their
/// proportions matter, for the order services start in.
fn restore_rate(source: &SourceConfig) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    match source {
        SourceConfig::Files { .. } | SourceConfig::Command { .. } => 100.0 * MIB,
        SourceConfig::Sqlite { .. } | SourceConfig::Postgres { .. } => 40.0 * MIB,
        SourceConfig::Mariadb { .. } => 25.0 * MIB,
    }
}

fn outcome_of(restored: SourceRestored) -> SourceOutcome {
    let databases = match (restored.database, restored.verification) {
        (Some(database), Some(verification)) => vec![DatabaseCheck {
            database,
            restored_as: restored.restored_to,
            verification,
        }],
        _ => Vec::new(),
    };
    SourceOutcome {
        source: restored.source,
        snapshot_id: restored.snapshot_id,
        snapshot_time: restored.snapshot_time,
        verdict: restored.verdict,
        bytes: restored.bytes,
        databases,
    }
}

/// A drill's identity and scratch places.
#[derive(Debug, Clone)]
pub struct Drill {
    /// Lowercase letters and digits, so it fits in a database name.
    pub id: String,
    /// The drill's work directory: its id, journal and restored files.
    pub dir: PathBuf,
    /// The `[servers.NAME]` scratch databases go to (else each source's).
    pub server: Option<String>,
}

const ID_FILE: &str = "drill-id";

impl Drill {
    /// The directory drills work in: `[recovery] drill_dir`, else one in
    /// the temporary directory.
    pub fn base_dir(config: &Config) -> PathBuf {
        config
            .recovery
            .drill_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("reprise-drill"))
    }

    /// The drill to run: the interrupted one in `[recovery] drill_dir`,
    /// if any (same id, so the same scratch names), else a new one.
    pub fn resume_or_start(config: &Config) -> std::io::Result<Drill> {
        let dir = Drill::base_dir(config);
        let id = match std::fs::read_to_string(dir.join(ID_FILE)) {
            Ok(id) if is_drill_id(id.trim()) => id.trim().to_owned(),
            _ => {
                std::fs::create_dir_all(&dir)?;
                let id = new_id();
                write_synced(&dir.join(ID_FILE), id.as_bytes())?;
                id
            }
        };
        let drill = Drill {
            id,
            dir,
            server: config.recovery.drill_server.clone(),
        };
        std::fs::create_dir_all(drill.sqlite_dir())?;
        Ok(drill)
    }

    /// Where the drill's journal lives.
    pub fn journal_dir(&self) -> PathBuf {
        self.dir.join("journal")
    }

    /// Where the drill restores files and SQLite copies.
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// Where the drill restores SQLite databases.
    fn sqlite_dir(&self) -> PathBuf {
        self.dir.join("sqlite")
    }

    /// Scratch places for every source.
    pub fn destination(&self) -> Destination {
        let id = self.id.clone();
        let sqlite_dir = self.sqlite_dir();
        Destination {
            target_root: Some(self.files_dir()),
            rename: Arc::new(move |source, config, database| {
                scratch_name(source, config, database, &id, &sqlite_dir)
            }),
            server: self.server.clone(),
            // A scratch name is this drill's own (its id is in it): one
            // already there is what a killed run of the same drill left,
            // restored but not yet recorded up, and is restored again.
            replace: Replace::Existing,
            run_commands: false,
        }
    }

    /// Drops every scratch database the drill may have made and removes
    /// its work directory; returns what could not be cleaned, one line
    /// each (the drill's result stands either way).
    pub fn clean_up(
        &self,
        config: &Config,
        list: &SnapshotList,
        choice: SnapshotChoice,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let destination = self.destination();
        for (source, source_config) in &config.sources {
            if matches!(
                source_config,
                SourceConfig::Files { .. } | SourceConfig::Command { .. }
            ) {
                continue;
            }
            let Ok(engine) = engines::for_source_on(config, source, self.server.as_deref()) else {
                continue;
            };
            let Some(engine) = engine.engine() else {
                continue;
            };
            for (database, _) in choose_snapshots(list, source, choice) {
                let Some(database) = database else { continue };
                let scratch = (destination.rename)(source, source_config, &database);
                if let Err(e) = drop_if_exists(engine.as_ref(), &scratch) {
                    problems.push(format!("scratch database {scratch} (source {source}): {e}"));
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("{}: {e}", self.dir.display()));
            }
        }
        problems
    }
}

fn drop_if_exists(engine: &dyn Engine, name: &str) -> Result<(), reprise_databases::DbError> {
    if engine.exists(name)? {
        engine.drop_database(name)?;
    }
    Ok(())
}

/// A database's scratch name: `NAME_SOURCE_drill_ID` on a server (only
/// letters, digits and `_`, cut to fit PostgreSQL's 63-byte names; the
/// source keeps two sources' databases of the same name apart on one drill
/// server), a copy named after the source inside the drill's directory for
/// SQLite.
fn scratch_name(
    source: &str,
    config: &SourceConfig,
    database: &str,
    id: &str,
    sqlite_dir: &Path,
) -> String {
    let plain = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    if let SourceConfig::Sqlite { .. } = config {
        return sqlite_dir
            .join(format!("{}.sqlite", plain(source)))
            .display()
            .to_string();
    }
    let suffix = format!("_drill_{id}");
    let mut base = format!("{}_{}", plain(database), plain(source));
    base.truncate(63usize.saturating_sub(suffix.len()));
    format!("{base}{suffix}")
}

fn is_drill_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 24
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `YYYYMMDDHHMM` and four random hex digits, from the clock and the
/// process (enough to tell drills apart; uniqueness is not security).
fn new_id() -> String {
    let now = chrono::Utc::now();
    let noise = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}{noise:04x}", now.format("%Y%m%d%H%M"))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Marks a drill as finished: its id file goes, so the next drill is new.
pub fn forget_drill_id(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(ID_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
