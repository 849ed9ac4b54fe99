//! `/metrics`: what a scrape says of sources, services and the repository,
//! and that it reads neither a pack nor the index.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use reprise_crypto::KdfParams;
use reprise_format::{
    BlobId, CheckRecord, DetectionSummary, IncidentEvent, IncidentRecord, Snapshot, SnapshotSummary,
};
use reprise_repo::{InitOptions, Repository};
use reprise_storage::{Backend, LocalBackend, ObjectInfo, ObjectKind, StorageError, WriteOutcome};

/// A storage that refuses to read packs and index files: a scrape that
/// tried would fail.
#[derive(Debug)]
struct NoPackReads(LocalBackend);

fn refuse(kind: ObjectKind) -> Result<(), StorageError> {
    if matches!(kind, ObjectKind::Pack | ObjectKind::Index) {
        panic!("a scrape read a {kind:?} object");
    }
    Ok(())
}

impl Backend for NoPackReads {
    fn location(&self) -> String {
        self.0.location()
    }
    fn create(&self) -> Result<(), StorageError> {
        self.0.create()
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        self.0.list(kind)
    }
    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        refuse(kind)?;
        self.0.read(kind, name)
    }
    fn read_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        refuse(kind)?;
        self.0.read_range(kind, name, offset, len)
    }
    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64, StorageError> {
        self.0.size(kind, name)
    }
    fn write_once(
        &self,
        kind: ObjectKind,
        name: &str,
        data: &[u8],
    ) -> Result<WriteOutcome, StorageError> {
        self.0.write_once(kind, name, data)
    }
    fn remove(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError> {
        self.0.remove(kind, name)
    }
}

fn snapshot(source: &str, hours_ago: i64, verdict: &str, flagged: u64) -> Snapshot {
    Snapshot {
        version: 1,
        time: Utc::now() - Duration::hours(hours_ago),
        tree: BlobId::from_bytes([1; 32]),
        paths: vec![format!("/srv/{source}")],
        hostname: "srv-fichiers".into(),
        username: "root".into(),
        uid: 0,
        gid: 0,
        tags: vec![format!("source={source}")],
        parent: None,
        excludes: Vec::new(),
        program_version: "reprise test".into(),
        summary: Some(SnapshotSummary {
            bytes_added: 4096,
            duration_s: 12.5,
            ..SnapshotSummary::default()
        }),
        detection: Some(DetectionSummary {
            verdict: verdict.into(),
            flagged_files: flagged,
            ..DetectionSummary::default()
        }),
        original: None,
        session: None,
        paths_bytes: None,
    }
}

fn value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line[series.len()..].trim().parse().unwrap()
}

#[test]
fn a_scrape_tells_sources_services_and_the_repository_without_reading_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    let repo = Repository::init(
        Arc::new(LocalBackend::new(dir.path().join("repo"))),
        b"pw",
        &options,
    )
    .unwrap();
    repo.save_snapshot(&snapshot("partages", 30, "clean", 0))
        .unwrap();
    let attacked = repo
        .save_snapshot(&snapshot("partages", 2, "attack", 340))
        .unwrap();
    repo.save_snapshot(&snapshot("eau-db", 1, "clean", 0))
        .unwrap();
    repo.save_incident_record(IncidentRecord {
        incident: "0123456789abcdef".into(),
        event: IncidentEvent::Opened,
        source_host: "srv-fichiers".into(),
        paths: vec!["/srv/partages".into()],
        paths_bytes: None,
        snapshot: Some(attacked),
        last_clean: None,
        files: Vec::new(),
        reason: "test".into(),
    })
    .unwrap();
    let drill = serde_json::json!({
        "kind": "drill",
        "started_at": "2026-12-04T03:00:00Z",
        "finished_at": "2026-12-04T03:10:00Z",
        "services": [{
            "name": "facturation-eau", "public_name": "Eau", "priority": 2, "depends_on": [],
            "status": {"state": "up"}, "sources": [], "restore_seconds": 300.0,
            "health_seconds": 2.0, "up_after_seconds": 302.0, "target_seconds": 14400.0,
            "target_met": true, "health": []
        }],
        "totals": {"first_up": null, "highest_priority": null, "all_up_seconds": 302.0,
                   "critical_path_seconds": 302.0, "critical_path": []},
        "ok": true
    });
    repo.save_drill_record("d1", drill).unwrap();
    repo.save_check_record(CheckRecord {
        read_data_percent: 100.0,
        snapshots: 3,
        packs: 0,
        packs_read: 0,
        errors: 0,
    })
    .unwrap();
    repo.save_check_record(CheckRecord {
        read_data_percent: 0.0,
        snapshots: 3,
        packs: 0,
        packs_read: 0,
        errors: 1,
    })
    .unwrap();

    let guarded = Repository::open(
        Arc::new(NoPackReads(LocalBackend::new(dir.path().join("repo")))),
        b"pw",
    )
    .unwrap();
    let text = reprise_web::metrics::scrape(&guarded).unwrap();

    let newest = Utc::now() - Duration::hours(2);
    let at = value(
        &text,
        r#"reprise_source_last_backup_timestamp_seconds{source="partages"}"#,
    );
    assert!((at - newest.timestamp() as f64).abs() < 5.0, "{at}");
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_flagged_files{source="partages"}"#
        ),
        340.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_verdict{source="partages",verdict="attack"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_verdict{source="eau-db",verdict="clean"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_verdict{source="eau-db",verdict="attack"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_duration_seconds{source="eau-db"}"#
        ),
        12.5
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_source_last_backup_added_bytes{source="eau-db"}"#
        ),
        4096.0
    );
    assert_eq!(
        value(&text, r#"reprise_source_snapshots{source="partages"}"#),
        2.0
    );
    assert_eq!(
        value(&text, r#"reprise_source_incident_open{source="partages"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"reprise_source_incident_open{source="eau-db"}"#),
        0.0
    );
    assert_eq!(value(&text, "reprise_incidents_open"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"reprise_service_last_drill_rto_seconds{service="facturation-eau"}"#
        ),
        302.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_service_rto_target_seconds{service="facturation-eau"}"#
        ),
        14400.0
    );
    assert_eq!(
        value(
            &text,
            r#"reprise_service_last_drill_target_met{service="facturation-eau"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "reprise_repository_snapshots"), 3.0);
    assert!(value(&text, "reprise_repository_size_bytes") > 0.0);
    assert_eq!(value(&text, "reprise_check_last_errors"), 1.0);
    assert_eq!(value(&text, "reprise_check_last_read_data_percent"), 0.0);
    assert!(value(&text, "reprise_check_last_full_timestamp_seconds") > 0.0);
    assert!(
        text.contains("# TYPE reprise_source_last_backup_timestamp_seconds gauge"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
}
