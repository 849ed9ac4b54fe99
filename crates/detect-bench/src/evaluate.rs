//! The scoring: what `reprise detect --json` flagged against what a round
//! really did (per-file precision and recall), and whether a `restore
//! --last-clean` gave back the share as it should be (every encrypted file
//! byte-exact under its original name, no note, no encrypted copy, every
//! benign change kept).

use crate::error::{IoContext, Result};
use crate::share;
use crate::truth::{hash, Round, Truth};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How many paths a report lists at most.
const SHOW: usize = 10;

/// The detection of one round against its truth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DetectionScore {
    /// Encrypted files and ransom notes of the round.
    pub positives: usize,
    /// Files the report flagged (strong findings).
    pub flagged: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub missed: usize,
    /// Files new or changed, as the report counts them.
    pub changed: usize,
    /// Benign changes of the round (truth).
    pub benign_changed: usize,
    pub missed_paths: Vec<String>,
    pub false_positive_paths: Vec<String>,
}

impl DetectionScore {
    /// Adds another round's score.
    pub fn add(&mut self, other: &DetectionScore) {
        self.positives += other.positives;
        self.flagged += other.flagged;
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.missed += other.missed;
        self.changed += other.changed;
        self.benign_changed += other.benign_changed;
        for (to, from) in [
            (&mut self.missed_paths, &other.missed_paths),
            (&mut self.false_positive_paths, &other.false_positive_paths),
        ] {
            to.extend(from.iter().take(SHOW.saturating_sub(to.len())).cloned());
        }
    }

    /// Flagged files that are positives, as a fraction of flagged files
    /// (1 when nothing was flagged).
    pub fn precision(&self) -> f64 {
        match self.flagged {
            0 => 1.0,
            n => self.true_positives as f64 / n as f64,
        }
    }

    /// Positives flagged, as a fraction of positives (1 when none).
    pub fn recall(&self) -> f64 {
        match self.positives {
            0 => 1.0,
            n => self.true_positives as f64 / n as f64,
        }
    }
}

/// Scores the report of `detect --json` for one round. `share` is the
/// share's path as the snapshot holds it (absolute).
pub fn score_detection(round: &Round, share: &str, report: &Value) -> DetectionScore {
    let prefix = format!("{}/", share.trim_end_matches('/'));
    let positives: BTreeSet<&str> = round
        .encrypted
        .iter()
        .map(|e| e.path.as_str())
        .chain(round.notes.iter().map(String::as_str))
        .collect();
    let flagged: BTreeSet<String> = report["flagged"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["path"].as_str())
                .map(|p| p.strip_prefix(&prefix).unwrap_or(p).to_string())
                .collect()
        })
        .unwrap_or_default();
    let count = |key: &str| report["changes"][key].as_u64().unwrap_or(0) as usize;
    let true_positives = flagged
        .iter()
        .filter(|f| positives.contains(f.as_str()))
        .count();
    DetectionScore {
        positives: positives.len(),
        flagged: flagged.len(),
        true_positives,
        false_positives: flagged.len() - true_positives,
        missed: positives.len() - true_positives,
        changed: count("added") + count("modified"),
        benign_changed: round.benign.changed(),
        missed_paths: positives
            .iter()
            .filter(|p| !flagged.contains(**p))
            .take(SHOW)
            .map(|p| p.to_string())
            .collect(),
        false_positive_paths: flagged
            .iter()
            .filter(|f| !positives.contains(f.as_str()))
            .take(SHOW)
            .cloned()
            .collect(),
    }
}

/// What a last-clean restore gave back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreCheck {
    /// Encrypted files back, byte-exact, under their original names.
    pub recovered: usize,
    pub encrypted: usize,
    /// Benign changes found as made.
    pub benign_kept: usize,
    pub benign: usize,
    /// Files of the share restored as they are (benign changes included).
    pub files_ok: usize,
    pub files: usize,
    /// Encrypted originals missing or not byte-exact: files lost.
    pub lost: usize,
    /// Ransom notes and encrypted copies found in the restored tree.
    pub notes_left: usize,
    pub copies_left: usize,
    /// Everything that is not as it should be, the first few.
    pub problems: Vec<String>,
    pub problem_count: usize,
}

impl RestoreCheck {
    pub fn passed(&self) -> bool {
        self.problem_count == 0
    }
}

/// What a file should hold after a last-clean restore.
enum Expect {
    /// As in the live share now.
    Live,
    /// The content it had before the attack (BLAKE3 hex).
    Original(String),
}

