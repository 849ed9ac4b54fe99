//! Restores into a target someone else can change: directories swapped for
//! symlinks while the restore runs, files hard-linked to files outside the
//! target, files encrypted in place with their size and mtime kept; and the
//! `--overwrite` and `--dry-run` choices; and a tree deeper than PATH_MAX.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SENTINEL: &[u8] = b"outside the target: must never change\n";

/// A directory outside every target (mode 700, one sentinel file).
fn outside_dir(repo: &TestRepo) -> PathBuf {
    let outside = repo.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("sentinel"), SENTINEL).unwrap();
    chmod(&outside.join("sentinel"), 0o600);
    chmod(&outside, 0o700);
    outside
}

fn assert_outside_untouched(outside: &Path, what: &str) {
    let names: Vec<_> = names_in(outside).into_iter().collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("sentinel")],
        "{what}: entries appeared outside the target"
    );
    assert_eq!(
        fs::read(outside.join("sentinel")).unwrap(),
        SENTINEL,
        "{what}"
    );
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode(outside),
        0o700,
        "{what}: the outside directory's mode changed"
    );
    assert_eq!(
        mode(&outside.join("sentinel")),
        0o600,
        "{what}: the sentinel's mode changed"
    );
}

/// Every real directory under `root` (symlinks not followed), deepest first.
fn dirs_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
                out.push(e.path());
            }
        }
    }
    out.reverse();
    out
}

/// Renames directories under `target` away and puts a symlink to `outside`
/// in their place, until `stop` or `max_swaps`; returns the swaps made.
fn swap_dirs_for_symlinks(
    target: &Path,
    outside: &Path,
    stop: &AtomicBool,
    max_swaps: usize,
) -> usize {
    let mut swaps = 0;
    while !stop.load(Ordering::Relaxed) && swaps < max_swaps {
        for dir in dirs_under(target) {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".moved") || stop.load(Ordering::Relaxed) {
                continue;
            }
            let moved = dir.with_file_name(format!("{name}.moved"));
            if fs::rename(&dir, &moved).is_ok() && std::os::unix::fs::symlink(outside, &dir).is_ok()
            {
                swaps += 1;
            }
        }
        std::thread::yield_now();
    }
    swaps
}

/// A tree of `dirs` directories (two levels) with `per_dir` small files each.
fn many_dirs(src: &Path, dirs: usize, per_dir: usize) {
    for d in 0..dirs {
        let dir = src.join(format!("d{:02}", d / 8)).join(format!("e{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..per_dir {
            let text = format!("minutes of meeting {d}, item {f}\n").repeat(60);
            fs::write(dir.join(format!("f{f:03}.txt")), text).unwrap();
        }
        chmod(&dir, 0o1777);
    }
}

/// Restores under attack; 6 of 6 sent files outside the target before the
/// restore worked from directory handles (the first run already did).
const RUNS: usize = 4;

#[test]
fn restore_never_follows_a_directory_swapped_for_a_symlink_while_it_runs() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    many_dirs(&src, 48, 30);
    repo.backup_json(&[&src]);
    let outside = outside_dir(&repo);

    let mut total_swaps = 0;
    for run in 0..RUNS {
        let target = repo.path().join(format!("target{run}"));
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (target, outside, stop) = (target.clone(), outside.clone(), Arc::clone(&stop));
            std::thread::spawn(move || swap_dirs_for_symlinks(&target, &outside, &stop, 5000))
        };
        let out = repo
            .std_cmd()
            .args(["restore", "latest", "--json", "--target"])
            .arg(&target)
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        total_swaps += swapper.join().unwrap();
        assert_no_panic(&out);
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "run {run}: {}",
            describe(&out)
        );
        assert_outside_untouched(&outside, &format!("run {run}"));
        if out.status.code() == Some(3) {
            let report = parse_json(&out.stdout);
            let failures = report["failures"].as_array().unwrap();
            assert!(
                failures.iter().all(|f| f["message"]
                    .as_str()
                    .unwrap()
                    .contains("nothing below it")
                    || f["message"].as_str().unwrap().contains("not followed")
                    || f["message"].as_str().unwrap().contains("No such file")),
                "run {run}: failures should name the swapped directories: {report:#}"
            );
        }
    }
    eprintln!("{total_swaps} directories swapped for symlinks over {RUNS} restores");
    assert!(total_swaps > 0, "the swapper never got to swap anything");
}

/// Restores `src` once into `target` and returns where it landed.
fn first_restore(repo: &TestRepo, src: &Path, target: &Path) -> PathBuf {
    repo.restore_json("latest", target);
    restored(target, src)
}

