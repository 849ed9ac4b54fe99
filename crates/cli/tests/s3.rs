//! `s3:` repositories and Object Lock, end to end, against a real radosgw
//! (see `common/s3.rs` for the server and how these tests skip). Retention
//! is one day in COMPLIANCE mode: nobody, not even the bucket owner, can
//! delete a locked version before then, which a throw-away server allows
//! (one test uses GOVERNANCE, whose locks it may shorten).

use crate::common::*;
use crate::s3_common::*;
use reprise_storage::{Backend, LockMode, ObjectKind, StorageError, CONFIG_COPY_NAME};
use std::path::Path;
use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

/// A small share: a few files across two directories, one of several MiB
/// so that there is more than one pack.
fn make_share(root: &Path) -> std::path::PathBuf {
    let src = root.join("share");
    std::fs::create_dir_all(src.join("etat-civil")).unwrap();
    std::fs::create_dir_all(src.join("eau")).unwrap();
    write_random_file(&src.join("etat-civil/naissances.bin"), 300_000, 1);
    write_random_file(&src.join("eau/factures.db"), 9_000_000, 2);
    std::fs::write(
        src.join("eau/notes.txt"),
        "relevés de compteurs\n".repeat(500),
    )
    .unwrap();
    src
}

/// Every object of the repository, as (kind, name).
fn all_objects(backend: &dyn Backend) -> Vec<(ObjectKind, String)> {
    ObjectKind::ALL
        .into_iter()
        .flat_map(|kind| {
            backend
                .list(kind)
                .unwrap()
                .into_iter()
                .map(move |o| (kind, o.name))
        })
        .collect()
}

/// The version ids of a key, newest first.
fn versions(repo: &S3Repo, key: &str) -> Vec<String> {
    let backend = repo.backend();
    let out = backend
        .block_on(
            backend
                .sdk_client()
                .list_object_versions()
                .bucket(&repo.bucket)
                .prefix(key)
                .send(),
        )
        .unwrap();
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect()
}

/// Sets the GOVERNANCE lock of one object to `until`, shorter than it is,
/// as the bucket's owner may.
fn shorten_governance_lock(repo: &S3Repo, kind: ObjectKind, name: &str, until: SystemTime) {
    use reprise_storage_s3::sdk::types::{ObjectLockRetention, ObjectLockRetentionMode};
    let backend = repo.backend();
    let key = backend.object_key(kind, name).unwrap();
    let retention = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(until.into())
        .build();
    backend
        .block_on(
            backend
                .sdk_client()
                .put_object_retention()
                .bucket(&repo.bucket)
                .key(&key)
                .bypass_governance_retention(true)
                .retention(retention)
                .send(),
        )
        .unwrap_or_else(|e| panic!("cannot shorten the lock of {kind} {name}: {e:?}"));
}

fn first_pack(backend: &dyn Backend) -> String {
    backend.list(ObjectKind::Pack).unwrap()[0].name.clone()
}

