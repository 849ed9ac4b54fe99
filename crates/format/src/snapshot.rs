//! Snapshots: the root of one backup and the only commit point. A snapshot
//! object is written last, after every pack and index it depends on is durable.
//!
//! JSON, sealed with AAD `b"reprise snapshot"`, stored under `snapshots/`
//! named by the BLAKE3 of the stored bytes.

use crate::sealed::{self, JsonObject};
use crate::{BlobId, FormatError, RawBytes, SnapshotId};
use chrono::{DateTime, Duration, Utc};
use reprise_crypto::MasterKey;
use serde::{Deserialize, Serialize};

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
    /// The incident open on this source when the snapshot was taken
    /// (revision 1.4), and what was still encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<crate::IncidentState>,
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
    /// The backed-up paths byte for byte, in the order of `paths`, written
    /// when one of them is not valid UTF-8 (revision 1.3): `paths` then holds
    /// lossy text, and two sources that differ only in such bytes would look
    /// the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_bytes: Option<Vec<RawBytes>>,
}

/// The byte-exact paths of a source, sorted: `paths_bytes` where a writer
/// recorded them, else the text of `paths`. Two snapshots (or a snapshot and
/// a started mark) are of the same source when these and the host are equal.
pub fn source_paths(paths: &[String], paths_bytes: Option<&[RawBytes]>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = match paths_bytes {
        Some(bytes) => bytes.iter().map(|b| b.0.clone()).collect(),
        None => paths.iter().map(|p| p.as_bytes().to_vec()).collect(),
    };
    out.sort();
    out
}

/// `paths_bytes` for these paths: `None` when every one is valid UTF-8, as
/// `paths` then says the same thing.
pub fn paths_bytes_of(paths: &[Vec<u8>]) -> Option<Vec<RawBytes>> {
    paths
        .iter()
        .any(|p| std::str::from_utf8(p).is_err())
        .then(|| paths.iter().map(|p| RawBytes(p.clone())).collect())
}

/// How far a snapshot's own date may be after its storage time: clocks of
/// clients and storage disagree a little.
pub const CLOCK_SKEW: Duration = Duration::minutes(15);
/// How far before its storage time a snapshot's date may be and still
/// count as timely: a backup's start time is its date, and a backup of a
/// large share can run for days.
pub const LATE_AFTER: Duration = Duration::days(7);

/// How far a snapshot's dates can be trusted. A client that holds the key
/// can write any snapshot with any date; the storage's own record of when
/// it received the object is the one date a client cannot choose. These
/// rules are shared by retention (`forget`) and by the choice of a backup's
/// parent, so that a forgery gains the same nothing in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Trusted,
    /// Dated more than [`LATE_AFTER`] before the storage received it.
    LateArrival,
    /// Detection said `suspicious` or `attack`.
    Flagged,
    /// Dated after the storage received it, or in the future.
    FutureDated,
}

impl Standing {
    /// Judges a snapshot dated `time`, received by the storage at `stored`
    /// (if the storage says), with detection verdict `verdict`.
    pub fn of(
        time: DateTime<Utc>,
        stored: Option<DateTime<Utc>>,
        verdict: Option<&str>,
        now: DateTime<Utc>,
    ) -> Standing {
        if matches!(verdict, Some("suspicious" | "attack")) {
            return Standing::Flagged;
        }
        if time > received(stored, now) + CLOCK_SKEW {
            return Standing::FutureDated;
        }
        match stored {
            Some(stored) if time < stored - LATE_AFTER => Standing::LateArrival,
            _ => Standing::Trusted,
        }
    }

    /// Judges the dates alone, whatever detection said: `Trusted`,
    /// `LateArrival` or `FutureDated`. A forger can write any verdict, so a
    /// decision about dates must not depend on it.
    pub fn of_dates(
        time: DateTime<Utc>,
        stored: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Standing {
        Standing::of(time, stored, None, now)
    }
}

/// When the storage received an object, never later than now; `now` where
/// the storage keeps no time.
pub fn received(stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    stored.unwrap_or(now).min(now)
}

impl JsonObject for Snapshot {
    const WHAT: &'static str = "snapshot";
    const AAD: &'static [u8] = b"reprise snapshot";

