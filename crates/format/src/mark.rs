//! Marks: maintenance records that every client reads with the index
//! (format revision 1.2). Two kinds:
//!
//! - a **prune mark** lists packs that no snapshot referenced when `prune`
//!   looked; writers stop deduplicating against them, and a later `prune`
//!   deletes those still unreferenced once the grace period has passed;
//! - a **damaged mark** lists blob copies found not to match their id
//!   (`check --read-data`); writers store such blobs again instead of
//!   deduplicating against the bad copy, and readers try it last.
//!
//! - a **started mark** announces a backup (or copy) before it loads the
//!   index; its snapshot carries the same `session`. Until that snapshot
//!   exists, prune deletes no pack marked after the start, since the
//!   running backup may have deduplicated against it.
//!
//! - an **ended mark** (revision 1.3) closes a started mark whose backup
//!   failed without writing a snapshot (a full disk, a lost connection):
//!   prune need not wait for it. A backup killed outright writes none, and
//!   its started mark counts until it expires.
//!
//! - an **incident** mark (revision 1.4) records one event of a ransomware
//!   incident: opened, a second wave, closed by a backup, resolved by an
//!   operator (`crate::incident`).
//!
//! - a **drill** mark (revision 1.5) records a recovery drill: which
//!   services came back, from which snapshots, how fast, and whether every
//!   restored database matched its table manifest (`reprise drills`).
//!
//! A mark only ever makes clients store *more* or prune delete *later*: a
//! forged one costs space, never data. JSON, sealed with AAD `b"reprise mark"`, stored under
//! `marks/` named by the BLAKE3 of the stored bytes.

use crate::sealed::{self, JsonObject};
use crate::{BlobId, FormatError, IncidentRecord, PackId, RawBytes};
use chrono::{DateTime, Utc};
use reprise_crypto::MasterKey;
use serde::{Deserialize, Serialize};

/// One maintenance record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub version: u32,
    /// When the mark was made (informational: readers that need a time use
    /// the storage's own record of when the object arrived).
    pub time: DateTime<Utc>,
    pub hostname: String,
    #[serde(flatten)]
    pub body: MarkBody,
}

/// What a mark records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MarkBody {
    /// Packs that held no referenced blob when marked.
    Prune { packs: Vec<PackId> },
    /// Copies of blobs whose content did not match their id.
    Damaged { blobs: Vec<DamagedCopy> },
    /// A backup of `paths` began; its snapshot will carry `session`.
    Started {
        session: String,
        paths: Vec<String>,
        /// `paths` byte for byte when one is not UTF-8 (revision 1.3), as
        /// in a snapshot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paths_bytes: Option<Vec<RawBytes>>,
    },
    /// The backup that wrote the started mark of `session` stopped without
    /// a snapshot (revision 1.3).
    Ended { session: String },
    /// One event of a ransomware incident (revision 1.4, see [`crate::incident`]).
    Incident(IncidentRecord),
    /// A recovery drill's report (revision 1.5): `drill` is its id, and
    /// `report` the JSON object `reprise drill --json` prints, kept as
    /// JSON so that readers that do not show drills need not parse it.
    Drill {
        drill: String,
        report: serde_json::Value,
    },
    /// A `check` ran to its end (revision 2.1): how much it read and what
    /// it found, so that the dashboard and the metrics tell how recently
    /// every byte was verified.
    Check(CheckRecord),
}

/// What one `check` covered and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The share of the packs whose every blob was read and verified: 0
    /// for a check of the structure only, 100 for `--read-data`.
    pub read_data_percent: f64,
    pub snapshots: u64,
    pub packs: u64,
    pub packs_read: u64,
    /// Problems found (each a finding of severity "error").
    pub errors: u64,
}

/// One bad copy of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedCopy {
    pub blob: BlobId,
    pub pack: PackId,
    pub reason: String,
}

impl JsonObject for Mark {
    const WHAT: &'static str = "mark";
    const AAD: &'static [u8] = b"reprise mark";

    fn version(&self) -> u32 {
        self.version
    }
}

impl Mark {
    pub fn seal(&self, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
        sealed::seal(self, key)
    }

    pub fn open(key: &MasterKey, sealed: &[u8]) -> Result<Self, FormatError> {
        sealed::open(key, &[], sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_name_their_kind() {
        let key = MasterKey::generate().unwrap();
        let mark = Mark {
            version: 1,
            time: Utc::now(),
            hostname: "srv".into(),
            body: MarkBody::Damaged {
                blobs: vec![DamagedCopy {
                    blob: BlobId::from_bytes([1; 32]),
                    pack: PackId::from_bytes([2; 32]),
                    reason: "content does not match its id".into(),
                }],
            },
        };
        let sealed = mark.seal(&key).unwrap();
        assert_eq!(Mark::open(&key, &sealed).unwrap(), mark);
        let json = serde_json::to_string(&mark).unwrap();
        assert_eq!(key.open(b"reprise mark", &sealed).unwrap(), json.as_bytes());
        assert!(json.contains("\"kind\":\"damaged\""), "{json}");
        let other = MasterKey::generate().unwrap();
        assert!(Mark::open(&other, &sealed).is_err());
    }
}
