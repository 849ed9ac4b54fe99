//! Backup: turns directory trees (or standard input) into a snapshot.
//!
//! Directories are walked in parallel (rayon: each directory fans its
//! entries out to the pool, and results come back in name order). A file is
//! read only when its size, mtime, ctime or inode differs from the parent
//! snapshot. Small files are read whole; large ones are cut into chunks a
//! batch at a time and the chunks of a batch are hashed, compressed and
//! sealed in parallel, so one huge database dump still uses every core.
//!
//! Errors on single files (unreadable, vanished) become warnings: the
//! snapshot is still written and the caller reports it as incomplete.
mod delta;
mod file;
mod metadata;
mod parent;
mod preview;
mod scan;
mod walker;

pub use parent::PassedOver;
pub use preview::{preview, FileState, Preview, PreviewFile};
pub use reprise_repo::PathPatterns;
pub use scan::scan_totals;

use chrono::Utc;
use reprise_format::snapshot::paths_bytes_of;
use reprise_format::{Snapshot, SnapshotId, SnapshotSummary, OBJECT_VERSION};
use reprise_repo::browse::{Listed, Opened};
use reprise_repo::{BlobSaver, RepoError, Repository, SnapshotList};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Errors that stop a backup. Per-file problems are [`BackupWarning`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path} does not exist: check the path given to backup")]
    MissingPath { path: String },
    #[error(transparent)]
    BadPattern(#[from] reprise_repo::PatternError),
    #[error("reading {name}: {source}")]
    Stream {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} was empty: whatever feeds it probably failed, so nothing was saved (back up an empty stream on purpose with --allow-empty)")]
    EmptyStream { name: String },
    #[error("{0:?} cannot name a file of the snapshot: give a plain file name, without '/', unique among the streams")]
    StreamName(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A file or directory that could not be backed up as it was.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupWarning {
    pub path: String,
    pub message: String,
    /// True if the entry is missing from the snapshot (unreadable); false if
    /// it is in the snapshot but may be inconsistent (changed while read).
    pub skipped: bool,
}

impl BackupReport {
    /// True when some entry could not be backed up at all.
    pub fn is_incomplete(&self) -> bool {
        self.warnings.iter().any(|w| w.skipped)
    }
}

/// What to back up.
pub struct BackupOptions {
    pub paths: Vec<PathBuf>,
    pub excludes: PathPatterns,
    pub one_file_system: bool,
    pub tags: Vec<String>,
    pub hostname: String,
    /// Files made from streams (standard input, a database dump and its
    /// manifest), instead of paths: each becomes one file at the root of
    /// the snapshot, read in order.
    pub streams: Vec<Stream>,
    /// Read every file even if the parent snapshot says it is unchanged.
    pub force_read: bool,
    /// Measure every file read and analyse the snapshot for ransomware.
    pub detection: bool,
}

impl BackupOptions {
    /// Backs up `paths` for `hostname`, with no tags, no excludes, crossing
    /// file systems, and skipping files the parent snapshot shows unchanged.
    pub fn new(paths: Vec<PathBuf>, hostname: impl Into<String>) -> Self {
        BackupOptions {
            paths,
            excludes: PathPatterns::default(),
            one_file_system: false,
            tags: Vec::new(),
            hostname: hostname.into(),
            streams: Vec::new(),
            force_read: false,
            detection: true,
        }
    }
}

/// A file of the snapshot read from a stream rather than from disk.
pub struct Stream {
    /// The file's name at the root of the snapshot.
    pub name: String,
    /// What the error messages call the stream ("standard input").
    pub label: String,
    /// Opens the stream when its turn comes, so a stream may depend on
    /// those before it (a dump's manifest exists once the dump was read).
    pub open: Box<dyn FnOnce() -> std::io::Result<Box<dyn Read + Send>> + Send>,
    /// An empty stream is refused unless this is set: an empty dump or
    /// standard input is most often a program that failed.
    pub allow_empty: bool,
    /// Compress new chunks against the parent snapshot's version of the
    /// same file (database dumps: a few changed rows scattered over every
    /// chunk), when the repository's format allows it.
    pub delta: bool,
}

impl Stream {
    /// A stream already open, such as standard input.
    pub fn reader(
        name: impl Into<String>,
        label: impl Into<String>,
        reader: Box<dyn Read + Send>,
    ) -> Stream {
        Stream {
            name: name.into(),
            label: label.into(),
            open: Box::new(move || Ok(reader)),
            allow_empty: false,
            delta: false,
        }
    }
}

/// The part of [`BackupOptions`] the walking threads share.
pub(crate) struct WalkSettings {
    pub excludes: PathPatterns,
    pub one_file_system: bool,
    pub force_read: bool,
    pub detection: bool,
}

/// Live counters, read by the progress display.
#[derive(Debug, Default)]
pub struct BackupProgress {
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    pub errors: AtomicU64,
    /// An estimate of the bytes to cover: the parent snapshot's total, or
    /// what [`scan_totals`] found, whichever is larger.
    pub bytes_expected: AtomicU64,
    /// Set when the backup is done, so a scanner still running stops.
    pub finished: std::sync::atomic::AtomicBool,
}

/// The outcome of a backup whose snapshot was written.
#[derive(Debug)]
pub struct BackupReport {
    pub snapshot_id: SnapshotId,
    pub snapshot: Snapshot,
    pub parent: Option<SnapshotId>,
    /// Newer snapshots of the source that could not be the parent: dated
    /// after the storage received them (forged, or a wrong clock) or long
    /// before (late arrivals).
    pub passed_over: Vec<PassedOver>,
    pub warnings: Vec<BackupWarning>,
    /// The ransomware analysis, unless detection was off.
    pub detection: Option<reprise_detect::Report>,
    /// The incident this backup opened, kept open, added a wave to or
    /// closed.
    pub incident: Option<reprise_detect::incident::Followed>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unmodified: AtomicU64,
    pub dirs_new: AtomicU64,
    pub dirs_changed: AtomicU64,
    pub dirs_unmodified: AtomicU64,
    pub total_files: AtomicU64,
    pub total_bytes: AtomicU64,
    pub bytes_read: AtomicU64,
}

/// Everything the walk shares between threads.
pub(crate) struct Context<'r> {
    pub repo: &'r Repository,
    pub saver: BlobSaver<'r>,
    pub options: &'r WalkSettings,
    pub progress: &'r BackupProgress,
    pub counters: Counters,
    pub warnings: Mutex<Vec<BackupWarning>>,
    pub users: metadata::NameCache,
    /// The changed files of every directory, collected during the walk for
    /// ransomware detection when the walk compares with the previous
    /// snapshot of the source (or there is none).
    pub changes: Option<Mutex<Vec<reprise_detect::changes::DirChanges>>>,
}

impl Context<'_> {
    /// Reports an entry that is left out of the snapshot.
    pub fn warn(&self, path: &std::path::Path, message: impl Into<String>) {
        self.progress.errors.fetch_add(1, Ordering::Relaxed);
        self.record(path, message.into(), true);
    }

    /// Reports an entry that is in the snapshot but may not be consistent.
    pub fn notice(&self, path: &std::path::Path, message: impl Into<String>) {
        self.record(path, message.into(), false);
    }

    fn record(&self, path: &std::path::Path, message: String, skipped: bool) {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(BackupWarning {
                path: path.display().to_string(),
                message,
                skipped,
            });
    }
}