#[test]
fn a_locked_repository_backs_up_restores_and_checks_clean_with_every_object_locked() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("roundtrip")
        .object_lock("compliance", "1d")
        .init();
    let src = make_share(repo.path());
    let summary = repo.backup_json(&[&src]);
    assert!(summary["snapshot_id"].is_string(), "{summary:#}");

    let target = repo.path().join("restored");
    let report = repo.json([
        "restore".as_ref(),
        "latest".as_ref(),
        "--target".as_ref(),
        target.as_os_str(),
    ]);
    assert_eq!(
        report["failures"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    assert_same_tree(&src, &restored(&target, &src), Compare::default());

    let out = repo.check(true);
    assert_success(&out, "check --read-data (s3, locked)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("locks") && text.contains("0 errors"),
        "{text}"
    );

    let backend = repo.backend();
    let objects = all_objects(&backend);
    let kinds: std::collections::HashSet<_> = objects.iter().map(|(k, _)| *k).collect();
    for kind in [
        ObjectKind::Config,
        ObjectKind::Key,
        ObjectKind::Pack,
        ObjectKind::Index,
        ObjectKind::Snapshot,
    ] {
        assert!(kinds.contains(&kind), "no {kind} object in {objects:?}");
    }
    let expected = SystemTime::now() + DAY;
    for (kind, name) in &objects {
        let lock = backend
            .lock_of(*kind, name)
            .unwrap()
            .unwrap_or_else(|| panic!("{kind} {name} has no lock"));
        assert_eq!(lock.mode, LockMode::Compliance, "{kind} {name}");
        let off = match lock.until.duration_since(expected) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(
            off < Duration::from_secs(600),
            "{kind} {name}: locked until {:?}, {off:?} from now + 1 day",
            lock.until
        );
    }
}

#[test]
fn the_server_refuses_to_delete_a_locked_version_and_an_overwrite_leaves_it_intact() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("refuse")
        .object_lock("compliance", "1d")
        .init();
    let src = make_share(repo.path());
    repo.backup_json(&[&src]);
    let backend = repo.backend();
    let pack = first_pack(&backend);
    let key = backend.object_key(ObjectKind::Pack, &pack).unwrap();
    let original = backend.read(ObjectKind::Pack, &pack).unwrap();
    let client = backend.sdk_client();

    // A versioned delete, as an attacker holding the keys would try it.
    let version = versions(&repo, &key)[0].clone();
    let deleted = backend.block_on(
        client
            .delete_object()
            .bucket(&repo.bucket)
            .key(&key)
            .version_id(&version)
            .send(),
    );
    let status = deleted
        .expect_err("the server deleted a locked version")
        .raw_response()
        .map(|r| r.status().as_u16());
    assert_eq!(status, Some(403));
    // reprise's own delete (prune, key remove) reports the lock and its date.
    match backend.remove(ObjectKind::Pack, &pack) {
        Err(StorageError::Locked { until, .. }) => assert!(until.contains("compliance"), "{until}"),
        other => panic!("remove of a locked pack: {other:?}"),
    }
    assert_eq!(backend.read(ObjectKind::Pack, &pack).unwrap(), original);

    // write_once never replaces; a raw overwrite only adds a version above it.
    let outcome = backend
        .write_once(ObjectKind::Pack, &pack, b"ransom")
        .unwrap();
    assert_eq!(outcome, reprise_storage::WriteOutcome::AlreadyExisted);
    backend
        .block_on(
            client
                .put_object()
                .bucket(&repo.bucket)
                .key(&key)
                .body(b"encrypted by ransomware".to_vec().into())
                .send(),
        )
        .unwrap();
    let old = backend
        .block_on(async {
            let got = client
                .get_object()
                .bucket(&repo.bucket)
                .key(&key)
                .version_id(&version)
                .send()
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(got.body.collect().await?.to_vec())
        })
        .unwrap();
    assert_eq!(old, original, "the locked version changed");
    let out = repo.check(true);
    assert_exit(&out, 1, "check after an overwrite");

    // What docs/S3.md tells an admin: copy the locked version back on top, locked.
    backend
        .block_on(
            client
                .copy_object()
                .bucket(&repo.bucket)
                .key(&key)
                .copy_source(format!("{}/{key}?versionId={version}", repo.bucket))
                .object_lock_mode(reprise_storage_s3::sdk::types::ObjectLockMode::Compliance)
                .object_lock_retain_until_date((SystemTime::now() + DAY).into())
                .send(),
        )
        .unwrap();
    assert_success(&repo.check(true), "check after the admin's recovery");
}

#[test]
fn a_delete_marker_hides_a_locked_object_and_removing_it_brings_it_back() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("marker")
        .object_lock("compliance", "1d")
        .init();
    repo.backup_json(&[&make_share(repo.path())]);
    let backend = repo.backend();
    let client = backend.sdk_client();
    let snapshot = backend.list(ObjectKind::Snapshot).unwrap()[0].name.clone();
    let key = backend.object_key(ObjectKind::Snapshot, &snapshot).unwrap();
    // A plain delete is allowed: it only adds a delete marker.
    let marker = backend
        .block_on(client.delete_object().bucket(&repo.bucket).key(&key).send())
        .unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert!(backend.list(ObjectKind::Snapshot).unwrap().is_empty());
    let marker_id = marker.version_id().unwrap().to_string();
    backend
        .block_on(
            client
                .delete_object()
                .bucket(&repo.bucket)
                .key(&key)
                .version_id(&marker_id)
                .send(),
        )
        .unwrap();
    assert_eq!(backend.list(ObjectKind::Snapshot).unwrap().len(), 1);
    assert_success(&repo.check(false), "check after removing the delete marker");
}

