//! The dashboard's background jobs: recoveries, drills and restores started
//! from the browser, which outlive the browser and the server.
//!
//! Each job is a directory under `[web] data_dir/jobs/ID/`: `job.json` (what
//! was asked, by whom, where it stands; replaced whole at each change),
//! `live.json` (each service's state and progress, rewritten at least once a
//! second while it runs, `reprise_services::live`) and `log.txt` (one line
//! per event). A job runs on its own thread through
//! `reprise_services::operation`, the code `reprise recover` and `reprise
//! drill` run, or (a restore, `restore`) through `reprise_restore`'s
//! selection and restore, as `reprise restore` does. When the server starts, a job still marked running was cut
//! off by the server's end: it is started again, and resumes where it
//! stopped from its journal; if that fails it is marked failed with the
//! reason. No job is ever silently forgotten.
//!
//! One job runs at a time: recoveries and drills share the journal and the
//! scratch names, and a restore would compete with them for the disks. The thread running a job holds an exclusive lock on its
//! `runner.lock` for as long as it runs, so a job is never resumed while
//! something still runs it (a second server on the same directory, or a
//! stopped server whose job thread has not finished).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reprise_databases::Replace;
use reprise_repo::Repository;
use reprise_services::config::Config;
use reprise_services::live::{LiveRecovery, LiveWriter};
use reprise_services::operation::{self, DrillRequest, RecoverRequest};
use reprise_services::report::{RecoveryReport, RunKind};
use reprise_services::restore::SnapshotChoice;
use reprise_services::schedule::{Event, Plan};
use serde::{Deserialize, Serialize};

use crate::files::{read_bounded, replace_durably, Bounded};

mod restore;

pub use restore::short_id;

const JOB_FILE: &str = "job.json";
const RUNNER_LOCK: &str = "runner.lock";
const LOG_FILE: &str = "log.txt";
/// A job file larger than this is not one of ours.
const MOST_JOB_BYTES: u64 = 16 << 20;
/// The end of the log a page shows.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// What kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Services brought back for real, in dependency order.
    Recover,
    /// Services restored into scratch places, measured, cleaned up.
    Drill,
    /// One path of one snapshot into a directory.
    Restore,
}

impl JobKind {
    /// Its name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Recover => "recovery",
            JobKind::Drill => "drill",
            JobKind::Restore => "restore",
        }
    }
}

/// A restore job's snapshot, path and target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreSpec {
    /// The snapshot's full id.
    pub snapshot: String,
    /// The path of the snapshot restored (`/` for all of it), byte for
    /// byte: as text when it is UTF-8, else as `{"base64": …}`.
    pub path: reprise_format::RawBytes,
    /// The directory it goes into; must be absolute. In place, the share
    /// itself: the path it was backed up under. Byte for byte, as `path`.
    pub target: reprise_format::RawBytes,
    /// A last-clean restore into the live share itself: what the attack
    /// left (encrypted copies, notes) moves into `quarantine` first, and
    /// only the files the plan puts back are rewritten, as `reprise restore
    /// --last-clean --in-place` does.
    #[serde(default)]
    pub in_place: bool,
    /// Where an in-place restore moves what the attack left; chosen when
    /// the job starts, so a resumed job uses the same.
    #[serde(default)]
    pub quarantine: Option<reprise_format::RawBytes>,
}

impl RestoreSpec {
    pub fn target_path(&self) -> PathBuf {
        path_of(&self.target)
    }

    pub fn quarantine_path(&self) -> Option<PathBuf> {
        self.quarantine.as_ref().map(path_of)
    }
}

fn path_of(raw: &reprise_format::RawBytes) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(raw.as_bytes()))
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub kind: JobKind,
    /// Services, with what they depend on (empty: all).
    pub services: Vec<String>,
    /// A recovery from the newest clean snapshots instead of the newest;
    /// a restore of the last clean version of each file the attack touched.
    #[serde(default)]
    pub last_clean: bool,
    /// A recovery that drops and recreates existing databases.
    #[serde(default)]
    pub replace: bool,
    /// A recovery's files under this directory instead of their paths.
    #[serde(default)]
    pub target_root: Option<PathBuf>,
    /// A restore job's snapshot and target.
    #[serde(default)]
    pub restore: Option<RestoreSpec>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
}

