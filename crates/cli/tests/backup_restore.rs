//! Backup and restore round trips: every kind of entry with exact metadata,
//! sparse files, many small files, the `--json` summary, `--verify`,
//! standard input, excludes, and files that cannot be read.

use crate::common::*;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileExt, MetadataExt};
use std::path::Path;

/// Builds a tree with every kind of entry reprise must keep exactly.
fn build_rich_tree(src: &Path, with_xattrs: bool) {
    fs::create_dir(src).unwrap();
    // empty file, empty dir, nested dirs
    fs::write(src.join("empty.txt"), b"").unwrap();
    fs::create_dir(src.join("empty dir")).unwrap();
    fs::create_dir_all(src.join("a/b/c")).unwrap();
    fs::write(src.join("a/b/c/deep.txt"), b"deep content\n").unwrap();
    // a file of several chunks
    write_random_file(&src.join("a/multi-chunk.bin"), 3 << 20, 1);
    // symlinks: to a file, dangling, to a dir, absolute, with a non-UTF-8 target
    symlink("a/b/c/deep.txt", src.join("link to file")).unwrap();
    symlink("does/not/exist", src.join("dangling")).unwrap();
    symlink("a/b", src.join("link_to_dir")).unwrap();
    symlink("/nonexistent/absolute/target", src.join("absolute_link")).unwrap();
    symlink(
        OsStr::from_bytes(b"caf\xe9.txt"),
        src.join("link_to_latin1"),
    )
    .unwrap();
    // three names for one inode, in different directories
    fs::create_dir(src.join("links")).unwrap();
    fs::write(src.join("links/one"), random_bytes(2, 100 * 1024)).unwrap();
    fs::hard_link(src.join("links/one"), src.join("a/two")).unwrap();
    fs::hard_link(src.join("links/one"), src.join("a/b/three")).unwrap();
    // a second, separate hard-link pair
    fs::write(src.join("pair-1"), b"pair").unwrap();
    fs::hard_link(src.join("pair-1"), src.join("a/b/c/pair-2")).unwrap();
    // non-UTF-8 names (file and directory)
    fs::write(
        src.join(OsStr::from_bytes(b"caf\xe9.txt")),
        b"latin-1 name\n",
    )
    .unwrap();
    let odd_dir = src.join(OsStr::from_bytes(b"dir\xff\xfe"));
    fs::create_dir(&odd_dir).unwrap();
    fs::write(odd_dir.join(OsStr::from_bytes(b"\x80\x81.bin")), b"odd").unwrap();
    // spaces, accents, other scripts
    fs::write(src.join("with space.txt"), b"spaces\n").unwrap();
    fs::create_dir(src.join("dossier spécial")).unwrap();
    fs::write(src.join("dossier spécial/été à Noël.txt"), b"accents\n").unwrap();
    fs::write(src.join("日本語 ファイル.txt"), "日本語\n").unwrap();
    fs::write(src.join(" leading and trailing "), b"x").unwrap();
    // a FIFO
    mkfifo(&src.join("fifo"), 0o640);
    // modes
    fs::write(src.join("private.txt"), b"secret\n").unwrap();
    fs::write(src.join("script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::write(src.join("readonly.txt"), b"ro\n").unwrap();
    fs::write(src.join("setuid-tool"), b"\x7fELF not really").unwrap();
    fs::create_dir(src.join("setgid dir")).unwrap();
    fs::write(src.join("setgid dir/inside.txt"), b"inherits the group\n").unwrap();
    fs::create_dir(src.join("sticky")).unwrap();
    fs::create_dir(src.join("readonly dir")).unwrap();
    fs::write(src.join("readonly dir/file"), b"in a read-only dir\n").unwrap();
    // owners (before modes: chown may clear set-id bits)
    let own =
        |p: &str, uid, gid| std::os::unix::fs::lchown(src.join(p), Some(uid), Some(gid)).unwrap();
    own("private.txt", 1234, 5678);
    own("setgid dir", 4321, 8765);
    own("setgid dir/inside.txt", 4321, 8765);
    own("link to file", 111, 222);
    own("fifo", 1000, 1000);
    own("links/one", 2000, 3000);
    own("a/b", 65534, 65534);
    own("setuid-tool", 0, 50);
    chmod(&src.join("private.txt"), 0o600);
    chmod(&src.join("script.sh"), 0o755);
    chmod(&src.join("readonly.txt"), 0o444);
    chmod(&src.join("setuid-tool"), 0o4755);
    chmod(&src.join("setgid dir"), 0o2775);
    chmod(&src.join("sticky"), 0o1777);
    chmod(&src.join("links/one"), 0o640);
    // extended attributes
    if with_xattrs {
        xattr::set(src.join("with space.txt"), "user.comment", b"hello").unwrap();
        xattr::set(src.join("with space.txt"), "user.binary", &[0, 1, 2, 255]).unwrap();
        xattr::set(src.join("with space.txt"), "user.empty", b"").unwrap();
        xattr::set(src.join("a"), "user.dir", b"on a directory").unwrap();
        xattr::set(
            src.join("links/one"),
            "user.linked",
            b"shared by three names",
        )
        .unwrap();
        xattr::set(
            src.join(OsStr::from_bytes(b"caf\xe9.txt")),
            "user.latin",
            b"x",
        )
        .unwrap();
    }
    // explicit mtimes with nanoseconds, children before parents
    set_times_post_order(src, &mut 0);
    chmod(&src.join("readonly dir"), 0o555);
}

fn set_times_post_order(path: &Path, counter: &mut i64) {
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            set_times_post_order(&path.join(n), counter);
        }
    }
    *counter += 1;
    let i = *counter;
    set_mtime(
        path,
        1_500_000_000 + i * 86_399,
        (i * 123_456_791) % 1_000_000_000 + 1,
    );
}

