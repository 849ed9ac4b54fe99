//! The named scenarios of the evaluation: ten attack families and ten kinds
//! of benign change (issue 4, [`ALL`]), then the stories of issue 11
//! ([`INCIDENT`]: a LockBit-3.0-style attack and the nights after it, a
//! second wave, many nights before `forget`, and benign look-alikes), how
//! many backup rounds each takes, the verdict each backup must get, and
//! [`apply`], which runs one round on a share and extends the ground truth.

use crate::attack::{self, Cipher, Family, Naming, Notes, Target, Writing};
use crate::churn::{self, Change};
use crate::error::{Error, Result};
use crate::notes::Wording;
use crate::share::Scale;
use crate::truth::{Round, Truth};
#[cfg(test)]
use std::collections::BTreeSet;
use std::path::Path;

/// What a scenario does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attack(Family),
    Benign(Change),
    /// One step per backup; at small scale only the first `small` steps.
    Story {
        steps: &'static [Step],
        small: usize,
    },
}

/// What happens in the share before one backup of a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The staff's small churn only (a clean night).
    Churn,
    /// An attack, with the small churn.
    Attack(Family),
    /// Nothing: the attacked share backed up again the next night.
    Quiet,
}

/// The verdict a backup must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Clean,
    /// `clean` or `suspicious` (a benign change the README explains).
    NotAttack,
    Attack,
    /// Judged by the figures of issue 4 instead.
    Any,
}

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Clean => "clean",
            Expect::NotAttack => "not-attack",
            Expect::Attack => "attack",
            Expect::Any => "any",
        }
    }
}

/// A scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
}

impl Scenario {
    pub fn is_attack(&self) -> bool {
        match self.kind {
            Kind::Attack(_) => true,
            Kind::Benign(_) => false,
            Kind::Story { steps, .. } => steps.iter().any(|s| matches!(s, Step::Attack(_))),
        }
    }

    /// `issue4` for the scenarios of [`ALL`], `issue11` for [`INCIDENT`].
    pub fn group(&self) -> &'static str {
        if ALL.iter().any(|s| s.name == self.name) {
            "issue4"
        } else {
            "issue11"
        }
    }

    /// The verdict each backup after a round must get: in a story, `clean`
    /// before the first attack and `attack` from it on (the incident stays
    /// open: nothing restores the share).
    pub fn expected(&self, scale: Scale) -> Vec<Expect> {
        let rounds = self.rounds(scale);
        match self.kind {
            Kind::Story { steps, .. } => {
                let mut attacked = false;
                steps
                    .iter()
                    .take(rounds)
                    .map(|s| {
                        attacked |= matches!(s, Step::Attack(_));
                        if attacked {
                            Expect::Attack
                        } else {
                            Expect::Clean
                        }
                    })
                    .collect()
            }
            Kind::Benign(Change::VaultExport) => vec![Expect::NotAttack; rounds],
            Kind::Benign(_) if self.group() == "issue11" => vec![Expect::Clean; rounds],
            _ => vec![Expect::Any; rounds],
        }
    }

    /// Backups after the first one: the slow drip takes many.
    pub fn rounds(&self, scale: Scale) -> usize {
        match (self.kind, scale) {
            (
                Kind::Attack(Family {
                    target: Target::Drip { .. },
                    ..
                }),
                Scale::Small,
            ) => 6,
            (
                Kind::Attack(Family {
                    target: Target::Drip { .. },
                    ..
                }),
                Scale::Full,
            ) => 10,
            (Kind::Story { small, .. }, Scale::Small) => small,
            (Kind::Story { steps, .. }, Scale::Full) => steps.len(),
            (Kind::Benign(Change::CleanupAndBuild | Change::VaultExport), _) => 2,
            _ => 1,
        }
    }
}

const WHOLE: Family = Family {
    target: Target::Everything,
    cipher: Cipher::Whole,
    writing: Writing::InPlace,
    naming: Naming::Same,
    notes: Notes::Root("README_DECRYPT.txt"),
    footer: true,
    wording: Wording::Demanding,
};

