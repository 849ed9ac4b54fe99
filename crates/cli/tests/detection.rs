//! Ransomware detection end to end, at small scale: every scenario of the
//! evaluation (bench/detection) run through the real `reprise` on a share
//! of about 200 files in real formats, and the figures of issue 4 checked
//! against the scenario's ground truth:
//!
//! - an attack is at least `suspicious` from its first encrypted file and
//!   `attack` from 10 encrypted files in one snapshot (backup exit 4);
//! - a benign change is never `attack`, and `suspicious` only for the
//!   single gpg-encrypted file;
//! - at least 99 % of encrypted files and ransom notes are flagged, and no
//!   benign change is (but that gpg file);
//! - `restore --last-clean` gives back every encrypted file byte-exact under
//!   its original name, without notes or encrypted copies, and keeps every
//!   benign change.
//!
//! The last test runs `bench/detection/run --scale small` itself.

use crate::common::*;
use reprise_detect_bench::evaluate::{score_detection, verify_last_clean, DetectionScore};
use reprise_detect_bench::scenario::{self, Scenario};
use reprise_detect_bench::share::{self, Scale, ShareSpec};
use reprise_detect_bench::truth::Truth;
use serde_json::Value;
use std::ffi::OsStr;
use std::process::Command;

const SEED: u64 = 1;

/// Runs `reprise <args> --json` and returns its exit code and JSON output;
/// any exit code but `allowed` fails the test.
fn json_with_status(repo: &TestRepo, args: &[&OsStr], allowed: &[i32], what: &str) -> (i32, Value) {
    let out = repo.cmd().args(args).arg("--json").output().unwrap();
    assert_no_panic(&out);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        allowed.contains(&code),
        "{what}: exit code {code}, expected one of {allowed:?}\n{}",
        describe(&out)
    );
    (code, parse_json(&out.stdout))
}

/// What one backup after a round said.
struct Judged {
    verdict: String,
    exit: i32,
    encrypted: usize,
    score: DetectionScore,
}

/// Runs a scenario at small scale; returns each round's judgment and the
/// check of the last-clean restore (attacks only).
fn run(
    s: &Scenario,
) -> (
    Vec<Judged>,
    Option<reprise_detect_bench::evaluate::RestoreCheck>,
) {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    share::generate(
        &share,
        &ShareSpec {
            seed: SEED,
            files: Scale::Small.files(),
        },
    )
    .unwrap();
    let share_str = snap_path(&share);
    let first = repo.backup_json(&[&share]);
    assert_eq!(
        first["detection"]["verdict"], "clean",
        "{}: the first backup of the share is not clean: {first:#}",
        s.name
    );
    let mut truth = Truth::new(s.name, s.is_attack());
    let mut judged = Vec::new();
    for round in 0..s.rounds(Scale::Small) {
        scenario::apply(&share, s, SEED, round, &mut truth).unwrap();
        let (exit, backup) = json_with_status(
            &repo,
            &[OsStr::new("backup"), share.as_os_str()],
            &[0, 4],
            &format!("{}: backup after round {}", s.name, round + 1),
        );
        let (_, report) = json_with_status(
            &repo,
            &[OsStr::new("detect"), OsStr::new("latest")],
            &[0, 4],
            &format!("{}: detect after round {}", s.name, round + 1),
        );
        let verdict = backup["detection"]["verdict"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        assert_eq!(
            report["verdict"].as_str(),
            Some(verdict.as_str()),
            "{}: detect and backup disagree",
            s.name
        );
        let done = &truth.rounds[round];
        judged.push(Judged {
            verdict,
            exit,
            encrypted: done.encrypted.len(),
            score: score_detection(done, &share_str, &report),
        });
    }
    if !s.is_attack() {
        return (judged, None);
    }
    let target = repo.path().join("restored");
    let (_, restore) = json_with_status(
        &repo,
        &[
            OsStr::new("restore"),
            OsStr::new("latest"),
            OsStr::new("--target"),
            target.as_os_str(),
            OsStr::new("--last-clean"),
        ],
        &[0],
        &format!("{}: restore --last-clean", s.name),
    );
    assert_eq!(
        restore["failures"].as_array().map(Vec::len),
        Some(0),
        "{}: {restore:#}",
        s.name
    );
    let check = verify_last_clean(&truth, &share, &restored(&target, &share)).unwrap();
    (judged, Some(check))
}

fn check_attack(name: &str) {
    let s = scenario::find(name).unwrap();
    assert!(s.is_attack());
    let (rounds, restore) = run(s);
    let mut total = DetectionScore::default();
    for (i, r) in rounds.iter().enumerate() {
        let round = i + 1;
        if r.encrypted >= 10 {
            assert_eq!(
                r.verdict, "attack",
                "{name}, round {round}: {} files encrypted but the verdict is {}",
                r.encrypted, r.verdict
            );
        }
        if r.encrypted >= 1 {
            assert_ne!(
                r.verdict, "clean",
                "{name}, round {round}: {} file(s) encrypted but the verdict is clean",
                r.encrypted
            );
        }
        assert_eq!(
            r.exit == 4,
            r.verdict == "attack",
            "{name}, round {round}: exit {} with verdict {}",
            r.exit,
            r.verdict
        );
        total.add(&r.score);
    }
    assert!(
        total.positives > 0,
        "{name}: the scenario encrypted nothing"
    );
    assert!(
        total.recall() >= 0.99,
        "{name}: {} of {} encrypted files and notes flagged; missed {:?}",
        total.true_positives,
        total.positives,
        total.missed_paths
    );
    assert_eq!(
        total.false_positives, 0,
        "{name}: benign changes flagged: {:?}",
        total.false_positive_paths
    );
    let restore = restore.unwrap();
    assert!(
        restore.passed(),
        "{name}: the last-clean restore is not the share before the attack with the benign changes: {restore:#?}"
    );
    assert_eq!(restore.recovered, restore.encrypted, "{name}: {restore:#?}");
    assert!(restore.benign > 0, "{name}: no benign change to keep");
    assert_eq!(restore.benign_kept, restore.benign, "{name}: {restore:#?}");
}

fn check_benign(name: &str) {
    let s = scenario::find(name).unwrap();
    assert!(!s.is_attack());
    let (rounds, _) = run(s);
    for r in &rounds {
        assert!(
            r.score.benign_changed > 0,
            "{name}: the scenario changed nothing"
        );
        assert_ne!(
            r.verdict, "attack",
            "{name}: benign change judged an attack"
        );
        assert_eq!(r.exit, 0, "{name}");
        if name == "gpg-file" {
            // The payslip replaced by its gpg-encrypted copy may be suspicious.
            assert!(
                r.score.flagged <= 1,
                "{name}: {:?}",
                r.score.false_positive_paths
            );
            assert!(r
                .score
                .false_positive_paths
                .iter()
                .all(|p| p.ends_with(".gpg")));
        } else {
            assert_eq!(
                r.verdict, "clean",
                "{name}: benign change judged {}: flagged {:?}",
                r.verdict, r.score.false_positive_paths
            );
            assert_eq!(
                r.score.flagged, 0,
                "{name}: flagged {:?}",
                r.score.false_positive_paths
            );
        }
    }
}

macro_rules! scenarios {
    ($check:ident: $($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $check($name);
            }
        )*
    };
}