    fn version(&self) -> u32 {
        self.version
    }
}

impl Snapshot {
    /// Whether this snapshot was taken of `paths` (in any order) on
    /// `hostname`: its *source*, which parent lookup, detection and
    /// retention all group by.
    /// `paths` are compared byte for byte (see [`source_paths`]), in any order.
    pub fn is_of(&self, hostname: &str, paths: &[Vec<u8>]) -> bool {
        let mut wanted = paths.to_vec();
        wanted.sort();
        self.hostname == hostname && self.source_paths() == wanted
    }

    /// Whether two snapshots are of the same source.
    pub fn same_source(&self, other: &Snapshot) -> bool {
        self.is_of(&other.hostname, &other.source_paths())
    }

    /// The backed-up paths, byte-exact and sorted.
    pub fn source_paths(&self) -> Vec<Vec<u8>> {
        source_paths(&self.paths, self.paths_bytes.as_deref())
    }

    /// How far this snapshot's dates can be trusted, given when the storage
    /// received it.
    pub fn standing(&self, stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Standing {
        let verdict = self.detection.as_ref().map(|d| d.verdict.as_str());
        Standing::of(self.time, stored, verdict, now)
    }

    pub fn seal(&self, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
        sealed::seal(self, key)
    }

    pub fn open(key: &MasterKey, sealed: &[u8]) -> Result<Self, FormatError> {
        sealed::open(key, &[], sealed)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(paths: &[&[u8]]) -> Snapshot {
        let bytes: Vec<Vec<u8>> = paths.iter().map(|p| p.to_vec()).collect();
        Snapshot {
            version: 1,
            time: Utc::now(),
            tree: BlobId::from_bytes([1; 32]),
            paths: bytes
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            hostname: "mairie".into(),
            username: "root".into(),
            uid: 0,
            gid: 0,
            tags: Vec::new(),
            parent: None,
            excludes: Vec::new(),
            program_version: "test".into(),
            summary: None,
            detection: None,
            original: None,
            session: None,
            paths_bytes: paths_bytes_of(&bytes),
        }
    }

    #[test]
    fn paths_differing_in_latin1_bytes_are_two_sources() {
        let acute = snapshot(&[b"/srv/caf\xe9"]);
        let grave = snapshot(&[b"/srv/caf\xe8"]);
        assert_eq!(acute.paths, grave.paths, "the text alone is lossy");
        assert!(!acute.same_source(&grave));
        assert!(acute.is_of("mairie", &[b"/srv/caf\xe9".to_vec()]));
        let json = serde_json::to_string(&acute).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert!(back.same_source(&acute) && !back.same_source(&grave));
    }

    #[test]
    fn utf8_paths_need_no_byte_copy_and_order_does_not_matter() {
        let a = snapshot(&[b"/srv/b", b"/srv/a"]);
        assert_eq!(a.paths_bytes, None);
        assert!(!serde_json::to_string(&a).unwrap().contains("paths_bytes"));
        assert!(a.is_of("mairie", &[b"/srv/a".to_vec(), b"/srv/b".to_vec()]));
        assert!(!a.is_of("autre", &[b"/srv/a".to_vec(), b"/srv/b".to_vec()]));
    }

    #[test]
    fn dates_are_judged_against_the_storage_whatever_the_verdict() {
        let now = Utc::now();
        let future = now + Duration::days(365 * 70);
        assert_eq!(
            Standing::of(future, Some(now), Some("clean"), now),
            Standing::FutureDated
        );
        assert_eq!(
            Standing::of_dates(future, None, now),
            Standing::FutureDated,
            "no storage time: judged against now"
        );
        assert_eq!(
            Standing::of(future, Some(now), Some("attack"), now),
            Standing::Flagged
        );
        assert_eq!(
            Standing::of_dates(now - Duration::days(30), Some(now), now),
            Standing::LateArrival
        );
        assert_eq!(
            Standing::of_dates(now - Duration::minutes(5), Some(now), now),
            Standing::Trusted
        );
    }
}