#[test]
fn restore_recreates_every_entry_kind_with_exact_metadata() {
    let repo = TestRepo::new();
    let xattrs = user_xattrs_supported(repo.path());
    if !xattrs {
        eprintln!("note: this file system refuses user xattrs; not comparing them");
    }
    let src = repo.path().join("src");
    build_rich_tree(&src, xattrs);

    let summary = repo.backup_json(&[&src]);
    assert_eq!(
        summary["warnings"].as_array().map(Vec::len),
        Some(0),
        "{summary:#}"
    );

    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_same_tree(
        &src,
        &restored(&target, &src),
        Compare {
            xattrs,
            root_metadata: true,
        },
    );
    repo.assert_check_ok(true);

    // Restoring again into the complete target rewrites nothing and changes nothing.
    let again = repo.restore_json("latest", &target);
    assert_eq!(again["files_restored"], 0, "{again:#}");
    assert_eq!(again["bytes_written"], 0, "{again:#}");
    assert_same_tree(
        &src,
        &restored(&target, &src),
        Compare {
            xattrs,
            root_metadata: true,
        },
    );
}

#[test]
fn restore_into_a_subpath_selector_restores_only_that_directory() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    build_rich_tree(&src, false);
    repo.backup_json(&[&src]);
    let target = repo.path().join("sub");
    let sel = format!("latest:{}/a", snap_path(&src));
    repo.restore_json(&sel, &target);
    assert_same_tree(
        &src.join("a"),
        &target,
        Compare {
            xattrs: false,
            root_metadata: false,
        },
    );
}

#[test]
fn restore_keeps_a_sparse_file_sparse() {
    const SIZE: u64 = 1 << 30;
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let f = fs::File::create(src.join("disk.img")).unwrap();
    f.set_len(SIZE).unwrap();
    f.write_all_at(b"hello from the middle of a sparse file", SIZE / 2 + 12_345)
        .unwrap();
    f.write_all_at(b"and near the start", 100 * 1024 + 7)
        .unwrap();
    f.write_all_at(b"and at the very end!", SIZE - 20).unwrap();
    drop(f);
    let allocated = fs::metadata(src.join("disk.img")).unwrap().blocks() * 512;
    assert!(
        allocated < 1 << 20,
        "the source itself is not sparse ({allocated} bytes allocated)"
    );

    repo.backup_json(&[&src]);
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);

    let restored_file = restored(&target, &src).join("disk.img");
    let meta = fs::metadata(&restored_file).unwrap();
    assert_eq!(meta.len(), SIZE);
    assert_eq!(file_difference(&src.join("disk.img"), &restored_file), None);
    let restored_alloc = meta.blocks() * 512;
    assert!(
        restored_alloc < 64 << 20,
        "restored sparse file allocates {restored_alloc} bytes for {SIZE} bytes of mostly holes"
    );
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
}

fn small_file_content(i: u64) -> Vec<u8> {
    let mut rng = Rng::new(1_000_000 + i);
    let len = if rng.below(5) == 0 {
        64 + rng.below(4 * 1024)
    } else {
        3 + rng.below(60)
    };
    let mut v = format!("file {i}\n").into_bytes();
    let mut tail = vec![0u8; len as usize];
    rng.fill(&mut tail);
    v.extend_from_slice(&tail);
    v
}