scenarios! {check_attack:
    attack_whole_file_in_place => "whole-in-place",
    attack_new_files_pysa_with_notes_everywhere => "pysa-notes",
    attack_random_extension_per_file => "random-extension",
    attack_every_other_16_bytes => "intermittent-16",
    attack_first_4_kib_only => "first-4k",
    attack_64_kib_every_mib => "stride-64k-1m",
    attack_base64_armoured_ciphertext => "base64-armoured",
    attack_office_documents_only => "office-only",
    attack_without_ransom_note => "no-note",
    attack_slow_drip_over_many_backups => "slow-drip",
}

scenarios! {check_benign:
    benign_office_edits => "office-edits",
    benign_photo_import => "photo-import",
    benign_folder_zipped_originals_deleted => "zip-folder",
    benign_log_rotation => "log-rotation",
    benign_software_update => "software-update",
    benign_database_dump_growth => "dump-growth",
    benign_reorganisation => "reorganisation",
    benign_docx_converted_to_pdf => "docx-to-pdf",
    benign_one_gpg_encrypted_file => "gpg-file",
    benign_mail_with_attachments => "mail-arrival",
}

/// A scenario added to the evaluation must get its test here.
#[test]
fn every_scenario_has_a_test() {
    let source = include_str!("detection.rs");
    for s in scenario::ALL {
        assert!(
            source.contains(&format!("=> \"{}\"", s.name)),
            "scenario {} has no test in crates/cli/tests/detection.rs",
            s.name
        );
    }
}

/// The harness runs at small scale with the binaries of this build and
/// prints its tables; every figure but the timing one passes (timings in
/// a test, on debug binaries, mean nothing).
#[test]
fn bench_detection_run_prints_the_table_at_small_scale() {
    let bin_dir = bench_bin_dir();
    let scratch = tempfile::tempdir().unwrap();
    let report_path = scratch.path().join("report.md");
    let mut command = Command::new(workspace_root().join("bench/detection/run"));
    command
        .args(["--scale", "small", "--overhead-runs", "1"])
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--workdir")
        .arg(scratch.path().join("work"))
        .arg("--output")
        .arg(&report_path);
    scrub_reprise_env(&mut command);
    let output = command.output().expect("bench/detection/run starts");
    assert!(
        output.status.success(),
        "bench/detection/run failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(&report_path).expect("the report was written");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        report,
        "the report is also printed"
    );
    let rows: Vec<Vec<&str>> = report
        .lines()
        .filter(|l| {
            l.starts_with("| ") && !l.starts_with("| scenario") && !l.starts_with("| backup")
        })
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .filter(|cells: &Vec<&str>| cells.len() == 10)
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    let expected: Vec<&str> = scenario::ALL.iter().map(|s| s.name).collect();
    assert_eq!(names, expected, "one row per scenario:\n{report}");
    for row in &rows {
        if row[1] == "attack" {
            assert!(
                row[9].starts_with("passed"),
                "{}: last-clean {}\n{report}",
                row[0],
                row[9]
            );
            assert_eq!(row[7], "100.0 %", "{}: recall\n{report}", row[0]);
        } else {
            assert_eq!(row[9], "-", "{report}");
        }
    }
    assert!(report.contains("| detection adds | "), "{report}");
    let figures: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("## Figures"))
        .filter(|l| l.starts_with("- "))
        .collect();
    assert_eq!(figures.len(), 6, "{report}");
    for figure in figures.iter().filter(|f| !f.contains("backup time")) {
        assert!(figure.starts_with("- PASS"), "{figure}\n{report}");
    }
    // Issue 11: incidents keep the alarm, forget loses nothing after k
    // nights, last-clean undoes LockBit-style attacks and second waves, and
    // the benign look-alikes stay clean.
    let incident_figures: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("## Incident figures"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("- "))
        .collect();
    assert_eq!(incident_figures.len(), 4, "{report}");
    for figure in incident_figures {
        assert!(figure.starts_with("- PASS"), "{figure}\n{report}");
    }
}
