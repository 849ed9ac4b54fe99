//! `/metrics`: the repository's state in the Prometheus (OpenMetrics) text
//! format, for the monitoring a town already runs.
//!
//! A scrape lists objects and reads snapshots and marks, all small; it
//! never reads a pack nor loads the index, so it stays cheap however large
//! the repository (restic's exporters run `check` on every scrape).
//!
//! Per source (its `source=` tag, else its host and paths): the last
//! backup's time, duration, detection verdict, bytes added and files
//! flagged, and whether an incident is open on it. Per service (from the
//! drill records): the last drill's time, its time until up (RTO), its
//! target and whether it was met. For the repository: its size, its
//! snapshots, open incidents, and the age of its last check and of its
//! last full check (`check --read-data`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use reprise_format::Snapshot;
use reprise_repo::{MarkList, RepoError, Repository};
use reprise_services::report::RecoveryReport;
use reprise_storage::ObjectKind;

/// The verdicts a backup's detection gives; each source has a gauge of each,
/// 1 for its last backup's.
const VERDICTS: [&str; 3] = ["clean", "suspicious", "attack"];

type Labels = Vec<(String, String)>;
type Value = Gauge<f64, AtomicU64>;

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] reprise_storage::StorageError),
    #[error("cannot write the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// The metrics of `repo` now, as OpenMetrics text.
