//! Restoring one service's sources from the repository: which snapshot of
//! each source, files back into their paths (or under a target root), and
//! databases into a new database whose content is then verified against
//! the table manifest captured at backup time.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use reprise_databases::{DumpManifest, Replace, Verification};
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::browse::reader::FileReader;
use reprise_repo::browse::subpath::resolve_subpath;
use reprise_repo::{Repository, SnapshotList, WalkBudget};
use reprise_restore::{RestoreOptions, RestoreProgress};

use crate::backup::{database_tag, dump_file, manifest_file, source_tag};
use crate::config::{Config, SourceConfig};
use crate::engines;
use crate::ServiceError;

/// Which snapshot of each source a recovery uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotChoice {
    /// The newest.
    Latest,
    /// The newest taken at or before this time.
    AtOrBefore(DateTime<Utc>),
    /// The newest whose detection verdict is clean, outside any open
    /// incident.
    LastClean,
}

/// Names a restored database from its source's name and configuration
/// and its original name.
pub type Rename = std::sync::Arc<dyn Fn(&str, &SourceConfig, &str) -> String + Send + Sync>;

/// Where a recovery puts things.
#[derive(Clone)]
pub struct Destination {
    /// Files go under this directory instead of their own paths.
    pub target_root: Option<PathBuf>,
    /// The name each restored database gets: its own in a recovery, a
    /// scratch name in a drill.
    pub rename: Rename,
    /// Databases go to this `[servers.NAME]` instead of their source's.
    pub server: Option<String>,
    pub replace: Replace,
    /// Run command sources' restore programs. A drill does not (they would
    /// write into the live application): it reads the output back whole,
    /// every chunk verified, instead.
    pub run_commands: bool,
}

impl Destination {
    /// A recovery: files to their paths (or under `target_root`), databases
    /// under their own names on their own servers.
    pub fn recovery(target_root: Option<PathBuf>, replace: Replace) -> Destination {
        Destination {
            target_root,
            rename: std::sync::Arc::new(|_, _, name| name.to_owned()),
            server: None,
            replace,
            run_commands: true,
        }
    }
}

/// One snapshot of a source, restored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceRestored {
    pub source: String,
    pub database: Option<String>,
    pub snapshot_id: String,
    pub snapshot_time: DateTime<Utc>,
    /// The snapshot's detection verdict (`clean`, `suspicious`, …), or
    /// `unknown` when detection did not run.
    pub verdict: String,
    /// Where it went: a directory, or the restored database's name.
    pub restored_to: String,
    pub bytes: u64,
    /// For a database: its tables compared with the manifest.
    pub verification: Option<Verification>,
}

/// The snapshots of `source` (one per database for a database source),
/// chosen by `choice`.
pub fn choose_snapshots<'l>(
    list: &'l SnapshotList,
    source: &str,
    choice: SnapshotChoice,
) -> Vec<(Option<String>, &'l (SnapshotId, Snapshot))> {
    let tag = source_tag(source);
    let of_source: Vec<&(SnapshotId, Snapshot)> = list
        .snapshots
        .iter()
        .filter(|(_, s)| s.tags.contains(&tag))
        .collect();
    let mut databases: Vec<Option<String>> =
        of_source.iter().map(|(_, s)| database_of(s)).collect();
    databases.sort();
    databases.dedup();
    databases
        .into_iter()
        .filter_map(|database| {
            let chosen = of_source
                .iter()
                .filter(|(_, s)| database_of(s) == database && fits(s, choice))
                .max_by_key(|(_, s)| s.time)?;
            Some((database, *chosen))
        })
        .collect()
}

fn database_of(snapshot: &Snapshot) -> Option<String> {
    let prefix = database_tag("");
    snapshot
        .tags
        .iter()
        .find_map(|t| t.strip_prefix(&prefix).map(str::to_owned))
}

