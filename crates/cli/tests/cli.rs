//! The command line itself: exit codes and messages of the common failures,
//! the read-only commands (snapshots, ls, find, diff, dump, stats), key
//! management and snapshot selectors.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------
// Failures: exit codes and messages

#[test]
fn wrong_password_exits_12_and_says_so() {
    let repo = TestRepo::new();
    let wrong = repo.password_file_with("wrong", "not the password");
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 12, "snapshots with a wrong password");
    assert!(
        stderr_of(&out).to_lowercase().contains("password"),
        "{}",
        describe(&out)
    );
    // The same through REPRISE_PASSWORD.
    let out = reprise()
        .arg("--repo")
        .arg(&repo.repo)
        .env("REPRISE_PASSWORD", "also wrong")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 12, "snapshots with a wrong REPRISE_PASSWORD");
}

#[test]
fn a_directory_that_is_not_a_repository_exits_10() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    fs::write(&pw, "whatever\n").unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    for location in [empty.clone(), dir.path().join("does-not-exist")] {
        let out = reprise()
            .arg("--repo")
            .arg(&location)
            .env("REPRISE_PASSWORD_FILE", &pw)
            .arg("snapshots")
            .output()
            .unwrap();
        assert_exit(&out, 10, &format!("snapshots in {}", location.display()));
        assert!(
            stderr_of(&out).contains(&snap_path(&location)),
            "the message should name the location:\n{}",
            describe(&out)
        );
        assert!(
            !location.join("config").exists(),
            "opening must not create anything"
        );
    }
}

#[test]
fn init_makes_version_2_unless_asked_for_a_version_1_repository() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    fs::write(&password, "pw\n").unwrap();
    let init = |name: &str, extra: &[&str]| {
        let out = reprise()
            .arg("--repo")
            .arg(dir.path().join(name))
            .env("REPRISE_PASSWORD_FILE", &password)
            .args(["--json", "init"])
            .args(FAST_KDF)
            .args(extra)
            .output()
            .unwrap();
        assert_success(&out, "reprise init");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let config = fs::read(dir.path().join(name).join("config")).unwrap();
        let clear = u32::from_le_bytes(config[8..12].try_into().unwrap());
        (json["format_version"].as_u64(), clear)
    };
    assert_eq!(init("v2", &[]), (Some(2), 2));
    assert_eq!(init("v1", &["--format-version", "1"]), (Some(1), 1));
    let out = reprise()
        .arg("--repo")
        .arg(dir.path().join("v3"))
        .env("REPRISE_PASSWORD_FILE", &password)
        .args(["init", "--format-version", "3"])
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_exit(&out, 2, "init --format-version 3");
}

