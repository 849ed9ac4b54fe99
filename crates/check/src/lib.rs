//! `check`: verifies a repository and reports *every* problem found, each
//! naming the damaged object and every snapshot and file path it affects.
//!
//! Structure (always): both copies of the config, every key file's
//! structure, every mark readable, index files readable, indexed packs
//! present and of the size the index implies, every snapshot readable,
//! every tree readable, every chunk a file needs known.
//! Data (with `read_data`): every pack read whole, its name checked against
//! its BLAKE3, its header opened and compared with the index, and every
//! blob decrypted and verified against its id.
//! Locks (when the repository has a lock policy): every live object locked
//! long enough in the storage (`locks.rs`).
mod data;
mod locks;
mod objects;
mod sizes;
mod trees;

use reprise_format::{BlobId, PackId, SnapshotId};
use reprise_repo::browse::{list_then_index, Opened};
use reprise_repo::{RepoError, Repository};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data is missing or damaged.
    Error,
    /// Worth knowing, nothing lost (e.g. a pack left by an interrupted backup).
    Warning,
}

/// A file that a damaged object makes unrestorable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Affected {
    pub snapshot: SnapshotId,
    pub path: String,
}

/// One problem.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable code: `index_damaged`, `pack_missing`, `pack_damaged`,
    /// `pack_unindexed`, `snapshot_damaged`, `tree_damaged`, `blob_missing`,
    /// `blob_damaged`, `blob_damaged_copy` (another copy is intact), `index_mismatch`,
    /// `config_damaged`, `key_damaged`, `mark_unreadable`;
    /// with a lock policy `lock_missing`, `lock_expired`, `lock_short`,
    /// `lock_weaker`, `lock_unreadable` and `locks_incomplete`.
    pub code: &'static str,
    /// The object concerned, e.g. `pack 3fa2…` or `blob 9c1e…`.
    pub object: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    pub read_data: bool,
    /// With `read_data`, read only this share of the packs (0 < p <= 100).
    pub read_data_percent: Option<f64>,
}

#[derive(Debug, Default)]
pub struct CheckProgress {
    pub packs_total: AtomicU64,
    pub packs_done: AtomicU64,
}

#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub snapshots: u64,
    pub trees: u64,
    pub packs: u64,
    pub packs_read: u64,
    pub blobs_verified: u64,
    /// Objects whose retention lock was checked (repositories with a lock policy).
    pub locks_checked: u64,
    pub findings: Vec<Finding>,
    /// Every blob copy that failed verification (with `read_data`), for a
    /// damaged mark so that backups store those blobs again.
    #[serde(skip)]
    pub damaged_copies: Vec<reprise_format::DamagedCopy>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Objects found damaged, with what they are: used to attribute damage to files.
#[derive(Debug, Default)]
pub(crate) struct Damage {
    /// Blob → position in `CheckReport::findings` of the finding that reports it.
    pub blobs: HashMap<BlobId, usize>,
}

pub fn run(
    repo: &Repository,
    options: &CheckOptions,
    progress: &CheckProgress,
) -> Result<CheckReport, RepoError> {
    let mut report = CheckReport::default();
    // Snapshots first: one written by a concurrent backup after the index
    // was loaded would otherwise look like it lost its chunks.
    let Opened {
        snapshots,
        index: load,
    } = list_then_index(repo)?;
    report.packs = repo.index().packs().len() as u64;
    objects::check_config(repo, &mut report);
    objects::check_keys(repo, &mut report)?;
    objects::check_marks(&load, &mut report);
    add_index_findings(&mut report, &load);
    sizes::check_pack_sizes(repo, &load, &mut report);
    let mut damage = Damage::default();
    if options.read_data {
        data::read_packs(repo, options, progress, &mut report, &mut damage);
    }
    trees::check_snapshots(repo, &snapshots, &mut report, &mut damage);
    if let Some(policy) = repo.lock_policy() {
        locks::check_locks(repo, &policy, &snapshots, &mut report)?;
    }
    Ok(report)
}

fn add_index_findings(report: &mut CheckReport, load: &reprise_repo::IndexLoadReport) {
    for (id, reason) in &load.damaged_index_files {
        report.findings.push(Finding {
            severity: Severity::Error,
            code: "index_damaged",
            object: format!("index {id}"),
            message: format!("index file is unreadable ({reason}); its packs were re-read from their own headers. `reprise repair index` rebuilds it"),
            affected: vec![],
        });
    }
    for id in &load.missing_packs {
        report.findings.push(pack_finding(
            Severity::Error,
            "pack_missing",
            id,
            "listed in the index but missing from storage",
        ));
    }
    for (id, reason) in &load.damaged_packs {
        report.findings.push(pack_finding(
            Severity::Error,
            "pack_damaged",
            id,
            &format!("header unreadable: {reason}"),
        ));
    }
    for p in &load.adopted_packs {
        report.findings.push(pack_finding(
            Severity::Warning,
            "pack_unindexed",
            &p.id,
            "in no index file (left by an interrupted backup?); the next backup indexes it",
        ));
    }
}

pub(crate) fn pack_finding(
    severity: Severity,
    code: &'static str,
    id: &PackId,
    message: &str,
) -> Finding {
    Finding {
        severity,
        code,
        object: format!("pack {id}"),
        message: message.to_string(),
        affected: vec![],
    }
}
