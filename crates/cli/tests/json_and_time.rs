//! The output rules of docs/CLI.md ("JSON fields and times"), checked on
//! every command that prints JSON: each time is RFC 3339 in UTC ending in
//! `Z`, the snapshot an object describes is under `snapshot_id` (other
//! names only as the deprecated alias next to it), and times in text
//! output are `YYYY-MM-DD HH:MM:SS UTC`.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The names under which JSON output carries a time.
const TIME_FIELDS: [&str; 12] = [
    "time",
    "mtime",
    "created",
    "expires",
    "until",
    "locked_until",
    "opened",
    "at",
    "started",
    "dead_after",
    "clean_as_of",
    "encrypted_by",
];

/// Fields that name a snapshot in a role other than "the one this object
/// describes" (docs/CLI.md lists them).
const ROLE_FIELDS: [&str; 8] = [
    "parent",
    "compared_with",
    "from",
    "to",
    "opened_by",
    "last_clean",
    "already_there",
    "copied",
];

/// The documented JSON time form: `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`.
fn is_json_time(text: &str) -> bool {
    let Some(body) = text.strip_suffix('Z') else {
        return false;
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let shape = whole.len() == 19
        && whole.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    shape
        && [0, 3, 6, 9].contains(&fraction.len())
        && digits(fraction)
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// Whether a string starts like a date, wherever it is.
fn looks_like_a_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Checks one JSON document against the rules; `what` names it in failures.
/// Returns how many time fields were checked.
fn check_document(what: &str, doc: &Value, snapshot_ids: &BTreeSet<String>) -> usize {
    let mut times = 0;
    walk(doc, &mut |key, value, siblings| {
        if let (Some(key), Some(text)) = (key, value.as_str()) {
            if TIME_FIELDS.contains(&key) {
                assert!(
                    is_json_time(text),
                    "{what}: {key} = {text:?} is not RFC 3339 UTC with Z"
                );
                times += 1;
            }
            if snapshot_ids.contains(text) {
                let alias_of_snapshot_id = siblings
                    .and_then(|s| s.get("snapshot_id"))
                    .is_some_and(|id| id == value);
                assert!(
                    key == "snapshot_id" || ROLE_FIELDS.contains(&key) || alias_of_snapshot_id,
                    "{what}: a snapshot id under {key:?}, not snapshot_id"
                );
            }
        }
        if let Some(text) = value.as_str() {
            if looks_like_a_date(text) {
                assert!(
                    is_json_time(text),
                    "{what}: date {text:?} is not in the JSON form"
                );
            }
        }
    });
    times
}

/// Called with a value's key, the value, and the object holding it.
type Visit<'a> = dyn FnMut(Option<&str>, &Value, Option<&Value>) + 'a;

/// Calls `visit(key, value, object holding it)` on every value of `doc`.
fn walk(doc: &Value, visit: &mut Visit) {
    walk_at(doc, None, None, visit);
}

fn walk_at(value: &Value, key: Option<&str>, parent: Option<&Value>, visit: &mut Visit) {
    visit(key, value, parent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                walk_at(v, Some(k), Some(value), visit);
            }
        }
        // Array items keep the array's key: `copied: [[a, b]]` is a role.
        Value::Array(items) => {
            for v in items {
                walk_at(v, key, parent, visit);
            }
        }
        _ => {}
    }
}

fn json_of(repo: &TestRepo, args: &[&str]) -> Value {
    repo.json(args)
}

fn share(root: &Path) {
    fs::create_dir_all(root.join("compta")).unwrap();
    fs::write(root.join("compta/budget.ods"), "budget 2026\n".repeat(100)).unwrap();
    write_random_file(&root.join("scan.pdf"), 20_000, 3);
}

