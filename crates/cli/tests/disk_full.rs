//! A repository on a disk that fills up: the backup fails with a message
//! naming the repository and the remedy, nothing panics, and the snapshots
//! already there stay intact, and the failed backup does not keep prune from
//! freeing what it left. Uses a real 12 MiB tmpfs (tests run as root).

use assert_cmd::Command;
use std::path::{Path, PathBuf};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn mount_small_tmpfs(at: &Path) -> Mount {
    std::fs::create_dir_all(at).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "tmpfs"])
        .arg(at)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "this test needs to mount a tmpfs (run as root)"
    );
    Mount(at.to_path_buf())
}

fn reprise(repo: &Path, password_file: &Path) -> Command {
    let mut cmd = crate::common::reprise();
    cmd.env("REPRISE_REPOSITORY", repo)
        .env("REPRISE_PASSWORD_FILE", password_file);
    cmd
}

fn pack_count(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("data"))
        .unwrap()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

fn random_file(path: &Path, len: usize, seed: u64) {
    std::fs::write(path, reprise_sample::random_bytes(len, seed)).unwrap();
}

#[test]
fn a_full_disk_fails_the_backup_clearly_and_keeps_earlier_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = mount_small_tmpfs(&tmp.path().join("small-disk"));
    let repo = mount.0.join("repo");
    let password_file = tmp.path().join("pw");
    std::fs::write(&password_file, "secret\n").unwrap();
    reprise(&repo, &password_file)
        .args(["init", "--kdf-memory-mib", "8", "--kdf-iterations", "1"])
        .assert()
        .success();

    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    random_file(&small.join("a.bin"), 1 << 20, 1);
    reprise(&repo, &password_file)
        .arg("backup")
        .arg(&small)
        .assert()
        .success();

    let big = tmp.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..5 {
        random_file(&big.join(format!("f{i}.bin")), 8 << 20, 10 + i);
    }
    let out = reprise(&repo, &password_file)
        .arg("backup")
        .arg(&big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("no space left"), "stderr: {stderr}");
    assert!(
        stderr.contains(&repo.display().to_string()),
        "the message must name the repository: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The failed backup closed its start: prune frees what it left behind
    // at once, instead of waiting days for a backup that is over.
    let packs_before = pack_count(&repo);
    let pruned = reprise(&repo, &password_file)
        .args(["prune", "--grace", "0", "--json"])
        .output()
        .unwrap();
    assert!(pruned.status.success(), "{pruned:?}");
    let report: serde_json::Value = serde_json::from_slice(&pruned.stdout).unwrap();
    assert_eq!(report["backups_running"], 0, "{report:#}");
    assert_eq!(
        report["held_by_running"],
        serde_json::json!([]),
        "{report:#}"
    );
    let deleted = report["deleted"].as_array().map_or(0, Vec::len);
    assert!(
        deleted > 0 && pack_count(&repo) == packs_before - deleted,
        "the failed backup's packs are freed: {report:#}"
    );

    let snapshots = reprise(&repo, &password_file)
        .args(["snapshots", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&snapshots.stdout).unwrap();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "only the first snapshot exists"
    );
    reprise(&repo, &password_file)
        .args(["check", "--read-data"])
        .assert()
        .success();
    let target = tmp.path().join("restored");
    reprise(&repo, &password_file)
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    let restored = target.join(small.strip_prefix("/").unwrap()).join("a.bin");
    assert_eq!(
        std::fs::read(restored).unwrap(),
        std::fs::read(small.join("a.bin")).unwrap()
    );
}
