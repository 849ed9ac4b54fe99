//! Incidents through the real `reprise` command (issue 11, failures 1 and 2):
//! an attack stays an open incident, raising the alarm on every backup
//! until the share is cleaned up or an operator resolves it; `forget` keeps
//! the last clean copy however the policy reads; `--quiet` never hides an
//! attack; the alert command gets the context a sysadmin needs; a second
//! wave is added to the open incident.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A share of 24 text documents in two directories.
fn make_share(root: &Path) {
    for dir in ["finances", "etat-civil"] {
        fs::create_dir_all(root.join(dir)).unwrap();
        for i in 0..12 {
            let text: String = (0..200)
                .map(|l| format!("{dir} document {i}, ligne {l}: mandat, budget, registre\n"))
                .collect();
            fs::write(root.join(dir).join(format!("doc{i}.txt")), text).unwrap();
        }
    }
}

/// Every file under `root` with its content.
fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|p| {
            let data = fs::read(root.join(&p)).unwrap();
            (p, data)
        })
        .collect()
}

/// Encrypts `count` files of `dir` into `NAME.pysa` (originals deleted) and
/// drops a ransom note: what most families do.
fn encrypt(dir: &Path, count: usize, seed: u64) {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt") && !is_note(p))
        .collect();
    names.sort();
    for (n, path) in names.into_iter().take(count).enumerate() {
        let data = fs::read(&path).unwrap();
        let key = random_bytes(seed + n as u64, data.len());
        let sealed: Vec<u8> = data.iter().zip(&key).map(|(a, b)| a ^ b).collect();
        let mut target = path.clone().into_os_string();
        target.push(".pysa");
        fs::write(&target, sealed).unwrap();
        fs::remove_file(&path).unwrap();
    }
    fs::write(
        dir.join("RECOVER_YOUR_FILES.txt"),
        "Your files are encrypted. Pay 1 BTC to our wallet to decrypt them.\n",
    )
    .unwrap();
}

fn is_note(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "RECOVER_YOUR_FILES.txt")
}

fn backup(repo: &TestRepo, share: &Path, extra: &[&str]) -> (i32, Value) {
    let out = repo
        .cmd()
        .args(["backup", "--json"])
        .args(extra)
        .arg(share)
        .output()
        .unwrap();
    assert_no_panic(&out);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 4, "backup: {}", describe(&out));
    (code, parse_json(&out.stdout))
}

fn run(repo: &TestRepo, args: &[&str]) -> Output {
    let out = repo.cmd().args(args).output().unwrap();
    assert_no_panic(&out);
    out
}

fn incidents(repo: &TestRepo) -> Vec<Value> {
    repo.json(["incident", "list"]).as_array().unwrap().clone()
}

/// `restore latest --last-clean` into a fresh directory: the share as it
/// comes back.
fn last_clean_restore(repo: &TestRepo, share: &Path, name: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let target = repo.path().join(name);
    let out = run(
        repo,
        &[
            "restore",
            "latest",
            "--last-clean",
            "--target",
            target.to_str().unwrap(),
        ],
    );
    assert_success(&out, "restore --last-clean");
    contents(&restored(&target, share))
}

/// Failure 1: after the attack, two more nightly backups still say
/// `attack` (exit 4), and `forget --keep-last 2 --prune` (or
/// `--keep-daily 7`) keeps the clean copy: the last-clean restore gives the
/// share back byte for byte. Once the share is cleaned up, the next backup
/// closes the incident and exits 0.
#[test]
fn the_alarm_lasts_until_the_share_is_cleaned_and_forget_keeps_the_clean_copy() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    make_share(&share);
    let before = contents(&share);
    assert_eq!(backup(&repo, &share, &[]).0, 0);
    encrypt(&share.join("finances"), 12, 1);
    encrypt(&share.join("etat-civil"), 12, 100);
    let (code, first) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "{first}");
    let opened = &first["detection"]["incident"];
    assert_eq!(opened["step"], "opened", "{first}");
    let id = opened["id"].as_str().unwrap().to_string();
    for night in 0..2 {
        let (code, later) = backup(&repo, &share, &[]);
        assert_eq!(code, 4, "night {night} after the attack: {later}");
        let i = &later["detection"]["incident"];
        assert_eq!(
            (i["id"].as_str(), i["step"].as_str()),
            (Some(id.as_str()), Some("still_open"))
        );
        assert_eq!(i["still_encrypted"], 24, "{later}");
        assert_eq!(i["notes"], 2, "{later}");
        assert_eq!(later["detection"]["verdict"], "attack");
    }
    let snaps = repo.snapshots();
    let during: Vec<_> = snaps.iter().map(|s| s["incident"].as_str()).collect();
    assert_eq!(
        during,
        [
            None,
            Some(id.as_str()),
            Some(id.as_str()),
            Some(id.as_str())
        ]
    );

    // Two policies that, before incidents, forgot every pre-attack snapshot.
    let copy = repo.path().join("repo-daily");
    copy_dir(&repo.repo, &copy);
    let dry = repo.json(["forget", "--keep-last", "2", "--dry-run"]);
    let first_snap = &dry["snapshots"][0];
    assert_eq!(first_snap["keep"], true, "{dry}");
    let why = first_snap["reasons"].to_string();
    assert!(why.contains("last clean snapshot before incident"), "{why}");
    let out = run(
        &repo,
        &["forget", "--keep-last", "2", "--prune", "--grace", "0"],
    );
    assert_success(&out, "forget --keep-last 2 --prune");
    assert_eq!(last_clean_restore(&repo, &share, "after-keep-last"), before);
    let daily = run_with_repo(
        &repo,
        &copy,
        &["forget", "--keep-daily", "7", "--prune", "--grace", "0"],
    );
    assert_success(&daily, "forget --keep-daily 7 --prune");
    repo.assert_check_ok(true);

    // The clean-up: the share put back as it was; the next backup closes
    // the incident and is clean again.
    fs::remove_dir_all(&share).unwrap();
    let restored_share = repo.path().join("after-keep-last");
    copy_dir(&restored(&restored_share, &share), &share);
    let (code, cleaned) = backup(&repo, &share, &[]);
    assert_eq!(code, 0, "{cleaned}");
    assert_eq!(
        cleaned["detection"]["incident"]["step"], "closed",
        "{cleaned}"
    );
    assert_eq!(
        cleaned["detection"]["incident"]["restored"], 24,
        "{cleaned}"
    );
    let (code, after) = backup(&repo, &share, &[]);
    assert_eq!(code, 0);
    assert!(after["detection"]["incident"].is_null(), "{after}");
    let list = incidents(&repo);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["closed"]["by"], "backup", "{list:?}");
}

