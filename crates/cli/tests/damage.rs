//! Damage in the repository: bytes flipped inside a pack must be found by
//! `check --read-data`, attributed to the files and snapshot they affect,
//! and must fail the restore of exactly those files.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

const FILES: u64 = 100;
const FILE_LEN: usize = 400 * 1024;

/// Flips `len` bytes in the middle of the largest pack; returns the pack's path.
fn flip_bytes_in_largest_pack(repo: &TestRepo, len: usize) -> std::path::PathBuf {
    let packs = repo.pack_files();
    let data_packs = packs.iter().filter(|(_, s)| *s > 4 << 20).count();
    assert!(data_packs >= 2, "the test wants several packs: {packs:?}");
    let (path, size) = packs.iter().max_by_key(|(_, s)| *s).unwrap().clone();
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // The header and trailer are at the end: the middle is sealed blob data.
    let offset = size / 2;
    assert!(offset + (len as u64) < size - 64 * 1024);
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset).unwrap();
    for b in &mut buf {
        *b ^= 0xa5;
    }
    f.write_all_at(&buf, offset).unwrap();
    f.sync_all().unwrap();
    path
}

/// `findings[].affected[]` of a `check --json` report: (snapshot, path).
fn affected(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| f["affected"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["snapshot_id"].as_str().unwrap().to_string(),
                a["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn flipped_bytes_in_a_pack_are_found_by_check_read_data_and_fail_only_the_affected_files() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..FILES {
        fs::write(
            src.join(format!("file{i:03}.bin")),
            random_bytes(500 + i, FILE_LEN),
        )
        .unwrap();
    }
    let snapshot = repo.backup_json(&[&src])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    repo.assert_check_ok(true);

    flip_bytes_in_largest_pack(&repo, 16);

    // Without --read-data, check does not read pack contents: nothing to report.
    let out = repo.check(false);
    assert_success(&out, "check without --read-data");
    let out = repo.cmd().args(["check", "--json"]).output().unwrap();
    assert_success(&out, "check --json without --read-data");
    let report = parse_json(&out.stdout);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "error"),
        "{report:#}"
    );

    // With --read-data: exit 1, and the damaged file(s) and snapshot are named.
    let out = repo
        .cmd()
        .args(["check", "--read-data", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 1, "check --read-data --json on a damaged pack");
    let report = parse_json(&out.stdout);
    let hit = affected(&report);
    assert!(
        !hit.is_empty() && hit.len() <= 2,
        "16 flipped bytes damage one blob (two if on a boundary), hence one or two files: {report:#}"
    );
    let prefix = format!("{}/file", snap_path(&src));
    for (snap, path) in &hit {
        assert_eq!(snap, &snapshot, "{report:#}");
        assert!(
            path.starts_with(&prefix),
            "{path} is not a file of the tree"
        );
    }
    let codes: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains("blob_damaged"), "{report:#}");

    let out = repo.check(true);
    assert_exit(&out, 1, "check --read-data on a damaged pack");
    let text = String::from_utf8_lossy(&out.stdout);
    for (_, path) in &hit {
        assert!(
            text.contains(&format!("affects snapshot {} file {path}", &snapshot[..8])),
            "the text report should name {path} and snapshot {}:\n{}",
            &snapshot[..8],
            describe(&out)
        );
    }

    // Restore: exit 3, every other file byte-exact, the damaged ones reported.
    let target = repo.path().join("target");
    let out = repo
        .cmd()
        .args(["restore", &snapshot, "--json", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_exit(&out, 3, "restore of a snapshot with a damaged file");
    let restore = parse_json(&out.stdout);
    let dst = restored(&target, &src);
    let failed: BTreeSet<String> = restore["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            let p = Path::new(f["path"].as_str().unwrap());
            let rel = p
                .strip_prefix(&dst)
                .unwrap_or_else(|_| panic!("failure outside the tree: {}", p.display()));
            format!("{}/{}", snap_path(&src), rel.display())
        })
        .collect();
    let damaged: BTreeSet<String> = hit.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(failed, damaged, "{restore:#}");
    assert_eq!(
        restore["files_restored"],
        FILES - damaged.len() as u64,
        "{restore:#}"
    );
    for i in 0..FILES {
        let name = format!("file{i:03}.bin");
        if damaged.contains(&format!("{}/{name}", snap_path(&src))) {
            continue;
        }
        assert_eq!(
            file_difference(&src.join(&name), &dst.join(&name)),
            None,
            "{name} must be restored intact"
        );
    }

    // The text report names the damaged files on standard error.
    let target2 = repo.path().join("target2");
    let out = repo
        .cmd()
        .args(["restore", &snapshot, "--target"])
        .arg(&target2)
        .output()
        .unwrap();
    assert_exit(&out, 3, "restore (text) of a snapshot with a damaged file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for p in &damaged {
        let name = Path::new(p).file_name().unwrap().to_str().unwrap();
        assert!(
            stderr.contains(name),
            "stderr should name {name}:\n{}",
            describe(&out)
        );
    }
}
