//! Backing up services: every source of the named services, each as a
//! snapshot tagged with the source (`source=NAME`) and the services that
//! use it (`service=NAME`).
//!
//! A database source gives one snapshot per database (tagged
//! `database=NAME` too), holding the dump (`NAME.sql`) and the manifest of
//! its tables (`NAME.tables.json`, see `reprise_databases::DumpManifest`).
//! One snapshot per database keeps each database's history, parent and
//! shrink check its own when a server's list of databases changes. The dumps are streams read straight
//! into the repository; a dump whose tool failed, or whose output is empty
//! or much smaller than the previous night's, fails its source and writes
//! no snapshot.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use reprise_backup::{BackupOptions, BackupProgress, BackupReport, PathPatterns, Stream};
use reprise_databases::{DumpManifest, DumpOptions, ManifestHandle};
use reprise_repo::{Repository, SnapshotList};

use crate::config::{Config, SourceConfig};
use crate::engines::{self, SourceEngine};
use crate::ServiceError;

/// The tag naming the source of a snapshot.
pub fn source_tag(source: &str) -> String {
    format!("source={source}")
}

/// The tag naming a service that uses the snapshot's source.
pub fn service_tag(service: &str) -> String {
    format!("service={service}")
}

/// The dump's file name in a database's snapshot.
pub fn dump_file(database: &str) -> String {
    format!("{}.sql", file_safe(database))
}

/// The manifest's file name beside [`dump_file`].
pub fn manifest_file(database: &str) -> String {
    format!("{}.tables.json", file_safe(database))
}

/// A database name as a file name: `/` cannot appear in a snapshot's
/// root names (an SQLite database is named by its path).
fn file_safe(database: &str) -> String {
    let name = database.rsplit('/').next().unwrap_or(database);
    let stem = name
        .strip_suffix(".sqlite")
        .or_else(|| name.strip_suffix(".db"));
    stem.unwrap_or(name).to_owned()
}

/// The tag naming the database of a database source's snapshot.
pub fn database_tag(database: &str) -> String {
    format!("database={database}")
}

/// The outcome of one snapshot: a file or command source, or one
/// database of a database source.
pub struct SourceRun {
    pub source: String,
    /// The database, for a database source.
    pub database: Option<String>,
    pub services: Vec<String>,
    pub outcome: Result<BackupReport, ServiceError>,
}

/// The sources of `services` (each once, in name order) and, for each,
/// every service of the configuration that uses it.
pub fn sources_of(config: &Config, services: &[String]) -> Vec<(String, Vec<String>)> {
    let wanted: BTreeSet<&String> = services
        .iter()
        .filter_map(|s| config.services.get(s))
        .flat_map(|s| &s.sources)
        .collect();
    wanted
        .into_iter()
        .map(|source| {
            let users = config
                .services
                .iter()
                .filter(|(_, s)| s.sources.contains(source))
                .map(|(name, _)| name.clone())
                .collect();
            (source.clone(), users)
        })
        .collect()
}

/// Backs up every source of `services`, one after the other; a failed
/// source (or database) does not stop the others.
pub fn back_up_services(
    repo: &Repository,
    config: &Config,
    services: &[String],
    hostname: &str,
    progress: &BackupProgress,
) -> Vec<SourceRun> {
    // Listed once for every database's shrink check, rather than once per
    // database (each listing reads and decrypts every snapshot); an
    // unreadable listing skips the check, never the backup.
    let earlier = repo.list_snapshots().ok();
    let mut runs = Vec::new();
    for (source, users) in sources_of(config, services) {
        let run = |database: Option<String>, outcome| SourceRun {
            source: source.clone(),
            database,
            services: users.clone(),
            outcome,
        };
        let Some(source_config) = config.sources.get(&source) else {
            runs.push(run(None, Err(ServiceError::UnknownSource(source.clone()))));
            continue;
        };
        let mut tags = vec![source_tag(&source)];
        tags.extend(users.iter().map(|s| service_tag(s)));
        if let SourceConfig::Files { .. } = source_config {
            let outcome = back_up_files(repo, source_config, &source, tags, hostname, progress);
            runs.push(run(None, outcome));
            continue;
        }
        let engine = match engines::for_source(config, &source) {
            Ok(engine) => engine,
            Err(e) => {
                runs.push(run(None, Err(e)));
                continue;
            }
        };
        match engine.databases() {
            Err(e) => runs.push(run(None, Err(e))),
            Ok(databases) => {
                for database in databases {
                    let target = DatabaseBackup {
                        engine: &engine,
                        source: &source,
                        database: &database,
                        min_fraction: engines::min_fraction(config, &source),
                        earlier: earlier.as_ref(),
                    };
                    let outcome = target.run(repo, tags.clone(), hostname, progress);
                    runs.push(run(Some(database), outcome));
                }
            }
        }
    }
    runs
}

