//! Snapshots: the root of one backup and the only commit point. A snapshot
//! object is written last, after every pack and index it depends on is durable.
//!
//! JSON, sealed with AAD `b"reprise snapshot"`, stored under `snapshots/`
//! named by the BLAKE3 of the stored bytes.

use crate::{BlobId, FormatError, SnapshotId};
use chrono::{DateTime, Utc};
use reprise_crypto::MasterKey;
use serde::{Deserialize, Serialize};

const SNAPSHOT_AAD: &[u8] = b"reprise snapshot";

/// What a backup did, stored with its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unmodified: u64,
    pub total_files: u64,
    pub total_bytes: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub blobs_added: u64,
    pub errors: u64,
    pub duration_s: f64,
}

/// What ransomware detection concluded about a snapshot, compared with its
/// parent. The full report is recomputed from the trees by `reprise detect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionSummary {
    /// `clean`, `suspicious` or `attack`.
    pub verdict: String,
    /// 0 to 100.
    pub score: f64,
    /// Files that look encrypted by an attack, and ransom notes.
    pub flagged_files: u64,
    /// The evidence, in plain language, most telling first.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Version of the detector that judged (reprise's version).
    #[serde(default)]
    pub detector: String,
}

/// One backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub time: DateTime<Utc>,
    pub tree: BlobId,
    pub paths: Vec<String>,
    pub hostname: String,
    pub username: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    #[serde(default)]
    pub excludes: Vec<String>,
    pub program_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SnapshotSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<DetectionSummary>,
    /// For a snapshot made by `copy`: the id of the snapshot it copies, in
    /// the repository it came from (revision 1.2). Lets the next copy skip it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<SnapshotId>,
    /// The `session` of the started mark the backup wrote when it began
    /// (revision 1.2): tells prune this backup is no longer running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl Snapshot {
    /// Whether this snapshot was taken of `paths` (in any order) on
    /// `hostname`: its *source*, which parent lookup, detection and
    /// retention all group by.
    pub fn is_of(&self, hostname: &str, paths: &[String]) -> bool {
        let sorted = |p: &[String]| {
            let mut p = p.to_vec();
            p.sort();
            p
        };
        self.hostname == hostname && sorted(&self.paths) == sorted(paths)
    }

    pub fn seal(&self, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
        let json = serde_json::to_vec(self)
            .map_err(|e| FormatError::malformed("snapshot", e.to_string()))?;
        key.seal(SNAPSHOT_AAD, &json)
            .map_err(|source| FormatError::Sealed {
                what: "snapshot",
                source,
            })
    }

    pub fn open(key: &MasterKey, sealed: &[u8]) -> Result<Self, FormatError> {
        let json = key
            .open(SNAPSHOT_AAD, sealed)
            .map_err(|source| FormatError::Sealed {
                what: "snapshot",
                source,
            })?;
        let snapshot: Snapshot = serde_json::from_slice(&json)
            .map_err(|e| FormatError::malformed("snapshot", e.to_string()))?;
        if snapshot.version > crate::FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                found: snapshot.version,
                supported: crate::FORMAT_VERSION,
            });
        }
        Ok(snapshot)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}
