//! The ransomware incidents detection opened, as the operator's incident
//! view shows them: which source was hit, since when, how many files were
//! encrypted and how many ransom notes left, which snapshot saw it and
//! which is the last clean one, and whether it is closed.
//!
//! Folded from the repository's incident records (marks), as `reprise
//! incident list` does; no pack is read.

use chrono::{DateTime, Utc};
use reprise_detect::incident::{fold, Incident};
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::{RepoError, Repository};

use crate::overview::source_of_incident;

/// Closed incidents shown besides the open ones, newest first.
const CLOSED_SHOWN: usize = 5;

/// One incident as the view shows it.
#[derive(Debug, Clone)]
pub struct DetectionIncident {
    pub id: String,
    /// The source, named as the snapshots name it.
    pub source: String,
    pub opened: DateTime<Utc>,
    pub opened_by: Option<SnapshotId>,
    pub last_clean: Option<SnapshotId>,
    /// The directory backed up, when the source is one (what an in-place
    /// restore puts back).
    pub share: Option<Vec<u8>>,
    pub encrypted: usize,
    pub notes: usize,
    /// Backups that found more files hit.
    pub waves: usize,
    /// "open since …" or "closed … by …".
    pub status: String,
    pub open: bool,
    /// Why it was closed, if it was.
    pub closed_because: Option<String>,
}

/// Every open incident, then the last few closed ones.
pub fn gather(repo: &Repository) -> Result<Vec<DetectionIncident>, RepoError> {
    let snapshots = repo.list_snapshots()?.snapshots;
    let marks = repo.list_marks()?;
    let mut all = fold(&marks.incident_records());
    all.reverse();
    let (open, closed): (Vec<Incident>, Vec<Incident>) =
        all.into_iter().partition(Incident::is_open);
    Ok(open
        .into_iter()
        .chain(closed.into_iter().take(CLOSED_SHOWN))
        .map(|i| shown(&i, &snapshots))
        .collect())
}

fn shown(i: &Incident, snapshots: &[(SnapshotId, Snapshot)]) -> DetectionIncident {
    DetectionIncident {
        id: i.id.clone(),
        source: source_of_incident(i, snapshots),
        opened: i.opened,
        opened_by: i.opened_by,
        last_clean: i.last_clean,
        share: match i.source_paths.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        encrypted: i.encrypted_files().count(),
        notes: i.files.iter().filter(|f| f.note).count(),
        waves: i.waves.len(),
        status: i.status_phrase(),
        open: i.is_open(),
        closed_because: i.closed.as_ref().map(|c| c.reason.clone()),
    }
}
