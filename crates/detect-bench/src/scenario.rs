//! The named scenarios of the evaluation: ten attack families and ten kinds
//! of benign change, how many backup rounds each takes, and [`apply`],
//! which runs one round on a share and extends the ground truth.

use crate::attack::{self, Cipher, Family, Naming, Notes, Target, Writing};
use crate::churn::{self, Change};
use crate::error::{Error, Result};
use crate::share::Scale;
use crate::truth::{Round, Truth};
use std::path::Path;

/// What a scenario does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attack(Family),
    Benign(Change),
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
        matches!(self.kind, Kind::Attack(_))
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

/// The scenario of that name.
pub fn find(name: &str) -> Result<&'static Scenario> {
    ALL.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|s| s.name).collect();
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
        Kind::Attack(family) => {
            done.benign = churn::small_churn(root, seed, round, &truth.touched())?;
            let mut exclude = truth.touched();
            exclude.extend(done.benign.paths().cloned());
            let outcome = attack::attack(root, &family, seed, round, &exclude)?;
            done.encrypted = outcome.encrypted;
            done.notes = outcome.notes;
        }
        Kind::Benign(change) => {
            done.benign = churn::apply(root, change, seed, round, &truth.touched())?;
        }
    }
    truth.rounds.push(done);
    Ok(())
}