fn back_up_files(
    repo: &Repository,
    source_config: &SourceConfig,
    source: &str,
    tags: Vec<String>,
    hostname: &str,
    progress: &BackupProgress,
) -> Result<BackupReport, ServiceError> {
    let SourceConfig::Files {
        paths,
        excludes,
        one_file_system,
    } = source_config
    else {
        return Err(ServiceError::Config(format!(
            "source {source} is not a files source"
        )));
    };
    let mut options = BackupOptions::new(paths.clone(), hostname);
    options.excludes = PathPatterns::new(excludes.clone())
        .map_err(|e| ServiceError::Config(format!("source {source}: {e}")))?;
    options.one_file_system = *one_file_system;
    options.tags = tags;
    Ok(reprise_backup::run(repo, options, progress)?)
}

/// One database of a source, backed up as its own snapshot: the dump and
/// its manifest.
struct DatabaseBackup<'a> {
    engine: &'a SourceEngine,
    source: &'a str,
    database: &'a str,
    min_fraction: Option<f64>,
    /// The snapshots listed once before the run, for the shrink check.
    earlier: Option<&'a SnapshotList>,
}

impl DatabaseBackup<'_> {
    fn run(
        &self,
        repo: &Repository,
        mut tags: Vec<String>,
        hostname: &str,
        progress: &BackupProgress,
    ) -> Result<BackupReport, ServiceError> {
        tags.push(database_tag(self.database));
        let options = DumpOptions {
            previous_bytes: self.earlier.and_then(|list| {
                let dump = self.engine.dump_file(self.database);
                previous_dump_size(repo, list, self.source, self.database, &dump)
            }),
            min_fraction: self.min_fraction,
        };
        let handle = Arc::new(Mutex::new(ManifestHandle::default()));
        let mut backup = BackupOptions::new(Vec::new(), hostname);
        backup.streams = vec![
            self.dump_stream(options, Arc::clone(&handle)),
            self.manifest_stream(handle),
        ];
        backup.tags = tags;
        Ok(reprise_backup::run(repo, backup, progress)?)
    }

    fn dump_stream(&self, options: DumpOptions, handle: Arc<Mutex<ManifestHandle>>) -> Stream {
        let engine = self.engine.clone();
        let db = self.database.to_owned();
        Stream {
            name: self.engine.dump_file(self.database),
            label: format!("the dump of {} (source {})", self.database, self.source),
            open: Box::new(move || {
                let dump = engine.dump(&db, &options).map_err(std::io::Error::other)?;
                if let Ok(mut slot) = handle.lock() {
                    *slot = dump.manifest.clone();
                }
                Ok(dump.reader)
            }),
            allow_empty: false,
            // Dumps change by scattered rows: each night's chunks are
            // compressed against last night's (FORMAT.md §7.2).
            delta: true,
        }
    }

    fn manifest_stream(&self, handle: Arc<Mutex<ManifestHandle>>) -> Stream {
        let database = self.database;
        let missing = format!("the dump of {database} ended without its table manifest");
        Stream {
            name: manifest_file(database),
            label: format!("the table manifest of {database} (source {})", self.source),
            open: Box::new(move || {
                let manifest: Option<DumpManifest> = handle.lock().ok().and_then(|h| h.get());
                let manifest = manifest.ok_or_else(|| std::io::Error::other(missing))?;
                let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
                Ok(Box::new(std::io::Cursor::new(json)))
            }),
            allow_empty: false,
            delta: false,
        }
    }
}

/// The size of the dump file `dump_name` in the newest snapshot of this
/// database, for the shrink check; `None` when there is none or its tree
/// cannot be read (the check is then skipped, never the backup). The dump
/// alone: with its manifest counted, a small dump would look shrunken
/// next to the last one even when unchanged.
fn previous_dump_size(
    repo: &Repository,
    list: &SnapshotList,
    source: &str,
    database: &str,
    dump_name: &str,
) -> Option<u64> {
    let (source, database) = (source_tag(source), database_tag(database));
    let (_, newest) = list
        .snapshots
        .iter()
        .filter(|(_, s)| s.tags.contains(&source) && s.tags.contains(&database))
        .max_by_key(|(_, s)| s.time)?;
    let tree = repo.load_tree(&newest.tree).ok()?;
    let name = dump_name.trim_start_matches('/').as_bytes();
    tree.nodes
        .iter()
        .find(|node| node.name.0 == name)
        .map(|node| node.size)
}