#[test]
fn locks_extend_moves_every_live_lock_later_and_dry_run_changes_nothing() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    // GOVERNANCE, because its locks can be shortened: the test dates every
    // lock an hour back instead of waiting for the clock to pass the
    // second its objects were written in.
    let repo = s3_repo(&server)
        .tag("extend")
        .object_lock("governance", "1d")
        .init();
    repo.backup_json(&[&make_share(repo.path())]);
    let backend = repo.backend();
    let an_hour_short = SystemTime::now() + DAY - Duration::from_secs(3600);
    for (kind, name) in all_objects(&backend) {
        shorten_governance_lock(&repo, kind, &name, an_hour_short);
    }
    if backend.size(ObjectKind::Config, CONFIG_COPY_NAME).is_ok() {
        shorten_governance_lock(&repo, ObjectKind::Config, CONFIG_COPY_NAME, an_hour_short);
    }
    let before = backend
        .lock_of(ObjectKind::Config, "config")
        .unwrap()
        .unwrap();
    let pack = first_pack(&backend);
    let pack_before = backend.lock_of(ObjectKind::Pack, &pack).unwrap().unwrap();
    assert_eq!(before.mode, LockMode::Governance);
    assert!(before.until < SystemTime::now() + DAY - Duration::from_secs(3000));

    let dry = repo.json(["locks", "extend", "--dry-run"]);
    let live = dry["live_objects"].as_u64().unwrap();
    assert!(live >= 5, "{dry:#}");
    assert_eq!(dry["extended"].as_u64(), Some(live), "{dry:#}");
    assert_eq!(
        backend.lock_of(ObjectKind::Config, "config").unwrap(),
        Some(before)
    );

    let done = repo.json(["locks", "extend"]);
    assert_eq!(done["extended"].as_u64(), Some(live), "{done:#}");
    assert_eq!(done["failed"].as_array().map(Vec::len), Some(0), "{done:#}");
    assert_eq!(done["unreferenced_packs"].as_u64(), Some(0), "{done:#}");
    let after = backend
        .lock_of(ObjectKind::Config, "config")
        .unwrap()
        .unwrap();
    assert!(after.until > before.until, "{before:?} -> {after:?}");
    assert_eq!(after.mode, LockMode::Governance);
    let pack_after = backend.lock_of(ObjectKind::Pack, &pack).unwrap().unwrap();
    assert!(pack_after.until > pack_before.until);

    // Right away again: nothing is shortened, everything is already long enough
    // or moved by the seconds that passed.
    let again = repo.json(["locks", "extend"]);
    assert_eq!(
        again["failed"].as_array().map(Vec::len),
        Some(0),
        "{again:#}"
    );
    assert_success(&repo.check(false), "check after locks extend");
}

