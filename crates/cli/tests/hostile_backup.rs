//! Backups against what an attacker (or an unlucky file system) puts in
//! their way: a forged snapshot dated in the future that would become the
//! parent of every later backup, source paths that differ only in bytes
//! that are not UTF-8, a file that grows while it is read, and a tree
//! deeper than `PATH_MAX`.
//!
//! A directory swapped for a symlink mid-backup is not raced here: with 15
//! backups against a tight swapper (16 swap points), the path-based walk of
//! 0.1.0 never lost the race on this machine, so such a test would guard
//! nothing. The walk cannot follow one by construction: every open is
//! `O_NOFOLLOW`, relative to a directory handle.

use crate::common::*;
use reprise_format::{BlobId, BlobType, Snapshot, SnapshotId, Tree};
use reprise_repo::{BlobSaver, Repository};
use reprise_storage::LocalBackend;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn open(repo: &TestRepo) -> Repository {
    Repository::open(Arc::new(LocalBackend::new(&repo.repo)), PASSWORD.as_bytes()).unwrap()
}

fn id_of(report: &Value) -> String {
    report["snapshot_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no snapshot id: {report:#}"))
        .to_string()
}

/// The tree `tree` with the file at `path` (its components, root first)
/// pointing at `content`; the new trees are saved with `saver`.
fn repoint(
    repo: &Repository,
    saver: &BlobSaver,
    tree: &BlobId,
    path: &[&[u8]],
    content: &[BlobId],
) -> BlobId {
    let mut t: Tree = repo.load_tree(tree).unwrap();
    let (first, rest) = path.split_first().unwrap();
    let node = t
        .nodes
        .iter_mut()
        .find(|n| n.name.as_bytes() == *first)
        .unwrap_or_else(|| panic!("{} not in the tree", String::from_utf8_lossy(first)));
    if rest.is_empty() {
        node.content = content.to_vec();
    } else {
        let sub = node.subtree.unwrap();
        node.subtree = Some(repoint(repo, saver, &sub, rest, content));
    }
    saver.save(BlobType::Tree, &t.to_json().unwrap()).unwrap().0
}

/// What an attacker holding the key does: copies the snapshot `of`, points
/// `file` at content of its choice (keeping the file's real metadata, so
/// that it looks unchanged) and dates the copy in 2099.
fn forge_future_parent(repo: &TestRepo, of: &str, file: &Path, content: &[u8]) -> SnapshotId {
    let attacker = open(repo);
    attacker.load_index().unwrap();
    let (_, real): (SnapshotId, Snapshot) = attacker
        .list_snapshots()
        .unwrap()
        .snapshots
        .into_iter()
        .find(|(id, _)| id.to_hex() == of)
        .unwrap();
    let saver = BlobSaver::new(&attacker);
    let (blob, _) = saver.save(BlobType::Data, content).unwrap();
    let components: Vec<&[u8]> = file
        .components()
        .skip(1)
        .map(|c| c.as_os_str().as_bytes())
        .collect();
    let mut forged = real.clone();
    forged.tree = repoint(&attacker, &saver, &real.tree, &components, &[blob]);
    saver.finish(Vec::new()).unwrap();
    forged.time = "2099-01-01T00:00:00Z".parse().unwrap();
    attacker.save_snapshot(&forged).unwrap()
}

#[test]
fn a_forged_future_dated_snapshot_never_becomes_the_parent() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let minutes = src.join("deliberation.txt");
    fs::write(&minutes, b"Le conseil municipal approuve le budget.\n").unwrap();
    write_random_file(&src.join("registre.db"), 300_000, 1);
    let honest = id_of(&repo.backup_json(&[&src]));
    let forged = forge_future_parent(
        &repo,
        &honest,
        &minutes,
        b"Le conseil municipal rejette le budget.\n",
    );

    // The next honest backup, nothing changed on disk.
    let next = repo.backup_json(&[&src]);
    assert_eq!(
        next["parent"].as_str(),
        Some(honest.as_str()),
        "the parent must be the honest snapshot, not the forgery {forged}: {next:#}"
    );
    assert_eq!(
        next["passed_over"][0]["id"].as_str(),
        Some(forged.to_hex().as_str()),
        "the forgery is reported: {next:#}"
    );
    let target = repo.path().join("restored");
    repo.restore_json(&id_of(&next), &target);
    assert_eq!(
        fs::read(restored(&target, &minutes)).unwrap(),
        fs::read(&minutes).unwrap(),
        "the file must hold its real content"
    );
}