/// A job's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Sortable by time: `YYYYmmddHHMMSS-` and 8 random hex digits.
    pub id: String,
    pub spec: JobSpec,
    pub account: String,
    pub created_at: DateTime<Utc>,
    pub state: JobState,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How many times it was started again after the server stopped.
    #[serde(default)]
    pub resumed: u32,
    /// One sentence: why it failed, or how it ended.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub report: Option<RecoveryReport>,
}

/// Why a job could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("job {id} ({kind}) is running: one job at a time, wait for it to end")]
    Busy { id: String, kind: &'static str },
    #[error("{0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a job thread needs: the repository and the configuration.
pub trait JobContext: Send + Sync + 'static {
    fn repo(&self) -> &Repository;
    fn config(&self) -> &Config;
}

/// The jobs' directory, and which job runs.
pub struct Jobs {
    dir: PathBuf,
    running: Mutex<Option<String>>,
}

impl Jobs {
    pub fn new(data_dir: &Path) -> Jobs {
        Jobs {
            dir: data_dir.join("jobs"),
            running: Mutex::new(None),
        }
    }

    /// Starts a job for `account`; returns its id.
    pub fn start(
        self: &Arc<Self>,
        context: Arc<dyn JobContext>,
        spec: JobSpec,
        account: &str,
    ) -> Result<String, JobError> {
        check_spec(context.config(), &spec)?;
        let id = new_id()?;
        let job = Job {
            id: id.clone(),
            spec,
            account: account.to_owned(),
            created_at: Utc::now(),
            state: JobState::Running,
            finished_at: None,
            resumed: 0,
            summary: String::new(),
            report: None,
        };
        self.claim(&job)?;
        let dir = self.dir.join(&id);
        let prepared = std::fs::create_dir_all(&dir)
            .map_err(io(&dir))
            .and_then(|()| runner_lock(&dir))
            .and_then(|lock| {
                write_job(&dir, &job)?;
                Ok(lock)
            });
        match prepared {
            Ok(Some(lock)) => {
                self.spawn(context, job, lock);
                Ok(id)
            }
            Ok(None) => {
                self.release(&id);
                Err(JobError::Refused(format!("job {id} is already being run")))
            }
            Err(e) => {
                self.release(&id);
                Err(e)
            }
        }
    }

    /// Starts again every job the server's end cut off; returns their ids.
    pub fn resume_interrupted(self: &Arc<Self>, context: Arc<dyn JobContext>) -> Vec<String> {
        let mut resumed = Vec::new();
        for mut job in self.list() {
            if job.state != JobState::Running {
                continue;
            }
            let dir = self.dir.join(&job.id);
            let lock = match runner_lock(&dir) {
                Ok(Some(lock)) => lock,
                // Still running elsewhere: it ends by itself.
                Ok(None) => continue,
                Err(e) => {
                    eprintln!(
                        "reprise web: cannot tell whether job {} still runs: {e}",
                        job.id
                    );
                    continue;
                }
            };
            if self.claim(&job).is_err() {
                // Two were running: only one can resume; the other ends.
                job.state = JobState::Failed;
                job.summary =
                    "cut off when the server stopped, while another job ran: start it again".into();
                job.finished_at = Some(Utc::now());
                let _ = write_job(&self.dir.join(&job.id), &job);
                continue;
            }
            job.resumed += 1;
            append_log(
                &self.dir.join(&job.id),
                "the server stopped during this job: resuming it",
            );
            resumed.push(job.id.clone());
            self.spawn(Arc::clone(&context), job, lock);
        }
        resumed
    }