/// Every scenario, attacks first.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "whole-in-place",
        description: "every file encrypted whole, in place, same name; one note at the top",
        kind: Kind::Attack(WHOLE),
    },
    Scenario {
        name: "pysa-notes",
        description:
            "encrypted into new files *.pysa, originals deleted; a note in every directory",
        kind: Kind::Attack(Family {
            writing: Writing::NewFileDeleteOriginal,
            naming: Naming::Append("pysa"),
            notes: Notes::EveryDir("RECOVER_YOUR_FILES.txt"),
            ..WHOLE
        }),
    },
    Scenario {
        name: "random-extension",
        description: "encrypted in place, then renamed with a different random extension each",
        kind: Kind::Attack(Family {
            writing: Writing::InPlaceThenRename,
            naming: Naming::RandomAppend,
            notes: Notes::EveryDir("!!!_HOW_TO_DECRYPT_!!!.txt"),
            footer: false,
            ..WHOLE
        }),
    },
    Scenario {
        name: "intermittent-16",
        description: "every other 16 bytes encrypted, in place, renamed *.crypt",
        kind: Kind::Attack(Family {
            cipher: Cipher::Intermittent { on: 16, off: 16 },
            writing: Writing::InPlaceThenRename,
            naming: Naming::Append("crypt"),
            notes: Notes::EveryDir("RESTORE_FILES.txt"),
            ..WHOLE
        }),
    },
    Scenario {
        name: "first-4k",
        description: "the first 4 KiB of every file encrypted, in place, same name",
        kind: Kind::Attack(Family {
            cipher: Cipher::Head(4096),
            notes: Notes::Root("HOW_TO_RECOVER.txt"),
            ..WHOLE
        }),
    },
    Scenario {
        name: "stride-64k-1m",
        description: "64 KiB every 1 MiB of large files, small files whole; new files *.lockbit",
        kind: Kind::Attack(Family {
            cipher: Cipher::Stride {
                block: 64 << 10,
                every: 1 << 20,
                whole_below: 1 << 20,
            },
            writing: Writing::NewFileDeleteOriginal,
            naming: Naming::Append("lockbit"),
            notes: Notes::EveryDir("Restore-My-Files.txt"),
            ..WHOLE
        }),
    },
    Scenario {
        name: "base64-armoured",
        description: "ciphertext written as base64 text into new files *.b64, originals deleted",
        kind: Kind::Attack(Family {
            cipher: Cipher::Base64,
            writing: Writing::NewFileDeleteOriginal,
            naming: Naming::Append("b64"),
            notes: Notes::Root("DECRYPT_INSTRUCTIONS.txt"),
            footer: false,
            ..WHOLE
        }),
    },
    Scenario {
        name: "office-only",
        description: "docx, xlsx, odt and pdf only, in place then renamed *.akira",
        kind: Kind::Attack(Family {
            target: Target::Office,
            writing: Writing::InPlaceThenRename,
            naming: Naming::Append("akira"),
            notes: Notes::EveryDir("akira_readme.txt"),
            ..WHOLE
        }),
    },
    Scenario {
        name: "no-note",
        description: "encrypted in place, renamed to random names, no ransom note",
        kind: Kind::Attack(Family {
            writing: Writing::InPlaceThenRename,
            naming: Naming::RandomName,
            notes: Notes::None,
            footer: false,
            ..WHOLE
        }),
    },
    Scenario {
        name: "slow-drip",
        description:
            "one to three files per backup, in place, same name, no note, over many backups",
        kind: Kind::Attack(Family {
            target: Target::Drip { per_round: 3 },
            notes: Notes::None,
            ..WHOLE
        }),
    },
    Scenario {
        name: "office-edits",
        description: "an eighth of the office documents and text files edited, new versions saved",
        kind: Kind::Benign(Change::OfficeEdits),
    },
    Scenario {
        name: "photo-import",
        description: "hundreds of new JPEG photos and PNG captures",
        kind: Kind::Benign(Change::PhotoImport),
    },
    Scenario {
        name: "zip-folder",
        description: "the two fullest folders zipped into archives/, originals deleted",
        kind: Kind::Benign(Change::ZipFolder),
    },
    Scenario {
        name: "log-rotation",
        description: "every log gzipped to NAME.log.1.gz and started anew",
        kind: Kind::Benign(Change::LogRotation),
    },
    Scenario {
        name: "software-update",
        description: "every program replaced by another real ELF binary, one added",
        kind: Kind::Benign(Change::SoftwareUpdate),
    },
    Scenario {
        name: "dump-growth",
        description: "SQL dumps grown by a quarter, SQLite registers rewritten with more rows",
        kind: Kind::Benign(Change::DumpGrowth),
    },
    Scenario {
        name: "reorganisation",
        description: "a year of planning files moved, event photos and letters renamed",
        kind: Kind::Benign(Change::Reorganisation),
    },
    Scenario {
        name: "docx-to-pdf",
        description: "every docx converted to a PDF of the same name, the docx deleted",
        kind: Kind::Benign(Change::DocxToPdf),
    },
    Scenario {
        name: "gpg-file",
        description: "one payslip encrypted with gpg, its clear copy deleted (may be suspicious)",
        kind: Kind::Benign(Change::GpgFile),
    },
    Scenario {
        name: "mail-arrival",
        description: "new e-mails with base64 attachments, a mailbox grown",
        kind: Kind::Benign(Change::MailArrival),
    },
];

