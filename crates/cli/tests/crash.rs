//! Interruptions and concurrency: backups killed at several points (by the
//! kernel at a chosen byte of a pack's write, and with SIGKILL once a pack
//! is stored), concurrent backups into one repository, and a restore killed
//! half-way and then resumed.

use crate::common::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// ~256 MiB of incompressible data in files of many sizes (a few over one pack).
fn build_big_tree(src: &Path, seed: u64) -> u64 {
    fs::create_dir_all(src.join("large")).unwrap();
    fs::create_dir_all(src.join("medium")).unwrap();
    fs::create_dir_all(src.join("small")).unwrap();
    let mut total = 0;
    let mut add = |p: PathBuf, len: u64, s: u64| {
        write_random_file(&p, len, s);
        total += len;
    };
    add(src.join("large/db.dump"), 40 << 20, seed);
    add(src.join("large/video.mp4"), 24 << 20, seed + 1);
    add(src.join("large/archive.zip"), 17 << 20, seed + 2);
    for i in 0..12 {
        add(
            src.join(format!("medium/m{i:02}.bin")),
            (6 << 20) + i * 333_333,
            seed + 10 + i,
        );
    }
    for i in 0..200 {
        add(
            src.join(format!("small/s{i:03}.bin")),
            64 * 1024 + i * 3_001,
            seed + 100 + i,
        );
    }
    total
}

/// Names in `<repo>/tmp` (objects being written).
fn temp_names(repo: &TestRepo) -> BTreeSet<std::ffi::OsString> {
    names_in(&repo.repo.join("tmp"))
}

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// The kernel kills the backup (SIGXFSZ) when a write would take a file
    /// past this many bytes: half-way through writing the first pack of the
    /// run, at a byte the test chooses, whatever the machine's speed.
    FileSizeLimit(u64),
    /// As soon as this run has added a pack to data/ (the backup may also
    /// end before the kill).
    AfterNewPack,
}

/// How a backup under [`KillPoint`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackupEnd {
    Completed,
    /// Killed by this signal.
    Killed(i32),
}

/// Runs `backup --json SRC` and has it killed at `point`.
fn backup_killed_at(repo: &TestRepo, src: &Path, point: KillPoint) -> BackupEnd {
    let mut cmd = repo.std_cmd();
    cmd.arg("backup")
        .arg("--json")
        .arg(src)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match point {
        KillPoint::FileSizeLimit(limit) => {
            limit_file_size(&mut cmd, limit);
            let status = cmd.status().unwrap();
            ending_of(status)
        }
        KillPoint::AfterNewPack => {
            let packs_before = repo.pack_files().len();
            let mut child = cmd.spawn().unwrap();
            match kill_when(&mut child, Duration::from_secs(120), || {
                repo.pack_files().len() > packs_before
            }) {
                Ending::Killed => BackupEnd::Killed(libc::SIGKILL),
                Ending::Exited(Some(0)) => BackupEnd::Completed,
                Ending::Exited(code) => panic!("backup failed with {code:?}"),
            }
        }
    }
}

fn ending_of(status: std::process::ExitStatus) -> BackupEnd {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => BackupEnd::Completed,
        (_, Some(signal)) => BackupEnd::Killed(signal),
        (code, None) => panic!("backup failed with {code:?}"),
    }
}

/// Makes the kernel kill the command with SIGXFSZ (and no core dump) when
/// it writes past `limit` bytes in any file: a crash at an exact point of
/// the write path, which no polling from outside can promise.
fn limit_file_size(cmd: &mut std::process::Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlimit = |n: u64| libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    let (fsize, core) = (rlimit(limit), rlimit(0));
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, signal), on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // An ignored SIGXFSZ would be inherited and turn the kill into EFBIG.
            if libc::signal(libc::SIGXFSZ, libc::SIG_DFL) == libc::SIG_ERR
                || libc::setrlimit(libc::RLIMIT_CORE, &core) != 0
                || libc::setrlimit(libc::RLIMIT_FSIZE, &fsize) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Objects this run left half-written in `<repo>/tmp`, with their sizes.
fn partial_objects(repo: &TestRepo, before: &BTreeSet<std::ffi::OsString>) -> Vec<u64> {
    temp_names(repo)
        .difference(before)
        .map(|name| {
            fs::metadata(repo.repo.join("tmp").join(name))
                .unwrap()
                .len()
        })
        .collect()
}

