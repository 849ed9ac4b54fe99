//! Messages that tell the user what happened and what to do: where a wrong
//! password came from, what to update after `key passwd`, the copy
//! destination's password and absence, a missing repository before any
//! password, singular counts, the recorded user, and a resumable restore.

use crate::common::*;
use std::fs;
use std::os::unix::process::ExitStatusExt;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_wrong_password_names_where_it_came_from() {
    let repo = TestRepo::new();
    let wrong = repo.password_file_with("wrong", "not the password");
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 12, "a wrong password file");
    let said = stderr_of(&out);
    assert!(
        said.contains(&format!("the password file {}", wrong.display()))
            && said.contains("REPRISE_PASSWORD_FILE"),
        "{said}"
    );
    let out = reprise()
        .arg("--repo")
        .arg(&repo.repo)
        .env("REPRISE_PASSWORD", "also wrong")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 12, "a wrong REPRISE_PASSWORD");
    assert!(
        stderr_of(&out).contains("from the variable REPRISE_PASSWORD"),
        "{}",
        describe(&out)
    );
    let out = reprise()
        .arg("--repo")
        .arg(&repo.repo)
        .args(["--password-command", "echo nope", "snapshots"])
        .output()
        .unwrap();
    assert_exit(&out, 12, "a wrong password command");
    assert!(
        stderr_of(&out).contains("the password command \"echo nope\""),
        "{}",
        describe(&out)
    );
}

#[test]
fn key_passwd_reminds_to_update_the_password_file() {
    let repo = TestRepo::new();
    let new = repo.password_file_with("new", "a brand new password");
    let out = repo
        .cmd()
        .args(["key", "passwd", "--new-password-file"])
        .arg(&new)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "key passwd");
    let said = stderr_of(&out);
    assert!(
        said.contains(&repo.password_file.display().to_string())
            && said.contains("REPRISE_PASSWORD_FILE")
            && said.contains("no longer opens"),
        "{said}"
    );
}

#[test]
fn a_missing_repository_exits_10_before_any_password_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    for location in [dir.path().join("nowhere"), dir.path().to_path_buf()] {
        // No password anywhere: the missing repository is what to fix.
        let out = reprise()
            .arg("--repo")
            .arg(&location)
            .arg("snapshots")
            .output()
            .unwrap();
        assert_exit(&out, 10, "snapshots of a missing repository, no password");
        assert!(
            !stderr_of(&out).contains("no password"),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn copy_takes_a_password_command_and_names_init_for_a_missing_destination() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), "a").unwrap();
    repo.backup_json(&[&src]);

    let missing = repo.path().join("offsite");
    let out = repo
        .cmd()
        .args(["copy", "--to"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_exit(&out, 10, "copy to a missing repository");
    let said = stderr_of(&out);
    assert!(
        said.contains(&format!("reprise init --repo {}", missing.display())),
        "{said}"
    );

    let other = TestRepo::new();
    let command = format!("cat {}", other.password_file.display());
    let report = run_json(
        repo.cmd(),
        [
            "copy",
            "--to",
            other.repo.to_str().unwrap(),
            "--to-password-command",
            &command,
        ],
    );
    assert_eq!(
        report["copied"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    // A wrong one is named as the destination's.
    let out = repo
        .cmd()
        .args(["copy", "--to"])
        .arg(&other.repo)
        .args(["--to-password-command", "echo wrong"])
        .output()
        .unwrap();
    assert_exit(&out, 12, "copy with a wrong destination password");
    assert!(
        stderr_of(&out).contains("--to-password-command"),
        "{}",
        describe(&out)
    );
}

#[test]
fn counts_of_one_are_singular() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), "a").unwrap();
    repo.backup_json(&[&src]);
    let out = repo.cmd().arg("snapshots").output().unwrap();
    assert_success(&out, "snapshots");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n1 snapshot\n"), "{text}");
    let out = repo.cmd().arg("check").output().unwrap();
    assert_success(&out, "check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("checked 1 snapshot, ") && text.contains(": 0 errors"),
        "{text}"
    );
    let out = repo.cmd().args(["find", "a.txt"]).output().unwrap();
    assert_success(&out, "find");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("\n1 match\n"));
}

#[test]
fn the_user_comes_from_the_account_database_when_user_is_unset() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), "a").unwrap();
    let out = repo
        .cmd()
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["backup", "--json"])
        .arg(&src)
        .output()
        .unwrap();
    assert_success(&out, "backup without USER");
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let account = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(!account.is_empty(), "id -un printed nothing");
    let snapshots = repo.snapshots();
    assert_eq!(snapshots[0]["username"], account.as_str(), "{snapshots:#?}");
}

#[test]
fn an_interrupted_restore_says_how_to_resume() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), "a").unwrap();
    repo.backup_json(&[&src]);
    // The password command interrupts reprise, its parent, as Ctrl-C
    // would, while reprise waits for it: no timing involved.
    let out = reprise()
        .arg("--repo")
        .arg(&repo.repo)
        .args(["--password-command", "kill -INT $PPID; sleep 1; echo x"])
        .args(["restore", "latest", "--target"])
        .arg(repo.path().join("target"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGINT),
        "{}",
        describe(&out)
    );
    assert!(
        stderr_of(&out).contains("resume it by running the same command again"),
        "{}",
        describe(&out)
    );
}