#[test]
fn a_repository_of_a_newer_format_exits_1_and_asks_for_an_upgrade() {
    let repo = TestRepo::new();
    let config = repo.repo.join("config");
    let mut bytes = fs::read(&config).unwrap();
    assert_eq!(&bytes[..8], b"REPRISE\0", "config magic");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    chmod(&config, 0o644);
    fs::write(&config, &bytes).unwrap();

    let out = repo.cmd().arg("snapshots").output().unwrap();
    assert_exit(&out, 1, "snapshots in a newer repository");
    let msg = stderr_of(&out).to_lowercase();
    assert!(msg.contains("newer"), "{}", describe(&out));
    assert!(msg.contains("upgrade"), "{}", describe(&out));
    // Even a wrong password gets the version message: it is checked first.
    let wrong = repo.password_file_with("wrong", "nope");
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 1, "newer repository, wrong password");
    assert!(
        stderr_of(&out).to_lowercase().contains("newer"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_missing_backup_path_exits_1_and_names_it() {
    let repo = TestRepo::new();
    let missing = repo.path().join("no such dir");
    let out = repo.cmd().arg("backup").arg(&missing).output().unwrap();
    assert_exit(&out, 1, "backup of a missing path");
    assert!(
        stderr_of(&out).contains(&snap_path(&missing)),
        "{}",
        describe(&out)
    );
    assert!(repo.snapshots().is_empty(), "no snapshot may be written");
    // A missing path among existing ones fails too, before anything is written.
    let present = repo.path().join("present");
    fs::create_dir(&present).unwrap();
    let out = repo
        .cmd()
        .arg("backup")
        .arg(&present)
        .arg(&missing)
        .output()
        .unwrap();
    assert_exit(&out, 1, "backup of a missing path among others");
    assert!(repo.snapshots().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let out = reprise()
        .args(["backup", "--no-such-option"])
        .output()
        .unwrap();
    assert_exit(&out, 2, "unknown option");
    let out = reprise().arg("restore").output().unwrap();
    assert_exit(&out, 2, "missing arguments");
}

// ---------------------------------------------------------------------------
// Read-only commands on two known snapshots

struct TwoSnapshots {
    repo: TestRepo,
    src: PathBuf,
    first: String,
    second: String,
    a_v1: Vec<u8>,
    a_v2: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
    notes: Vec<u8>,
    img: Vec<u8>,
}

/// Snapshot 1: docs/a.txt, docs/b.txt, notes.txt, img.bin, link -> docs/a.txt.
/// Snapshot 2: a.txt modified, b.txt removed, docs/c.txt added.
fn two_snapshots() -> TwoSnapshots {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("docs")).unwrap();
    let a_v1 = b"first version of a\n".repeat(50);
    let b = b"b will be removed\n".to_vec();
    let notes = b"notes stay the same\n".to_vec();
    let img = random_bytes(21, 200 * 1024);
    fs::write(src.join("docs/a.txt"), &a_v1).unwrap();
    fs::write(src.join("docs/b.txt"), &b).unwrap();
    fs::write(src.join("notes.txt"), &notes).unwrap();
    fs::write(src.join("img.bin"), &img).unwrap();
    std::os::unix::fs::symlink("docs/a.txt", src.join("link")).unwrap();
    let first = repo.backup_json(&[&src])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();

    let a_v2 = b"second, longer version of a\n".repeat(70);
    let c = b"c is new\n".to_vec();
    fs::write(src.join("docs/a.txt"), &a_v2).unwrap();
    fs::remove_file(src.join("docs/b.txt")).unwrap();
    fs::write(src.join("docs/c.txt"), &c).unwrap();
    let second = repo.backup_json(&[&src])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    TwoSnapshots {
        repo,
        src,
        first,
        second,
        a_v1,
        a_v2,
        b,
        c,
        notes,
        img,
    }
}

impl TwoSnapshots {
    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", snap_path(&self.src))
    }
}

#[test]
fn snapshots_json_lists_both_snapshots_oldest_first() {
    let t = two_snapshots();
    let snaps = t.repo.snapshots();
    assert_eq!(snaps.len(), 2, "{snaps:#?}");
    assert_eq!(snaps[0]["snapshot_id"].as_str(), Some(t.first.as_str()));
    assert_eq!(snaps[1]["snapshot_id"].as_str(), Some(t.second.as_str()));
    assert_eq!(snaps[1]["parent"].as_str(), Some(t.first.as_str()));
    for s in &snaps {
        assert_eq!(s["paths"], serde_json::json!([snap_path(&t.src)]));
        let short = s["short_id"].as_str().unwrap();
        assert!(
            s["snapshot_id"].as_str().unwrap().starts_with(short),
            "{s:#}"
        );
    }
    // The text listing shows both short ids.
    let out = t.repo.cmd().arg("snapshots").output().unwrap();
    assert_success(&out, "snapshots");
    let text = String::from_utf8_lossy(&out.stdout);
    for s in &snaps {
        assert!(text.contains(s["short_id"].as_str().unwrap()), "{text}");
    }
}

#[test]
fn ls_json_prints_one_object_per_entry_with_path_type_and_size() {
    let t = two_snapshots();
    let out = t
        .repo
        .cmd()
        .args(["ls", "latest", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "ls --json");
    let entries: BTreeMap<String, Value> = parse_json_lines(&out.stdout)
        .into_iter()
        .map(|v| (v["path"].as_str().expect("path").to_string(), v))
        .collect();
    let expect = [
        ("", "dir", None),
        ("docs", "dir", None),
        ("docs/a.txt", "file", Some(t.a_v2.len())),
        ("docs/c.txt", "file", Some(t.c.len())),
        ("notes.txt", "file", Some(t.notes.len())),
        ("img.bin", "file", Some(t.img.len())),
        ("link", "symlink", None),
    ];
    for (rel, kind, size) in expect {
        let p = if rel.is_empty() {
            snap_path(&t.src)
        } else {
            t.path(rel)
        };
        let e = entries
            .get(&p)
            .unwrap_or_else(|| panic!("ls lacks {p}: {:?}", entries.keys()));
        assert_eq!(e["type"], kind, "{e:#}");
        if let Some(size) = size {
            assert_eq!(e["size"], size as u64, "{e:#}");
        }
    }
    assert_eq!(entries[&t.path("link")]["target"], "docs/a.txt");
    assert!(!entries.contains_key(&t.path("docs/b.txt")));
    let under_src = entries
        .keys()
        .filter(|k| k.starts_with(&format!("{}/", snap_path(&t.src))))
        .count();
    assert_eq!(under_src, 6, "{:?}", entries.keys());

    // ls of a path inside the older snapshot.
    let out = t
        .repo
        .cmd()
        .args(["ls", &t.first, &t.path("docs"), "--json"])
        .output()
        .unwrap();
    assert_success(&out, "ls SNAPSHOT PATH");
    let mut paths: Vec<String> = parse_json_lines(&out.stdout)
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![t.path("docs"), t.path("docs/a.txt"), t.path("docs/b.txt")]
    );
}

/// `ls` reads a path inside a snapshot as `restore SNAPSHOT:/path` does:
/// empty and `.` components are ignored, and paths come out normalised
/// (they used to keep the `//` and `/./` they were given).
#[test]
fn ls_normalises_the_path_inside_the_snapshot() {
    let t = two_snapshots();
    let odd = format!("{}//./docs/", snap_path(&t.src));
    let out = t
        .repo
        .cmd()
        .args(["ls", &t.first, &odd, "--json"])
        .output()
        .unwrap();
    assert_success(&out, "ls SNAPSHOT //./docs/");
    let paths: Vec<String> = parse_json_lines(&out.stdout)
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        vec![t.path("docs"), t.path("docs/a.txt"), t.path("docs/b.txt")]
    );
}