fn latin1_dir(parent: &Path, last: u8) -> PathBuf {
    let mut name = b"caf".to_vec();
    name.push(last);
    let dir = parent.join(OsString::from_vec(name));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn backup_parent(repo: &TestRepo, dir: &Path) -> (String, Option<String>) {
    let report = repo.json([
        OsStr::new("backup"),
        OsStr::new("--no-detection"),
        dir.as_os_str(),
    ]);
    let parent = report["parent"].as_str().map(str::to_string);
    (id_of(&report), parent)
}

#[test]
fn sources_differing_only_in_latin1_bytes_stay_apart() {
    let repo = TestRepo::new();
    let shares = repo.path().join("x");
    // "café" and "cafè" in Latin-1: both shown as "caf\u{FFFD}" as text.
    let e_acute = latin1_dir(&shares, 0xe9);
    let e_grave = latin1_dir(&shares, 0xe8);
    write_random_file(&e_acute.join("a.odt"), 50_000, 1);
    write_random_file(&e_grave.join("b.odt"), 50_000, 2);
    let (acute1, _) = backup_parent(&repo, &e_acute);
    let (grave1, _) = backup_parent(&repo, &e_grave);
    let (acute2, parent) = backup_parent(&repo, &e_acute);
    assert_eq!(parent.as_deref(), Some(acute1.as_str()), "its own parent");
    let (grave2, parent) = backup_parent(&repo, &e_grave);
    assert_eq!(parent.as_deref(), Some(grave1.as_str()), "its own parent");

    let forget = repo.json(["forget", "--keep-last", "1"]);
    let kept: Vec<&str> = forget["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["keep"] == true)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut expected = vec![acute2.as_str(), grave2.as_str()];
    expected.sort();
    let mut kept_sorted = kept.clone();
    kept_sorted.sort();
    assert_eq!(kept_sorted, expected, "one of each source: {forget:#}");
    assert_eq!(repo.snapshot_ids().len(), 2);
}

/// Appends to `path` as fast as it can until `stop` is set or `cap` bytes
/// were added; returns how many it added.
fn keep_appending(path: PathBuf, stop: Arc<AtomicBool>, cap: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
        let block = random_bytes(99, 1 << 20);
        let mut added = 0u64;
        while !stop.load(Ordering::Relaxed) && added < cap {
            file.write_all(&block).unwrap();
            added += block.len() as u64;
        }
        added
    })
}

/// Whether the process `pid` has `path` open.
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == path))
}

#[test]
fn a_file_growing_while_read_is_read_up_to_its_size_at_open() {
    const AT_OPEN: u64 = 32 << 20;
    const MARGIN: u64 = 1 << 20;
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let log = src.join("journal.log");
    write_random_file(&log, AT_OPEN, 5);
    let mut child = repo
        .std_cmd()
        .args(["backup", "--json", "--no-detection"])
        .arg(&src)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Growth starts once the backup has the file open, and goes on until
    // the backup ends (or 1 GiB was added: the backup before the fix read
    // on as long as the file grew).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !has_open(child.id(), &log) && std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_appending(log.clone(), Arc::clone(&stop), 1 << 30);
    let out = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let added = writer.join().unwrap();
    assert_success(&out, "backup of a growing file");
    let report = parse_json(&out.stdout);
    let listing = repo
        .cmd()
        .args(["ls", "--json", &id_of(&report)])
        .arg(&log)
        .output()
        .unwrap();
    assert_success(&listing, "ls");
    let entry = &parse_json_lines(&listing.stdout)[0];
    let stored = entry["size"].as_u64().unwrap();
    assert!(
        stored <= AT_OPEN + MARGIN,
        "stored {stored} bytes of a file that had {AT_OPEN} at open (the writer added {added})"
    );
    // Once the writer got going the backup saw the growth; if the backup
    // finished before the writer began, there was nothing to warn about.
    if stored > AT_OPEN {
        let warnings = report["warnings"].to_string();
        assert!(
            warnings.contains("grew while it was being read"),
            "{report:#}"
        );
    }
}

/// Creates `name` in the directory open as `dir`, through `/proc/self/fd`,
/// so that no path handed to the kernel is longer than a few dozen bytes.
fn mkdir_in(dir: &fs::File, name: &str) -> fs::File {
    use std::os::fd::AsRawFd;
    let short = format!("/proc/self/fd/{}/{name}", dir.as_raw_fd());
    fs::create_dir(&short).unwrap();
    fs::File::open(&short).unwrap()
}

#[test]
fn a_tree_deeper_than_path_max_is_backed_up_whole() {
    use std::os::fd::AsRawFd;
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let level = "d".repeat(200);
    let mut dir = fs::File::open(&src).unwrap();
    let mut deepest = src.clone();
    for _ in 0..25 {
        dir = mkdir_in(&dir, &level);
        deepest.push(&level);
    }
    let content = b"acte de naissance, 1923\n";
    fs::write(
        format!("/proc/self/fd/{}/fond.txt", dir.as_raw_fd()),
        content,
    )
    .unwrap();
    deepest.push("fond.txt");
    assert!(deepest.as_os_str().len() > 4096);

    let report = repo.backup_json(&[&src]);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");
    let out = repo
        .cmd()
        .args(["dump", &id_of(&report)])
        .arg(&deepest)
        .output()
        .unwrap();
    assert_success(&out, "dump of the deepest file");
    assert_eq!(out.stdout, content);
}