fn restore_with(repo: &TestRepo, target: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["restore", "latest", "--target", target.to_str().unwrap()];
    args.extend_from_slice(extra);
    let report = repo.json(args);
    assert_eq!(
        report["failures"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    report
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn restore_replaces_a_file_hard_linked_outside_instead_of_writing_through_it() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(
        src.join("report.odt"),
        b"the snapshot's content, longer than the secret",
    )
    .unwrap();
    chmod(&src.join("report.odt"), 0o666);
    repo.backup_json(&[&src]);

    let outside = outside_dir(&repo);
    let secret = outside.join("sentinel");
    let target = repo.path().join("target");
    let dst = restored(&target, &src);
    fs::create_dir_all(&dst).unwrap();
    fs::hard_link(&secret, dst.join("report.odt")).unwrap();

    let report = restore_with(&repo, &target, &[]);
    assert_outside_untouched(&outside, "after restoring over a hard link");
    assert_eq!(
        fs::metadata(&secret).unwrap().nlink(),
        1,
        "the restored file must be a new inode"
    );
    assert_eq!(
        fs::read(dst.join("report.odt")).unwrap(),
        b"the snapshot's content, longer than the secret"
    );
    assert_eq!(mode_of(&dst.join("report.odt")), 0o666);
    assert_eq!(report["files_replaced"], 1, "{report:#}");
}

#[test]
fn a_file_encrypted_in_place_with_size_and_mtime_kept_is_restored_and_modes_are_repaired() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let original = random_bytes(7, 300_000);
    fs::write(src.join("budget.xlsx"), &original).unwrap();
    fs::write(src.join("minutes.txt"), b"council minutes").unwrap();
    chmod(&src.join("budget.xlsx"), 0o640);
    chmod(&src.join("minutes.txt"), 0o644);
    repo.backup_json(&[&src]);
    let target = repo.path().join("target");
    let dst = first_restore(&repo, &src, &target);

    // Encrypted in place: same size, mtime put back; the other file chmodded.
    let budget = dst.join("budget.xlsx");
    let before = fs::symlink_metadata(&budget).unwrap();
    fs::write(&budget, random_bytes(666, original.len())).unwrap();
    set_mtime(&budget, before.mtime(), before.mtime_nsec());
    chmod(&budget, 0o600);
    chmod(&dst.join("minutes.txt"), 0o600);

    let report = restore_with(&repo, &target, &[]);
    assert_eq!(fs::read(&budget).unwrap(), original, "{report:#}");
    assert_eq!(mode_of(&budget), 0o640);
    assert_eq!(
        mode_of(&dst.join("minutes.txt")),
        0o644,
        "an unchanged file's mode is repaired"
    );
    assert_eq!(report["files_replaced"], 1, "{report:#}");
    assert_eq!(report["files_unchanged"], 1, "{report:#}");
    assert_same_tree(&src, &dst, Compare::default());
}

#[test]
fn overwrite_never_leaves_existing_files_and_always_rewrites_them() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a.txt"), b"snapshot a").unwrap();
    fs::write(src.join("b.txt"), b"snapshot b").unwrap();
    repo.backup_json(&[&src]);
    let target = repo.path().join("target");
    let dst = first_restore(&repo, &src, &target);
    fs::write(dst.join("a.txt"), b"local edit").unwrap();
    chmod(&dst.join("a.txt"), 0o600);
    fs::remove_file(dst.join("b.txt")).unwrap();

    let never = restore_with(&repo, &target, &["--overwrite", "never"]);
    assert_eq!(fs::read(dst.join("a.txt")).unwrap(), b"local edit");
    assert_eq!(
        mode_of(&dst.join("a.txt")),
        0o600,
        "never touches existing files at all"
    );
    assert_eq!(
        fs::read(dst.join("b.txt")).unwrap(),
        b"snapshot b",
        "missing files are restored"
    );
    assert_eq!(never["files_kept"], 1, "{never:#}");
    assert_eq!(never["files_restored"], 1, "{never:#}");

    let always = restore_with(&repo, &target, &["--overwrite", "always"]);
    assert_same_tree(&src, &dst, Compare::default());
    assert_eq!(always["files_replaced"], 2, "{always:#}");
}