#[test]
fn backup_killed_at_any_point_leaves_a_consistent_repository_and_resumes() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    let total = build_big_tree(&src, 1_000);

    // Limits below a pack's 16 MiB, not multiples of the O_DIRECT block.
    let points = [
        KillPoint::FileSizeLimit((1 << 20) + 12_345),
        KillPoint::AfterNewPack,
        KillPoint::FileSizeLimit(5 << 20),
        KillPoint::AfterNewPack,
        KillPoint::FileSizeLimit((9 << 20) + 1),
    ];
    let mut completed = 0usize;
    for (attempt, point) in points.iter().enumerate() {
        let packs_before = repo.pack_files().len();
        let temps_before = temp_names(&repo);
        let end = backup_killed_at(&repo, &src, *point);
        let partial = partial_objects(&repo, &temps_before);
        eprintln!(
            "attempt {attempt} ({point:?}): {end:?}, packs {} -> {}, partial objects left: {partial:?}",
            packs_before,
            repo.pack_files().len()
        );
        if let KillPoint::FileSizeLimit(limit) = point {
            assert_eq!(
                end,
                BackupEnd::Killed(libc::SIGXFSZ),
                "attempt {attempt}: the backup must die writing its first pack"
            );
            // Two upload threads may each leave one; none went past the limit.
            assert!(
                partial.iter().any(|&n| n > 0) && partial.iter().all(|&n| n <= *limit),
                "attempt {attempt}: objects cut at {limit} bytes were expected in tmp/, found {partial:?}"
            );
        }

        let out = repo.check(false);
        assert_success(&out, &format!("check after attempt {attempt} ({point:?})"));
        let snaps = repo.snapshots().len();
        let killed = matches!(end, BackupEnd::Killed(_));
        assert!(
            snaps >= completed && snaps <= completed + usize::from(!killed),
            "attempt {attempt}: {snaps} snapshots after {completed} completed backups"
        );
        completed = snaps;
    }

    let snapshots_before = repo.snapshots().len();
    let packs: u64 = repo.pack_files().iter().map(|(_, s)| s).sum();
    let out = repo
        .cmd()
        .arg("backup")
        .arg("--json")
        .arg(&src)
        .output()
        .unwrap();
    assert_success(&out, "the backup after the interrupted ones");
    let summary = parse_json(&out.stdout);
    let added = summary["bytes_added"].as_u64().unwrap();
    eprintln!(
        "final backup: {total} bytes of data, {packs} bytes of packs already there, {added} bytes added"
    );
    if snapshots_before == 0 {
        assert!(
            packs >= 16 << 20,
            "the interrupted backups should have uploaded packs"
        );
        // Everything the killed runs uploaded is reused, not stored again.
        assert!(
            added as f64 <= total.saturating_sub(packs) as f64 + total as f64 * 0.02,
            "{packs} bytes of packs were already uploaded, yet the backup added {added} of {total} bytes: {summary:#}"
        );
        assert!(added < total - (8 << 20), "{summary:#}");
    } else {
        assert!(added < total / 10, "{summary:#}");
    }

    // The adopted packs are now indexed: check has nothing left to say.
    let out = repo.cmd().args(["check", "--json"]).output().unwrap();
    assert_success(&out, "check --json after the final backup");
    let report = parse_json(&out.stdout);
    assert_eq!(
        report["findings"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );

    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
    repo.assert_check_ok(true);
}

fn build_medium_tree(src: &Path, seed: u64) {
    fs::create_dir_all(src.join("docs")).unwrap();
    for i in 0..3 {
        write_random_file(&src.join(format!("big{i}.bin")), 6 << 20, seed + i);
    }
    for i in 0..60 {
        fs::write(
            src.join(format!("docs/note{i:02}.txt")),
            format!("note {i} of tree {seed}\n").repeat(i as usize + 1),
        )
        .unwrap();
    }
}

/// Starts `backup --json` of `src`; returns the child.
fn spawn_backup(repo: &TestRepo, src: &Path) -> std::process::Child {
    repo.std_cmd()
        .arg("backup")
        .arg("--json")
        .arg(src)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child, what: &str) -> String {
    let out = child.wait_with_output().unwrap();
    assert_success(&out, what);
    parse_json(&out.stdout)["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn concurrent_backups_of_different_trees_both_succeed() {
    let repo = TestRepo::new();
    let a = repo.path().join("tree-a");
    let b = repo.path().join("tree-b");
    build_medium_tree(&a, 100);
    build_medium_tree(&b, 200);
    let ca = spawn_backup(&repo, &a);
    let cb = spawn_backup(&repo, &b);
    let id_a = finish(ca, "backup of tree a");
    let id_b = finish(cb, "backup of tree b");
    let ids = repo.snapshot_ids();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id_a) && ids.contains(&id_b), "{ids:?}");

    let ta = repo.path().join("target-a");
    let tb = repo.path().join("target-b");
    repo.restore_json(&id_a, &ta);
    repo.restore_json(&id_b, &tb);
    assert_same_tree(&a, &restored(&ta, &a), Compare::default());
    assert_same_tree(&b, &restored(&tb, &b), Compare::default());
    assert!(!restored(&ta, &b).exists());
    repo.assert_check_ok(true);
}

