//! The ground truth of a scenario: per round (one round per backup), the
//! files an attack encrypted (where they are now, what they were called and
//! a hash of their content before), the ransom notes it dropped, and the
//! benign changes made in the same interval. Written as JSON next to the
//! share and extended round by round.

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// One encrypted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encrypted {
    /// Its path now, relative to the share.
    pub path: String,
    /// Its path before the attack (the same unless renamed).
    pub original: String,
    /// BLAKE3 of its content before the attack, in hex.
    pub original_blake3: String,
}

/// A file moved or renamed by a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

/// Benign changes, relative paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Benign {
    pub modified: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub renamed: Vec<Rename>,
}

impl Benign {
    /// Files new or changed at their path (what a detector judges).
    pub fn changed(&self) -> usize {
        self.modified.len() + self.added.len() + self.renamed.len()
    }

    pub fn extend(&mut self, other: Benign) {
        self.modified.extend(other.modified);
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.renamed.extend(other.renamed);
    }

    /// Every path this touched, before and after.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.modified
            .iter()
            .chain(&self.added)
            .chain(&self.removed)
            .chain(self.renamed.iter().flat_map(|r| [&r.from, &r.to]))
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub encrypted: Vec<Encrypted>,
    pub notes: Vec<String>,
    pub benign: Benign,
}

/// A scenario's truth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub scenario: String,
    pub attack: bool,
    pub rounds: Vec<Round>,
}

impl Truth {
    pub fn new(scenario: &str, attack: bool) -> Truth {
        Truth {
            scenario: scenario.into(),
            attack,
            rounds: Vec::new(),
        }
    }

    /// Every path already touched by an attack or a change (before and
    /// after), which later rounds leave alone.
    pub fn touched(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for r in &self.rounds {
            for e in &r.encrypted {
                out.insert(e.path.clone());
                out.insert(e.original.clone());
            }
            out.extend(r.notes.iter().cloned());
            out.extend(r.benign.paths().cloned());
        }
        out
    }

    pub fn load(path: &Path) -> Result<Truth> {
        let text = std::fs::read(path).at(path)?;
        serde_json::from_slice(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            what: "a ground truth",
            source,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            what: "a ground truth",
            source,
        })?;
        std::fs::write(path, text).at(path)
    }
}

/// BLAKE3 of some bytes, in hex.
pub fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
