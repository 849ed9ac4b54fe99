//! The journal that lets an interrupted recovery or drill resume.
//!
//! A file of JSON lines in a work directory the caller chooses: the first
//! line names the plan (an identity hash the caller computes from the
//! services, the snapshots chosen and the target, and the services), each
//! following line one service that came up, with what its restore did.
//! Every line is written whole and synced before the engine goes on, so a
//! `kill -9` loses at most the line being written; such a torn last line is
//! ignored and cut off when the journal is opened again.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::HealthResult;
use crate::report::{rfc3339, RestoreOutcome};

/// The journal's file name inside the work directory.
pub const FILE_NAME: &str = "recovery-journal.jsonl";

/// A service an earlier run brought up, as the journal remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournaledService {
    pub outcome: RestoreOutcome,
    #[serde(with = "rfc3339")]
    pub up_at: DateTime<Utc>,
    pub restore_seconds: f64,
    pub health_seconds: f64,
    pub health: Vec<HealthResult>,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Record {
    Plan {
        identity: String,
        services: Vec<String>,
        #[serde(with = "rfc3339")]
        started_at: DateTime<Utc>,
    },
    Up {
        service: String,
        #[serde(flatten)]
        entry: JournaledService,
    },
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} the recovery journal {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the recovery journal {} belongs to another recovery (of {}, started {}, with other snapshots or another target): run that recovery again to resume it, or start over, which forgets what it brought back",
        path.display(), services.join(", "), rfc3339::format(*started_at)
    )]
    DifferentPlan {
        path: PathBuf,
        services: Vec<String>,
        started_at: DateTime<Utc>,
    },
    #[error("the recovery journal {} is damaged at line {line} ({detail}): start over, which forgets what it brought back", path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

/// An open journal: what an earlier run of the same plan brought up, and
/// the file new services are appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    started_at: DateTime<Utc>,
    resumed: bool,
    up: BTreeMap<String, JournaledService>,
}

impl Journal {
    /// Opens the journal of `dir` for the plan `identity` over `services`,
    /// creating it (and `dir`) when there is none. A journal of another
    /// identity is refused: it belongs to a recovery not finished.
    pub fn open(dir: &Path, identity: &str, services: &[String]) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        let io = |action| {
            let path = path.clone();
            move |source| JournalError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("open"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read"))?;
        let (records, valid_len) = parse(&path, &bytes)?;
        if valid_len < bytes.len() {
            file.set_len(valid_len as u64)
                .map_err(io("cut the torn end of"))?;
        }
        let mut journal = Journal {
            path: path.clone(),
            file,
            started_at: Utc::now(),
            resumed: false,
            up: BTreeMap::new(),
        };
        let mut records = records.into_iter();
        match records.next() {
            None => {
                journal.append(&Record::Plan {
                    identity: identity.to_owned(),
                    services: services.to_vec(),
                    started_at: journal.started_at,
                })?;
                sync_dir(dir).map_err(io("sync the directory of"))?;
            }
            Some(Record::Plan {
                identity: found,
                services,
                started_at,
            }) => {
                if found != identity {
                    return Err(JournalError::DifferentPlan {
                        path,
                        services,
                        started_at,
                    });
                }
                journal.started_at = started_at;
                journal.resumed = true;
            }
            Some(Record::Up { .. }) => {
                return Err(JournalError::Damaged {
                    path,
                    line: 1,
                    detail: "it does not start with the plan".into(),
                })
            }
        }
        for record in records {
            if let Record::Up { service, entry } = record {
                journal.up.insert(service, entry);
            }
        }
        Ok(journal)
    }

    /// Removes the journal of `dir`, to start over; no journal is fine.
    pub fn discard(dir: &Path) -> Result<(), JournalError> {
        let path = dir.join(FILE_NAME);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(JournalError::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the recovery started: this run, or the first run it resumes.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// True when an earlier run of the same plan wrote this journal.
    pub fn is_resume(&self) -> bool {
        self.resumed
    }

    /// The service as an earlier run brought it up, if it did.
    pub fn recovered(&self, service: &str) -> Option<&JournaledService> {
        self.up.get(service)
    }

    /// Records that `service` is up, durably, before the engine goes on.
    pub fn record_up(
        &mut self,
        service: &str,
        entry: JournaledService,
    ) -> Result<(), JournalError> {
        self.append(&Record::Up {
            service: service.to_owned(),
            entry: entry.clone(),
        })?;
        self.up.insert(service.to_owned(), entry);
        Ok(())
    }

    fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let io = |action| {
            let path = self.path.clone();
            move |source| JournalError::Io {
                action,
                path,
                source,
            }
        };
        let mut line = serde_json::to_vec(record)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            .map_err(io("write"))?;
        line.push(b'\n');
        // One write of the whole line: the file is in append mode, so a
        // crash leaves a prefix of it at the end, never a line in between.
        self.file.write_all(&line).map_err(io("write"))?;
        self.file.sync_data().map_err(io("sync"))
    }
}

/// The journal's records, and the length of the bytes they come from: a
/// last line that is not whole (no newline, or not a record) was being
/// written when the run was killed, and is left out.
fn parse(path: &Path, bytes: &[u8]) -> Result<(Vec<Record>, usize), JournalError> {
    let mut records = Vec::new();
    let mut valid_len = 0;
    let mut rest = bytes;
    let mut line_number = 0;
    while !rest.is_empty() {
        line_number += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let (line, after) = rest.split_at(end + 1);
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => records.push(record),
            Err(_) if after.is_empty() => break,
            Err(e) => {
                return Err(JournalError::Damaged {
                    path: path.to_owned(),
                    line: line_number,
                    detail: e.to_string(),
                })
            }
        }
        valid_len += line.len();
        rest = after;
    }
    Ok((records, valid_len))
}

/// Makes the journal's creation durable: its name is in the directory.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
