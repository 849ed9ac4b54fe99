//! `/metrics`: the repository's state in the Prometheus (OpenMetrics) text
//! format, for the monitoring a town already runs.
//!
//! A scrape is an [`Overview`]: it lists objects and reads snapshots and
//! marks, all small; it never reads a pack nor loads the index, so it stays
//! cheap however large the repository (restic's exporters run `check` on
//! every scrape).
//!
//! Per source (its `source=` tag, else its host and paths): the last
//! backup's time, duration, detection verdict, bytes added and files
//! flagged, and whether an incident is open on it. Per service (from the
//! drill records): the last drill's time, its time until up (RTO), its
//! target and whether it was met. For the repository: its size, its
//! snapshots, open incidents, and the age of its last check and of its
//! last full check (`check --read-data`).

use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use reprise_repo::Repository;

use crate::overview::{Overview, OverviewError};

/// The verdicts a backup's detection gives; each source has a gauge of each,
/// 1 for its last backup's.
const VERDICTS: [&str; 3] = ["clean", "suspicious", "attack"];

type Labels = Vec<(String, String)>;
type Value = Gauge<f64, AtomicU64>;

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Overview(#[from] OverviewError),
    #[error("cannot write the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// The content type of [`scrape`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of `repo` now, as OpenMetrics text.
pub fn scrape(repo: &Repository) -> Result<String, MetricsError> {
    render(&Overview::gather(repo)?)
}

/// The metrics of an overview already gathered.
pub fn render(overview: &Overview) -> Result<String, MetricsError> {
    let mut registry = Registry::with_prefix("reprise");
    sources(&mut registry, overview);
    drills(&mut registry, overview);
    repository(&mut registry, overview);
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

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

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn sources(registry: &mut Registry, overview: &Overview) {
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
    for s in &overview.sources {
        let of = labels(&[("source", &s.source)]);
        time.get_or_create(&of).set(seconds(s.last_backup));
        if let Some(d) = s.duration_seconds {
            duration.get_or_create(&of).set(d);
        }
        if let Some(b) = s.bytes_added {
            added.get_or_create(&of).set(b as f64);
        }
        flagged.get_or_create(&of).set(s.flagged_files as f64);
        for v in VERDICTS {
            verdict
                .get_or_create(&labels(&[("source", &s.source), ("verdict", v)]))
                .set(flag(s.verdict == v));
        }
        count.get_or_create(&of).set(s.snapshots as f64);
        open.get_or_create(&of).set(flag(s.incident_open));
    }
    for source in &overview.open_incidents {
        open.get_or_create(&labels(&[("source", source)])).set(1.0);
    }
}

fn drills(registry: &mut Registry, overview: &Overview) {
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
    for d in &overview.drills {
        let of = labels(&[("service", &d.service)]);
        time.get_or_create(&of).set(seconds(d.when));
        up.get_or_create(&of).set(flag(d.report.status.is_up()));
        if let Some(s) = d.report.up_after_seconds {
            rto.get_or_create(&of).set(s);
        }
        if let Some(s) = d.report.target_seconds {
            target.get_or_create(&of).set(s);
        }
        met.get_or_create(&of).set(flag(d.met()));
    }
}

fn repository(registry: &mut Registry, overview: &Overview) {
    single(
        registry,
        "repository_size_bytes",
        "Bytes the repository's objects take in its storage",
        overview.size_bytes as f64,
    );
    single(
        registry,
        "repository_snapshots",
        "Snapshots in the repository",
        overview.snapshots as f64,
    );
    single(
        registry,
        "incidents_open",
        "Ransomware incidents open in the repository",
        overview.open_incidents.len() as f64,
    );
    if let Some(last) = &overview.last_check {
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
    if let Some(full) = &overview.last_full_check {
        single(
            registry,
            "check_last_full_timestamp_seconds",
            "When the last check that read every byte (check --read-data) ended (Unix time)",
            seconds(full.stored),
        );
    }
}
