//! Restore: recreates a snapshot's tree in a target directory, contents and
//! metadata, in parallel, resumable, and sparse-aware.
//!
//! Order of work:
//! 1. plan: walk the trees, select entries (include/exclude), and list
//!    directories, files, hard-link groups, symlinks and special files;
//! 2. create directories;
//! 3. restore files in parallel (and the chunks of a large file in parallel);
//!    a file whose size and mtime already match is left alone, and a file
//!    that exists with other content has only its differing chunks rewritten,
//!    so an interrupted restore resumes where it stopped;
//! 4. hard links, symlinks, FIFOs and devices;
//! 5. directory metadata, deepest first, so writing files inside a
//!    directory does not disturb its restored mtime.
//!
//! A damaged blob fails only the files that need it: everything else is
//! restored, and the report lists what failed.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod file;
mod metadata;
mod plan;

pub use plan::{Plan, PlannedEntry};

use rayon::prelude::*;
use reprise_format::{Node, NodeKind};
use reprise_repo::{PathPatterns, RepoError, Repository, WalkBudget};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Errors that stop a restore before it starts.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot create the restore target {path}: {source}")]
    Target {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub includes: PathPatterns,
    pub excludes: PathPatterns,
    /// Re-read every restored file and check it against the snapshot.
    pub verify: bool,
    /// Changes to the snapshot's trees, applied as they are read (a
    /// last-clean restore).
    pub overlay: Overlay,
    /// How many directories and files the plan may hold: set from the
    /// restored snapshot's recorded totals (see [`WalkBudget`]).
    pub budget: WalkBudget,
}

/// Changes to apply to a snapshot's trees while restoring, keyed by snapshot
/// path (`/dir/name`). Nodes may come from other snapshots of the same
/// repository: their content is addressed by id, so any snapshot's chunks
/// can be restored.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Entries left out.
    pub omit: BTreeSet<Vec<u8>>,
    /// Entries restored with another node (same name).
    pub replace: BTreeMap<Vec<u8>, Node>,
    /// Entries added to a directory, unless it already has that name.
    pub add: BTreeMap<Vec<u8>, Vec<Node>>,
}

/// Live counters for the progress display.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub files_total: AtomicU64,
    pub bytes_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
}

/// A path that could not be restored, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreFailure {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreReport {
    pub files_restored: u64,
    pub files_unchanged: u64,
    pub dirs: u64,
    pub links: u64,
    pub specials: u64,
    pub bytes_written: u64,
    pub files_verified: u64,
    pub failures: Vec<RestoreFailure>,
}

pub(crate) struct Shared<'r> {
    pub repo: &'r Repository,
    pub progress: &'r RestoreProgress,
    pub failures: Mutex<Vec<RestoreFailure>>,
    pub bytes_written: AtomicU64,
    pub restored: AtomicU64,
    pub unchanged: AtomicU64,
    pub as_root: bool,
}

impl Shared<'_> {
    pub fn fail(&self, path: &Path, message: impl Into<String>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RestoreFailure {
                path: path.display().to_string(),
                message: message.into(),
            });
    }
}

/// Restores `nodes` (the entries of the restored directory, whose path in
/// the snapshot is `base`) into `target`.
pub fn run(
    repo: &Repository,
    nodes: Vec<Node>,
    base: &[u8],
    target: &Path,
    options: &RestoreOptions,
    progress: &RestoreProgress,
) -> Result<RestoreReport, RestoreError> {
    repo.ensure_index()?;
    std::fs::create_dir_all(target).map_err(|source| RestoreError::Target {
        path: target.display().to_string(),
        source,
    })?;
    let plan = Plan::build(repo, nodes, base, target, options)?;
    progress
        .files_total
        .store(plan.files.len() as u64, Ordering::Relaxed);
    progress.bytes_total.store(
        plan.files.iter().map(|e| e.node.size).sum(),
        Ordering::Relaxed,
    );
    let shared = Shared {
        repo,
        progress,
        failures: Mutex::new(plan.failures.clone()),
        bytes_written: AtomicU64::new(0),
        restored: AtomicU64::new(0),
        unchanged: AtomicU64::new(0),
        as_root: metadata::running_as_root(),
    };
    for dir in &plan.dirs {
        if let Err(e) = metadata::ensure_dir(&dir.path) {
            shared.fail(&dir.path, format!("cannot create directory: {e}"));
        }
    }
    plan.files
        .par_iter()
        .for_each(|entry| file::restore_file(&shared, entry));
    let links = restore_hard_links(&shared, &plan);
    let specials = restore_specials(&shared, &plan);
    for dir in plan.dirs.iter().rev() {
        if let Err(e) = metadata::apply(&dir.path, &dir.node, shared.as_root) {
            shared.fail(&dir.path, format!("cannot set metadata: {e}"));
        }
    }
    let files_verified = if options.verify {
        verify(&shared, &plan)
    } else {
        0
    };
    Ok(RestoreReport {
        files_restored: shared.restored.load(Ordering::Relaxed),
        files_unchanged: shared.unchanged.load(Ordering::Relaxed),
        dirs: plan.dirs.len() as u64,
        links,
        specials,
        bytes_written: shared.bytes_written.load(Ordering::Relaxed),
        files_verified,
        failures: shared
            .failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    })
}

fn restore_hard_links(shared: &Shared, plan: &Plan) -> u64 {
    let mut done = 0;
    for (path, leader) in &plan.hard_links {
        match metadata::hard_link(leader, path) {
            Ok(()) => done += 1,
            Err(e) => shared.fail(path, format!("cannot link to {}: {e}", leader.display())),
        }
    }
    done
}

fn restore_specials(shared: &Shared, plan: &Plan) -> u64 {
    let mut done = 0;
    for entry in &plan.specials {
        let result = match entry.node.kind {
            NodeKind::Symlink => metadata::symlink(&entry.path, &entry.node),
            NodeKind::Fifo | NodeKind::Chardev | NodeKind::Blockdev => {
                metadata::make_special(&entry.path, &entry.node, shared.as_root)
            }
            _ => Ok(false),
        };
        match result.and_then(|made| {
            if made {
                metadata::apply(&entry.path, &entry.node, shared.as_root)?;
            }
            Ok(made)
        }) {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => shared.fail(&entry.path, e.to_string()),
        }
    }
    done
}

fn verify(shared: &Shared, plan: &Plan) -> u64 {
    let checked = AtomicU64::new(0);
    plan.files
        .par_iter()
        .for_each(|entry| match file::verify_file(shared, entry) {
            Ok(()) => {
                checked.fetch_add(1, Ordering::Relaxed);
            }
            Err(message) => shared.fail(&entry.path, format!("verification failed: {message}")),
        });
    checked.into_inner()
}
