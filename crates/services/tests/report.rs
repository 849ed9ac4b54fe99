//! The recovery report: its JSON read back equal, its HTML escaped, its
//! table and totals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use reprise_databases::Verification;
use reprise_services::health::HealthResult;
use reprise_services::report::{
    DatabaseCheck, RecoveryReport, RunKind, ServiceReport, SourceReport, Status,
};

fn service(name: &str, priority: u32, deps: &[&str], seconds: f64, up_after: f64) -> ServiceReport {
    ServiceReport {
        name: name.into(),
        public_name: format!("The {name} service"),
        priority,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        status: Status::Up,
        sources: vec![SourceReport {
            source: format!("{name}-db"),
            snapshot_id: "0123456789abcdef".into(),
            snapshot_time: Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap(),
            verdict: "clean".into(),
            bytes: 1234,
            data_loss_seconds: 3600.0,
            databases: vec![DatabaseCheck {
                database: "billing".into(),
                restored_as: "drill_billing".into(),
                verification: Verification {
                    matching: vec!["invoices".into()],
                    mismatches: Vec::new(),
                },
            }],
        }],
        restore_seconds: Some(seconds),
        health_seconds: Some(0.5),
        up_after_seconds: Some(up_after),
        target_seconds: Some(600.0),
        target_met: Some(up_after <= 600.0),
        health: vec![HealthResult {
            check: "tcp 127.0.0.1:5432".into(),
            passed: true,
            observed: "connected to 127.0.0.1:5432".into(),
        }],
    }
}

fn report(services: Vec<ServiceReport>) -> RecoveryReport {
    RecoveryReport::assemble(
        RunKind::Drill,
        Utc.with_ymd_and_hms(2026, 12, 3, 3, 0, 0).unwrap(),
        None,
        Utc.with_ymd_and_hms(2026, 12, 3, 3, 20, 0).unwrap(),
        services,
    )
}

#[test]
fn json_reads_back_equal_with_stable_names_and_utc_times() {
    let mut billing = service("billing", 2, &["db"], 30.0, 61.5);
    billing.status = Status::Failed {
        reason: "health check failed".into(),
    };
    let mut web = service("web", 3, &["billing"], 1.0, 100.0);
    web.status = Status::NotStarted {
        because: "depends on billing, which failed".into(),
    };
    let mut report = report(vec![service("db", 1, &[], 20.0, 21.0), billing, web]);
    report.resumed_at = Some(Utc.with_ymd_and_hms(2026, 12, 3, 3, 5, 0).unwrap());
    let json = serde_json::to_string_pretty(&report).unwrap();
    let back: RecoveryReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    for field in [
        "\"kind\": \"drill\"",
        "\"started_at\": \"2026-12-03T03:00:00Z\"",
        "\"resumed_at\": \"2026-12-03T03:05:00Z\"",
        "\"state\": \"not_started\"",
        "\"data_loss_seconds\": 3600.0",
        "\"up_after_seconds\": 61.5",
        "\"ok\": false",
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
}

#[test]
fn html_escapes_every_name_from_config_and_snapshots() {
    let mut evil = service("web", 1, &[], 1.0, 2.0);
    evil.public_name = "<script>alert('town')</script> & co".into();
    evil.sources[0].snapshot_id = "\"><img src=x>".into();
    let html = report(vec![evil]).to_html();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;town&#39;)&lt;/script&gt; &amp; co"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
}

#[test]
fn totals_give_first_up_most_urgent_all_up_and_the_critical_path() {
    // db (20 s) <- billing (30 s) <- web (1 s); files (40 s) alone.
    let report = report(vec![
        service("files", 4, &[], 40.0, 40.5),
        service("web", 2, &["billing"], 1.0, 53.0),
        service("db", 3, &[], 20.0, 20.5),
        service("billing", 1, &["db"], 30.0, 51.5),
    ]);
    let t = &report.totals;
    assert_eq!(t.first_up.as_ref().unwrap().service, "db");
    let urgent = t.highest_priority.as_ref().unwrap();
    assert_eq!((urgent.service.as_str(), urgent.seconds), ("billing", 51.5));
    assert_eq!(t.all_up_seconds, Some(53.0));
    assert_eq!(t.critical_path, ["db", "billing", "web"]);
    assert_eq!(t.critical_path_seconds, 20.5 + 30.5 + 1.5);
    assert!(report.ok);
}

#[test]
fn a_database_that_does_not_match_its_backup_makes_the_run_not_ok() {
    let mut billing = service("billing", 1, &[], 1.0, 2.0);
    billing.sources[0].databases[0].verification.mismatches =
        vec!["invoices: 10 rows, 12 at backup time".into()];
    let report = report(vec![billing]);
    assert!(!report.ok);
    let text = report.to_text();
    assert!(
        text.contains("database billing does not match its backup"),
        "{text}"
    );
    assert!(text.contains("NOT OK"), "{text}");
}

#[test]
fn the_table_has_one_row_per_service_with_rpo_and_target() {
    let mut print = service("print", 2, &[], 1.0, 700.0);
    print.status = Status::UpUnchecked;
    print.health.clear();
    let text = report(vec![service("web", 1, &[], 1.0, 90.0), print]).to_text();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for column in [
        "service",
        "public name",
        "snapshot",
        "verdict",
        "RPO",
        "up after",
        "target",
        "met",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let web = lines.next().unwrap();
    for cell in [
        "web",
        "The web service",
        "01234567",
        "clean",
        "1h00m",
        "1m30s",
        "10m00s",
        "yes",
    ] {
        assert!(web.contains(cell), "{cell} missing from {web}");
    }
    let print = lines.next().unwrap();
    assert!(
        print.contains("11m40s (unchecked)") && print.contains("NO"),
        "{print}"
    );
}
