//! The S3 backend against a real S3 server (radosgw from scripts/s3-server):
//! the write-once rule, listing past one page, ranged reads, locks that only
//! grow, the storage's refusal to delete a locked object, and the errors a
//! missing bucket or wrong keys give.
//!
//! Needs REPRISE_TEST_S3_ENDPOINT, REPRISE_TEST_S3_ACCESS_KEY and
//! REPRISE_TEST_S3_SECRET_KEY (scripts/test-all sets them); without them
//! every test fails, unless REPRISE_TEST_SKIP_S3=1 says to skip them.
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_storage::conformance::{self, Expectations, Locks, Removal};
use reprise_storage::{Backend, LockMode, LockPolicy, ObjectKind, StorageError, WriteOutcome};
use reprise_storage_s3::{S3Backend, S3Location, S3Settings};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

/// The test server's endpoint and keys, or `None` when told to skip.
fn server() -> Option<(String, S3Settings)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(access), Some(secret)) = (
        var("REPRISE_TEST_S3_ENDPOINT"),
        var("REPRISE_TEST_S3_ACCESS_KEY"),
        var("REPRISE_TEST_S3_SECRET_KEY"),
    ) else {
        if var("REPRISE_TEST_SKIP_S3").as_deref() == Some("1") {
            eprintln!("skipped: needs an S3 server (REPRISE_TEST_SKIP_S3=1)");
            return None;
        }
        panic!(
            "this test needs an S3 server: run scripts/test-all (it starts one), or \
             `eval \"$(scripts/s3-server)\"` first; set REPRISE_TEST_SKIP_S3=1 to skip S3 tests"
        );
    };
    let settings = S3Settings {
        access_key_id: access,
        secret_access_key: secret,
        session_token: None,
        region: S3Settings::DEFAULT_REGION.into(),
        addressing: None,
    };
    Some((endpoint, settings))
}

fn unique_bucket() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "backend-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn backend_at(endpoint: &str, bucket: &str, settings: S3Settings) -> S3Backend {
    let location = S3Location::parse(&format!("s3:{endpoint}/{bucket}/repo")).unwrap();
    S3Backend::new(location, settings).unwrap()
}

/// A backend on a new bucket of its own, with the repository prefix created.
fn fresh_backend(object_lock: bool) -> Option<S3Backend> {
    let (endpoint, settings) = server()?;
    let backend = backend_at(&endpoint, &unique_bucket(), settings);
    backend.create_bucket(object_lock).unwrap();
    backend.create().unwrap();
    Some(backend)
}

/// A distinct valid object name for each `i`.
fn name(i: u32) -> String {
    format!(
        "{:064x}",
        u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
    )
}

fn compliance_for(retention: Duration) -> Option<LockPolicy> {
    Some(LockPolicy {
        mode: LockMode::Compliance,
        retention,
    })
}

/// The `Backend` contract holds on a plain bucket, where objects can be
/// deleted, and on a bucket with Object Lock, where every object carries the
/// repository's lock and deleting one is refused.
#[test]
fn the_backend_contract_holds_with_and_without_object_lock() {
    let Some((endpoint, settings)) = server() else {
        return;
    };
    for object_lock in [false, true] {
        let b = backend_at(&endpoint, &unique_bucket(), settings.clone());
        b.create_bucket(object_lock).unwrap();
        let expect = match object_lock {
            false => Expectations {
                removal: Removal::Deletes,
                locks: Locks::Unsupported,
            },
            true => Expectations {
                removal: Removal::Locked,
                locks: Locks::Enforced(LockPolicy {
                    mode: LockMode::Compliance,
                    retention: DAY,
                }),
            },
        };
        conformance::run(&b, &expect).unwrap_or_else(|v| panic!("object lock {object_lock}: {v}"));
    }
}

