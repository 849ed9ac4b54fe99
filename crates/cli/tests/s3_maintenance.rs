//! forget, prune and copy on `s3:` repositories, against a real radosgw
//! (see `common/s3.rs` for the server and how these tests skip): retention
//! on a bucket without a lock policy, prune and forget meeting COMPLIANCE
//! locks, and copies between a local and an S3 repository.

use crate::common::*;
use crate::s3_common::*;
use reprise_format::BlobType;
use reprise_repo::{BlobSaver, Repository};
use reprise_storage::{Backend, ObjectKind};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

fn backup(repo: &S3Repo, dir: &Path) -> Value {
    repo.json([
        "backup".as_ref(),
        "--no-detection".as_ref(),
        dir.as_os_str(),
    ])
}

fn count(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(usize::MAX)
}

#[test]
fn forget_and_prune_free_space_on_s3_and_what_is_kept_restores() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server).tag("prune").init();
    let src = repo.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for seed in 1..=3 {
        write_random_file(&src.join("registre.db"), 3 << 20, seed);
        backup(&repo, &src);
    }
    let packs_before = repo.backend().list(ObjectKind::Pack).unwrap().len();
    let forget = repo.json(["forget", "--keep-last", "1"]);
    assert_eq!(
        forget["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["removed"] == true)
            .count(),
        2,
        "{forget:#}"
    );
    let first = repo.json(["prune"]);
    assert!(count(&first["marked"]) > 0, "{first:#}");
    assert_eq!(
        count(&first["deleted"]),
        0,
        "the mark phase deletes nothing"
    );
    let second = repo.json(["prune", "--grace", "0"]);
    assert_eq!(
        count(&second["deleted"]),
        count(&first["marked"]),
        "{second:#}"
    );
    let packs_after = repo.backend().list(ObjectKind::Pack).unwrap().len();
    assert!(
        packs_after < packs_before,
        "{packs_before} -> {packs_after}"
    );
    assert_success(&repo.check(true), "check --read-data after prune (s3)");
    let target = repo.path().join("target");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore after prune (s3)");
    assert_restored_content(&target, &src);
}

#[test]
fn forget_and_prune_skip_locked_objects_cleanly() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server)
        .tag("locked-prune")
        .object_lock("compliance", "1d")
        .init();
    let src = repo.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for seed in 1..=2 {
        write_random_file(&src.join("paie.db"), 1 << 20, seed);
        backup(&repo, &src);
    }
    // A pack no snapshot references (as an interrupted backup leaves),
    // locked like every object of this repository.
    let client = Repository::open(Arc::new(repo.backend()), PASSWORD.as_bytes()).unwrap();
    client.load_index().unwrap();
    let saver = BlobSaver::new(&client);
    saver
        .save(BlobType::Data, &random_bytes(5, 200_000))
        .unwrap();
    saver.finish(Vec::new()).unwrap();
    let packs = repo.backend().list(ObjectKind::Pack).unwrap();

    let forget = repo.json(["forget", "--keep-last", "1"]);
    let rows = forget["snapshots"].as_array().unwrap();
    assert_eq!(rows[0]["keep"], false, "{forget:#}");
    assert!(rows[0]["locked_until"].is_string(), "{forget:#}");
    assert_eq!(rows[0]["removed"], false);
    assert_eq!(
        count(&repo.json(["snapshots"])),
        2,
        "the locked snapshot stays"
    );
    // The text says when the lock ends, with no stray "; " before it when
    // no rule gave a reason (issue 12), and in the text time form.
    let out = repo
        .cmd()
        .args(["forget", "--keep-last", "1"])
        .output()
        .unwrap();
    assert_success(&out, "forget of a locked snapshot");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("locked until"))
        .unwrap_or_else(|| panic!("no lock date: {text}"));
    assert!(!line.contains("; locked until"), "{line}");
    assert!(line.contains(" UTC"), "{line}");

    let pruned = repo.json(["prune", "--grace", "0"]);
    assert_eq!(count(&pruned["locked"]), 1, "{pruned:#}");
    assert_eq!(count(&pruned["deleted"]), 0, "{pruned:#}");
    let out = repo.cmd().args(["prune", "--grace", "0"]).output().unwrap();
    assert_success(&out, "prune of a locked repository");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("retention lock"),
        "says why it skipped: {text}"
    );
    assert_eq!(repo.backend().list(ObjectKind::Pack).unwrap(), packs);
    assert_success(&repo.check(true), "check --read-data (s3, locked)");
}