#[test]
fn fifty_thousand_files_of_every_kind_round_trip_exactly_and_an_unchanged_rebackup_reads_nothing() {
    const DIRS: u64 = 100;
    const PER_DIR: u64 = 500;
    let repo = TestRepo::new();
    let xattrs = user_xattrs_supported(repo.path());
    let src = repo.path().join("src");
    for d in 0..DIRS {
        let dir = src.join(format!("dir{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..PER_DIR {
            let i = d * PER_DIR + f;
            fs::write(dir.join(format!("f{i:05}.dat")), small_file_content(i)).unwrap();
        }
    }
    // The same tree also holds every kind of entry, with exact metadata.
    build_rich_tree(&src.join("every kind"), xattrs);

    let first = repo.backup_json(&[&src]);
    let files = first["files_new"].as_u64().unwrap();
    assert!(files > DIRS * PER_DIR, "{first:#}");
    let target = repo.path().join("target");
    let report = repo.restore_json("latest", &target);
    assert!(
        report["files_restored"].as_u64().unwrap() >= DIRS * PER_DIR,
        "{report:#}"
    );
    assert_same_tree(
        &src,
        &restored(&target, &src),
        Compare {
            xattrs,
            root_metadata: false,
        },
    );
    repo.assert_check_ok(true);

    let second = repo.backup_json(&[&src]);
    assert_eq!(second["files_unmodified"], files, "{second:#}");
    assert_eq!(second["files_new"], 0, "{second:#}");
    assert_eq!(second["files_changed"], 0, "{second:#}");
    assert_eq!(second["bytes_read"], 0, "{second:#}");
}

#[test]
fn backup_json_summary_counts_new_changed_and_unmodified_files() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let (a, b, c) = (10 * 1024, 20 * 1024, 30 * 1024);
    fs::write(src.join("a.bin"), random_bytes(10, a)).unwrap();
    fs::write(src.join("b.bin"), random_bytes(11, b)).unwrap();
    fs::write(src.join("c.bin"), random_bytes(12, c)).unwrap();

    let first = repo.backup_json(&[&src]);
    for field in [
        "snapshot_id",
        "files_new",
        "files_changed",
        "files_unmodified",
        "bytes_read",
        "bytes_added",
        "duration_s",
    ] {
        assert!(
            first.get(field).is_some(),
            "summary lacks {field}: {first:#}"
        );
    }
    let id1 = first["snapshot_id"]
        .as_str()
        .expect("snapshot_id is a string");
    assert_eq!(id1.len(), 64, "{id1}");
    assert!(id1.bytes().all(|c| c.is_ascii_hexdigit()), "{id1}");
    assert_eq!(first["files_new"], 3);
    assert_eq!(first["files_changed"], 0);
    assert_eq!(first["files_unmodified"], 0);
    assert_eq!(first["bytes_read"], (a + b + c) as u64);
    let added = first["bytes_added"].as_u64().unwrap();
    assert!(
        added >= (a + b + c) as u64,
        "random data cannot shrink: {first:#}"
    );
    assert!(added < (a + b + c) as u64 + 64 * 1024, "{first:#}");
    assert!(
        first["duration_s"].as_f64().is_some_and(|d| d >= 0.0),
        "{first:#}"
    );
    assert_eq!(repo.snapshot_ids(), vec![id1.to_string()]);

    // Modify one file of three.
    let b2 = 25 * 1024;
    fs::write(src.join("b.bin"), random_bytes(13, b2)).unwrap();
    let second = repo.backup_json(&[&src]);
    assert_eq!(second["files_new"], 0, "{second:#}");
    assert_eq!(second["files_changed"], 1, "{second:#}");
    assert_eq!(second["files_unmodified"], 2, "{second:#}");
    assert_eq!(second["bytes_read"], b2 as u64, "{second:#}");
    assert_eq!(second["parent"].as_str(), Some(id1), "{second:#}");
    let added = second["bytes_added"].as_u64().unwrap();
    assert!(
        (b2 as u64..b2 as u64 + 32 * 1024).contains(&added),
        "only the changed file (and trees) should be added: {second:#}"
    );
    let id2 = second["snapshot_id"].as_str().unwrap().to_string();
    assert_ne!(id2, id1);

    // Add one file; nothing else changes.
    fs::write(src.join("d.bin"), b"new").unwrap();
    let third = repo.backup_json(&[&src]);
    assert_eq!(third["files_new"], 1, "{third:#}");
    assert_eq!(third["files_changed"], 0, "{third:#}");
    assert_eq!(third["files_unmodified"], 3, "{third:#}");
    assert_eq!(third["bytes_read"], 3, "{third:#}");
    assert_eq!(
        repo.snapshot_ids(),
        vec![
            id1.to_string(),
            id2,
            third["snapshot_id"].as_str().unwrap().to_string()
        ]
    );
}