#[test]
fn concurrent_backups_of_the_same_tree_both_succeed() {
    let repo = TestRepo::new();
    let src = repo.path().join("tree");
    build_medium_tree(&src, 300);
    let c1 = spawn_backup(&repo, &src);
    let c2 = spawn_backup(&repo, &src);
    let id1 = finish(c1, "first concurrent backup");
    let id2 = finish(c2, "second concurrent backup");
    assert_eq!(repo.snapshot_ids().len(), 2);
    for (i, id) in [id1, id2].iter().enumerate() {
        let target = repo.path().join(format!("target-{i}"));
        repo.restore_json(id, &target);
        assert_same_tree(&src, &restored(&target, &src), Compare::default());
    }
    repo.assert_check_ok(true);
    // A third backup afterwards sees an unchanged tree.
    let third = repo.backup_json(&[&src]);
    assert_eq!(third["files_new"], 0, "{third:#}");
    assert_eq!(third["bytes_read"], 0, "{third:#}");
}

/// Files of the restore target whose content is the source's, complete or
/// not yet given their times: what a resumed restore finds unchanged.
fn files_with_same_content(src: &Path, dst: &Path, files: &[PathBuf]) -> usize {
    files
        .iter()
        .filter(
            |rel| match (fs::read(src.join(rel)), fs::read(dst.join(rel))) {
                (Ok(s), Ok(d)) => s == d,
                _ => false,
            },
        )
        .count()
}

/// Files of the restore target that are complete: size and mtime as in the source.
fn completed_files(src: &Path, dst: &Path, files: &[PathBuf]) -> usize {
    files
        .iter()
        .filter(|rel| {
            let (Ok(s), Ok(d)) = (
                fs::symlink_metadata(src.join(rel)),
                fs::symlink_metadata(dst.join(rel)),
            ) else {
                return false;
            };
            d.is_file()
                && s.len() == d.len()
                && (s.mtime(), s.mtime_nsec()) == (d.mtime(), d.mtime_nsec())
        })
        .count()
}

#[test]
fn interrupted_restore_resumes_into_the_same_target() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("many")).unwrap();
    write_random_file(&src.join("huge.bin"), 64 << 20, 1);
    for i in 0..8 {
        write_random_file(&src.join(format!("big{i}.bin")), 12 << 20, 10 + i);
    }
    for i in 0..30 {
        write_random_file(&src.join(format!("mid{i:02}.bin")), 1536 << 10, 100 + i);
    }
    for i in 0..100 {
        write_random_file(&src.join(format!("many/s{i:03}.bin")), 64 << 10, 1000 + i);
    }
    let files = files_under(&src);
    repo.backup_json(&[&src]);

    let target = repo.path().join("target");
    let dst = restored(&target, &src);
    let mut child = repo
        .std_cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ending = kill_when(&mut child, Duration::from_secs(120), || {
        completed_files(&src, &dst, &files) >= 10
    });
    let done_before = completed_files(&src, &dst, &files);
    // A file killed after its last byte but before its times were set is
    // not complete, yet the resumed restore rightly finds its content
    // unchanged (and repairs its times).
    let content_before = files_with_same_content(&src, &dst, &files);
    eprintln!(
        "first restore: {ending:?}, {done_before} of {} files complete",
        files.len()
    );

    let report = repo.restore_json("latest", &target);
    assert_same_tree(&src, &dst, Compare::default());
    let unchanged = report["files_unchanged"].as_u64().unwrap() as usize;
    let restored_n = report["files_restored"].as_u64().unwrap() as usize;
    assert_eq!(unchanged + restored_n, files.len(), "{report:#}");
    assert!(
        unchanged >= done_before,
        "files completed by the interrupted restore must be left alone: {report:#}"
    );
    assert_eq!(
        unchanged, content_before,
        "every file whose content was already whole is left alone, and no other: {report:#}"
    );
    if ending == Ending::Killed {
        assert!(
            done_before > 0,
            "the kill was meant to land after some files"
        );
        assert!(unchanged > 0, "{report:#}");
    } else {
        eprintln!("note: the first restore finished before it could be killed");
    }
}