pub fn scrape(repo: &Repository) -> Result<String, MetricsError> {
    let snapshots = repo.list_snapshots()?;
    let marks = repo.list_marks()?;
    let mut registry = Registry::with_prefix("reprise");
    sources(&mut registry, &snapshots.snapshots, &marks);
    drills(&mut registry, &marks);
    repository(&mut registry, repo, &snapshots.snapshots, &marks)?;
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

/// The content type of [`scrape`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A family of gauges registered under `name`, filled by the caller.
fn family(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Value> {
    let family = Family::<Labels, Value>::default();
    registry.register(name, help, family.clone());
    family
}

fn single(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let gauge = Value::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The source a snapshot belongs to: its `source=` tag, else its host and
/// paths (a plain `reprise backup`).
fn source_of(snapshot: &Snapshot) -> String {
    snapshot
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("source="))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}:{}", snapshot.hostname, snapshot.paths.join(",")))
}

fn sources(
    registry: &mut Registry,
    snapshots: &[(reprise_format::SnapshotId, Snapshot)],
    marks: &MarkList,
) {
    let mut newest: BTreeMap<String, &Snapshot> = BTreeMap::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (_, snapshot) in snapshots {
        let source = source_of(snapshot);
        *counts.entry(source.clone()).or_default() += 1;
        let entry = newest.entry(source).or_insert(snapshot);
        if snapshot.time > entry.time {
            *entry = snapshot;
        }
    }
    let time = family(
        registry,
        "source_last_backup_timestamp_seconds",
        "When the source's last backup was taken (Unix time)",
    );
    let duration = family(
        registry,
        "source_last_backup_duration_seconds",
        "How long the source's last backup took",
    );
    let added = family(
        registry,
        "source_last_backup_added_bytes",
        "Bytes the source's last backup added to the repository",
    );
    let flagged = family(
        registry,
        "source_last_backup_flagged_files",
        "Files the last backup's detection flagged (encrypted, ransom notes)",
    );
    let verdict = family(
        registry,
        "source_last_backup_verdict",
        "1 for the last backup's detection verdict, 0 for the others",
    );
    let count = family(
        registry,
        "source_snapshots",
        "Snapshots of the source in the repository",
    );
    let open = family(
        registry,
        "source_incident_open",
        "1 while a ransomware incident is open on the source",
    );
    for (source, snapshot) in &newest {
        let of = labels(&[("source", source)]);
        time.get_or_create(&of).set(seconds(snapshot.time));
        if let Some(summary) = &snapshot.summary {
            duration.get_or_create(&of).set(summary.duration_s);
            added.get_or_create(&of).set(summary.bytes_added as f64);
        }
        let detection = snapshot.detection.as_ref();
        flagged
            .get_or_create(&of)
            .set(detection.map_or(0.0, |d| d.flagged_files as f64));
        let said = detection.map_or("", |d| d.verdict.as_str());
        for v in VERDICTS {
            verdict
                .get_or_create(&labels(&[("source", source), ("verdict", v)]))
                .set(if said == v { 1.0 } else { 0.0 });
        }
        count
            .get_or_create(&of)
            .set(counts.get(source).copied().unwrap_or(0) as f64);
        open.get_or_create(&of).set(0.0);
    }
    for incident in open_incidents(snapshots, marks) {
        open.get_or_create(&labels(&[("source", &incident)]))
            .set(1.0);
    }
}

/// The source of each open incident.
fn open_incidents(
    snapshots: &[(reprise_format::SnapshotId, Snapshot)],
    marks: &MarkList,
) -> Vec<String> {
    reprise_detect::incident::fold(&marks.incident_records())
        .into_iter()
        .filter(|i| i.closed.is_none())
        .map(|i| {
            i.opened_by
                .and_then(|id| snapshots.iter().find(|(s, _)| *s == id))
                .map(|(_, s)| source_of(s))
                .unwrap_or_else(|| format!("{}:{}", i.hostname, i.paths.join(",")))
        })
        .collect()
}

fn drills(registry: &mut Registry, marks: &MarkList) {
    let time = family(
        registry,
        "service_last_drill_timestamp_seconds",
        "When the service's last drill ran (Unix time)",
    );
    let rto = family(
        registry,
        "service_last_drill_rto_seconds",
        "Seconds from the last drill's start until the service was up",
    );
    let target = family(
        registry,
        "service_rto_target_seconds",
        "The service's recovery time objective, as its last drill knew it",
    );
    let met = family(
        registry,
        "service_last_drill_target_met",
        "1 if the service was up within its target in the last drill, else 0",
    );
    let up = family(
        registry,
        "service_last_drill_up",
        "1 if the service came up in its last drill, else 0",
    );
    let mut last: BTreeMap<String, (DateTime<Utc>, reprise_services::report::ServiceReport)> =
        BTreeMap::new();
    for stored in marks.drill_records() {
        let Ok(report) = serde_json::from_value::<RecoveryReport>(stored.report) else {
            continue;
        };
        for service in report.services {
            last.insert(service.name.clone(), (stored.stored, service));
        }
    }
    for (name, (when, service)) in &last {
        let of = labels(&[("service", name)]);
        time.get_or_create(&of).set(seconds(*when));
        up.get_or_create(&of)
            .set(if service.status.is_up() { 1.0 } else { 0.0 });
        if let Some(seconds) = service.up_after_seconds {
            rto.get_or_create(&of).set(seconds);
        }
        if let Some(seconds) = service.target_seconds {
            target.get_or_create(&of).set(seconds);
        }
        met.get_or_create(&of).set(
            if service.target_met == Some(false) || !service.status.is_up() {
                0.0
            } else {
                1.0
            },
        );
    }
}

fn repository(
    registry: &mut Registry,
    repo: &Repository,
    snapshots: &[(reprise_format::SnapshotId, Snapshot)],
    marks: &MarkList,
) -> Result<(), MetricsError> {
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
    single(
        registry,
        "repository_size_bytes",
        "Bytes the repository's objects take in its storage",
        size as f64,
    );
    single(
        registry,
        "repository_snapshots",
        "Snapshots in the repository",
        snapshots.len() as f64,
    );
    single(
        registry,
        "incidents_open",
        "Ransomware incidents open in the repository",
        open_incidents(snapshots, marks).len() as f64,
    );
    let checks = marks.check_records();
    if let Some(last) = checks.last() {
        single(
            registry,
            "check_last_timestamp_seconds",
            "When the last check ended (Unix time)",
            seconds(last.stored),
        );
        single(
            registry,
            "check_last_read_data_percent",
            "Share of the packs the last check read and verified",
            last.record.read_data_percent,
        );
        single(
            registry,
            "check_last_errors",
            "Problems the last check found",
            last.record.errors as f64,
        );
    }
    if let Some(full) = checks
        .iter()
        .rev()
        .find(|c| c.record.read_data_percent >= 100.0)
    {
        single(
            registry,
            "check_last_full_timestamp_seconds",
            "When the last check that read every byte (check --read-data) ended (Unix time)",
            seconds(full.stored),
        );
    }
    Ok(())
}