/// LockBit 3.0 as the issue describes it: each file encrypted into a new
/// file with a random name and a random extension, the original deleted, a
/// note `<random>.README.txt` in every directory touched, with its own ID
/// in each copy and in any wording (some never mention payment).
pub const LOCKBIT3: Family = Family {
    target: Target::Everything,
    cipher: Cipher::Whole,
    writing: Writing::NewFileDeleteOriginal,
    naming: Naming::RandomNameAndExtension,
    notes: Notes::EveryDirRandomName("README.txt"),
    footer: true,
    wording: Wording::Any,
};

/// The second wave's family: in place, a random extension appended, HTML
/// notes.
const WAVE_B: Family = Family {
    target: Target::Half(1),
    cipher: Cipher::Whole,
    writing: Writing::InPlaceThenRename,
    naming: Naming::RandomAppend,
    notes: Notes::EveryDir("HOW_TO_BACK_FILES.html"),
    footer: true,
    wording: Wording::Any,
};

/// The multi-night attack: new files `*.locked`, originals deleted, a
/// French-named note in every directory.
const NIGHTLY: Family = Family {
    target: Target::Everything,
    cipher: Cipher::Whole,
    writing: Writing::NewFileDeleteOriginal,
    naming: Naming::Append("locked"),
    notes: Notes::EveryDir("LISEZ-MOI.txt"),
    footer: true,
    wording: Wording::Demanding,
};

const QUIET10: [Step; 10] = [Step::Quiet; 10];

const MULTI_NIGHT: [Step; 14] = [
    Step::Churn,
    Step::Churn,
    Step::Churn,
    Step::Attack(NIGHTLY),
    QUIET10[0],
    QUIET10[1],
    QUIET10[2],
    QUIET10[3],
    QUIET10[4],
    QUIET10[5],
    QUIET10[6],
    QUIET10[7],
    QUIET10[8],
    QUIET10[9],
];

/// Where the multi-night story's attack is (0-based round).
pub const MULTI_NIGHT_ATTACK_ROUND: usize = 3;

/// The scenarios of issue 11: incidents, retention, look-alikes.
pub const INCIDENT: &[Scenario] = &[
    Scenario {
        name: "lockbit3",
        description: "LockBit 3.0: random name and extension per file, originals deleted, \
                      a note with its own ID per directory; then one more night",
        kind: Kind::Story {
            steps: &[Step::Attack(LOCKBIT3), Step::Quiet],
            small: 2,
        },
    },
    Scenario {
        name: "second-wave",
        description: "LockBit 3.0 on half the share, a quiet night, a second family \
                      (in place, random extension, HTML notes) on the other half, a quiet night",
        kind: Kind::Story {
            steps: &[
                Step::Attack(Family {
                    target: Target::Half(0),
                    ..LOCKBIT3
                }),
                Step::Quiet,
                Step::Attack(WAVE_B),
                Step::Quiet,
            ],
            small: 4,
        },
    },
    Scenario {
        name: "multi-night",
        description: "three clean nights, an attack (*.locked, notes everywhere), then \
                      unchanged nights (3 at small scale, 10 at full) before forget",
        kind: Kind::Story {
            steps: &MULTI_NIGHT,
            small: MULTI_NIGHT_ATTACK_ROUND + 1 + 3,
        },
    },
    Scenario {
        name: "readme-install",
        description: "a software suite installed: the same README.txt, README.html and \
                      LICENSE in 24 directories, with new programs",
        kind: Kind::Benign(Change::ReadmeInstall),
    },
    Scenario {
        name: "mail-merge",
        description: "36 payment reminders (txt and docx) in six directories, differing \
                      only by name, address, amount and reference",
        kind: Kind::Benign(Change::MailMerge),
    },
    Scenario {
        name: "cleanup-and-build",
        description: "a project folder made, then its 40 documents deleted while a build \
                      writes 40 compressed cache files named by hash in the same tree",
        kind: Kind::Benign(Change::CleanupAndBuild),
    },
    Scenario {
        name: "vault-export",
        description: "a KeePass vault created, then saved again and exported encrypted \
                      from Bitwarden (may be suspicious)",
        kind: Kind::Benign(Change::VaultExport),
    },
];

/// Every scenario: issue 4's, then issue 11's.
pub fn every() -> impl Iterator<Item = &'static Scenario> {
    ALL.iter().chain(INCIDENT)
}