#[test]
fn write_once_never_replaces_and_reads_come_back_exact() {
    // A bucket with Object Lock is versioned, where radosgw ignores
    // If-None-Match: the write-once rule must hold there too.
    let Some(b) = fresh_backend(true) else { return };
    let n = name(1);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        b.write_once(ObjectKind::Pack, &n, &data).unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        b.write_once(ObjectKind::Pack, &n, b"other bytes").unwrap(),
        WriteOutcome::AlreadyExisted
    );
    assert_eq!(b.read(ObjectKind::Pack, &n).unwrap(), data);
    assert_eq!(b.size(ObjectKind::Pack, &n).unwrap(), 100_000);
    assert_eq!(
        b.read_range(ObjectKind::Pack, &n, 1000, 10).unwrap(),
        &data[1000..1010]
    );
    assert_eq!(
        b.read_range(ObjectKind::Pack, &n, 100_000, 0).unwrap(),
        Vec::<u8>::new()
    );
    for (offset, len) in [(99_995, 10), (200_000, 1), (100_001, 0), (u64::MAX, 2)] {
        assert!(
            matches!(
                b.read_range(ObjectKind::Pack, &n, offset, len),
                Err(StorageError::ShortRead { .. })
            ),
            "{offset}+{len}"
        );
    }
    assert!(matches!(
        b.read(ObjectKind::Pack, &name(2)),
        Err(StorageError::NotFound {
            kind: ObjectKind::Pack,
            ..
        })
    ));
    assert!(matches!(
        b.size(ObjectKind::Index, &name(2)),
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        b.read(ObjectKind::Key, "../config"),
        Err(StorageError::InvalidName { .. })
    ));
}

#[test]
fn listing_goes_past_one_page_with_storage_times() {
    let Some(b) = fresh_backend(false) else {
        return;
    };
    let count = 1_010;
    let start = SystemTime::now() - Duration::from_secs(60);
    std::thread::scope(|s| {
        for t in 0..8 {
            let b = &b;
            s.spawn(move || {
                for i in (t..count).step_by(8) {
                    b.write_once(ObjectKind::Index, &name(i), &i.to_le_bytes())
                        .unwrap();
                }
            });
        }
    });
    b.write_once(ObjectKind::Pack, &name(5_000), b"pack")
        .unwrap();
    let listed = b.list(ObjectKind::Index).unwrap();
    assert_eq!(listed.len(), count as usize);
    assert!(listed.iter().all(|o| o.size == 4));
    assert!(listed.iter().all(|o| o
        .stored
        .is_some_and(|t| t > start && t < SystemTime::now() + Duration::from_secs(60))));
    let packs = b.list(ObjectKind::Pack).unwrap();
    assert_eq!(packs.len(), 1);
    assert_eq!(packs[0].name, name(5_000));
    assert!(b.list(ObjectKind::Snapshot).unwrap().is_empty());
}

#[test]
fn locked_objects_refuse_deletion_and_their_locks_only_grow() {
    let Some(b) = fresh_backend(true) else { return };
    b.set_lock_policy(compliance_for(DAY)).unwrap();
    let n = name(3);
    b.write_once(ObjectKind::Snapshot, &n, b"snapshot").unwrap();
    let lock = b.lock_of(ObjectKind::Snapshot, &n).unwrap().unwrap();
    assert_eq!(lock.mode, LockMode::Compliance);
    let expected = SystemTime::now() + DAY;
    assert!(lock.until > expected - Duration::from_secs(300) && lock.until < expected);

    match b.remove(ObjectKind::Snapshot, &n) {
        Err(e @ StorageError::Locked { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("locked until") && text.contains("compliance"),
                "{text}"
            );
        }
        other => panic!("remove of a locked object: {other:?}"),
    }
    assert_eq!(b.read(ObjectKind::Snapshot, &n).unwrap(), b"snapshot");

    let later = SystemTime::now() + 2 * DAY;
    b.extend_lock(ObjectKind::Snapshot, &n, later).unwrap();
    let extended = b.lock_of(ObjectKind::Snapshot, &n).unwrap().unwrap();
    assert!(extended.until > lock.until + DAY - Duration::from_secs(60));
    // Asking for less leaves the lock alone instead of failing.
    b.extend_lock(
        ObjectKind::Snapshot,
        &n,
        SystemTime::now() + Duration::from_secs(3600),
    )
    .unwrap();
    assert_eq!(b.lock_of(ObjectKind::Snapshot, &n).unwrap(), Some(extended));
}