fn run_with_repo(repo: &TestRepo, location: &Path, args: &[&str]) -> Output {
    let mut cmd = reprise();
    cmd.arg("--repo")
        .arg(location)
        .env("REPRISE_PASSWORD_FILE", &repo.password_file)
        .args(args);
    let out = cmd.output().unwrap();
    assert_no_panic(&out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Failure 2: `--quiet` prints nothing on a clean backup, and one summary on
/// standard error on an attack and on every backup while the incident is
/// open, so cron mails it. The alert command receives host, repository,
/// paths, time, snapshot and incident.
#[test]
fn quiet_never_hides_an_attack_and_the_alert_says_where_and_what() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    make_share(&share);
    let alert_file = repo.path().join("alert.json");
    let alert = format!("cat > {}", alert_file.display());
    let quiet = |extra: &[&str]| {
        let out = repo
            .cmd()
            .args(["--quiet", "backup", "--alert-command", &alert])
            .args(extra)
            .arg(&share)
            .output()
            .unwrap();
        assert_no_panic(&out);
        out
    };
    let clean = quiet(&[]);
    assert_exit(&clean, 0, "quiet clean backup");
    assert!(
        clean.stdout.is_empty() && clean.stderr.is_empty(),
        "{}",
        describe(&clean)
    );
    assert!(!alert_file.exists(), "no alert on a clean backup");
    encrypt(&share.join("finances"), 12, 7);
    for night in 0..2 {
        let out = quiet(&[]);
        assert_exit(&out, 4, "quiet backup during the incident");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        assert!(err.contains("RANSOMWARE"), "night {night}: {err}");
        assert!(err.contains("incident"), "night {night}: {err}");
        let doc: Value = serde_json::from_slice(&fs::read(&alert_file).unwrap()).unwrap();
        assert_eq!(doc["verdict"], "attack");
        assert!(
            doc["hostname"].as_str().is_some_and(|h| !h.is_empty()),
            "{doc}"
        );
        assert_eq!(
            doc["repository"].as_str(),
            Some(repo.repo.to_str().unwrap())
        );
        assert_eq!(doc["paths"][0].as_str(), Some(share.to_str().unwrap()));
        assert!(
            doc["time"].is_string() && doc["snapshot_id"].is_string(),
            "{doc}"
        );
        assert_eq!(
            doc["incident"]["id"].as_str().map(str::len),
            Some(16),
            "{doc}"
        );
        fs::remove_file(&alert_file).unwrap();
    }
}

/// A second wave while the incident is open is added to it, and a
/// suspicious snapshot confirmed by an operator opens one that only
/// `incident resolve` closes.
#[test]
fn a_second_wave_joins_the_open_incident_and_operators_confirm_and_resolve() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    make_share(&share);
    assert_eq!(backup(&repo, &share, &[]).0, 0);
    encrypt(&share.join("finances"), 12, 3);
    assert_eq!(backup(&repo, &share, &[]).0, 4);
    encrypt(&share.join("etat-civil"), 4, 300);
    let (code, wave) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "{wave}");
    assert_eq!(wave["detection"]["incident"]["step"], "wave", "{wave}");
    let list = incidents(&repo);
    assert_eq!(list.len(), 1, "{list:?}");
    let files = list[0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 12 + 1 + 4 + 1, "{files:?}");
    assert_eq!(list[0]["waves"].as_array().unwrap().len(), 2);

    // A separate source: one file encrypted is only suspicious, until an
    // operator confirms it.
    let other = repo.path().join("other");
    make_share(&other);
    assert_eq!(backup(&repo, &other, &[]).0, 0);
    let doc = other.join("finances/doc0.txt");
    let data = fs::read(&doc).unwrap();
    fs::write(&doc, random_bytes(9, data.len())).unwrap();
    let (code, suspicious) = backup(&repo, &other, &[]);
    assert_eq!(
        (code, suspicious["detection"]["verdict"].as_str()),
        (0, Some("suspicious"))
    );
    let snap = suspicious["snapshot_id"].as_str().unwrap();
    assert_success(
        &run(
            &repo,
            &["incident", "open", snap, "--reason", "seen by the mayor"],
        ),
        "incident open",
    );
    assert_eq!(
        backup(&repo, &other, &[]).0,
        4,
        "the confirmed incident keeps the alarm"
    );
    let confirmed = incidents(&repo)
        .into_iter()
        .find(|i| i["paths"][0].as_str() == Some(other.to_str().unwrap()))
        .unwrap();
    let id = confirmed["id"].as_str().unwrap();
    let again = run(&repo, &["incident", "open", snap]);
    assert_exit(&again, 1, "a second incident for the same source");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already open"));
    let resolve = run(
        &repo,
        &[
            "incident",
            "resolve",
            &id[..8],
            "--reason",
            "file restored by hand",
        ],
    );
    assert_success(&resolve, "incident resolve");
    assert_eq!(backup(&repo, &other, &[]).0, 0, "resolved: the alarm stops");
    let shown = repo.json(["incident", "show", id]);
    assert_eq!(shown["closed"]["by"], "operator", "{shown}");
    assert_eq!(shown["closed"]["reason"], "file restored by hand");
    let unknown = run(&repo, &["incident", "show", "ffffffffffff"]);
    assert_exit(&unknown, 1, "an unknown incident");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("incident list"));
}

