//! What is protected, what is clean, what was rehearsed: the repository's
//! state as the dashboard's overview and the metrics show it.
//!
//! Gathered from the snapshots, the marks and the object listings only:
//! never a pack nor the index, so it stays cheap however large the
//! repository.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reprise_format::{Snapshot, SnapshotId};
use reprise_repo::{MarkList, RepoError, Repository, StoredCheck};
use reprise_services::report::{RecoveryReport, ServiceReport};
use reprise_storage::ObjectKind;

/// Why the overview could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] reprise_storage::StorageError),
}

/// One source's last backup.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceState {
    /// Its `source=` tag, else its host and paths.
    pub source: String,
    pub last_backup: DateTime<Utc>,
    pub duration_seconds: Option<f64>,
    pub bytes_added: Option<u64>,
    /// `clean`, `suspicious`, `attack`, or empty when detection did not run.
    pub verdict: String,
    pub flagged_files: u64,
    pub snapshots: u64,
    pub incident_open: bool,
}

/// One service's last drill.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillState {
    pub service: String,
    pub when: DateTime<Utc>,
    pub report: ServiceReport,
}

impl DrillState {
    /// Up within its target (or up, when it has none).
    pub fn met(&self) -> bool {
        self.report.status.is_up() && self.report.target_met != Some(false)
    }
}

/// The whole picture.
#[derive(Debug, Clone)]
pub struct Overview {
    pub sources: Vec<SourceState>,
    pub drills: Vec<DrillState>,
    pub size_bytes: u64,
    pub snapshots: u64,
    /// The source of each open incident.
    pub open_incidents: Vec<String>,
    pub last_check: Option<StoredCheck>,
    /// The last check that read every byte.
    pub last_full_check: Option<StoredCheck>,
}

impl Overview {
    pub fn gather(repo: &Repository) -> Result<Overview, OverviewError> {
        let snapshots = repo.list_snapshots()?.snapshots;
        let marks = repo.list_marks()?;
        let open_incidents = open_incidents(&snapshots, &marks);
        let checks = marks.check_records();
        Ok(Overview {
            sources: sources(&snapshots, &open_incidents),
            drills: drills(&marks),
            size_bytes: size(repo)?,
            snapshots: snapshots.len() as u64,
            open_incidents,
            last_full_check: checks
                .iter()
                .rev()
                .find(|c| c.record.read_data_percent >= 100.0)
                .cloned(),
            last_check: checks.last().cloned(),
        })
    }
}

/// The source a snapshot belongs to: its `source=` tag, else its host and
/// paths (a plain `reprise backup`).
pub fn source_of(snapshot: &Snapshot) -> String {
    snapshot
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("source="))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}:{}", snapshot.hostname, snapshot.paths.join(",")))
}

fn sources(snapshots: &[(SnapshotId, Snapshot)], open: &[String]) -> Vec<SourceState> {
    let mut newest: BTreeMap<String, (&Snapshot, u64)> = BTreeMap::new();
    for (_, snapshot) in snapshots {
        let entry = newest.entry(source_of(snapshot)).or_insert((snapshot, 0));
        entry.1 += 1;
        if snapshot.time > entry.0.time {
            entry.0 = snapshot;
        }
    }
    newest
        .into_iter()
        .map(|(source, (snapshot, count))| SourceState {
            incident_open: open.contains(&source),
            last_backup: snapshot.time,
            duration_seconds: snapshot.summary.as_ref().map(|s| s.duration_s),
            bytes_added: snapshot.summary.as_ref().map(|s| s.bytes_added),
            verdict: snapshot
                .detection
                .as_ref()
                .map(|d| d.verdict.clone())
                .unwrap_or_default(),
            flagged_files: snapshot.detection.as_ref().map_or(0, |d| d.flagged_files),
            snapshots: count,
            source,
        })
        .collect()
}

fn open_incidents(snapshots: &[(SnapshotId, Snapshot)], marks: &MarkList) -> Vec<String> {
    reprise_detect::incident::fold(&marks.incident_records())
        .iter()
        .filter(|i| i.closed.is_none())
        .map(|i| source_of_incident(i, snapshots))
        .collect()
}

/// The source an incident concerns, named as its snapshots name it: the
/// source of the snapshot that opened it, else its host and paths.
pub fn source_of_incident(
    incident: &reprise_detect::incident::Incident,
    snapshots: &[(SnapshotId, Snapshot)],
) -> String {
    incident
        .opened_by
        .and_then(|id| snapshots.iter().find(|(s, _)| *s == id))
        .map(|(_, s)| source_of(s))
        .unwrap_or_else(|| format!("{}:{}", incident.hostname, incident.paths.join(",")))
}

/// Each service's newest drill; records this version cannot read are
/// skipped.
fn drills(marks: &MarkList) -> Vec<DrillState> {
    let mut last: BTreeMap<String, DrillState> = BTreeMap::new();
    for stored in marks.drill_records() {
        let Ok(report) = serde_json::from_value::<RecoveryReport>(stored.report) else {
            continue;
        };
        for service in report.services {
            last.insert(
                service.name.clone(),
                DrillState {
                    service: service.name.clone(),
                    when: stored.stored,
                    report: service,
                },
            );
        }
    }
    last.into_values().collect()
}

/// Bytes of every object the storage lists.
fn size(repo: &Repository) -> Result<u64, OverviewError> {
    let mut size = 0u64;
    for kind in [
        ObjectKind::Pack,
        ObjectKind::Index,
        ObjectKind::Snapshot,
        ObjectKind::Mark,
    ] {
        size = repo
            .backend()
            .list(kind)?
            .iter()
            .fold(size, |total, o| total.saturating_add(o.size));
    }
    Ok(size)
}
