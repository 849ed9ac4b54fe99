//! Incident records (revision 1.4): the marks that keep a ransomware attack
//! open after the backup that saw it.
//!
//! An incident is never one object that changes: it is a series of
//! write-once records sharing an `incident` id, stored as marks (so every
//! backend, the append-only server and Object Lock included, keeps them
//! like any other object). A backup that judges an attack writes `opened`;
//! a backup that finds more files encrypted while it is open writes
//! `wave`; a backup that finds nothing left encrypted writes `closed`; an
//! operator writes `resolved` (or `opened`, to confirm a suspicious
//! snapshot). Readers fold the records in the order the storage received
//! them.

use crate::{RawBytes, SnapshotId};
use serde::{Deserialize, Serialize};

/// One event of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The incident's id (16 lowercase hex digits), shared by its records.
    pub incident: String,
    pub event: IncidentEvent,
    /// The source it concerns: host and backed-up paths, as in a snapshot.
    pub source_host: String,
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_bytes: Option<Vec<RawBytes>>,
    /// The snapshot whose backup wrote the record (`opened`, `wave`,
    /// `closed`), or that the operator confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotId>,
    /// `opened`: the newest snapshot of the source judged clean before the
    /// attack, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_clean: Option<SnapshotId>,
    /// `opened` and `wave`: the files the attack left (encrypted copies
    /// and ransom notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<IncidentFile>,
    /// `resolved`: why the operator closed it; `closed`: what the backup saw.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// What an incident record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentEvent {
    /// The attack was seen (or a suspicious snapshot confirmed).
    Opened,
    /// More files were encrypted while the incident was open.
    Wave,
    /// A backup found no flagged file left encrypted.
    Closed,
    /// An operator closed the incident.
    Resolved,
}

impl IncidentEvent {
    /// The order of events received in the same instant (S3 keeps times to
    /// the second): an incident opens before it grows, and grows before it
    /// closes.
    pub fn rank(self) -> u8 {
        match self {
            IncidentEvent::Opened => 0,
            IncidentEvent::Wave => 1,
            IncidentEvent::Closed => 2,
            IncidentEvent::Resolved => 3,
        }
    }
}

/// A file an attack left in the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFile {
    pub path: RawBytes,
    /// The file it replaced, when the attack renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<RawBytes>,
    /// A ransom note rather than an encrypted file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub note: bool,
}

/// The state of an open incident, stored in each snapshot taken while it is
/// open (in its detection summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    pub id: String,
    /// Encrypted files still present, compared with the last clean
    /// snapshot.
    pub still_encrypted: u64,
    /// Ransom notes still present.
    #[serde(default)]
    pub notes: u64,
    /// Files the incident flagged that are no longer present encrypted.
    pub restored: u64,
    /// Whether this snapshot closed the incident.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}