#[test]
fn check_reports_objects_written_without_a_lock_or_with_a_short_one() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    // The bucket has Object Lock but no default retention, so a plain put
    // (a client that ignores the repository's policy) stores it unlocked.
    let repo = s3_repo(&server)
        .tag("unlocked")
        .object_lock("compliance", "1d")
        .init();
    repo.backup_json(&[&make_share(repo.path())]);
    assert_success(&repo.check(false), "check before");
    let backend = repo.backend();
    let snapshot = backend.list(ObjectKind::Snapshot).unwrap()[0].name.clone();
    let key = backend.object_key(ObjectKind::Snapshot, &snapshot).unwrap();
    let bytes = backend.read(ObjectKind::Snapshot, &snapshot).unwrap();
    backend
        .block_on(
            backend
                .sdk_client()
                .put_object()
                .bucket(&repo.bucket)
                .key(&key)
                .body(bytes.into())
                .send(),
        )
        .unwrap();
    assert_eq!(
        backend.lock_of(ObjectKind::Snapshot, &snapshot).unwrap(),
        None
    );
    // And an index file put again with a lock of one hour instead of a day.
    let index = backend.list(ObjectKind::Index).unwrap()[0].name.clone();
    let index_key = backend.object_key(ObjectKind::Index, &index).unwrap();
    let bytes = backend.read(ObjectKind::Index, &index).unwrap();
    let hour = SystemTime::now() + Duration::from_secs(3600);
    backend
        .block_on(
            backend
                .sdk_client()
                .put_object()
                .bucket(&repo.bucket)
                .key(&index_key)
                .object_lock_mode(reprise_storage_s3::sdk::types::ObjectLockMode::Compliance)
                .object_lock_retain_until_date(hour.into())
                .body(bytes.into())
                .send(),
        )
        .unwrap();

    let out = repo.cmd().args(["check", "--json"]).output().unwrap();
    assert_exit(&out, 1, "check with an unlocked snapshot");
    let report = parse_json(&out.stdout);
    let mut findings: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].to_string(), f["object"].to_string()))
        .collect();
    findings.sort();
    assert_eq!(
        findings,
        [
            (
                "\"lock_missing\"".to_string(),
                format!("\"snapshot {snapshot}\"")
            ),
            ("\"lock_short\"".to_string(), format!("\"index {index}\"")),
        ],
        "{report:#}"
    );
    let text = repo.check(false);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("not locked") && stdout.contains("reprise locks extend"),
        "{stdout}"
    );

    // The remedy the message names works.
    repo.json(["locks", "extend"]);
    assert_success(&repo.check(false), "check after locks extend");
}

#[test]
fn init_with_object_lock_on_a_bucket_without_it_fails_clearly_and_creates_nothing() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("nolock")
        .bucket_without_object_lock()
        .object_lock("compliance", "1d")
        .uninitialised();
    let out = repo.run_init();
    assert_exit(
        &out,
        1,
        "init --object-lock on a bucket without Object Lock",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--object-lock cannot be used")
            && stderr.contains("does not have Object Lock enabled")
            && stderr.contains("docs/S3.md"),
        "{stderr}"
    );
    assert!(all_objects(&repo.backend()).is_empty());
}

#[test]
fn an_s3_repository_without_a_lock_policy_works_and_has_no_locks_to_extend() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("plain")
        .bucket_without_object_lock()
        .init();
    let src = make_share(repo.path());
    repo.backup_json(&[&src]);
    assert_success(&repo.check(true), "check --read-data (s3, no locks)");
    let backend = repo.backend();
    assert_eq!(backend.lock_of(ObjectKind::Config, "config").unwrap(), None);
    let out = repo.cmd().args(["locks", "extend"]).output().unwrap();
    assert_exit(&out, 1, "locks extend without a lock policy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lock policy"));
    // Without locks, reprise's delete really removes every version.
    let pack = first_pack(&backend);
    backend.remove(ObjectKind::Pack, &pack).unwrap();
    assert!(matches!(
        backend.read(ObjectKind::Pack, &pack),
        Err(StorageError::NotFound { .. })
    ));
}

#[test]
fn wrong_s3_credentials_exit_with_code_14() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server).tag("creds").init();
    let out = repo
        .cmd()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 14, "snapshots with a wrong secret key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");
}

#[test]
fn init_with_object_lock_is_refused_on_a_local_repository() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let out = reprise()
        .arg("--repo")
        .arg(dir.path().join("repo"))
        .env("REPRISE_PASSWORD_FILE", &password)
        .args(["init", "--object-lock", "compliance", "--retention", "30d"])
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_exit(&out, 1, "init --object-lock on a directory");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("only s3: repositories have them"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("repo").exists(),
        "init created the directory anyway"
    );

    let out = reprise()
        .arg("--repo")
        .arg(dir.path().join("repo"))
        .args(["init", "--object-lock", "compliance"])
        .output()
        .unwrap();
    assert_exit(&out, 2, "--object-lock without --retention");
}