    /// Every job, newest first; unreadable ones are skipped.
    pub fn list(&self) -> Vec<Job> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut jobs: Vec<Job> = entries
            .filter_map(Result::ok)
            .filter_map(|e| read_job(&e.path()).ok())
            .collect();
        jobs.sort_by(|a, b| b.id.cmp(&a.id));
        jobs
    }

    /// One job, if `id` names one.
    pub fn get(&self, id: &str) -> Option<Job> {
        valid_id(id)
            .then(|| read_job(&self.dir.join(id)).ok())
            .flatten()
    }

    /// A job's live state (each service's progress).
    pub fn live(&self, id: &str) -> Option<LiveRecovery> {
        valid_id(id)
            .then(|| LiveRecovery::read(&self.dir.join(id)).ok().flatten())
            .flatten()
    }

    /// The end of a job's log.
    pub fn log_tail(&self, id: &str) -> String {
        if !valid_id(id) {
            return String::new();
        }
        let path = self.dir.join(id).join(LOG_FILE);
        let Ok(mut file) = File::open(path) else {
            return String::new();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        let skip = length.saturating_sub(LOG_TAIL_BYTES);
        let mut bytes = Vec::new();
        let _ = std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(skip));
        let _ = file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Marks `job` as the one running, unless another is.
    fn claim(&self, job: &Job) -> Result<(), JobError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(other) = running.as_ref() {
            let kind = self.get(other).map_or("a job", |j| j.spec.kind.name());
            return Err(JobError::Busy {
                id: other.clone(),
                kind,
            });
        }
        *running = Some(job.id.clone());
        Ok(())
    }

    fn release(&self, id: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_deref() == Some(id) {
            *running = None;
        }
    }

    /// Runs `job` on its own thread, which holds `lock` until it ends.
    fn spawn(self: &Arc<Self>, context: Arc<dyn JobContext>, job: Job, lock: File) {
        let jobs = Arc::clone(self);
        let id = job.id.clone();
        let started = std::thread::Builder::new()
            .name(format!("reprise-job-{id}"))
            .spawn(move || {
                let _held = lock;
                let dir = jobs.dir.join(&job.id);
                let id = job.id.clone();
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(context.as_ref(), &dir, job.clone())
                }))
                .unwrap_or_else(|_| {
                    let mut failed = job.clone();
                    failed.state = JobState::Failed;
                    failed.summary =
                        "the job stopped on an internal error (a bug): see the server's log".into();
                    failed
                });
                if let Err(e) = write_job(&dir, &ended) {
                    eprintln!("reprise web: job {id} ended but its file cannot be written: {e}");
                }
                jobs.release(&id);
            });
        if let Err(e) = started {
            eprintln!("reprise web: cannot start a thread for job {id}: {e}");
            self.release(&id);
        }
    }
}

/// The job's runner lock, if nothing else holds it.
fn runner_lock(dir: &Path) -> Result<Option<File>, JobError> {
    let path = dir.join(RUNNER_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

fn check_spec(config: &Config, spec: &JobSpec) -> Result<(), JobError> {
    for name in &spec.services {
        if !config.services.contains_key(name) {
            return Err(JobError::Refused(format!(
                "there is no service {name} in the configuration"
            )));
        }
    }
    let recovery_only = spec.replace || spec.target_root.is_some();
    match spec.kind {
        JobKind::Drill if spec.last_clean || recovery_only => Err(JobError::Refused(
            "a drill restores the newest snapshots into scratch places: last-clean, replace and a target root are for recoveries".into(),
        )),
        JobKind::Restore => restore::check(spec),
        JobKind::Recover | JobKind::Drill if spec.restore.is_some() => Err(JobError::Refused(
            "a snapshot and a target are for restore jobs".into(),
        )),
        _ => absolute_or_none(spec.target_root.as_deref(), "target root"),
    }
}

fn absolute_or_none(path: Option<&Path>, what: &str) -> Result<(), JobError> {
    match path {
        Some(p) if !p.is_absolute() => Err(JobError::Refused(format!(
            "the {what} {} must be an absolute path",
            p.display()
        ))),
        _ => Ok(()),
    }
}

/// Runs the job to its end; returns its file as it should be left.
fn run(context: &dyn JobContext, dir: &Path, job: Job) -> Job {
    match job.spec.kind {
        JobKind::Restore => restore::run(context, dir, job),
        JobKind::Recover | JobKind::Drill => run_services(context, dir, job),
    }
}

/// Runs a recovery or a drill to its end.
fn run_services(context: &dyn JobContext, dir: &Path, mut job: Job) -> Job {
    let config = context.config();
    let names = Plan::from_config(config, &job.spec.services)
        .map(|p| p.names())
        .unwrap_or_default();
    let kind = if job.spec.kind == JobKind::Drill {
        RunKind::Drill
    } else {
        RunKind::Recover
    };
    let mut live = LiveWriter::new(dir, kind, &names);
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE))
        .ok();
    let mut on_event = |event: &Event| {
        live.observe(event);
        if let (Some(log), false) = (log.as_mut(), matches!(event, Event::Progress { .. })) {
            let _ = writeln!(
                log,
                "{}  {}",
                Utc::now().format("%H:%M:%S"),
                event.describe()
            );
        }
    };
    let spec = &job.spec;
    let result = match kind {
        RunKind::Recover => operation::recover(
            context.repo(),
            config,
            &RecoverRequest {
                services: spec.services.clone(),
                choice: if spec.last_clean {
                    SnapshotChoice::LastClean
                } else {
                    SnapshotChoice::Latest
                },
                target_root: spec.target_root.clone(),
                replace: if spec.replace {
                    Replace::Existing
                } else {
                    Replace::Never
                },
                state_dir: None,
                restart: false,
            },
            &mut on_event,
        )
        .map(|report| (report, None)),
        RunKind::Drill => operation::drill(
            context.repo(),
            config,
            &DrillRequest {
                services: spec.services.clone(),
                restart: false,
            },
            &mut on_event,
        )
        .map(|outcome| {
            let mut problems: Vec<String> = outcome
                .left_behind
                .iter()
                .map(|p| format!("could not clean up {p}"))
                .collect();
            problems.extend(
                outcome
                    .record_error
                    .map(|e| format!("its record could not be stored: {e}")),
            );
            (
                outcome.report,
                (!problems.is_empty()).then(|| problems.join("; ")),
            )
        }),
    };
    let _ = live.finish();
    job.finished_at = Some(Utc::now());
    match result {
        Ok((report, problem)) => {
            job.state = if report.ok && problem.is_none() {
                JobState::Succeeded
            } else {
                JobState::Failed
            };
            job.summary = summary(&report, problem.as_deref());
            job.report = Some(report);
        }
        Err(e) => {
            job.state = JobState::Failed;
            job.summary = format!("could not start: {e}");
        }
    }
    append_log(dir, &job.summary);
    job
}