#[test]
fn unlocked_objects_are_removed_with_every_version() {
    let Some(b) = fresh_backend(true) else { return };
    let n = name(4);
    b.write_once(ObjectKind::Key, &n, b"key file").unwrap();
    assert_eq!(b.lock_of(ObjectKind::Key, &n).unwrap(), None);
    // A second version, as a client ignoring the rules would make it.
    let key = b.object_key(ObjectKind::Key, &n).unwrap();
    let bucket = b.location_parts().bucket.clone();
    let client = b.sdk_client();
    b.block_on(
        client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(b"v2".to_vec().into())
            .send(),
    )
    .unwrap();
    b.remove(ObjectKind::Key, &n).unwrap();
    let left = b
        .block_on(
            client
                .list_object_versions()
                .bucket(&bucket)
                .prefix(&key)
                .send(),
        )
        .unwrap();
    assert!(left.versions().is_empty() && left.delete_markers().is_empty());
    assert!(matches!(
        b.remove(ObjectKind::Key, &n),
        Err(StorageError::NotFound { .. })
    ));
}

#[test]
fn a_lock_policy_needs_a_bucket_with_object_lock() {
    let Some(b) = fresh_backend(false) else {
        return;
    };
    let err = b.set_lock_policy(compliance_for(DAY)).unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("Object Lock enabled"), "{err}");
    b.set_lock_policy(None).unwrap();
    b.write_once(ObjectKind::Config, "config", b"config")
        .unwrap();
    assert_eq!(b.lock_of(ObjectKind::Config, "config").unwrap(), None);
}

#[test]
fn a_second_create_finds_the_repository_there() {
    let Some(b) = fresh_backend(false) else {
        return;
    };
    b.write_once(ObjectKind::Config, "config", b"config")
        .unwrap();
    let err = b.create().unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn a_missing_bucket_and_wrong_keys_are_reported_as_such() {
    let Some((endpoint, settings)) = server() else {
        return;
    };
    let missing = backend_at(&endpoint, &unique_bucket(), settings.clone());
    let err = missing.create().unwrap_err();
    assert!(matches!(err, StorageError::Remote { .. }), "{err:?}");
    assert!(err.to_string().contains("bucket does not exist"), "{err}");
    let err = missing.read(ObjectKind::Config, "config").unwrap_err();
    assert!(err.to_string().contains("bucket does not exist"), "{err}");

    let Some(b) = fresh_backend(false) else {
        return;
    };
    let wrong = S3Settings {
        secret_access_key: "not-the-secret".into(),
        ..settings
    };
    let intruder = backend_at(&endpoint, &b.location_parts().bucket, wrong);
    let err = intruder.list(ObjectKind::Snapshot).unwrap_err();
    assert!(matches!(err, StorageError::Unauthorized { .. }), "{err:?}");
}

#[test]
fn an_unreachable_endpoint_is_a_remote_error_naming_the_object() {
    // Nothing listens on port 9 (discard) on loopback in the test machines.
    let Some((_, settings)) = server() else {
        return;
    };
    let b = backend_at("http://127.0.0.1:9", "bucket", settings);
    let err = b.read(ObjectKind::Index, &name(6)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StorageError::Remote { .. }), "{err:?}");
    assert!(
        text.contains("no answer") && text.contains(&format!("index {}", name(6))),
        "{text}"
    );
}
