//! A recovery's live state, written while it runs into `live.json` in its
//! state directory, for whoever follows it from another process: the
//! public status page (each service's state follows its recovery) and the
//! operator's dashboard (progress and ETA).
//!
//! The file is replaced whole (a temporary file renamed over it) at most
//! once a second, and at once when a service changes state, so a reader
//! never sees half of it. It is a hint, not a record: it is not synced, and
//! the journal stays what a resumed recovery trusts.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::report::RunKind;
use crate::schedule::{Event, ProgressView};

/// The file's name in the state directory.
pub const LIVE_FILE: &str = "live.json";

/// Larger than any plan's file; a bigger one is not ours.
const MOST_BYTES: u64 = 8 << 20;

/// How often progress alone rewrites the file.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Where a service is in the recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    Waiting,
    Restoring,
    /// Restored; its health checks run.
    Checking,
    Up,
    Failed,
    NotStarted,
}

/// One service's state, since when, and its restore's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveService {
    pub state: LiveState,
    /// When it entered `state`.
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub bytes_done: u64,
    #[serde(default)]
    pub bytes_total: u64,
    #[serde(default)]
    pub files_done: u64,
    #[serde(default)]
    pub eta_seconds: Option<f64>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRecovery {
    pub kind: RunKind,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The run ended (every service up, failed or not started).
    pub finished: bool,
    pub services: BTreeMap<String, LiveService>,
}

/// Why the live state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a recovery's live state ({why}): remove it, the next recovery writes it again")]
    Invalid { path: PathBuf, why: String },
}

impl LiveRecovery {
    /// The live state in `state_dir`, if a recovery wrote one.
    pub fn read(state_dir: &Path) -> Result<Option<LiveRecovery>, LiveError> {
        let path = state_dir.join(LIVE_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LiveError::Io { path, source }),
        };
        let mut text = Vec::new();
        file.take(MOST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|source| LiveError::Io {
                path: path.clone(),
                source,
            })?;
        if text.len() as u64 > MOST_BYTES {
            return Err(LiveError::Invalid {
                path,
                why: format!("larger than {MOST_BYTES} bytes"),
            });
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| LiveError::Invalid {
                path,
                why: e.to_string(),
            })
    }
}

/// Keeps `live.json` up to date from a run's events.
pub struct LiveWriter {
    path: PathBuf,
    live: LiveRecovery,
    last_write: Option<Instant>,
    /// The first failure to write, reported once.
    problem: Option<String>,
}

impl LiveWriter {
    /// Every service of the plan waiting; written at once.
    pub fn new(state_dir: &Path, kind: RunKind, services: &[String]) -> LiveWriter {
        let now = Utc::now();
        let waiting = LiveService {
            state: LiveState::Waiting,
            since: now,
            bytes_done: 0,
            bytes_total: 0,
            files_done: 0,
            eta_seconds: None,
        };
        let mut writer = LiveWriter {
            path: state_dir.join(LIVE_FILE),
            live: LiveRecovery {
                kind,
                started_at: now,
                updated_at: now,
                finished: false,
                services: services
                    .iter()
                    .map(|s| (s.clone(), waiting.clone()))
                    .collect(),
            },
            last_write: None,
            problem: None,
        };
        writer.write();
        writer
    }

    /// Takes one event of the run into the state.
    pub fn observe(&mut self, event: &Event) {
        let changed = match event {
            Event::Started { service, .. } | Event::Rechecked { service, .. } => {
                self.enter(service, LiveState::Restoring)
            }
            Event::Progress { service, view } => {
                self.progress(service, view);
                false
            }
            Event::Restored { service, .. } => self.enter(service, LiveState::Checking),
            Event::Healthy { service, .. } => self.enter(service, LiveState::Up),
            Event::Failed { service, .. } => self.enter(service, LiveState::Failed),
            Event::NotStarted { service, .. } => self.enter(service, LiveState::NotStarted),
            _ => false,
        };
        let due = self
            .last_write
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if changed || due {
            self.write();
        }
    }

