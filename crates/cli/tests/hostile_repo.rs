//! A local repository that hostile bytes cannot break (issue 10, findings
//! 15 to 23): damaged config, key files, marks, packs and index files are
//! named by `check` and worked around or repaired; symbolic links, FIFOs and
//! devices where objects or password files should be neither hang nor
//! exhaust memory; the repository is private to its owner.

use crate::common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A repository with one snapshot of a few small files.
fn repo_with_a_snapshot() -> (TestRepo, PathBuf) {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..5u64 {
        write_random_file(&src.join(format!("f{i}")), 20_000 + i * 1000, i);
    }
    repo.backup_json(&[&src]);
    (repo, src)
}

/// `check --json`: its exit code and its findings.
fn check_findings(repo: &TestRepo) -> (Option<i32>, Vec<Value>) {
    let out = repo.cmd().args(["check", "--json"]).output().unwrap();
    assert_no_panic(&out);
    let report = parse_json(&out.stdout);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    (out.status.code(), findings)
}

fn has_finding(findings: &[Value], code: &str, object: &str) -> bool {
    findings
        .iter()
        .any(|f| f["code"] == code && f["object"].as_str().is_some_and(|o| o.contains(object)))
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x40;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(path, bytes).unwrap();
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// Runs a command with a generous bound, so that a hang fails the test
/// instead of stalling the suite; returns its exit code and stderr.
fn run_bounded(mut cmd: std::process::Command, what: &str) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ending = kill_when(&mut child, Duration::from_secs(60), || false);
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    match ending {
        Ending::Exited(code) => (code, stderr),
        Ending::Killed => panic!("{what} did not finish: {stderr}"),
    }
}

/// Finding 22: the config has a verified second copy; a flipped byte in
/// either copy stops nothing, and `check` names the damaged one.
#[test]
fn a_flipped_byte_in_the_config_stops_no_command_and_check_names_it() {
    let (repo, src) = repo_with_a_snapshot();
    let config = repo.repo.join("config");
    let copy = repo.repo.join("config.copy");
    assert_eq!(fs::read(&config).unwrap(), fs::read(&copy).unwrap());
    repo.assert_check_ok(false);

    flip_byte(&config, 40);
    assert_eq!(repo.snapshots().len(), 1, "snapshots with a damaged config");
    let out = repo.cmd().args(["ls", "latest"]).output().unwrap();
    assert_success(&out, "ls with a damaged config");
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_restored_content(&target, &src);
    repo.backup_json(&[&src]);
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert!(
        has_finding(&findings, "config_damaged", "config"),
        "{findings:#?}"
    );
    assert!(
        !has_finding(&findings, "config_damaged", "config.copy"),
        "{findings:#?}"
    );

    // The other way round: the copy damaged, the config intact.
    fs::copy(&copy, &config).unwrap();
    flip_byte(&copy, 40);
    assert_eq!(repo.snapshots().len(), 2);
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert!(
        has_finding(&findings, "config_damaged", "config.copy"),
        "{findings:#?}"
    );
}

/// Finding 15: a damaged key file is named as damaged, never taken for a
/// wrong password; `key list` shows it beside the others; `check` reports it.
#[test]
fn a_damaged_key_file_is_named_and_not_taken_for_a_wrong_password() {
    let (repo, _src) = repo_with_a_snapshot();
    let first_key = files_in(&repo.repo.join("keys")).remove(0);
    let second = repo.password_file_with("second", "another password");
    let out = repo
        .cmd()
        .args(["key", "add", "--new-password-file"])
        .arg(&second)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "key add");

    // The key of the first password loses its end.
    let bytes = fs::read(&first_key).unwrap();
    fs::write(&first_key, &bytes[..bytes.len() / 2]).unwrap();
    let out = repo.cmd().arg("snapshots").output().unwrap();
    assert_exit(&out, 1, "snapshots with the first password's key damaged");
    let err = stderr_of(&out);
    let name = first_key.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name) && err.contains("damaged"), "{err}");
    assert!(!err.contains("wrong password"), "{err}");

    // The other password still opens it, and sees the damaged key.
    let keys = run_json(
        {
            let mut c = repo.cmd();
            c.env("REPRISE_PASSWORD_FILE", &second);
            c
        },
        ["key", "list"],
    );
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:#?}");
    assert!(keys
        .iter()
        .any(|k| k["id"] == name && k["damaged"].is_string()));
    assert!(keys
        .iter()
        .any(|k| k["current"] == true && k["damaged"].is_null()));
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &second)
        .args(["check", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 1, "check with a damaged key file");
    let report = parse_json(&out.stdout);
    let findings = report["findings"].as_array().unwrap();
    assert!(has_finding(findings, "key_damaged", name), "{findings:#?}");

    // A wrong password, with every key intact, is still a wrong password.
    fs::remove_file(&first_key).unwrap();
    let wrong = repo.password_file_with("wrong", "nope");
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 12, "a wrong password");
}

/// Finding 16: garbage in `marks/` (which an append token can upload) is
/// reported by name.
#[test]
fn check_names_an_unreadable_mark() {
    let (repo, _src) = repo_with_a_snapshot();
    let garbage = b"not a mark at all";
    let name = blake3::hash(garbage).to_hex().to_string();
    fs::create_dir_all(repo.repo.join("marks")).unwrap();
    fs::write(repo.repo.join("marks").join(&name), garbage).unwrap();
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert!(
        has_finding(&findings, "mark_unreadable", &name),
        "{findings:#?}"
    );
}

