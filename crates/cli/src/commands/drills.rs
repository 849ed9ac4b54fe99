//! `reprise drills`: the history of drills stored in the repository, one
//! line per drill, then each service's time to come back, drill by drill.

use std::collections::BTreeMap;

use reprise_repo::StoredDrill;
use reprise_services::report::{human_duration, RecoveryReport};

use crate::output;

/// The lines `reprise drills` prints, oldest drill first.
pub fn history(drills: &[StoredDrill]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut per_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for stored in drills {
        let when = output::text_time(&stored.stored);
        let report: RecoveryReport = match serde_json::from_value(stored.report.clone()) {
            Ok(report) => report,
            Err(e) => {
                lines.push(format!(
                    "{when}  drill {}  unreadable record: {e}",
                    stored.drill
                ));
                continue;
            }
        };
        lines.push(drill_line(stored, &when, &report));
        for service in &report.services {
            if !service.status.is_up() {
                lines.push(format!("    {}: {}", service.name, service.status.label()));
            }
            let up = service
                .up_after_seconds
                .map_or_else(|| "failed".to_owned(), human_duration);
            per_service
                .entry(service.name.clone())
                .or_default()
                .push(up);
        }
    }
    if !per_service.is_empty() {
        lines.push(String::new());
        lines.push("time until up, per service, oldest drill first:".to_owned());
        for (service, times) in per_service {
            lines.push(format!("  {service}: {}", times.join(", ")));
        }
    }
    lines
}

fn drill_line(stored: &StoredDrill, when: &str, report: &RecoveryReport) -> String {
    let up = report.services.iter().filter(|s| s.status.is_up()).count();
    let all_up = report.totals.all_up_seconds.map_or_else(
        || "not all up".to_owned(),
        |s| format!("all up after {}", human_duration(s)),
    );
    format!(
        "{when}  drill {}  on {}  {}  {up}/{} services up, {all_up}",
        stored.drill,
        stored.hostname,
        if report.ok { "OK" } else { "FAILED" },
        report.services.len(),
    )
}