fn fits(snapshot: &Snapshot, choice: SnapshotChoice) -> bool {
    match choice {
        SnapshotChoice::Latest => true,
        SnapshotChoice::AtOrBefore(time) => snapshot.time <= time,
        SnapshotChoice::LastClean => is_clean(snapshot),
    }
}

/// Clean: detection ran, found nothing, and the snapshot is not inside an
/// open incident (a snapshot taken while encrypted files are still there
/// may judge only its own changes clean).
fn is_clean(snapshot: &Snapshot) -> bool {
    snapshot
        .detection
        .as_ref()
        .is_some_and(|d| d.verdict == "clean" && d.incident.as_ref().is_none_or(|i| i.closed))
}

fn verdict_of(snapshot: &Snapshot) -> String {
    snapshot
        .detection
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |d| d.verdict.clone())
}

/// Restores every source of `service`.
pub fn restore_service(
    repo: &Repository,
    list: &SnapshotList,
    config: &Config,
    service: &str,
    choice: SnapshotChoice,
    destination: &Destination,
    progress: &RestoreProgress,
) -> Result<Vec<SourceRestored>, ServiceError> {
    let Some(service_config) = config.services.get(service) else {
        return Err(ServiceError::Config(format!(
            "service {service} is not in the configuration"
        )));
    };
    let mut restored = Vec::new();
    for source in &service_config.sources {
        let chosen = choose_snapshots(list, source, choice);
        if chosen.is_empty() {
            return Err(ServiceError::NoSnapshot {
                name: source.clone(),
                choice: describe(choice),
            });
        }
        for (database, (id, snapshot)) in chosen {
            let one = SnapshotToRestore {
                source,
                database: database.as_deref(),
                id,
                snapshot,
            };
            restored.push(one.restore(repo, config, destination, progress)?);
        }
    }
    Ok(restored)
}

fn describe(choice: SnapshotChoice) -> String {
    match choice {
        SnapshotChoice::Latest => "any snapshot".to_owned(),
        SnapshotChoice::AtOrBefore(t) => format!("a snapshot taken at or before {t}"),
        SnapshotChoice::LastClean => "a snapshot with a clean verdict".to_owned(),
    }
}

struct SnapshotToRestore<'a> {
    source: &'a str,
    database: Option<&'a str>,
    id: &'a SnapshotId,
    snapshot: &'a Snapshot,
}