/// Finding 17: the structure check (no `--read-data`) compares each pack's
/// size with what the index says it holds.
#[test]
fn check_without_read_data_finds_a_truncated_or_swapped_pack() {
    let (repo, src) = repo_with_a_snapshot();
    write_random_file(&src.join("bigger"), 300_000, 99);
    repo.backup_json(&[&src]);
    let packs = repo.pack_files();
    assert!(packs.len() >= 2, "{packs:?}");
    let (small, big) = (
        packs.iter().min_by_key(|(_, s)| *s).unwrap().0.clone(),
        packs.iter().max_by_key(|(_, s)| *s).unwrap().0.clone(),
    );
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let big_bytes = fs::read(&big).unwrap();

    // Another pack's bytes under this name.
    fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
    fs::copy(&small, &big).unwrap();
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert!(
        has_finding(&findings, "pack_damaged", &name(&big)),
        "{findings:#?}"
    );

    // Truncated to nothing.
    fs::write(&big, b"").unwrap();
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert!(
        has_finding(&findings, "pack_damaged", &name(&big)),
        "{findings:#?}"
    );

    fs::write(&big, &big_bytes).unwrap();
    repo.assert_check_ok(false);
}

/// Finding 18: `repair index` rebuilds a damaged index file from the packs'
/// headers and deletes it, after which `check` is clean.
#[test]
fn repair_index_rebuilds_a_damaged_index_file() {
    let (repo, src) = repo_with_a_snapshot();
    let index = files_in(&repo.repo.join("index")).remove(0);
    flip_byte(&index, 50);
    let (code, findings) = check_findings(&repo);
    assert_eq!(code, Some(1));
    assert!(has_finding(&findings, "index_damaged", ""), "{findings:#?}");

    let dry = repo.json(["repair", "index", "--dry-run"]);
    assert_eq!(dry["damaged"].as_array().unwrap().len(), 1, "{dry:#}");
    assert!(
        !dry["reindexed_packs"].as_array().unwrap().is_empty(),
        "{dry:#}"
    );
    assert!(index.exists(), "--dry-run deletes nothing");
    assert_eq!(
        files_in(&repo.repo.join("index")).len(),
        1,
        "--dry-run writes nothing"
    );

    let done = repo.json(["repair", "index"]);
    assert_eq!(done["deleted"].as_array().unwrap().len(), 1, "{done:#}");
    assert_eq!(done["written"].as_array().unwrap().len(), 1, "{done:#}");
    assert!(!index.exists());
    repo.assert_check_ok(true);
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_restored_content(&target, &src);
}

/// Finding 20: a symbolic link to /dev/zero and a FIFO where objects should
/// be are refused at once, and every command goes on without them.
#[test]
fn a_symlink_to_dev_zero_or_a_fifo_in_the_repository_hangs_nothing() {
    let (repo, _src) = repo_with_a_snapshot();
    let snapshot = files_in(&repo.repo.join("snapshots")).remove(0);
    fs::remove_file(&snapshot).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &snapshot).unwrap();
    mkfifo(&repo.repo.join("index").join("ab".repeat(32)), 0o600);
    for args in [&["snapshots"][..], &["check"][..]] {
        let mut cmd = repo.std_cmd();
        cmd.args(args);
        let (code, stderr) = run_bounded(cmd, &args.join(" "));
        assert!(code.is_some(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let (_, findings) = check_findings(&repo);
    let text = serde_json::to_string(&findings).unwrap();
    assert!(text.contains("symbolic link"), "{findings:#?}");
    assert!(text.contains("FIFO"), "{findings:#?}");
}

/// Finding 20: a password file that never ends, a device or a FIFO without
/// a writer is refused or read only as far as its first line.
#[test]
fn a_password_file_of_dev_zero_or_a_fifo_neither_hangs_nor_fills_memory() {
    let repo = TestRepo::new();
    let fifo = repo.path().join("fifo");
    mkfifo(&fifo, 0o600);
    for file in [Path::new("/dev/zero"), fifo.as_path()] {
        let mut cmd = repo.std_cmd();
        cmd.env("REPRISE_PASSWORD_FILE", file).arg("snapshots");
        let (code, stderr) = run_bounded(cmd, &format!("password file {}", file.display()));
        assert_eq!(code, Some(1), "{}: {stderr}", file.display());
        assert!(stderr.contains("password"), "{}: {stderr}", file.display());
    }
    // A pipe, as `--password-file <(command)` gives, still works.
    let mut cmd = repo.std_cmd();
    cmd.env_remove("REPRISE_PASSWORD_FILE")
        .arg("--password-file")
        .arg("/dev/stdin")
        .arg("snapshots")
        .stdin(Stdio::piped());
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success());
}

/// Finding 23: directories 0700, files 0600, even when `init` is given an
/// existing empty directory made with the usual 0755.
#[test]
fn a_repository_is_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let password = dir.path().join("password");
    fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let out = reprise()
        .arg("--repo")
        .arg(&root)
        .env("REPRISE_PASSWORD_FILE", &password)
        .arg("init")
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "init in an existing empty directory");
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
