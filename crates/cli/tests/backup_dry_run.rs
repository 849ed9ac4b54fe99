//! `backup --dry-run`: the files a backup would read and skip, with their
//! sizes, and not one byte written to the repository.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

/// Every file of the repository with its content.
fn repository_files(repo: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(repo)
        .into_iter()
        .map(|p| (p.display().to_string(), fs::read(repo.join(&p)).unwrap()))
        .collect()
}

/// path → (state, size) from `backup --dry-run --json`.
fn listing(doc: &Value) -> BTreeMap<String, (String, u64)> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                (
                    f["state"].as_str().unwrap().to_string(),
                    f["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_dry_run_lists_new_changed_and_unchanged_files_and_writes_nothing() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    fs::create_dir_all(src.join("compta")).unwrap();
    fs::create_dir_all(src.join("cache")).unwrap();
    fs::write(src.join("compta/budget.ods"), "budget\n".repeat(100)).unwrap();
    fs::write(src.join("notes.txt"), "notes").unwrap();
    fs::write(src.join("cache/tmp.bin"), "skip me").unwrap();
    let path = |p: &str| snap_path(&src.join(p));

    // Nothing backed up yet: every file is new.
    let before = repository_files(&repo.repo);
    let doc = repo.json([
        OsStr::new("backup"),
        OsStr::new("--dry-run"),
        OsStr::new("--exclude"),
        OsStr::new("cache"),
        src.as_os_str(),
    ]);
    assert_eq!(
        repository_files(&repo.repo),
        before,
        "a dry run wrote to the repository"
    );
    let files = listing(&doc);
    assert_eq!(files.len(), 2, "{doc:#}");
    assert_eq!(files[&path("compta/budget.ods")], ("new".into(), 700));
    assert_eq!(files[&path("notes.txt")], ("new".into(), 5));
    assert_eq!(doc["bytes_to_read"], 705);
    assert_eq!(doc["parent"], Value::Null);

    let out = repo
        .cmd()
        .args(["backup", "--exclude", "cache"])
        .arg(&src)
        .output()
        .unwrap();
    assert_success(&out, "backup");
    fs::write(src.join("notes.txt"), "notes, longer").unwrap();
    fs::write(src.join("new.txt"), "new").unwrap();

    let before = repository_files(&repo.repo);
    let out = repo
        .cmd()
        .args(["backup", "--dry-run", "--exclude", "cache"])
        .arg(&src)
        .output()
        .unwrap();
    assert_success(&out, "backup --dry-run");
    assert_eq!(
        repository_files(&repo.repo),
        before,
        "a dry run wrote to the repository"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line_of = |p: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!("  {}", path(p))))
            .unwrap_or_else(|| panic!("{p} not listed:\n{text}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(line_of("compta/budget.ods"), "unchanged", "{text}");
    assert_eq!(line_of("notes.txt"), "changed", "{text}");
    assert_eq!(line_of("new.txt"), "new", "{text}");
    assert!(
        !text.contains("tmp.bin"),
        "an excluded file is listed:\n{text}"
    );
    assert!(
        text.contains("would read 2 files (1 new, 1 changed, 16 B) and skip 1 file unchanged"),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(repo.snapshots().len(), 1);
}