fn summary(report: &RecoveryReport, problem: Option<&str>) -> String {
    let up = report.services.iter().filter(|s| s.status.is_up()).count();
    let mut text = format!("{up} of {} services up", report.services.len());
    if let Some(all) = report.totals.all_up_seconds {
        text.push_str(&format!(", all up after {all:.0} s"));
    }
    if !report.ok {
        text.push_str(": some service failed, missed its target or did not match its backup");
    }
    if let Some(p) = problem {
        text.push_str(&format!("; {p}"));
    }
    text
}

pub(crate) fn append_log(dir: &Path, line: &str) {
    if let Ok(mut log) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE))
    {
        let _ = writeln!(log, "{}  {line}", Utc::now().format("%H:%M:%S"));
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 23
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || (b'a'..=b'f').contains(&b))
}

fn new_id() -> Result<String, JobError> {
    let mut bytes = [0u8; 4];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| JobError::Refused(format!("no randomness for a job id: {e}")))?;
    Ok(format!(
        "{}-{}",
        Utc::now().format("%Y%m%d%H%M%S"),
        hex::encode(bytes)
    ))
}

fn read_job(dir: &Path) -> Result<Job, JobError> {
    let path = dir.join(JOB_FILE);
    let damaged = |why: &dyn std::fmt::Display| {
        JobError::Refused(format!("{} is damaged: {why}", path.display()))
    };
    match read_bounded(&path, MOST_JOB_BYTES).map_err(io(&path))? {
        Bounded::Read(bytes) => serde_json::from_slice(&bytes).map_err(|e| damaged(&e)),
        Bounded::TooLarge => Err(damaged(&format!("larger than {MOST_JOB_BYTES} bytes"))),
        Bounded::Missing => Err(damaged(&"it is missing")),
    }
}

/// Replaces the job's file whole, durably, so a crash leaves the old one or
/// the new one.
fn write_job(dir: &Path, job: &Job) -> Result<(), JobError> {
    let json = serde_json::to_vec_pretty(job).map_err(|e| JobError::Refused(e.to_string()))?;
    replace_durably(dir, JOB_FILE, &json).map_err(io(&dir.join(JOB_FILE)))
}