    /// The run ended: written one last time.
    pub fn finish(&mut self) -> Option<String> {
        self.live.finished = true;
        self.write();
        self.problem.take()
    }

    pub fn state(&self) -> &LiveRecovery {
        &self.live
    }

    fn enter(&mut self, service: &str, state: LiveState) -> bool {
        let Some(entry) = self.live.services.get_mut(service) else {
            return false;
        };
        if entry.state == state {
            return false;
        }
        entry.state = state;
        entry.since = Utc::now();
        if state == LiveState::Up {
            entry.bytes_done = entry.bytes_total;
            entry.eta_seconds = None;
        }
        true
    }

    fn progress(&mut self, service: &str, view: &ProgressView) {
        if let Some(entry) = self.live.services.get_mut(service) {
            entry.bytes_done = view.bytes_done;
            entry.bytes_total = view.bytes_total;
            entry.files_done = view.files_done;
            entry.eta_seconds = view.eta.map(|e| e.as_secs_f64());
        }
    }

    fn write(&mut self) {
        self.live.updated_at = Utc::now();
        self.last_write = Some(Instant::now());
        if let Err(e) = self.replace_file() {
            self.problem.get_or_insert_with(|| {
                format!(
                    "the live state {} could not be written ({e}): the status page does not follow this recovery",
                    self.path.display()
                )
            });
        }
    }

    fn replace_file(&self) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.live).map_err(std::io::Error::other)?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, json)?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ServiceProgress;
    use std::sync::Arc;

    fn names() -> Vec<String> {
        vec!["eau".into(), "paie".into()]
    }

    #[test]
    fn the_file_follows_each_service_through_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LiveWriter::new(dir.path(), RunKind::Recover, &names());
        let read = || LiveRecovery::read(dir.path()).unwrap().unwrap();
        assert_eq!(read().services["eau"].state, LiveState::Waiting);

        writer.observe(&Event::Started {
            service: "eau".into(),
            resuming: false,
            progress: Arc::new(ServiceProgress::new()),
        });
        assert_eq!(read().services["eau"].state, LiveState::Restoring);
        writer.observe(&Event::Restored {
            service: "eau".into(),
            seconds: 1.0,
        });
        assert_eq!(read().services["eau"].state, LiveState::Checking);
        writer.observe(&Event::Healthy {
            service: "eau".into(),
            checked: true,
            resumed: false,
        });
        writer.observe(&Event::Failed {
            service: "paie".into(),
            reason: "down".into(),
        });
        assert_eq!(writer.finish(), None);
        let live = read();
        assert!(live.finished);
        assert_eq!(live.kind, RunKind::Recover);
        assert_eq!(live.services["eau"].state, LiveState::Up);
        assert_eq!(live.services["paie"].state, LiveState::Failed);
    }

    #[test]
    fn progress_is_kept_and_unknown_services_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LiveWriter::new(dir.path(), RunKind::Recover, &names());
        let progress = ServiceProgress::new();
        progress.set_total(100);
        progress.add(40);
        writer.observe(&Event::Progress {
            service: "paie".into(),
            view: progress.view(),
        });
        writer.observe(&Event::Healthy {
            service: "ghost".into(),
            checked: true,
            resumed: false,
        });
        let paie = &writer.state().services["paie"];
        assert_eq!((paie.bytes_done, paie.bytes_total), (40, 100));
        assert!(!writer.state().services.contains_key("ghost"));
    }

    #[test]
    fn a_missing_file_is_none_and_a_foreign_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(LiveRecovery::read(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(LIVE_FILE), b"{\"kind\": 3}").unwrap();
        let e = LiveRecovery::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("remove it"), "{e}");
    }

    #[test]
    fn a_state_dir_that_cannot_be_written_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"").unwrap();
        let mut writer = LiveWriter::new(&blocked, RunKind::Recover, &names());
        let problem = writer.finish().unwrap();
        assert!(problem.contains("status page"), "{problem}");
    }
}