/// The scenario of that name.
pub fn find(name: &str) -> Result<&'static Scenario> {
    every().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = every().map(|s| s.name).collect();
        Error::Invalid(format!(
            "unknown scenario '{name}' (known: {})",
            names.join(", ")
        ))
    })
}

/// Runs round `round` (0-based) of `scenario` on the share at `root`, and
/// adds what it did to `truth`. An attack round also makes a small benign
/// change elsewhere, first, as the staff go on working.
pub fn apply(
    root: &Path,
    scenario: &Scenario,
    seed: u64,
    round: usize,
    truth: &mut Truth,
) -> Result<()> {
    if truth.scenario != scenario.name || truth.attack != scenario.is_attack() {
        return Err(Error::Invalid(format!(
            "the ground truth is of scenario '{}', not '{}'",
            truth.scenario, scenario.name
        )));
    }
    if truth.rounds.len() != round {
        return Err(Error::Invalid(format!(
            "the ground truth has {} round(s): the next is round {}, not {}",
            truth.rounds.len(),
            truth.rounds.len() + 1,
            round + 1
        )));
    }
    let mut done = Round::default();
    match scenario.kind {
        Kind::Attack(family) => attack_round(root, &family, seed, round, truth, &mut done)?,
        Kind::Benign(change) => {
            done.benign = churn::apply(root, change, seed, round, &truth.touched())?;
        }
        Kind::Story { steps, .. } => {
            let step = steps.get(round).ok_or_else(|| {
                Error::Invalid(format!(
                    "scenario '{}' has {} round(s), not {}",
                    scenario.name,
                    steps.len(),
                    round + 1
                ))
            })?;
            match step {
                Step::Churn => {
                    done.benign = churn::small_churn(root, seed, round, &truth.touched())?;
                }
                Step::Attack(family) => attack_round(root, family, seed, round, truth, &mut done)?,
                Step::Quiet => {}
            }
        }
    }
    truth.rounds.push(done);
    Ok(())
}

/// An attack round: the staff's small churn, then the attack on the rest.
fn attack_round(
    root: &Path,
    family: &Family,
    seed: u64,
    round: usize,
    truth: &Truth,
    done: &mut Round,
) -> Result<()> {
    done.benign = churn::small_churn(root, seed, round, &truth.touched())?;
    let mut exclude = truth.touched();
    exclude.extend(done.benign.paths().cloned());
    let outcome = attack::attack(root, family, seed, round, &exclude)?;
    done.encrypted = outcome.encrypted;
    done.notes = outcome.notes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_stories_expect_attack_from_the_attack_on() {
        let mut names: Vec<&str> = every().map(|s| s.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        let night = find("multi-night").unwrap();
        let small = night.expected(Scale::Small);
        assert_eq!(small.len(), MULTI_NIGHT_ATTACK_ROUND + 1 + 3);
        assert_eq!(
            night.expected(Scale::Full).len(),
            MULTI_NIGHT_ATTACK_ROUND + 1 + 10
        );
        assert!(small[..MULTI_NIGHT_ATTACK_ROUND]
            .iter()
            .all(|e| *e == Expect::Clean));
        assert!(small[MULTI_NIGHT_ATTACK_ROUND..]
            .iter()
            .all(|e| *e == Expect::Attack));
        assert_eq!(find("lockbit3").unwrap().group(), "issue11");
        assert_eq!(
            find("pysa-notes").unwrap().expected(Scale::Small),
            [Expect::Any]
        );
        assert!(INCIDENT.iter().filter(|s| !s.is_attack()).all(|s| s
            .expected(Scale::Small)
            .iter()
            .all(|e| matches!(e, Expect::Clean | Expect::NotAttack))));
    }

    #[test]
    fn a_story_runs_its_steps_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        crate::share::generate(
            root,
            &crate::share::ShareSpec {
                seed: 2,
                files: 120,
            },
        )
        .unwrap();
        let s = find("second-wave").unwrap();
        let mut truth = Truth::new(s.name, true);
        for round in 0..4 {
            apply(root, s, 2, round, &mut truth).unwrap();
        }
        let sizes: Vec<usize> = truth.rounds.iter().map(|r| r.encrypted.len()).collect();
        assert!(
            sizes[0] > 0 && sizes[1] == 0 && sizes[2] > 0 && sizes[3] == 0,
            "{sizes:?}"
        );
        let first: BTreeSet<&str> = truth.rounds[0]
            .encrypted
            .iter()
            .map(|e| e.original.as_str())
            .collect();
        assert!(truth.rounds[2]
            .encrypted
            .iter()
            .all(|e| !first.contains(e.original.as_str())));
        assert!(apply(root, s, 2, 4, &mut truth).is_err());
    }
}