#[test]
fn find_json_returns_every_version_across_snapshots() {
    let t = two_snapshots();
    let out = t
        .repo
        .cmd()
        .args(["find", "*.txt", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "find --json");
    let found = parse_json(&out.stdout);
    let mut got: Vec<(String, String, u64)> = found
        .as_array()
        .expect("find --json is an array")
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().to_string(),
                v["snapshot_id"].as_str().unwrap().to_string(),
                v["size"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (t.path("docs/a.txt"), t.first.clone(), t.a_v1.len() as u64),
        (t.path("docs/a.txt"), t.second.clone(), t.a_v2.len() as u64),
        (t.path("docs/b.txt"), t.first.clone(), t.b.len() as u64),
        (t.path("docs/c.txt"), t.second.clone(), t.c.len() as u64),
        (t.path("notes.txt"), t.first.clone(), t.notes.len() as u64),
        (t.path("notes.txt"), t.second.clone(), t.notes.len() as u64),
    ];
    want.sort();
    assert_eq!(got, want);

    // A whole-path pattern.
    let pattern = format!("{}/docs/*", snap_path(&t.src));
    let out = t
        .repo
        .cmd()
        .args(["find", &pattern, "--json"])
        .output()
        .unwrap();
    assert_success(&out, "find PATH-PATTERN --json");
    assert_eq!(parse_json(&out.stdout).as_array().unwrap().len(), 4);
}

#[test]
fn diff_json_counts_added_removed_and_modified() {
    let t = two_snapshots();
    let out = t
        .repo
        .cmd()
        .args(["diff", &t.first, &t.second, "--json"])
        .output()
        .unwrap();
    assert_success(&out, "diff --json");
    let d = parse_json(&out.stdout);
    assert_eq!(d["added"], 1, "{d:#}");
    assert_eq!(d["removed"], 1, "{d:#}");
    assert_eq!(d["modified"], 1, "{d:#}");
    assert_eq!(d["type"], 0, "{d:#}");
    let changes: Vec<(String, String)> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        (t.path("docs/c.txt"), "added"),
        (t.path("docs/b.txt"), "removed"),
        (t.path("docs/a.txt"), "modified"),
    ] {
        assert!(
            changes.contains(&(want.0.clone(), want.1.to_string())),
            "{want:?} not in {changes:?}"
        );
    }
    // Diffing a snapshot with itself finds nothing.
    let out = t
        .repo
        .cmd()
        .args(["diff", &t.second, "latest", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "diff X X");
    let d = parse_json(&out.stdout);
    assert_eq!(d["changes"].as_array().map(Vec::len), Some(0), "{d:#}");
}

#[test]
fn dump_writes_a_file_exactly_and_a_directory_as_tar() {
    let t = two_snapshots();
    for (snap, rel, want) in [
        ("latest", "docs/a.txt", &t.a_v2),
        (t.first.as_str(), "docs/a.txt", &t.a_v1),
        ("latest", "img.bin", &t.img),
    ] {
        let out = t
            .repo
            .cmd()
            .args(["dump", snap, &t.path(rel)])
            .output()
            .unwrap();
        assert_success(&out, "dump FILE");
        assert!(out.stdout == *want, "dump {snap} {rel}: bytes differ");
    }

    let out = t
        .repo
        .cmd()
        .args(["dump", "latest", &t.path("docs")])
        .output()
        .unwrap();
    assert_success(&out, "dump DIR");
    let entries = tar_entries(&out.stdout);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(names, vec!["a.txt", "c.txt"]);
    assert!(entries["a.txt"] == t.a_v2);
    assert!(entries["c.txt"] == t.c);

    // The whole source directory, and the tar is readable by tar(1) too.
    let out = t
        .repo
        .cmd()
        .args(["dump", "latest", &snap_path(&t.src)])
        .output()
        .unwrap();
    assert_success(&out, "dump ROOT-DIR");
    let entries = tar_entries(&out.stdout);
    assert!(entries["img.bin"] == t.img);
    assert!(entries["notes.txt"] == t.notes);
    assert!(entries["docs/a.txt"] == t.a_v2);
    let tar_file = t.repo.path().join("dump.tar");
    fs::write(&tar_file, &out.stdout).unwrap();
    let listed = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar_file)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", describe(&listed));
    let mut listed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "docs",
            "docs/a.txt",
            "docs/c.txt",
            "img.bin",
            "link",
            "notes.txt"
        ]
    );
}

