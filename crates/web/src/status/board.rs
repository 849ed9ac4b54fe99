//! What the operator publishes: a state per service and the incidents with
//! their messages, kept in `status.json` of the web data directory.
//!
//! Every change is read-modify-write under an exclusive lock on
//! `status.lock` (the dashboard and `reprise status` may write at once),
//! and replaces the file whole and durably (`crate::files`): a crash
//! leaves the old board or the new one, never half of one.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Impact, IncidentStage, ServiceState};
use super::privacy::Privacy;
use super::StatusError;
use crate::files::{read_bounded, replace_durably, Bounded};

const BOARD_FILE: &str = "status.json";
const LOCK_FILE: &str = "status.lock";
/// Far above any real board (hundreds of incidents with their messages).
const MOST_BYTES: u64 = 16 << 20;
const MOST_TITLE_CHARS: usize = 200;
const MOST_MESSAGE_CHARS: usize = 5000;

/// A state the operator set for a service, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetState {
    pub state: ServiceState,
    pub since: DateTime<Utc>,
}

/// One message of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub stage: IncidentStage,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// An incident as the public sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Twelve lowercase hex digits, random.
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// The services it affects (names of `[services.NAME]`).
    pub services: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Oldest first; never empty.
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    pub fn stage(&self) -> IncidentStage {
        self.updates
            .last()
            .map_or(IncidentStage::Investigating, |u| u.stage)
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updates.last().map_or(self.created_at, |u| u.at)
    }

    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        (self.stage() == IncidentStage::Resolved).then(|| self.updated_at())
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Board {
    /// Random, made with the board: mixed into the public ids of services,
    /// so that nobody can tell a service's configuration name from its id
    /// by hashing likely names.
    #[serde(default)]
    pub salt: String,
    #[serde(default)]
    pub services: BTreeMap<String, SetState>,
    #[serde(default)]
    pub incidents: Vec<Incident>,
}

/// The board's directory, and what a message may not say.
pub struct BoardStore {
    dir: PathBuf,
    privacy: Privacy,
}

/// A new incident, before it has an id.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub impact: Impact,
    pub services: Vec<String>,
    pub stage: IncidentStage,
    pub message: String,
}

impl BoardStore {
    pub fn new(dir: &Path, privacy: Privacy) -> BoardStore {
        BoardStore {
            dir: dir.to_path_buf(),
            privacy,
        }
    }

    /// The board as it is (empty before anything was published), with its
    /// salt made and kept on the first read where the directory can be
    /// written.
    pub fn read(&self) -> Result<Board, StatusError> {
        let board = self.read_file()?;
        if !board.salt.is_empty() {
            return Ok(board);
        }
        match self.change(|_| Ok(())) {
            Ok(()) => self.read_file(),
            // A reader that may not write (`reprise status show` as another
            // user) shows the page with unsalted ids rather than nothing.
            Err(_) => Ok(board),
        }
    }

    fn read_file(&self) -> Result<Board, StatusError> {
        let path = self.dir.join(BOARD_FILE);
        let text = match read_bounded(&path, MOST_BYTES).map_err(|e| StatusError::io(&path, e))? {
            Bounded::Missing => return Ok(Board::default()),
            Bounded::TooLarge => {
                return Err(StatusError::Damaged {
                    path,
                    why: format!("larger than {MOST_BYTES} bytes"),
                })
            }
            Bounded::Read(text) => text,
        };
        serde_json::from_slice(&text).map_err(|e| StatusError::Damaged {
            path,
            why: e.to_string(),
        })
    }

    /// Sets `service`'s state as the public sees it.
    pub fn set_state(&self, service: &str, state: ServiceState) -> Result<(), StatusError> {
        self.privacy.known_public_service(service)?;
        self.change(|board| {
            board.services.insert(
                service.to_owned(),
                SetState {
                    state,
                    since: Utc::now(),
                },
            );
            Ok(())
        })
    }

    /// Opens an incident; returns its id.
    pub fn open_incident(&self, new: NewIncident) -> Result<String, StatusError> {
        check_text("title", &new.title, MOST_TITLE_CHARS)?;
        check_text("message", &new.message, MOST_MESSAGE_CHARS)?;
        self.privacy.check_public_text(&new.title)?;
        self.privacy.check_public_text(&new.message)?;
        for service in &new.services {
            self.privacy.known_public_service(service)?;
        }
        let id = new_id()?;
        let now = Utc::now();
        let incident = Incident {
            id: id.clone(),
            title: new.title,
            impact: new.impact,
            services: new.services,
            created_at: now,
            updates: vec![IncidentUpdate {
                stage: new.stage,
                message: new.message,
                at: now,
            }],
        };
        self.change(|board| {
            board.incidents.push(incident);
            Ok(())
        })?;
        Ok(id)
    }