#[test]
fn restore_verify_reports_every_file_verified() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let mut n = 0;
    for i in 0..12u64 {
        fs::write(src.join(format!("small-{i}.txt")), format!("small {i}\n")).unwrap();
        n += 1;
    }
    write_random_file(&src.join("sub/large.bin"), 5 << 20, 7);
    fs::write(src.join("sub/empty"), b"").unwrap();
    n += 2;
    repo.backup_json(&[&src]);

    let target = repo.path().join("target");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--verify", "--json", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore --verify");
    let report = parse_json(&out.stdout);
    assert_eq!(report["files_verified"], n, "{report:#}");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(0));
    assert_same_tree(&src, &restored(&target, &src), Compare::default());

    // The text report says so too.
    let target2 = repo.path().join("target2");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--verify", "--target"])
        .arg(&target2)
        .output()
        .unwrap();
    assert_success(&out, "restore --verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("verified {n} files")), "{text}");
}

#[test]
fn backup_from_stdin_dumps_back_the_same_bytes() {
    let repo = TestRepo::new();
    let mut data = b"-- PostgreSQL database dump\nCREATE TABLE t (x int);\n".to_vec();
    data.extend_from_slice(&random_bytes(14, 3 << 20));
    data.extend_from_slice(b"\n-- end of dump\n");

    let out = repo
        .cmd()
        .args(["backup", "--stdin", "--stdin-filename", "db.sql", "--json"])
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert_success(&out, "backup --stdin");
    let summary = parse_json(&out.stdout);
    assert_eq!(summary["files_new"], 1, "{summary:#}");

    let snaps = repo.snapshots();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["paths"], serde_json::json!(["/db.sql"]));

    let out = repo
        .cmd()
        .args(["dump", "latest", "/db.sql"])
        .output()
        .unwrap();
    assert_success(&out, "dump");
    assert_eq!(out.stdout.len(), data.len());
    assert!(
        out.stdout == data,
        "dumped bytes differ from standard input"
    );
}

/// `pg_dump | reprise backup --stdin --stdin-delta` every night: a night whose changed
/// rows are scattered over the whole dump costs about those rows (stored
/// as deltas against the night before), not the dump again.
#[test]
fn a_dump_on_standard_input_with_scattered_changes_costs_its_changes() {
    let repo = TestRepo::new();
    let night = |n: u64| -> Vec<u8> {
        (0..60_000u64)
            .flat_map(|row| {
                let changed = if row % 100 == 7 { n } else { 0 };
                format!(
                    "{row}\tabonne {}\t{}.{:02}\tfacture d'eau\n",
                    row % 997,
                    row * changed % 1000,
                    row % 100
                )
                .into_bytes()
            })
            .collect()
    };
    let mut added = Vec::new();
    for n in 0..2 {
        let out = repo
            .cmd()
            .args([
                "backup",
                "--stdin",
                "--stdin-delta",
                "--stdin-filename",
                "db.sql",
                "--json",
            ])
            .write_stdin(night(n))
            .output()
            .unwrap();
        assert_success(&out, "backup --stdin");
        added.push(parse_json(&out.stdout)["bytes_added"].as_u64().unwrap());
    }
    assert!(
        added[1] * 10 < added[0],
        "1 % of the rows changed: the second night added {} bytes, the first {}",
        added[1],
        added[0]
    );
    let out = repo
        .cmd()
        .args(["dump", "latest", "/db.sql"])
        .output()
        .unwrap();
    assert_success(&out, "dump");
    assert!(out.stdout == night(1), "the second night reads back");
}