/// Regular files of a tar stream: name -> content (directories and links listed with no content).
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().expect("a tar stream") {
        let mut e = e.expect("a tar entry");
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let mut data = Vec::new();
        if e.header().entry_type().is_file() {
            e.read_to_end(&mut data).unwrap();
        }
        out.insert(name, data);
    }
    out
}

#[test]
fn stats_json_counts_snapshots_and_unique_bytes() {
    let t = two_snapshots();
    let s = t.repo.json(["stats"]);
    assert_eq!(s["snapshots"], 2, "{s:#}");
    let unique = s["unique_bytes"].as_u64().expect("unique_bytes");
    let distinct_content =
        t.a_v1.len() + t.a_v2.len() + t.b.len() + t.c.len() + t.notes.len() + t.img.len();
    assert!(unique >= distinct_content as u64, "{s:#}");
    // Unchanged files are stored once: far less than two full copies.
    assert!(unique < 2 * (t.img.len() as u64), "{s:#}");
}

// ---------------------------------------------------------------------------
// Keys

fn keys(repo: &TestRepo, password_file: &Path) -> Vec<Value> {
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", password_file)
        .args(["key", "list", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "key list --json");
    parse_json(&out.stdout).as_array().unwrap().clone()
}

fn current_key(keys: &[Value]) -> String {
    let current: Vec<&Value> = keys.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one key is in use: {keys:#?}");
    current[0]["id"].as_str().unwrap().to_string()
}

fn opens_with(repo: &TestRepo, password_file: &Path) -> std::process::Output {
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", password_file)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_no_panic(&out);
    out
}

#[test]
fn key_add_list_remove_and_passwd() {
    let repo = TestRepo::new();
    let old = repo.password_file.clone();
    let new = repo.password_file_with("new-password", "a second password");
    let newer = repo.password_file_with("newer-password", "a third password");

    let out = repo
        .cmd()
        .args(["key", "add", "--new-password-file"])
        .arg(&new)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "key add");
    assert_success(&opens_with(&repo, &new), "open with the added password");
    assert_success(&opens_with(&repo, &old), "open with the first password");

    let listed = keys(&repo, &old);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let old_id = current_key(&listed);
    let new_id = current_key(&keys(&repo, &new));
    assert_ne!(old_id, new_id);

    // Remove the old key while opened with the new one, by a prefix of its id.
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &new)
        .args(["key", "remove", &old_id[..12]])
        .output()
        .unwrap();
    assert_success(&out, "key remove");
    assert_exit(&opens_with(&repo, &old), 12, "open with a removed password");
    let listed = keys(&repo, &new);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(current_key(&listed), new_id);

    // Change the password in use.
    let out = repo
        .cmd()
        .env("REPRISE_PASSWORD_FILE", &new)
        .args(["key", "passwd", "--new-password-file"])
        .arg(&newer)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "key passwd");
    assert_exit(
        &opens_with(&repo, &new),
        12,
        "open with the replaced password",
    );
    assert_success(&opens_with(&repo, &newer), "open with the changed password");
    let listed = keys(&repo, &newer);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_ne!(current_key(&listed), new_id);
}