#[test]
fn copy_between_a_local_and_an_s3_repository_both_ways() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let s3 = s3_repo(&server).tag("copy").init();
    let local = TestRepo::new();
    let src = local.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for i in 0..4 {
        write_random_file(&src.join(format!("acte-{i}.pdf")), 700_000, i);
    }
    local.json(["backup", "--no-detection", src.to_str().unwrap()]);

    // Local to S3, twice: the second copy has nothing to do.
    for expected in [1, 0] {
        let mut cmd = local.std_cmd();
        server.env(&mut cmd);
        let out = cmd
            .args(["copy", "--to", &s3.location, "--json", "--to-password-file"])
            .arg(&s3.password_file)
            .output()
            .unwrap();
        assert_success(&out, "copy to s3");
        let report = parse_json(&out.stdout);
        assert_eq!(count(&report["copied"]), expected, "{report:#}");
    }
    let target = s3.path().join("from-s3");
    let out = s3
        .cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore of the copy on s3");
    assert_restored_content(&target, &src);

    // And back, from S3 to a new local repository.
    let back = local.path().join("back");
    let out = reprise()
        .arg("--repo")
        .arg(&back)
        .env("REPRISE_NEW_PASSWORD", PASSWORD)
        .arg("init")
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "init of the second local repository");
    let out = s3
        .cmd()
        .arg("copy")
        .arg("--to")
        .arg(&back)
        .arg("--to-password-file")
        .arg(&local.password_file)
        .output()
        .unwrap();
    assert_success(&out, "copy from s3");
    let out = reprise()
        .arg("--repo")
        .arg(&back)
        .env("REPRISE_PASSWORD_FILE", &local.password_file)
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    assert_success(&out, "check of the copy of the copy");
}

/// An attack found two nights late on S3: the incident marks are read back
/// from the bucket, the alarm holds, and `forget --keep-last 1 --prune`
/// keeps what the last-clean restore needs.
#[test]
fn an_attack_found_late_on_s3_keeps_its_clean_copy_through_forget_and_prune() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let repo = s3_repo(&server).tag("incident").init();
    let share = repo.path().join("share");
    std::fs::create_dir(&share).unwrap();
    for i in 0..12 {
        let text = format!("registre {i}\n").repeat(300);
        std::fs::write(share.join(format!("doc{i}.txt")), text).unwrap();
    }
    let before: Vec<Vec<u8>> = (0..12)
        .map(|i| std::fs::read(share.join(format!("doc{i}.txt"))).unwrap())
        .collect();
    let backup = |expected: i32| {
        let out = repo.cmd().arg("backup").arg(&share).output().unwrap();
        assert_exit(&out, expected, "backup (s3)");
    };
    backup(0);
    for i in 0..12u64 {
        let doc = share.join(format!("doc{i}.txt"));
        let len = std::fs::metadata(&doc).unwrap().len();
        write_random_file(&doc, len, 900 + i);
    }
    for _ in 0..3 {
        backup(4);
    }
    let out = repo
        .cmd()
        .args(["forget", "--keep-last", "1", "--prune", "--grace", "0"])
        .output()
        .unwrap();
    assert_success(&out, "forget --prune (s3)");
    let target = repo.path().join("target");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean (s3)");
    for (i, data) in before.iter().enumerate() {
        let doc = restored(&target, &share).join(format!("doc{i}.txt"));
        assert_eq!(&std::fs::read(&doc).unwrap(), data, "doc{i}.txt");
    }
}