/// Every entry under `root` with its type, size, mode, mtime and content.
fn tree_state(root: &Path) -> BTreeMap<PathBuf, (u32, u64, i64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        out.insert(
            p.clone(),
            (m.mode(), m.len(), m.mtime(), m.mtime_nsec(), content),
        );
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

#[test]
fn dry_run_writes_nothing_and_reports_what_it_would_do() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    for name in ["a.txt", "b.txt", "c.txt", "sub/d.txt"] {
        fs::write(src.join(name), format!("snapshot {name}")).unwrap();
    }
    repo.backup_json(&[&src]);

    // Into a target that does not exist: nothing is made.
    let missing = repo.path().join("missing");
    let report = restore_with(&repo, &missing, &["--dry-run"]);
    assert!(!missing.exists(), "a dry run must not create the target");
    assert_eq!(report["files_restored"], 4, "{report:#}");

    let target = repo.path().join("target");
    let dst = first_restore(&repo, &src, &target);
    fs::write(dst.join("a.txt"), b"snapshot X.txt").unwrap(); // same size, other content
    fs::remove_file(dst.join("b.txt")).unwrap();
    fs::remove_dir_all(dst.join("sub")).unwrap();
    let state = tree_state(&target);

    let report = restore_with(&repo, &target, &["--dry-run"]);
    assert_eq!(
        tree_state(&target),
        state,
        "a dry run must not write anything"
    );
    assert_eq!(report["dry_run"], true, "{report:#}");
    assert_eq!(report["files_restored"], 3, "{report:#}");
    assert_eq!(report["files_replaced"], 1, "{report:#}");
    assert_eq!(report["files_unchanged"], 1, "{report:#}");
    let actions: Vec<(String, String)> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().into(),
                a["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let at = |p: &str| dst.join(p).display().to_string();
    for expected in [
        ("replace", at("a.txt")),
        ("create", at("b.txt")),
        ("create", at("sub")),
        ("create", at("sub/d.txt")),
    ] {
        assert!(
            actions.contains(&(expected.0.to_string(), expected.1.clone())),
            "{expected:?} missing from {actions:?}"
        );
    }

    let text = repo
        .cmd()
        .args(["restore", "latest", "--dry-run", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&text, "restore --dry-run");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("would replace {}", at("a.txt"))),
        "{stdout}"
    );
    assert!(stdout.contains("nothing was written"), "{stdout}");
    assert_eq!(
        tree_state(&target),
        state,
        "a dry run must not write anything"
    );
}

/// Reads `file` under `dir/components...` by opening one component at a
/// time (a path that long cannot be opened in one go).
fn read_deep(dir: &Path, components: &[String], file: &str) -> Vec<u8> {
    use std::ffi::CString;
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let open_in = |parent: i32, name: &str, flags: i32| {
        let c = CString::new(name).unwrap();
        // SAFETY: c is NUL-terminated; the returned descriptor is owned below.
        let fd = unsafe { libc::openat(parent, c.as_ptr(), flags | libc::O_CLOEXEC) };
        assert!(
            fd >= 0,
            "openat {name}: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd was just opened and is owned by no one else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    };
    let mut current: OwnedFd = fs::File::open(dir).unwrap().into();
    for c in components {
        current = open_in(
            std::os::fd::AsRawFd::as_raw_fd(&current),
            c,
            libc::O_DIRECTORY,
        );
    }
    let fd = open_in(
        std::os::fd::AsRawFd::as_raw_fd(&current),
        file,
        libc::O_RDONLY,
    );
    let mut content = Vec::new();
    fs::File::from(fd).read_to_end(&mut content).unwrap();
    content
}

#[test]
fn restore_writes_a_path_longer_than_path_max_under_the_target() {
    let repo = TestRepo::new();
    // The source path stays under PATH_MAX (the backup reads it), its copy
    // under a long target prefix does not.
    let components: Vec<String> = (0..18)
        .map(|i| format!("{i:02}{}", "n".repeat(198)))
        .collect();
    let src = repo.path().join("src");
    let deep = components.iter().fold(src.clone(), |p, c| p.join(c));
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("deep.txt"), b"from the bottom of the tree").unwrap();
    repo.backup_json(&[&src]);

    let target = repo.path().join("t".repeat(250)).join("u".repeat(250));
    let dst = restored(&target, &src);
    let full = dst.as_os_str().len() + components.iter().map(|c| c.len() + 1).sum::<usize>() + 9;
    assert!(
        full > 4096,
        "the restored path must exceed PATH_MAX ({full} bytes)"
    );
    let report = restore_with(&repo, &target, &["--verify"]);
    assert_eq!(report["files_verified"], 1, "{report:#}");
    assert_eq!(
        read_deep(&dst, &components, "deep.txt"),
        b"from the bottom of the tree"
    );
}
