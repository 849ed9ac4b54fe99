//! How fast each service restores on this town's machines, learned from the
//! drills the repository recorded.
//!
//! The recovery order weighs each service by its estimated restore time
//! (`order`). A constant rate per kind of source is a poor guess: a file
//! share's speed depends on its disks, a database's on its indexes and its
//! server. A drill measured the real thing, so the newest drill that
//! restored a service gives that service's rate in bytes a second, and the
//! next recovery or drill scales it by the bytes it will restore now.

use std::collections::BTreeMap;

use reprise_repo::{RepoError, Repository};
use serde::Deserialize;

use crate::report::{RecoveryReport, ServiceReport};

/// Below this a restore's time is mostly fixed costs (opening, creating a
/// database): its bytes a second say little about a larger restore.
const SHORTEST_MEASURE_SECONDS: f64 = 0.5;

/// Each service's restore rate (bytes a second) as last measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pace {
    bytes_per_second: BTreeMap<String, f64>,
}

impl Pace {
    /// The rates of `reports` (drill records, oldest first, as the
    /// repository lists them): a later measure of a service replaces an
    /// earlier one. Records that are not a report this version can read
    /// (another version's, or damaged) are skipped: a guess is only a guess.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a serde_json::Value>) -> Pace {
        let mut pace = Pace::default();
        for record in records {
            let Ok(report) = RecoveryReport::deserialize(record) else {
                continue;
            };
            for service in &report.services {
                if let Some(rate) = measured_rate(service) {
                    pace.bytes_per_second.insert(service.name.clone(), rate);
                }
            }
        }
        pace
    }

    /// The rates of the drills `repo` recorded.
    pub fn of_repository(repo: &Repository) -> Result<Pace, RepoError> {
        let drills = repo.list_marks()?.drill_records();
        Ok(Pace::from_records(drills.iter().map(|d| &d.report)))
    }

    /// How long restoring `bytes` of `service` should take, if a drill
    /// measured it.
    pub fn estimate(&self, service: &str, bytes: u64) -> Option<std::time::Duration> {
        let rate = self.bytes_per_second.get(service)?;
        std::time::Duration::try_from_secs_f64(bytes as f64 / rate).ok()
    }
}

/// Bytes a second of a service that came up, restored long enough to tell.
fn measured_rate(service: &ServiceReport) -> Option<f64> {
    let seconds = service.restore_seconds?;
    let bytes: u64 = service.sources.iter().map(|s| s.bytes).sum();
    let rate = bytes as f64 / seconds;
    (service.status.is_up() && seconds >= SHORTEST_MEASURE_SECONDS && bytes > 0 && rate.is_finite())
        .then_some(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{RunKind, SourceReport, Status};
    use chrono::Utc;
    use std::time::Duration;

    fn service(name: &str, bytes: u64, seconds: f64, status: Status) -> ServiceReport {
        ServiceReport {
            name: name.into(),
            public_name: name.into(),
            priority: 1,
            depends_on: Vec::new(),
            status,
            sources: vec![SourceReport {
                source: name.into(),
                snapshot_id: "0".repeat(64),
                snapshot_time: Utc::now(),
                verdict: "clean".into(),
                bytes,
                data_loss_seconds: 0.0,
                databases: Vec::new(),
            }],
            restore_seconds: Some(seconds),
            health_seconds: Some(0.0),
            up_after_seconds: Some(seconds),
            target_seconds: None,
            target_met: None,
            health: Vec::new(),
        }
    }

    fn record(services: Vec<ServiceReport>) -> serde_json::Value {
        let now = Utc::now();
        let report = RecoveryReport::assemble(RunKind::Drill, now, None, now, services);
        serde_json::to_value(report).unwrap()
    }

    #[test]
    fn the_newest_drill_of_a_service_sets_its_pace() {
        let older = record(vec![
            service("eau", 100_000_000, 10.0, Status::Up),
            service("paie", 50_000_000, 5.0, Status::Up),
        ]);
        let newer = record(vec![service("eau", 100_000_000, 2.0, Status::Up)]);
        let pace = Pace::from_records([&older, &newer]);
        // 50 MB/s now: 200 MB take 4 s.
        assert_eq!(
            pace.estimate("eau", 200_000_000),
            Some(Duration::from_secs(4))
        );
        // Only the older drill measured paie: 10 MB/s.
        assert_eq!(
            pace.estimate("paie", 20_000_000),
            Some(Duration::from_secs(2))
        );
        assert_eq!(pace.estimate("cantine", 1), None);
    }

    #[test]
    fn failed_instant_and_unreadable_measures_teach_nothing() {
        let failed = record(vec![service(
            "eau",
            100,
            10.0,
            Status::Failed {
                reason: "down".into(),
            },
        )]);
        let instant = record(vec![service("paie", 100_000, 0.01, Status::Up)]);
        let empty = record(vec![service("cantine", 0, 3.0, Status::Up)]);
        let garbage = serde_json::json!({"services": "no"});
        let pace = Pace::from_records([&failed, &instant, &empty, &garbage]);
        assert_eq!(pace, Pace::default());
    }
}