    /// Adds a message to incident `id`, which moves it to `stage`.
    pub fn update_incident(
        &self,
        id: &str,
        stage: IncidentStage,
        message: &str,
    ) -> Result<(), StatusError> {
        check_text("message", message, MOST_MESSAGE_CHARS)?;
        self.privacy.check_public_text(message)?;
        self.change(|board| {
            let incident = board
                .incidents
                .iter_mut()
                .find(|i| i.id == id)
                .ok_or_else(|| StatusError::UnknownIncident(id.to_owned()))?;
            incident.updates.push(IncidentUpdate {
                stage,
                message: message.to_owned(),
                at: Utc::now(),
            });
            Ok(())
        })
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut Board) -> Result<(), StatusError>,
    ) -> Result<(), StatusError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| StatusError::io(&self.dir, e))?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StatusError::io(&lock_path, e))?;
        lock.lock().map_err(|e| StatusError::io(&lock_path, e))?;
        let mut board = self.read_file()?;
        if board.salt.is_empty() {
            board.salt = new_id()?;
        }
        edit(&mut board)?;
        self.replace(&board)
    }

    fn replace(&self, board: &Board) -> Result<(), StatusError> {
        let path = self.dir.join(BOARD_FILE);
        let json =
            serde_json::to_vec_pretty(board).map_err(|e| StatusError::io(&path, e.into()))?;
        replace_durably(&self.dir, BOARD_FILE, &json).map_err(|e| StatusError::io(&path, e))
    }
}

fn check_text(what: &'static str, text: &str, most: usize) -> Result<(), StatusError> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        return Err(StatusError::Refused(format!(
            "the {what} is empty: write one"
        )));
    }
    if chars > most {
        return Err(StatusError::Refused(format!(
            "the {what} has {chars} characters, more than {most}: shorten it"
        )));
    }
    Ok(())
}

fn new_id() -> Result<String, StatusError> {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StatusError::Refused(format!("no randomness for an incident id: {e}")))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> BoardStore {
        BoardStore::new(
            dir,
            Privacy::for_test(
                &["etat-civil", "eau"],
                &["db.mairie.local", "/srv/partages"],
            ),
        )
    }

    #[test]
    fn states_and_incidents_survive_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let board = store(dir.path());
        board.set_state("eau", ServiceState::MajorOutage).unwrap();
        let id = board
            .open_incident(NewIncident {
                title: "Services en ligne indisponibles".into(),
                impact: Impact::Critical,
                services: vec!["eau".into()],
                stage: IncidentStage::Investigating,
                message: "Nous analysons la situation.".into(),
            })
            .unwrap();
        board
            .update_incident(&id, IncidentStage::Identified, "Cause trouvée.")
            .unwrap();
        let read = store(dir.path()).read().unwrap();
        assert_eq!(read.services["eau"].state, ServiceState::MajorOutage);
        assert_eq!(read.incidents.len(), 1);
        assert_eq!(read.incidents[0].stage(), IncidentStage::Identified);
        assert_eq!(read.incidents[0].updates.len(), 2);
        assert_eq!(read.incidents[0].id.len(), 12);
    }

    #[test]
    fn unknown_services_private_details_and_empty_text_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let board = store(dir.path());
        let refused = |e: StatusError| e.to_string();
        assert!(refused(
            board
                .set_state("ghost", ServiceState::Operational)
                .unwrap_err()
        )
        .contains("ghost"));
        let incident = |message: &str| NewIncident {
            title: "Panne".into(),
            impact: Impact::Major,
            services: Vec::new(),
            stage: IncidentStage::Investigating,
            message: message.into(),
        };
        for leak in [
            "Le serveur db.mairie.local est chiffré",
            "les fichiers de /srv/partages sont perdus",
            "voir 192.168.1.20",
            "restauré depuis 3f2a9c1b7d",
        ] {
            let e = refused(board.open_incident(incident(leak)).unwrap_err());
            assert!(e.contains("public"), "{leak}: {e}");
        }
        assert!(refused(board.open_incident(incident("  ")).unwrap_err()).contains("empty"));
        assert!(refused(
            board
                .update_incident("000000000000", IncidentStage::Resolved, "Fini.")
                .unwrap_err()
        )
        .contains("000000000000"));
        let untouched = board.read().unwrap();
        assert!(untouched.services.is_empty() && untouched.incidents.is_empty());
        assert_eq!(untouched.salt.len(), 12, "made on the first read");
        assert_eq!(board.read().unwrap().salt, untouched.salt, "and kept");
    }

    #[test]
    fn a_damaged_board_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(BOARD_FILE), b"{\"services\": 3}").unwrap();
        let e = store(dir.path()).read().unwrap_err().to_string();
        assert!(e.contains(BOARD_FILE), "{e}");
    }
}
