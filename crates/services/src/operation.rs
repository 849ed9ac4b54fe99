//! A recovery and a drill as whole operations, for every front end: the
//! command line (`reprise recover`, `reprise drill`) and the dashboard's
//! background jobs run exactly this.
//!
//! A recovery lists the snapshots, plans the services, opens (or resumes)
//! its journal in its state directory, keeps the live state the public
//! page follows, runs the engine and discards the journal when all is up.
//! A drill does the same into scratch places, stores its record in the
//! repository and cleans up. Both hand every event to the caller, and put
//! what went wrong beside the services in the report's notes.

use std::path::PathBuf;

use reprise_databases::Replace;
use reprise_repo::browse::list_then_index;
use reprise_repo::{Repository, SnapshotList};

use crate::config::{Config, HealthCheck};
use crate::journal::{Journal, JournalError};
use crate::live::LiveWriter;
use crate::pace::Pace;
use crate::recover::{Drill, RepositoryRunner};
use crate::report::{RecoveryReport, RunKind};
use crate::restore::{choose_snapshots, Destination, SnapshotChoice};
use crate::schedule::{run, Event, Plan, PlanError, RunOptions};

/// Why an operation could not start (once started, problems are in the
/// report).
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Repo(#[from] reprise_repo::RepoError),
    #[error("{source}; {hint}")]
    Journal {
        source: JournalError,
        hint: &'static str,
    },
    #[error("cannot prepare the drill's directory: {0}")]
    DrillDir(std::io::Error),
    #[error("another {what} is running on this machine (it holds {}): wait for it to end, or follow it where it was started", path.display())]
    Busy { what: &'static str, path: PathBuf },
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The lock a recovery holds (`run.lock` in its state directory), and a
/// drill (`drill.lock` in the configuration's state directory), for as
/// long as it runs: a second one on the same
/// journal (the command line while the dashboard runs one, two terminals)
/// is refused instead of interleaving its steps with the first's. The
/// operating system releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock file `path` for a run of `what` (`recovery`,
    /// `drill`). It must live where the run never deletes it.
    pub fn take(path: PathBuf, what: &'static str) -> Result<RunLock, OperationError> {
        let locking = |source| OperationError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(locking)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(locking)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(OperationError::Busy { what, path }),
            Err(std::fs::TryLockError::Error(e)) => Err(locking(e)),
        }
    }
}

/// What to recover, from which snapshots, to where.
#[derive(Debug, Clone)]
pub struct RecoverRequest {
    /// Services to recover with what they depend on (none: every service).
    pub services: Vec<String>,
    pub choice: SnapshotChoice,
    /// Files under this directory instead of their own paths.
    pub target_root: Option<PathBuf>,
    pub replace: Replace,
    /// The journal and live state's directory (default: the
    /// configuration's `[recovery] state_dir`).
    pub state_dir: Option<PathBuf>,
    /// Forget an interrupted recovery instead of resuming it.
    pub restart: bool,
}

/// Brings services back, resuming an interrupted recovery of the same
/// plan.
pub fn recover(
    repo: &Repository,
    config: &Config,
    request: &RecoverRequest,
    on_event: &mut dyn FnMut(&Event),
) -> Result<RecoveryReport, OperationError> {
    let list = list_then_index(repo)?.snapshots;
    let plan = Plan::from_config(config, &request.services)?;
    let destination = Destination::recovery(request.target_root.clone(), request.replace);
    let state = request
        .state_dir
        .clone()
        .unwrap_or_else(|| config.recovery.state_dir());
    let identity = identity(&plan, &list, config, request.choice, &destination);
    let _running = RunLock::take(state.join("run.lock"), "recovery")?;
    let journal_error = |source| OperationError::Journal {
        source,
        hint: "recover with --restart to start over",
    };
    if request.restart {
        Journal::discard(&state).map_err(journal_error)?;
    }
    let journal = Journal::open(&state, &identity, &plan.names()).map_err(journal_error)?;
    let mut options = RunOptions::new(RunKind::Recover, &config.recovery);
    options.journal = Some(journal);
    let (pace, mut notes) = pace_of(repo);
    let runner = RepositoryRunner {
        repo,
        list: &list,
        config,
        choice: request.choice,
        destination,
        pace,
    };
    let mut live = LiveWriter::new(&state, RunKind::Recover, &plan.names());
    let mut report = run(&plan, &runner, options, &mut |event: &Event| {
        live.observe(event);
        on_event(event);
    });
    notes.extend(live.finish());
    if report.ok {
        if let Err(e) = Journal::discard(&state) {
            notes.push(format!(
                "the journal could not be removed ({e}): the next recovery may need --restart"
            ));
        }
    }
    report.notes.extend(notes);
    Ok(report)
}