/// Compares the restored share (`restored`, the share's directory inside
/// the restore target) with the live share and the truth.
pub fn verify_last_clean(truth: &Truth, live: &Path, restored: &Path) -> Result<RestoreCheck> {
    let mut expected: BTreeMap<String, Expect> = share::files(live)?
        .into_iter()
        .map(|f| (f, Expect::Live))
        .collect();
    for round in &truth.rounds {
        for e in &round.encrypted {
            expected.remove(&e.path);
        }
        for n in &round.notes {
            expected.remove(n);
        }
    }
    let mut encrypted = BTreeSet::new();
    for round in &truth.rounds {
        for e in &round.encrypted {
            encrypted.insert(e.original.clone());
            expected.insert(
                e.original.clone(),
                Expect::Original(e.original_blake3.clone()),
            );
        }
    }
    let benign: BTreeSet<String> = truth
        .rounds
        .iter()
        .flat_map(|r| {
            r.benign
                .modified
                .iter()
                .chain(&r.benign.added)
                .chain(r.benign.renamed.iter().map(|x| &x.to))
                .cloned()
        })
        .filter(|p| expected.contains_key(p))
        .collect();
    let actual: BTreeSet<String> = if restored.is_dir() {
        share::files(restored)?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut check = RestoreCheck {
        encrypted: encrypted.len(),
        benign: benign.len(),
        files: expected.len(),
        ..Default::default()
    };
    let problem = |check: &mut RestoreCheck, text: String| {
        check.problem_count += 1;
        if check.problems.len() < SHOW {
            check.problems.push(text);
        }
    };
    for (rel, want) in &expected {
        if !actual.contains(rel) {
            if matches!(want, Expect::Original(_)) {
                check.lost += 1;
            }
            let what = match want {
                Expect::Live => "missing",
                Expect::Original(_) => "encrypted file not recovered",
            };
            problem(&mut check, format!("{what}: {rel}"));
            continue;
        }
        let got_path = restored.join(rel);
        let got = std::fs::read(&got_path).at(&got_path)?;
        let ok = match want {
            Expect::Live => {
                let live_path = live.join(rel);
                std::fs::read(&live_path).at(&live_path)? == got
            }
            Expect::Original(h) => hash(&got) == *h,
        };
        if !ok {
            if matches!(want, Expect::Original(_)) {
                check.lost += 1;
            }
            let what = match want {
                Expect::Live => "differs from the share",
                Expect::Original(_) => "not the content before the attack",
            };
            problem(&mut check, format!("{what}: {rel}"));
            continue;
        }
        check.files_ok += 1;
        if encrypted.contains(rel) {
            check.recovered += 1;
        }
        if benign.contains(rel) {
            check.benign_kept += 1;
        }
    }
    let notes: BTreeSet<&String> = truth.rounds.iter().flat_map(|r| &r.notes).collect();
    for rel in actual.iter().filter(|a| !expected.contains_key(*a)) {
        let what = if notes.contains(rel) {
            check.notes_left += 1;
            "ransom note restored"
        } else if truth
            .rounds
            .iter()
            .any(|r| r.encrypted.iter().any(|e| &e.path == rel))
        {
            check.copies_left += 1;
            "encrypted copy restored"
        } else {
            "unexpected file"
        };
        problem(&mut check, format!("{what}: {rel}"));
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Benign, Encrypted};

    fn round() -> Round {
        Round {
            encrypted: vec![Encrypted {
                path: "a/x.docx.pysa".into(),
                original: "a/x.docx".into(),
                original_blake3: hash(b"clear"),
            }],
            notes: vec!["a/NOTE.txt".into()],
            benign: Benign {
                modified: vec!["b/y.odt".into()],
                added: vec!["b/z.docx".into()],
                ..Default::default()
            },
        }
    }

    #[test]
    fn detection_is_scored_per_file() {
        let report = serde_json::json!({
            "flagged": [
                {"path": "/srv/share/a/x.docx.pysa"},
                {"path": "/srv/share/b/y.odt"},
            ],
            "changes": {"added": 3, "modified": 1, "removed": 1},
        });
        let s = score_detection(&round(), "/srv/share", &report);
        assert_eq!((s.positives, s.flagged, s.true_positives), (2, 2, 1));
        assert_eq!((s.false_positives, s.missed, s.changed), (1, 1, 4));
        assert_eq!(s.missed_paths, ["a/NOTE.txt"]);
        assert_eq!(s.false_positive_paths, ["b/y.odt"]);
        assert_eq!((s.precision(), s.recall()), (0.5, 0.5));
    }

    #[test]
    fn a_last_clean_restore_is_checked_file_by_file() {
        let live = tempfile::tempdir().unwrap();
        let good = tempfile::tempdir().unwrap();
        let w = |root: &Path, rel: &str, b: &[u8]| share::write(root, rel, b).unwrap();
        w(live.path(), "a/x.docx.pysa", b"cipher");
        w(live.path(), "a/NOTE.txt", b"pay");
        w(live.path(), "b/y.odt", b"edited");
        w(live.path(), "b/z.docx", b"new");
        w(good.path(), "a/x.docx", b"clear");
        w(good.path(), "b/y.odt", b"edited");
        w(good.path(), "b/z.docx", b"new");
        let truth = Truth {
            scenario: "t".into(),
            attack: true,
            rounds: vec![round()],
        };
        let ok = verify_last_clean(&truth, live.path(), good.path()).unwrap();
        assert!(ok.passed(), "{ok:?}");
        assert_eq!((ok.recovered, ok.benign_kept, ok.files_ok), (1, 2, 3));
        // The note and the encrypted copy restored, the edit lost.
        w(good.path(), "a/NOTE.txt", b"pay");
        w(good.path(), "a/x.docx.pysa", b"cipher");
        w(good.path(), "b/y.odt", b"old");
        let bad = verify_last_clean(&truth, live.path(), good.path()).unwrap();
        assert_eq!(bad.problem_count, 3, "{bad:?}");
        assert_eq!((bad.notes_left, bad.copies_left, bad.lost), (1, 1, 0));
        std::fs::remove_file(good.path().join("a/x.docx")).unwrap();
        let lost = verify_last_clean(&truth, live.path(), good.path()).unwrap();
        assert_eq!(lost.lost, 1, "{lost:?}");
        assert!(bad.problems.iter().any(|p| p.starts_with("ransom note")));
        assert!(bad.problems.iter().any(|p| p.starts_with("encrypted copy")));
        assert!(bad.problems.iter().any(|p| p.starts_with("differs")));
    }
}