/// `(exit 3) | reprise backup --stdin` used to write a 0-byte snapshot,
/// verdict clean, exit 0: a failed dump looked like a good backup.
#[test]
fn an_empty_standard_input_is_refused_unless_allowed() {
    let repo = TestRepo::new();
    let out = repo
        .cmd()
        .args(["backup", "--stdin", "--stdin-filename", "db.sql"])
        .write_stdin(Vec::new())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("standard input was empty"), "{stderr}");
    assert!(stderr.contains("--allow-empty"), "{stderr}");
    assert!(
        repo.snapshots().is_empty(),
        "no snapshot may claim the failed dump"
    );

    let out = repo
        .cmd()
        .args(["backup", "--stdin", "--allow-empty"])
        .write_stdin(Vec::new())
        .output()
        .unwrap();
    assert_success(&out, "backup --stdin --allow-empty");
    assert_eq!(repo.snapshots().len(), 1);
}

fn ls_paths(repo: &TestRepo) -> Vec<String> {
    let out = repo
        .cmd()
        .args(["ls", "latest", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "ls --json");
    parse_json_lines(&out.stdout)
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backup_excludes_globs_and_exclude_file_patterns() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    fs::create_dir_all(src.join("cache/inner")).unwrap();
    for f in [
        "a.txt",
        "b.tmp",
        "keep.log.txt",
        "e.log",
        "sub/c.tmp",
        "sub/d.txt",
        "sub/skipme",
        "sub/deeper/x.tmp",
        "sub/deeper/y.txt",
        "cache/x",
        "cache/inner/y",
    ] {
        fs::write(src.join(f), f.as_bytes()).unwrap();
    }
    let exclude_file = repo.path().join("excludes");
    let mut f = fs::File::create(&exclude_file).unwrap();
    writeln!(f, "# caches are rebuilt anyway\n\ncache\n  *.log  ").unwrap();
    drop(f);

    let skip = format!("{}/sub/skipme", snap_path(&src));
    let out = repo
        .cmd()
        .args(["backup", "--json", "--exclude", "*.tmp", "--exclude", &skip])
        .arg("--exclude-file")
        .arg(&exclude_file)
        .arg(&src)
        .output()
        .unwrap();
    assert_success(&out, "backup with excludes");

    let base = snap_path(&src);
    let mut got: Vec<String> = ls_paths(&repo)
        .into_iter()
        .filter_map(|p| p.strip_prefix(&base).map(str::to_string))
        .filter(|p| !p.is_empty())
        .collect();
    got.sort();
    let want = vec![
        "/a.txt",
        "/keep.log.txt",
        "/sub",
        "/sub/d.txt",
        "/sub/deeper",
        "/sub/deeper/y.txt",
    ];
    assert_eq!(got, want);
}

#[test]
fn unreadable_file_is_skipped_with_a_warning_and_exit_3() {
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("setpriv (util-linux) is needed to run reprise as an unprivileged user");
    }
    let repo = TestRepo::new();
    // The unprivileged user must reach the tree, the repository and the password.
    chmod(repo.path(), 0o755);
    chown_recursive(&repo.repo, 65534, 65534);
    chmod(&repo.password_file, 0o644);
    let src = repo.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("ok.txt"), b"readable\n").unwrap();
    fs::write(src.join("sub/also-ok.txt"), b"readable too\n").unwrap();
    let secret = src.join("sub/secret.txt");
    fs::write(&secret, b"nobody may read this\n").unwrap();
    chmod(&secret, 0o000);

    let as_nobody = |json: bool| {
        let mut c = std::process::Command::new("setpriv");
        scrub_reprise_env(&mut c)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin())
            .arg("--repo")
            .arg(&repo.repo)
            .env("REPRISE_PASSWORD_FILE", &repo.password_file);
        c.arg("backup").arg(&src);
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };

    let out = as_nobody(false);
    assert_exit(&out, 3, "backup with an unreadable file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&snap_path(&secret)),
        "the warning should name {}:\n{}",
        secret.display(),
        describe(&out)
    );
    let snaps = repo.snapshots();
    assert_eq!(snaps.len(), 1, "the snapshot must be written anyway");
    let paths = ls_paths(&repo);
    assert!(
        paths.contains(&format!("{}/ok.txt", snap_path(&src))),
        "{paths:?}"
    );
    assert!(
        paths.contains(&format!("{}/sub/also-ok.txt", snap_path(&src))),
        "{paths:?}"
    );
    assert!(!paths.contains(&snap_path(&secret)), "{paths:?}");

    let out = as_nobody(true);
    assert_exit(&out, 3, "backup --json with an unreadable file");
    let summary = parse_json(&out.stdout);
    let warned: Vec<&str> = summary["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .filter_map(|w| w["path"].as_str())
        .collect();
    assert_eq!(warned, vec![snap_path(&secret).as_str()], "{summary:#}");
    assert_eq!(repo.snapshots().len(), 2);
}