impl SnapshotToRestore<'_> {
    fn restore(
        &self,
        repo: &Repository,
        config: &Config,
        destination: &Destination,
        progress: &RestoreProgress,
    ) -> Result<SourceRestored, ServiceError> {
        let source_config = config.sources.get(self.source);
        let (restored_to, verification) = match (source_config, self.database) {
            (Some(SourceConfig::Files { .. }), _) => {
                (self.restore_files(repo, destination, progress)?, None)
            }
            (Some(_), None) => return Err(self.damaged("it names no database (no database= tag)")),
            (Some(SourceConfig::Command { .. }), Some(file)) => (
                self.restore_command(repo, config, file, destination, progress)?,
                None,
            ),
            (Some(source_config), Some(database)) => {
                let (name, verification) = self.restore_database(
                    repo,
                    config,
                    source_config,
                    database,
                    destination,
                    progress,
                )?;
                (name, Some(verification))
            }
            (None, _) => return Err(ServiceError::UnknownSource(self.source.to_owned())),
        };
        Ok(SourceRestored {
            source: self.source.to_owned(),
            database: self.database.map(str::to_owned),
            snapshot_id: self.id.to_string(),
            snapshot_time: self.snapshot.time,
            verdict: verdict_of(self.snapshot),
            restored_to,
            bytes: self.snapshot.summary.as_ref().map_or(0, |s| s.total_bytes),
            verification,
        })
    }

    fn restore_files(
        &self,
        repo: &Repository,
        destination: &Destination,
        progress: &RestoreProgress,
    ) -> Result<String, ServiceError> {
        let target = destination
            .target_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/"));
        let root = resolve_subpath(repo, &self.snapshot.tree, b"/")?;
        let (nodes, base) = root.entries(repo, &self.snapshot.tree)?;
        let options = RestoreOptions {
            budget: WalkBudget::for_snapshot(self.id, self.snapshot),
            ..RestoreOptions::default()
        };
        reprise_restore::run(repo, nodes, &base, &target, &options, progress)?;
        Ok(target.display().to_string())
    }

    fn restore_database(
        &self,
        repo: &Repository,
        config: &Config,
        source_config: &SourceConfig,
        database: &str,
        destination: &Destination,
        progress: &RestoreProgress,
    ) -> Result<(String, Verification), ServiceError> {
        let server = destination.server.as_deref();
        let engine = engines::for_source_on(config, self.source, server)?.engine();
        let Some(engine) = engine else {
            return Err(ServiceError::Config(format!(
                "source {} is not a database source",
                self.source
            )));
        };
        let name = (destination.rename)(self.source, source_config, database);
        let manifest = self.manifest(repo, database)?;
        let dump = self.file(repo, &dump_file(database))?;
        let mut reader = Counted::new(FileReader::new(repo, &dump)?, progress);
        engine.restore(&name, &mut reader, destination.replace)?;
        let verification = engine.verify(&name, &manifest)?;
        Ok((name, verification))
    }

    /// A command source: its output fed to its restore program, or, in a
    /// drill, read back whole.
    fn restore_command(
        &self,
        repo: &Repository,
        config: &Config,
        file: &str,
        destination: &Destination,
        progress: &RestoreProgress,
    ) -> Result<String, ServiceError> {
        let node = self.file(repo, file)?;
        let mut reader = Counted::new(FileReader::new(repo, &node)?, progress);
        if !destination.run_commands {
            std::io::copy(&mut reader, &mut std::io::sink())
                .map_err(|e| self.damaged(&format!("{file} cannot be read back: {e}")))?;
            return Ok(format!(
                "{file} read back (restore program not run in a drill)"
            ));
        }
        let engines::SourceEngine::Command { command, .. } =
            engines::for_source(config, self.source)?
        else {
            return Err(ServiceError::Config(format!(
                "source {} is not a command source",
                self.source
            )));
        };
        command.restore(&mut reader)?;
        Ok(format!("{} (restore program)", command.restore.join(" ")))
    }

    fn manifest(&self, repo: &Repository, database: &str) -> Result<DumpManifest, ServiceError> {
        let node = self.file(repo, &manifest_file(database))?;
        let mut json = Vec::new();
        let limit = 64 << 20;
        std::io::Read::read_to_end(
            &mut std::io::Read::take(FileReader::new(repo, &node)?, limit),
            &mut json,
        )
        .map_err(|e| self.damaged(&format!("its table manifest cannot be read: {e}")))?;
        serde_json::from_slice(&json)
            .map_err(|e| self.damaged(&format!("its table manifest is not valid: {e}")))
    }

    fn file(&self, repo: &Repository, name: &str) -> Result<reprise_format::Node, ServiceError> {
        let path = format!("/{name}");
        resolve_subpath(repo, &self.snapshot.tree, path.as_bytes())?
            .node
            .ok_or_else(|| self.damaged(&format!("{name} is missing")))
    }

    fn damaged(&self, what: &str) -> ServiceError {
        ServiceError::Damaged {
            snapshot: self.id.short(),
            name: self.source.to_owned(),
            what: what.to_owned(),
        }
    }
}

/// A dump read from the repository, its bytes counted into the restore's
/// progress as the database or the restore program takes them.
struct Counted<'a, R> {
    inner: R,
    progress: &'a RestoreProgress,
}

impl<'a, R> Counted<'a, R> {
    fn new(inner: R, progress: &'a RestoreProgress) -> Self {
        Counted { inner, progress }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress
            .bytes_done
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}