/// What to drill.
#[derive(Debug, Clone, Default)]
pub struct DrillRequest {
    pub services: Vec<String>,
    /// Clean up an interrupted drill and start a new one instead of
    /// resuming it.
    pub restart: bool,
}

/// A drill's report, its id, and what its clean-up left behind.
#[derive(Debug)]
pub struct DrillOutcome {
    pub id: String,
    pub report: RecoveryReport,
    /// Scratch places that could not be removed.
    pub left_behind: Vec<String>,
    /// Why the record could not be stored in the repository, if it could not.
    pub record_error: Option<String>,
}

/// Rehearses a recovery of the newest snapshots into scratch places,
/// records it and cleans up.
pub fn drill(
    repo: &Repository,
    config: &Config,
    request: &DrillRequest,
    on_event: &mut dyn FnMut(&Event),
) -> Result<DrillOutcome, OperationError> {
    let list = list_then_index(repo)?.snapshots;
    let mut plan = Plan::from_config(config, &request.services)?;
    // TCP, HTTP and command checks would reach the live services, not the
    // scratch copies: a drill runs the SQL checks only.
    plan.retain_checks(|check| matches!(check, HealthCheck::Sql { .. }));
    let choice = SnapshotChoice::Latest;
    // In the state directory (private, never deleted), not in the drill's
    // directory, which its clean-up deletes, nor in a shared temporary one.
    let _running = RunLock::take(config.recovery.state_dir().join("drill.lock"), "drill")?;
    let mut drill = Drill::resume_or_start(config).map_err(OperationError::DrillDir)?;
    let mut left_behind = Vec::new();
    if request.restart {
        left_behind.extend(drill.clean_up(config, &list, choice));
        drill = Drill::resume_or_start(config).map_err(OperationError::DrillDir)?;
    }
    let destination = drill.destination();
    let identity = identity(&plan, &list, config, choice, &destination);
    let journal =
        Journal::open(&drill.journal_dir(), &identity, &plan.names()).map_err(|source| {
            OperationError::Journal {
                source,
                hint: "drill with --restart to clean up and start a new drill",
            }
        })?;
    let mut options = RunOptions::new(RunKind::Drill, &config.recovery);
    options.journal = Some(journal);
    let (pace, notes) = pace_of(repo);
    let runner = RepositoryRunner {
        repo,
        list: &list,
        config,
        choice,
        destination,
        pace,
    };
    let mut report = run(&plan, &runner, options, &mut |event: &Event| {
        on_event(event)
    });
    report.notes.extend(notes);
    let record_error = serde_json::to_value(&report)
        .map_err(|e| e.to_string())
        .and_then(|record| {
            repo.save_drill_record(&drill.id, record)
                .map_err(|e| e.to_string())
        })
        .err();
    left_behind.extend(drill.clean_up(config, &list, choice));
    Ok(DrillOutcome {
        id: drill.id.clone(),
        report,
        left_behind,
        record_error,
    })
}

/// What past drills measured, for the order; without it the order guesses
/// from each source's kind, so a failure to read it is only a note.
fn pace_of(repo: &Repository) -> (Pace, Vec<String>) {
    match Pace::of_repository(repo) {
        Ok(pace) => (pace, Vec::new()),
        Err(e) => (
            Pace::default(),
            vec![format!(
                "the past drills' restore times could not be read ({e}): the order guessed them"
            )],
        ),
    }
}

/// What makes two runs the same recovery: the services, the snapshots
/// chosen for their sources, and where they go.
fn identity(
    plan: &Plan,
    list: &SnapshotList,
    config: &Config,
    choice: SnapshotChoice,
    destination: &Destination,
) -> String {
    let mut parts = vec![
        format!("{:?}", destination.target_root),
        format!("{:?}", destination.replace),
    ];
    for service in plan.services() {
        parts.push(format!("service {}", service.name));
        let sources = config
            .services
            .get(&service.name)
            .map(|s| s.sources.clone());
        for source in sources.unwrap_or_default() {
            for (database, (id, _)) in choose_snapshots(list, &source, choice) {
                parts.push(format!("{source} {database:?} {id}"));
            }
        }
    }
    hex::encode(blake3::hash(parts.join("\n").as_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_on_the_same_lock_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/run.lock");
        let first = RunLock::take(path.clone(), "recovery").unwrap();
        let second = RunLock::take(path.clone(), "recovery").unwrap_err();
        assert!(
            matches!(
                &second,
                OperationError::Busy {
                    what: "recovery",
                    ..
                }
            ),
            "{second}"
        );
        assert!(second.to_string().contains("another recovery is running"));
        drop(first);
        RunLock::take(path, "recovery").unwrap();
    }
}