#[test]
fn removing_the_key_in_use_is_refused() {
    let repo = TestRepo::new();
    let second = repo.password_file_with("second", "second password");
    let out = repo
        .cmd()
        .args(["key", "add", "--new-password-file"])
        .arg(&second)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "key add");
    let in_use = current_key(&keys(&repo, &repo.password_file));
    let out = repo
        .cmd()
        .args(["key", "remove", &in_use])
        .output()
        .unwrap();
    assert_exit(&out, 1, "key remove of the key in use");
    assert!(stderr_of(&out).contains("refusing"), "{}", describe(&out));
    assert_eq!(keys(&repo, &repo.password_file).len(), 2);
    assert_success(&opens_with(&repo, &repo.password_file), "still opens");
}

// ---------------------------------------------------------------------------
// Snapshot selectors

/// Backs up `content` from standard input as /which.txt for `host`; returns the snapshot id.
fn stdin_backup(repo: &TestRepo, host: &str, content: &str) -> String {
    let out = repo
        .cmd()
        .args([
            "backup",
            "--json",
            "--stdin",
            "--stdin-filename",
            "which.txt",
            "--host",
            host,
        ])
        .write_stdin(content.as_bytes().to_vec())
        .output()
        .unwrap();
    assert_success(&out, "backup --stdin");
    parse_json(&out.stdout)["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn dump_which(repo: &TestRepo, args: &[&str]) -> std::process::Output {
    let out = repo
        .cmd()
        .arg("dump")
        .args(args)
        .arg("/which.txt")
        .output()
        .unwrap();
    assert_no_panic(&out);
    out
}

#[test]
fn snapshot_selectors_prefixes_latest_and_host_filters() {
    let repo = TestRepo::new();
    // 17 snapshots: two ids must share their first hex digit.
    let mut made: Vec<(String, String)> = Vec::new();
    for i in 0..17 {
        let host = if i % 2 == 0 { "alpha" } else { "beta" };
        let content = format!("{host}-{i}");
        let id = stdin_backup(&repo, host, &content);
        made.push((id, content));
    }

    // latest, and latest of each host.
    let out = dump_which(&repo, &["latest"]);
    assert_success(&out, "dump latest");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha-16");
    let out = dump_which(&repo, &["latest", "--host", "beta"]);
    assert_success(&out, "dump latest --host beta");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "beta-15");
    let out = dump_which(&repo, &["latest", "--host", "alpha"]);
    assert_success(&out, "dump latest --host alpha");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha-16");
    let out = dump_which(&repo, &["latest", "--host", "gamma"]);
    assert_exit(&out, 1, "latest of a host without snapshots");
    assert!(
        stderr_of(&out).contains("no snapshot"),
        "{}",
        describe(&out)
    );

    // Every snapshot by its shortest unique prefix, and by its full id.
    for (id, content) in &made {
        let len = (1..=id.len())
            .find(|&n| made.iter().filter(|(o, _)| o.starts_with(&id[..n])).count() == 1)
            .unwrap();
        let out = dump_which(&repo, &[&id[..len]]);
        assert_success(&out, &format!("dump by unique prefix {}", &id[..len]));
        assert_eq!(&String::from_utf8_lossy(&out.stdout), content);
        let out = dump_which(&repo, &[id]);
        assert_success(&out, "dump by full id");
        assert_eq!(&String::from_utf8_lossy(&out.stdout), content);
    }

    // An ambiguous prefix.
    let ambiguous = (0..16u32)
        .map(|d| char::from_digit(d, 16).unwrap().to_string())
        .find(|p| {
            made.iter()
                .filter(|(id, _)| id.starts_with(p.as_str()))
                .count()
                > 1
        })
        .expect("17 ids share a first digit");
    let out = dump_which(&repo, &[&ambiguous]);
    assert_exit(&out, 1, "ambiguous prefix");
    let err = stderr_of(&out);
    assert!(err.contains("several snapshots"), "{}", describe(&out));
    assert!(
        err.contains(&format!("{ambiguous:?}")),
        "{}",
        describe(&out)
    );

    // Unknown prefixes.
    let unknown = (0..=0xffffu32)
        .map(|n| format!("{n:04x}"))
        .find(|p| !made.iter().any(|(id, _)| id.starts_with(p.as_str())))
        .unwrap();
    for bad in [unknown.as_str(), "not-an-id"] {
        let out = dump_which(&repo, &[bad]);
        assert_exit(&out, 1, &format!("unknown selector {bad}"));
        let err = stderr_of(&out);
        assert!(err.contains("no snapshot matches"), "{}", describe(&out));
        assert!(err.contains(bad), "{}", describe(&out));
    }
}