/// The README's cron section tells the truth about exit 4 and shows an
/// alert command that sends mail.
#[test]
fn the_readme_shows_exit_4_and_a_mailing_alert_command() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let cron = readme
        .split("\n## ")
        .find(|s| s.to_lowercase().contains("cron"))
        .expect("a README section about cron");
    assert!(
        cron.contains("| 4 |") || cron.contains("`4`"),
        "exit 4 is listed"
    );
    assert!(
        cron.contains("--alert-command") && cron.contains("mail"),
        "{cron}"
    );
}

/// A share already encrypted when reprise first backs it up has no clean
/// snapshot to compare with: the incident stays open on the files it
/// flagged until they are gone.
#[test]
fn an_incident_with_no_clean_snapshot_before_it_stays_open() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    make_share(&share);
    for i in 0..12 {
        let doc = share.join(format!("finances/doc{i}.txt"));
        let data = fs::read(&doc).unwrap();
        fs::write(&doc, random_bytes(50 + i, data.len())).unwrap();
    }
    let (code, first) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "{first}");
    assert!(
        first["detection"]["incident"]["last_clean"].is_null(),
        "{first}"
    );
    let (code, next) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "{next}");
    assert_eq!(
        next["detection"]["incident"]["still_encrypted"], 12,
        "{next}"
    );
    fs::remove_dir_all(share.join("finances")).unwrap();
    let (code, gone) = backup(&repo, &share, &[]);
    assert_eq!(code, 0, "{gone}");
    assert_eq!(gone["detection"]["incident"]["step"], "closed", "{gone}");
}

/// Files encrypted in place (same names) and put back in place by
/// `restore --last-clean --in-place`: the paths are the same, the content
/// is clean again, and the next backup closes the incident.
#[test]
fn an_in_place_clean_up_of_files_encrypted_in_place_closes_the_incident() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    make_share(&share);
    let before = contents(&share);
    assert_eq!(backup(&repo, &share, &[]).0, 0);
    for i in 0..12 {
        let doc = share.join(format!("finances/doc{i}.txt"));
        let data = fs::read(&doc).unwrap();
        fs::write(&doc, random_bytes(80 + i, data.len())).unwrap();
    }
    fs::write(
        share.join("finances/RECOVER_YOUR_FILES.txt"),
        "Your files are encrypted. Pay 1 BTC to our wallet to decrypt them.\n",
    )
    .unwrap();
    let (code, attacked) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "{attacked}");
    let (code, _) = backup(&repo, &share, &[]);
    assert_eq!(code, 4, "the next night keeps the alarm");
    let quarantine = repo.path().join("quarantine");
    let out = run(
        &repo,
        &[
            "restore",
            "latest",
            "--last-clean",
            "--in-place",
            share.to_str().unwrap(),
            "--quarantine",
            quarantine.to_str().unwrap(),
        ],
    );
    assert_success(&out, "restore --last-clean --in-place");
    assert_eq!(contents(&share), before, "the share is as it was");
    let (code, cleaned) = backup(&repo, &share, &[]);
    assert_eq!(code, 0, "{cleaned}");
    let incident = &cleaned["detection"]["incident"];
    assert_eq!(incident["step"], "closed", "{cleaned}");
    assert_eq!(incident["restored"], 12, "{cleaned}");
}