fn absolute_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, BackupError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = Vec::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            cwd.join(p)
        };
        let abs = normalize(&abs);
        if std::fs::symlink_metadata(&abs).is_err() {
            return Err(BackupError::MissingPath {
                path: p.display().to_string(),
            });
        }
        out.push(abs);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Removes `.` and `..` components lexically, as the user meant them.
fn normalize(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// What a backup covers: its paths as given, as the snapshot's text and
/// byte for byte.
struct Source {
    paths: Vec<PathBuf>,
    text: Vec<String>,
    bytes: Vec<Vec<u8>>,
}

/// The streams' file names (a leading `/` dropped), checked to be plain
/// and unique; `None` when the backup reads paths instead.
fn stream_names(streams: &[Stream]) -> Result<Option<Vec<String>>, BackupError> {
    if streams.is_empty() {
        return Ok(None);
    }
    let mut names: Vec<String> = Vec::new();
    for stream in streams {
        let name = stream.name.trim_start_matches('/');
        let plain = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
        if !plain || names.iter().any(|n| n == name) {
            return Err(BackupError::StreamName(stream.name.clone()));
        }
        names.push(name.to_owned());
    }
    Ok(Some(names))
}

fn source_of(options: &BackupOptions, streams: Option<&[String]>) -> Result<Source, BackupError> {
    use std::os::unix::ffi::OsStrExt;
    let paths = if streams.is_some() {
        Vec::new()
    } else {
        absolute_paths(&options.paths)?
    };
    let bytes: Vec<Vec<u8>> = match streams {
        Some(names) => names.iter().map(|n| format!("/{n}").into_bytes()).collect(),
        None => paths
            .iter()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .collect(),
    };
    let text = bytes
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    Ok(Source { paths, text, bytes })
}

/// Backs up `options.paths` (or stdin) and writes the snapshot.
///
/// A backup that fails after announcing its start closes the announcement
/// with an ended mark, so that prune does not wait days for it.
pub fn run(
    repo: &Repository,
    mut options: BackupOptions,
    progress: &BackupProgress,
) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let time = Utc::now();
    let streams = std::mem::take(&mut options.streams);
    let names = stream_names(&streams)?;
    let source = source_of(&options, names.as_deref())?;
    // The snapshots first, the index only after the started mark (see
    // `reprise_repo::browse::open` for why this order).
    let listed = Listed::list(repo)?;
    // The previous snapshot of this source, even with force_read: detection
    // compares with it whether or not its content is reused.
    let choice = parent::find_parent(listed.snapshots(), &options.hostname, &source.bytes, time);
    let previous = choice.parent;
    let parent = previous.clone().filter(|_| !options.force_read);
    // Announced before the index is loaded: from here until its snapshot
    // exists, prune keeps every pack this backup might deduplicate against.
    let session = repo.announce_backup(&source.text, paths_bytes_of(&source.bytes))?;
    let announced = Announced {
        started,
        time,
        listed,
        previous,
        parent,
        session: session.clone(),
        passed_over: choice.passed_over,
    };
    match back_up(repo, &options, streams, &source, announced, progress) {
        Ok(report) => Ok(report),
        Err(e) => {
            // Best effort: if even this small write fails (the disk is
            // still full), prune names the unfinished backup and waits.
            let _ = repo.announce_end(&session);
            Err(e)
        }
    }
}