#[test]
fn every_json_time_is_rfc3339_utc_and_snapshots_are_named_snapshot_id() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    share(&src);
    let first = repo.backup_json(&[&src]);
    fs::write(src.join("compta/budget.ods"), "budget 2027\n".repeat(90)).unwrap();
    let second = repo.backup_json(&[&src]);
    let (a, b) = (
        first["snapshot_id"].as_str().unwrap().to_string(),
        second["snapshot_id"].as_str().unwrap().to_string(),
    );
    let ids: BTreeSet<String> = [a.clone(), b.clone()].into();
    let mut times = 0;
    let mut check = |what: &str, doc: &Value| times += check_document(what, doc, &ids);
    check("backup", &second);

    let snapshots = json_of(&repo, &["snapshots"]);
    check("snapshots", &snapshots);
    let listed: Vec<&str> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["snapshot_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [a.as_str(), b.as_str()]);

    let out = repo
        .cmd()
        .args(["ls", "latest", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "ls --json");
    for line in parse_json_lines(&out.stdout) {
        check("ls", &line);
    }
    let find = json_of(&repo, &["find", "budget.ods"]);
    check("find", &find);
    assert_eq!(find[0]["snapshot_id"], a.as_str(), "{find:#}");
    check("diff", &json_of(&repo, &["diff", &a, &b]));
    let detect = json_of(&repo, &["detect", "latest"]);
    check("detect", &detect);
    assert_eq!(detect["snapshot_id"], b.as_str());

    let restore = json_of(
        &repo,
        &[
            "restore",
            "latest",
            "--target",
            repo.path().join("t").to_str().unwrap(),
        ],
    );
    check("restore", &restore);
    assert_eq!(
        restore["snapshot_id"],
        b.as_str(),
        "latest resolved: {restore:#}"
    );

    check("check", &json_of(&repo, &["check"]));
    check("stats", &json_of(&repo, &["stats"]));
    check("key list", &json_of(&repo, &["key", "list"]));
    let forget = json_of(&repo, &["forget", "--keep-last", "1", "--dry-run"]);
    check("forget", &forget);
    assert_eq!(
        forget["snapshots"][0]["snapshot_id"],
        a.as_str(),
        "{forget:#}"
    );
    check("prune", &json_of(&repo, &["prune", "--dry-run"]));
    check(
        "repair index",
        &json_of(&repo, &["repair", "index", "--dry-run"]),
    );

    let opened = json_of(&repo, &["incident", "open", &b, "--reason", "test"]);
    check("incident open", &opened);
    let incidents = json_of(&repo, &["incident", "list"]);
    check("incident list", &incidents);
    let waves = &incidents[0]["waves"];
    assert_eq!(waves[0]["snapshot_id"], b.as_str(), "{incidents:#}");

    let other = TestRepo::new();
    let copy = repo
        .cmd()
        .args(["copy", "--json", "--to"])
        .arg(&other.repo)
        .env("REPRISE_TO_PASSWORD_FILE", &other.password_file)
        .output()
        .unwrap();
    assert_success(&copy, "copy --json");
    check("copy", &parse_json(&copy.stdout));

    // snapshots (time), ls and find (mtime), find (time), key list
    // (created), forget (time), incident list (opened, at): at least these.
    assert!(times >= 9, "only {times} time fields were checked");
}

#[test]
fn token_times_in_json_and_text_follow_the_rules_whatever_offset_the_file_has() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    let out = reprise()
        .args(["serve", "init-config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_success(&out, "serve init-config");
    let out = reprise()
        .args(["serve", "token", "add", "pc", "--role", "append"])
        .args(["--expires", "2030-01-01T01:00:00+01:00", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_success(&out, "serve token add --expires");
    let list = run_json(
        reprise(),
        [
            "serve",
            "token",
            "list",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let times = check_document("serve token list", &list, &BTreeSet::new());
    assert!(times >= 1, "{list:#}");
    assert_eq!(list[0]["expires"], "2030-01-01T00:00:00Z", "{list:#}");
    let out = reprise()
        .args(["serve", "token", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_success(&out, "serve token list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2030-01-01 00:00:00 UTC"), "{text}");
}

/// Every date in `text` is written `YYYY-MM-DD HH:MM:SS UTC`.
fn assert_text_times(what: &str, text: &str) -> usize {
    let mut seen = 0;
    for (i, _) in text.char_indices() {
        let rest = &text[i..];
        let at_word_start = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric();
        if at_word_start && looks_like_a_date(rest) {
            let stamp = rest.get(..23).unwrap_or(rest);
            let ok = stamp.len() == 23
                && chrono::NaiveDateTime::parse_from_str(&stamp[..19], "%Y-%m-%d %H:%M:%S").is_ok()
                && stamp.ends_with(" UTC");
            assert!(
                ok,
                "{what}: time {stamp:?} is not YYYY-MM-DD HH:MM:SS UTC in:\n{text}"
            );
            seen += 1;
        }
    }
    seen
}

#[test]
fn times_in_text_output_are_utc_and_say_so() {
    let repo = TestRepo::new();
    let src = repo.path().join("share");
    share(&src);
    repo.backup_json(&[&src]);
    let mut seen = 0;
    for args in [
        &["snapshots"][..],
        &["ls", "-l", "latest"],
        &["find", "budget.ods"],
        &["key", "list"],
        &["forget", "--keep-last", "1", "--dry-run"],
    ] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_success(&out, &format!("{args:?}"));
        let n = assert_text_times(&format!("{args:?}"), &String::from_utf8_lossy(&out.stdout));
        assert!(n > 0, "{args:?} printed no time:\n{}", describe(&out));
        seen += n;
    }
    assert!(seen >= 5);
}