/// Regression: `reprise ls latest | head -1` panicked on the closed pipe.
#[test]
fn a_reader_that_stops_early_ends_the_listing_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    for i in 0..2000 {
        let dir = src.join(format!("d{}", i % 20));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), b"x").unwrap();
    }
    repo.backup_json(&[&src]);
    let mut child = repo
        .std_cmd()
        .args(["ls", "latest"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe's reading end is dropped here, like `head` exiting.
    let out = child.wait_with_output().unwrap();
    assert!(!first.is_empty());
    assert_no_panic(&out);
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------
// Ransomware detection through the command line (the scenarios themselves
// are in detection.rs)

/// Twelve office documents and notes, and the same encrypted and renamed
/// the way ransomware does, with a ransom note.
fn documents_then_attack(dir: &Path) -> (PathBuf, impl Fn()) {
    let share = dir.join("share");
    fs::create_dir_all(share.join("compta")).unwrap();
    for i in 0..12u64 {
        let text = format!("Délibération n°{i} du conseil municipal.\n").repeat(200 + i as usize);
        fs::write(share.join(format!("compta/note-{i}.txt")), text).unwrap();
    }
    let attacked = share.clone();
    let attack = move || {
        for i in 0..12u64 {
            let path = attacked.join(format!("compta/note-{i}.txt"));
            let plain = fs::read(&path).unwrap();
            let key = reprise_sample::random_bytes(plain.len(), i);
            let cipher: Vec<u8> = plain.iter().zip(key).map(|(a, b)| a ^ b).collect();
            fs::write(path.with_extension("txt.pysa"), cipher).unwrap();
            fs::remove_file(path).unwrap();
        }
        fs::write(
            attacked.join("compta/README-DECRYPT.txt"),
            "Your files are encrypted. Pay 1 BTC to our wallet to decrypt them.\n",
        )
        .unwrap();
    };
    (share, attack)
}

#[test]
fn an_attack_exits_4_runs_the_alert_and_shows_in_snapshots_and_detect() {
    let repo = TestRepo::new();
    let (share, attack) = documents_then_attack(repo.path());
    let first = repo.backup_json(&[&share]);
    assert_eq!(first["detection"]["verdict"], "clean", "{first:#}");
    attack();
    let alert_file = repo.path().join("alert.json");
    let out = repo
        .cmd()
        .arg("backup")
        .arg(&share)
        .arg("--alert-command")
        .arg(format!("cat > '{}'", alert_file.display()))
        .output()
        .unwrap();
    assert_exit(&out, 4, "backup after an attack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("RANSOMWARE ATTACK: 12 files"), "{stdout}");
    let alert: Value = serde_json::from_slice(&fs::read(&alert_file).unwrap()).unwrap();
    assert_eq!(alert["verdict"], "attack", "{alert:#}");
    assert_eq!(
        alert["flagged"].as_array().map(Vec::len),
        Some(13),
        "{alert:#}"
    );

    let verdicts: Vec<Value> = repo
        .snapshots()
        .iter()
        .map(|s| s["verdict"].clone())
        .collect();
    assert_eq!(verdicts, vec![Value::from("clean"), Value::from("attack")]);
    let out = repo.cmd().args(["detect", "latest"]).output().unwrap();
    assert_exit(&out, 4, "detect latest");
    assert!(String::from_utf8_lossy(&out.stdout).contains("note-3.txt.pysa"));
    // Without detection: no verdict, no alarm.
    let out = repo
        .cmd()
        .args(["backup", "--no-detection"])
        .arg(&share)
        .output()
        .unwrap();
    assert_exit(&out, 0, "backup --no-detection");
    assert_eq!(repo.snapshots()[2]["verdict"], Value::Null);
}

#[test]
fn last_clean_restore_gives_back_the_documents_and_reports_where_from() {
    let repo = TestRepo::new();
    let (share, attack) = documents_then_attack(repo.path());
    repo.backup_json(&[&share]);
    let before = repo.path().join("before");
    repo.restore_json("latest", &before);
    attack();
    let out = repo.cmd().arg("backup").arg(&share).output().unwrap();
    assert_exit(&out, 4, "backup after an attack");
    let target = repo.path().join("clean");
    let report = repo.json([
        OsStr::new("restore"),
        OsStr::new("latest"),
        OsStr::new("--target"),
        target.as_os_str(),
        OsStr::new("--last-clean"),
    ]);
    let last_clean = &report["last_clean"];
    assert_eq!(
        last_clean["recovered"].as_array().map(Vec::len),
        Some(12),
        "{report:#}"
    );
    assert_eq!(
        last_clean["notes_left_out"].as_array().map(Vec::len),
        Some(1)
    );
    let first_id = &repo.snapshot_ids()[0][..8];
    assert_eq!(last_clean["recovered"][0]["from_snapshot"], first_id);
    let relative = share.strip_prefix("/").unwrap().join("compta");
    let mut names: Vec<_> = fs::read_dir(target.join(&relative))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.ends_with(".txt") && n.starts_with("note-")));
    for n in &names {
        assert_eq!(
            fs::read(target.join(&relative).join(n)).unwrap(),
            fs::read(before.join(&relative).join(n)).unwrap(),
            "{n}"
        );
    }
}

#[test]
fn the_demo_raises_the_alarm_and_recovers_the_share() {
    let dir = tempfile::tempdir().unwrap();
    let out = reprise()
        .args(["demo", "--size-mib", "4", "--json", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert_success(&out, "reprise demo");
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["ok"], true);
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    for wanted in [
        "third backup: the alarm",
        "two more nights: the alarm holds",
        "forget --keep-last 2",
        "restore --last-clean",
        "restore --last-clean --in-place",
        "compare the share with before",
        "backup after the clean-up",
        "compare with the pre-attack share",
        "start an append-only server",
        "back up through the server (rest:)",
        "client tries to destroy backups",
        "backups on the server intact",
    ] {
        assert!(steps.contains(&wanted), "{wanted} missing from {steps:?}");
    }
    let detail = |step: &str| {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .map(|s| s["detail"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        detail("two more nights: the alarm holds").contains("verdict ATTACK both nights"),
        "{doc:#}"
    );
    assert!(
        detail("forget --keep-last 2").contains("kept the last clean one"),
        "{doc:#}"
    );
    assert!(
        detail("backup after the clean-up").contains("closed"),
        "{doc:#}"
    );
    assert!(
        detail("back up through the server (rest:)").contains("into rest:https://127.0.0.1:"),
        "{doc:#}"
    );
    assert!(
        detail("client tries to destroy backups").contains("3 refused"),
        "{doc:#}"
    );
    assert!(
        detail("backups on the server intact").contains("1 snapshot"),
        "{doc:#}"
    );
    // The server kept a record of the refusals.
    let audit = std::fs::read_to_string(dir.path().join("demo/serveur/audit.log")).unwrap();
    assert!(
        audit.contains("\"method\":\"DELETE\"") && audit.contains("\"status\":403"),
        "{audit}"
    );
    // The drill of the service catalogue: its report, every service up.
    let drill = &doc["drill"];
    assert_eq!(drill["ok"], true, "{drill:#}");
    assert_eq!(drill["kind"], "drill");
    let states: BTreeMap<&str, &str> = drill["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["status"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    for service in ["etat-civil", "cantine", "partages"] {
        assert_eq!(states.get(service), Some(&"up"), "{drill:#}");
    }
    // The directory has no health check: a drill does not run its restore
    // program, so there is nothing to check.
    assert_eq!(states.get("annuaire"), Some(&"up_unchecked"), "{drill:#}");
}