/// What a backup knows once it has announced its start.
struct Announced<'r> {
    started: Instant,
    time: chrono::DateTime<Utc>,
    listed: Listed<'r>,
    previous: Option<(SnapshotId, Snapshot)>,
    parent: Option<(SnapshotId, Snapshot)>,
    session: String,
    passed_over: Vec<PassedOver>,
}

fn back_up(
    repo: &Repository,
    options: &BackupOptions,
    streams: Vec<Stream>,
    source: &Source,
    announced: Announced<'_>,
    progress: &BackupProgress,
) -> Result<BackupReport, BackupError> {
    let Announced {
        started,
        time,
        listed,
        previous,
        parent,
        session,
        passed_over,
    } = announced;
    // After the snapshot list, so the parent's chunks are all in the index.
    let Opened {
        snapshots: list,
        index: index_report,
    } = listed.load_index()?;
    if let Some(summary) = parent.as_ref().and_then(|(_, s)| s.summary.as_ref()) {
        progress
            .bytes_expected
            .store(summary.total_bytes, Ordering::Relaxed);
    }
    let settings = WalkSettings {
        excludes: options.excludes.clone(),
        one_file_system: options.one_file_system,
        force_read: options.force_read,
        detection: options.detection,
    };
    // The walk compares with `parent`; detection compares with `previous`.
    // When they are the same, the walk collects the changes for detection.
    let walk_sees_changes = streams.is_empty() && (parent.is_some() || previous.is_none());
    let ctx = Context {
        repo,
        saver: BlobSaver::new(repo),
        options: &settings,
        progress,
        counters: Counters::default(),
        warnings: Mutex::new(Vec::new()),
        users: metadata::NameCache::default(),
        changes: (options.detection && walk_sees_changes).then(|| Mutex::new(Vec::new())),
    };
    let parent_tree = match &parent {
        Some((_, s)) => repo.load_tree(&s.tree).ok(),
        None => None,
    };
    let tree = if streams.is_empty() {
        walker::save_roots(&ctx, &source.paths, parent_tree)?
    } else {
        walker::save_streams(&ctx, streams, parent_tree)?
    };
    let Context {
        saver,
        counters,
        warnings,
        changes,
        ..
    } = ctx;
    let changes = changes.map(|c| c.into_inner().unwrap_or_else(|p| p.into_inner()));
    let saved = saver.finish(index_report.adopted_packs)?;
    let warnings = warnings.into_inner().unwrap_or_else(|p| p.into_inner());
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let summary = SnapshotSummary {
        files_new: c(&counters.files_new),
        files_changed: c(&counters.files_changed),
        files_unmodified: c(&counters.files_unmodified),
        dirs_new: c(&counters.dirs_new),
        dirs_changed: c(&counters.dirs_changed),
        dirs_unmodified: c(&counters.dirs_unmodified),
        total_files: c(&counters.total_files),
        total_bytes: c(&counters.total_bytes),
        bytes_read: c(&counters.bytes_read),
        bytes_added: saved.bytes_added,
        blobs_added: saved.blobs_added,
        errors: warnings.iter().filter(|w| w.skipped).count() as u64,
        duration_s: started.elapsed().as_secs_f64(),
    };
    let mut snapshot = Snapshot {
        version: OBJECT_VERSION,
        time,
        tree,
        paths: source.text.clone(),
        hostname: options.hostname.clone(),
        username: reprise_repo::username(),
        uid: process_uid(),
        gid: process_gid(),
        tags: options.tags.clone(),
        parent: parent.as_ref().map(|(id, _)| *id),
        excludes: options.excludes.patterns().to_vec(),
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        summary: Some(summary),
        detection: None,
        original: None,
        session: Some(session),
        paths_bytes: paths_bytes_of(&source.bytes),
    };
    let (detection, incident) = if options.detection {
        let previous = previous.as_ref().map(|(_, s)| s);
        let mut report = analyze(repo, &list, &snapshot, previous, changes)?;
        let incidents = reprise_detect::incident::loaded(repo);
        let incident =
            reprise_detect::incident::follow(repo, &list, &incidents, &snapshot, &mut report)?;
        let mut summary = reprise_detect::summary_of(&report);
        summary.incident = incident.as_ref().map(|i| i.state());
        snapshot.detection = Some(summary);
        (Some(report), incident)
    } else {
        (None, None)
    };
    let (snapshot_id, sealed) = repo.seal_snapshot(&snapshot)?;
    // The incident record first: a backup that dies before its snapshot
    // leaves an incident open (the next backup keeps the alarm), never an
    // attack snapshot with no incident.
    if let Some(record) = incident.as_ref().and_then(|i| i.record_for(snapshot_id)) {
        repo.save_incident_record(record)?;
    }
    repo.write_sealed_snapshot(&snapshot_id, &sealed)?;
    Ok(BackupReport {
        snapshot_id,
        snapshot,
        parent: parent.map(|(id, _)| id),
        passed_over,
        warnings,
        detection,
        incident,
    })
}

/// The ransomware analysis of the new snapshot against the previous one of
/// its source, before the snapshot is written so that it carries the verdict:
/// from the changes the walk collected, else by comparing the trees.
fn analyze(
    repo: &Repository,
    list: &SnapshotList,
    snapshot: &Snapshot,
    previous: Option<&Snapshot>,
    changes: Option<Vec<reprise_detect::changes::DirChanges>>,
) -> Result<reprise_detect::Report, RepoError> {
    let earlier = reprise_detect::earlier_snapshots(list, snapshot);
    let history = reprise_detect::history(&earlier);
    match changes {
        Some(dirs) => Ok(reprise_detect::analyze_changes(
            repo, &dirs, snapshot, &history,
        )),
        None => reprise_detect::analyze_snapshot(repo, snapshot, previous, &history),
    }
}

fn process_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

fn process_gid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.gid())
        .unwrap_or(0)
}
