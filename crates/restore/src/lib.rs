//! Restore: recreates a snapshot's tree in a target directory, contents and
//! metadata, in parallel, resumable, and sparse-aware.
//!
//! Order of work:
//! 1. plan: walk the trees, select entries (include/exclude), and list
//!    directories, files, hard-link groups, symlinks and special files;
//! 2. one walk over the directories, each made and opened from its parent's
//!    handle (see `dirs`), while the files, symlinks, FIFOs and devices of
//!    each opened directory are restored in parallel (and the chunks of a
//!    large file too); an existing file is compared with the snapshot by
//!    content and has only its differing chunks rewritten, so an
//!    interrupted restore resumes where it stopped (see `file`);
//! 3. hard links;
//! 4. directory metadata, in a second walk, children before parents, so
//!    writing inside a directory does not disturb its restored mtime.
//!
//! Nothing is done by path from the target down: every entry is reached
//! from a directory handle this restore opened, without following symlinks,
//! so a tree changed while the restore runs cannot redirect its writes.
//!
//! A damaged blob fails only the files that need it: everything else is
//! restored, and the report lists what failed.
mod dirs;
mod file;
pub mod last_clean;
mod metadata;
mod plan;
mod quarantine;
pub mod selection;

pub use last_clean::{overlay_of, quarantine_left_out, recovered_paths, relative_below};
pub use plan::{Plan, PlannedEntry};
pub use quarantine::{quarantine, Moved, QuarantineError, QuarantineReport};
pub use selection::{select, Selection, Versions};

use dirs::{DirIndex, DirState};
use reprise_format::{Node, NodeKind};
use reprise_repo::{PathPatterns, RepoError, Repository, WalkBudget};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// What to do with a file already in the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overwrite {
    /// Leave every existing entry as it is (content and metadata).
    Never,
    /// Compare content with the snapshot's and rewrite what differs; repair
    /// the metadata of the files that do not differ.
    #[default]
    IfChanged,
    /// Write every file anew.
    Always,
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
    pub overwrite: Overwrite,
    /// When set (an in-place last-clean restore), every existing entry is
    /// kept as with [`Overwrite::Never`] except the files at these target
    /// paths, which follow `overwrite`: a file of the live share that
    /// differs from the snapshot without being part of the plan is the
    /// users' work, not the attack's.
    pub rewrite_only: Option<BTreeSet<PathBuf>>,
    /// Work out what would be created, replaced and left, and write nothing.
    pub dry_run: bool,
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

/// One entry of a dry run: what would be done at a path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedAction {
    /// "create", "replace" or "keep" (`--overwrite never`).
    pub action: &'static str,
    pub path: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreReport {
    /// Files written: new ones and replaced ones.
    pub files_restored: u64,
    /// Of those, files that existed with other content (or other links).
    pub files_replaced: u64,
    /// Existing files whose content already matched (metadata repaired).
    pub files_unchanged: u64,
    /// Existing entries left as they were by `--overwrite never`.
    pub files_kept: u64,
    pub dirs: u64,
    pub links: u64,
    pub specials: u64,
    pub bytes_written: u64,
    pub files_verified: u64,
    pub dry_run: bool,
    /// Dry run only: every path that would be created, replaced or kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<PlannedAction>,
    pub failures: Vec<RestoreFailure>,
}

/// What restoring one entry did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    Replaced,
    Unchanged,
    Kept,
}

pub(crate) struct Shared<'r> {
    pub repo: &'r Repository,
    pub progress: &'r RestoreProgress,
    pub failures: Mutex<Vec<RestoreFailure>>,
    pub actions: Mutex<Vec<PlannedAction>>,
    pub bytes_written: AtomicU64,
    pub restored: AtomicU64,
    pub replaced: AtomicU64,
    pub unchanged: AtomicU64,
    pub kept: AtomicU64,
    pub as_root: bool,
    /// For everything but the files of `rewrite_only`.
    pub overwrite: Overwrite,
    /// The files that follow `file_overwrite` when the rest is kept.
    pub rewrite_only: Option<&'r BTreeSet<PathBuf>>,
    pub file_overwrite: Overwrite,
    pub dry_run: bool,
}

impl Shared<'_> {
    /// What to do with an existing file at the target path `path`.
    pub fn overwrite_for(&self, path: &Path) -> Overwrite {
        match self.rewrite_only {
            Some(only) if only.contains(path) => self.file_overwrite,
            Some(_) => Overwrite::Never,
            None => self.overwrite,
        }
    }

    pub fn fail(&self, path: &Path, message: impl Into<String>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RestoreFailure {
                path: path.display().to_string(),
                message: message.into(),
            });
    }

    /// Counts a file's outcome (and records it in a dry run).
    pub fn count(&self, outcome: Outcome, path: &Path) {
        let counter = match outcome {
            Outcome::Created => &self.restored,
            Outcome::Replaced => {
                self.restored.fetch_add(1, Ordering::Relaxed);
                &self.replaced
            }
            Outcome::Unchanged => &self.unchanged,
            Outcome::Kept => &self.kept,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.record(outcome, path);
    }

    /// In a dry run, remembers what would be done at `path`.
    pub fn record(&self, outcome: Outcome, path: &Path) {
        let action = match outcome {
            _ if !self.dry_run => return,
            Outcome::Created => "create",
            Outcome::Replaced => "replace",
            Outcome::Kept => "keep",
            Outcome::Unchanged => return,
        };
        self.actions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(PlannedAction {
                action,
                path: path.display().to_string(),
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
    let target_error = |source: std::io::Error| RestoreError::Target {
        path: target.display().to_string(),
        source,
    };
    let root = dirs::open_target(target, options.dry_run).map_err(target_error)?;
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
        actions: Mutex::new(Vec::new()),
        bytes_written: AtomicU64::new(0),
        restored: AtomicU64::new(0),
        replaced: AtomicU64::new(0),
        unchanged: AtomicU64::new(0),
        kept: AtomicU64::new(0),
        as_root: metadata::running_as_root(),
        overwrite: match options.rewrite_only {
            Some(_) => Overwrite::Never,
            None => options.overwrite,
        },
        rewrite_only: options.rewrite_only.as_ref(),
        file_overwrite: options.overwrite,
        dry_run: options.dry_run,
    };
    let index = DirIndex::build(&plan, target);
    for path in &index.orphans {
        shared.fail(
            path,
            "not restored: its directory is not part of the restore",
        );
    }
    let root_state = match root {
        Some(fd) => DirState::Open {
            handle: Arc::new(fd),
            created: false,
        },
        None => DirState::Absent,
    };
    let made = make_dirs_and_entries(&shared, &plan, &index, root_state.clone());
    let links = restore_hard_links(&shared, &plan, &index, &root_state);
    if !options.dry_run {
        apply_dir_metadata(&shared, &plan, &index, &root_state, &made);
    }
    let files_verified = if options.verify && !options.dry_run {
        verify(&shared, &plan, &index, &root_state, &made)
    } else {
        0
    };
    let mut actions = shared
        .actions
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    actions.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(RestoreReport {
        files_restored: shared.restored.load(Ordering::Relaxed),
        files_replaced: shared.replaced.load(Ordering::Relaxed),
        files_unchanged: shared.unchanged.load(Ordering::Relaxed),
        files_kept: shared.kept.load(Ordering::Relaxed),
        dirs: plan.dirs.len() as u64,
        links,
        specials: made.specials.load(Ordering::Relaxed),
        bytes_written: shared.bytes_written.load(Ordering::Relaxed),
        files_verified,
        dry_run: options.dry_run,
        actions,
        failures: shared
            .failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    })
}

/// What the first walk did to each directory slot.
struct Made {
    /// Per slot: made by this restore (so its metadata is ours to set).
    created: Vec<bool>,
    /// Per slot: could not be made or opened (already reported).
    failed: Vec<bool>,
    specials: AtomicU64,
}

/// Walk 1: makes and opens every directory, and restores the files and
/// special entries of each in parallel with the walk.
fn make_dirs_and_entries(shared: &Shared, plan: &Plan, index: &DirIndex, root: DirState) -> Made {
    let slots = index.slots();
    let mut created = vec![false; slots];
    let mut failed = vec![false; slots];
    failed[0] = matches!(root, DirState::Failed);
    let specials = AtomicU64::new(0);
    let open = |slot: usize, parent: &DirState| {
        let state = open_or_make(shared, plan, index, slot, parent);
        created[slot] = matches!(
            state,
            DirState::Open { created: true, .. } | DirState::Absent
        );
        failed[slot] = matches!(state, DirState::Failed);
        state
    };
    let wanted = |slot: usize, _: &DirState| {
        !index.files[slot].is_empty() || !index.specials[slot].is_empty()
    };
    let root_handle = root.handle().cloned();
    let work = |slot: usize, state: &DirState| {
        if let Some(root) = &root_handle {
            restore_dir_entries(shared, plan, index, root, (slot, state), &specials);
        } else {
            absent_entries(shared, plan, index, slot);
        }
    };
    dirs::for_each_dir_parallel(root, index, open, wanted, work);
    Made {
        created,
        failed,
        specials,
    }
}

/// Makes (or, in a dry run, looks for) a directory below an open parent.
fn open_or_make(
    shared: &Shared,
    plan: &Plan,
    index: &DirIndex,
    slot: usize,
    parent: &DirState,
) -> DirState {
    let Some(entry) = index.dir[slot].and_then(|d| plan.dirs.get(d)) else {
        return DirState::Failed;
    };
    let handle = match parent {
        DirState::Open { handle, .. } => handle,
        DirState::Absent => {
            shared.record(Outcome::Created, &entry.path);
            return DirState::Absent;
        }
        DirState::Failed => return DirState::Failed,
    };
    let name = match dirs::leaf_name(&entry.path) {
        Ok(name) => name,
        Err(message) => {
            shared.fail(&entry.path, message);
            return DirState::Failed;
        }
    };
    let opened = if shared.dry_run {
        look_for_dir(shared, handle, name, &entry.path)
    } else {
        let replace = shared.overwrite != Overwrite::Never;
        dirs::make_dir(handle, name, replace).map(|(fd, created)| Some((fd, created)))
    };
    match opened {
        Ok(Some((fd, created))) => DirState::Open {
            handle: Arc::new(fd),
            created,
        },
        Ok(None) => DirState::Absent,
        Err(e) => {
            shared.fail(
                &entry.path,
                format!("cannot make or open this directory: {e}; nothing below it was restored"),
            );
            DirState::Failed
        }
    }
}

/// Dry run: opens an existing directory; `None` (recorded) when it would be
/// made, or would replace something else.
fn look_for_dir(
    shared: &Shared,
    parent: &OwnedFd,
    name: &std::ffi::OsStr,
    path: &Path,
) -> std::io::Result<Option<(OwnedFd, bool)>> {
    match dirs::open_dir(parent, name) {
        Ok(fd) => Ok(Some((fd, false))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            shared.record(Outcome::Created, path);
            Ok(None)
        }
        Err(e) if dirs::is_not_a_dir(&e) && shared.overwrite != Overwrite::Never => {
            shared.record(Outcome::Replaced, path);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Dry run: the entries of a directory that does not exist would all be made.
fn absent_entries(shared: &Shared, plan: &Plan, index: &DirIndex, slot: usize) {
    for e in index.files[slot].iter().filter_map(|&i| plan.files.get(i)) {
        shared
            .progress
            .bytes_done
            .fetch_add(e.node.size, Ordering::Relaxed);
        shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
        shared.count(Outcome::Created, &e.path);
    }
    for e in index.specials[slot]
        .iter()
        .filter_map(|&i| plan.specials.get(i))
    {
        shared.record(Outcome::Created, &e.path);
    }
}

/// The files and special entries of one directory.
fn restore_dir_entries(
    shared: &Shared,
    plan: &Plan,
    index: &DirIndex,
    root: &OwnedFd,
    (slot, state): (usize, &DirState),
    specials: &AtomicU64,
) {
    let files = &index.files[slot];
    let Some(handle) = state.handle() else {
        if matches!(state, DirState::Absent) {
            absent_entries(shared, plan, index, slot);
        }
        return;
    };
    let restore = |&i: &usize| {
        if let Some(entry) = plan.files.get(i) {
            let links_inside = |st: &rustix::fs::Stat| group_inside(plan, index, root, entry, st);
            file::restore_file(shared, handle, entry, &links_inside);
        }
    };
    if files.len() > 1 {
        use rayon::prelude::*;
        files.par_iter().for_each(restore);
    } else {
        files.iter().for_each(restore);
    }
    for &i in &index.specials[slot] {
        if let Some(entry) = plan.specials.get(i) {
            if restore_special(shared, handle, entry) {
                specials.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// True when the existing file `st` at a hard-link leader's place has
/// exactly the links of the snapshot's group, every one at a member's path
/// in the target: then writing to it in place changes nothing outside.
fn group_inside(
    plan: &Plan,
    index: &DirIndex,
    root: &OwnedFd,
    leader: &PlannedEntry,
    st: &rustix::fs::Stat,
) -> bool {
    let Some(members) = index.groups.get(leader.path.as_path()) else {
        return false;
    };
    st.st_nlink == members.len() as u64 + 1
        && members.iter().all(|m| {
            dirs::stat_beneath(plan, index, root, m)
                .is_ok_and(|o| o.st_ino == st.st_ino && o.st_dev == st.st_dev)
        })
}

/// Makes one symlink, FIFO or device; true when it was made or already right.
fn restore_special(shared: &Shared, dir: &OwnedFd, entry: &PlannedEntry) -> bool {
    let name = match dirs::leaf_name(&entry.path) {
        Ok(name) => name,
        Err(message) => {
            shared.fail(&entry.path, message);
            return false;
        }
    };
    let never = shared.overwrite == Overwrite::Never;
    let made = match entry.node.kind {
        NodeKind::Symlink => {
            metadata::symlink_at(dir, name, &entry.node, never, shared.dry_run).map(Some)
        }
        NodeKind::Fifo | NodeKind::Chardev | NodeKind::Blockdev => metadata::special_at(
            dir,
            name,
            &entry.node,
            shared.as_root,
            never,
            shared.dry_run,
        ),
        _ => Ok(None),
    };
    let result = made.and_then(|outcome| {
        if let Some(o) = outcome {
            shared.record(o, &entry.path);
            if o != Outcome::Kept && !shared.dry_run {
                metadata::apply_at(dir, name, &entry.node, shared.as_root)?;
            }
        }
        Ok(outcome)
    });
    match result {
        Ok(Some(Outcome::Kept)) => {
            shared.kept.fetch_add(1, Ordering::Relaxed);
            false
        }
        Ok(outcome) => outcome.is_some(),
        Err(e) => {
            shared.fail(&entry.path, e.to_string());
            false
        }
    }
}

/// Hard links, once every file is written: each link's directory and its
/// leader's are opened from the target's handle, one name at a time.
fn restore_hard_links(shared: &Shared, plan: &Plan, index: &DirIndex, root: &DirState) -> u64 {
    let Some(root) = root.handle() else {
        return 0;
    };
    let mut done = 0;
    for (path, leader) in &plan.hard_links {
        if shared.dry_run {
            shared.record(Outcome::Created, path);
            continue;
        }
        match hard_link(shared, plan, index, root, path, leader) {
            Ok(Outcome::Kept) => {
                shared.kept.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => done += 1,
            Err(e) => shared.fail(path, format!("cannot link to {}: {e}", leader.display())),
        }
    }
    done
}

fn hard_link(
    shared: &Shared,
    plan: &Plan,
    index: &DirIndex,
    root: &OwnedFd,
    path: &Path,
    leader: &Path,
) -> std::io::Result<Outcome> {
    let open_parent = |p: &Path| -> std::io::Result<Option<OwnedFd>> {
        let slot = index
            .slot_of_parent(p)
            .ok_or_else(|| std::io::Error::other("its directory is not part of the restore"))?;
        index.open_slot(plan, root, slot)
    };
    let dir = open_parent(path)?;
    let leader_dir = open_parent(leader)?;
    let name = dirs::leaf_name(path).map_err(std::io::Error::other)?;
    let leader_name = dirs::leaf_name(leader).map_err(std::io::Error::other)?;
    let never = shared.overwrite == Overwrite::Never;
    metadata::hard_link_at(
        leader_dir.as_ref().unwrap_or(root),
        leader_name,
        dir.as_ref().unwrap_or(root),
        name,
        never,
    )
}

/// Walk 2: directory metadata, children before parents. A directory that
/// existed before is left alone under `--overwrite never`.
fn apply_dir_metadata(
    shared: &Shared,
    plan: &Plan,
    index: &DirIndex,
    root: &DirState,
    made: &Made,
) {
    let open = |slot: usize, parent: &DirState| reopen(shared, plan, index, slot, parent, made);
    let leave = |slot: usize, state: DirState| {
        let (Some(handle), Some(entry)) = (
            state.handle(),
            index.dir[slot].and_then(|d| plan.dirs.get(d)),
        ) else {
            return;
        };
        if shared.overwrite == Overwrite::Never && !made.created[slot] {
            return;
        }
        if let Err(e) = metadata::apply_to_fd(handle.as_ref(), &entry.node, shared.as_root) {
            shared.fail(&entry.path, format!("cannot set metadata: {e}"));
        }
    };
    dirs::walk(root.clone(), index, open, |_, _| {}, leave);
}

/// Opens again a directory the first walk made, from its parent's handle.
fn reopen(
    shared: &Shared,
    plan: &Plan,
    index: &DirIndex,
    slot: usize,
    parent: &DirState,
    made: &Made,
) -> DirState {
    let (Some(handle), Some(entry)) = (
        parent.handle(),
        index.dir[slot].and_then(|d| plan.dirs.get(d)),
    ) else {
        return DirState::Failed;
    };
    if made.failed[slot] {
        return DirState::Failed;
    }
    let opened = dirs::leaf_name(&entry.path)
        .map_err(std::io::Error::other)
        .and_then(|name| dirs::open_dir(handle, name));
    match opened {
        Ok(fd) => DirState::Open {
            handle: Arc::new(fd),
            created: false,
        },
        Err(e) => {
            shared.fail(
                &entry.path,
                format!("cannot open this directory again: {e}; nothing below it was finished"),
            );
            DirState::Failed
        }
    }
}

fn verify(shared: &Shared, plan: &Plan, index: &DirIndex, root: &DirState, made: &Made) -> u64 {
    let checked = AtomicU64::new(0);
    let open = |slot: usize, parent: &DirState| reopen(shared, plan, index, slot, parent, made);
    let wanted =
        |slot: usize, state: &DirState| state.handle().is_some() && !index.files[slot].is_empty();
    let work = |slot: usize, state: &DirState| {
        let Some(handle) = state.handle() else { return };
        for &i in &index.files[slot] {
            let Some(entry) = plan.files.get(i) else {
                continue;
            };
            match file::verify_file(shared, handle, entry) {
                Ok(()) => {
                    checked.fetch_add(1, Ordering::Relaxed);
                }
                Err(message) => shared.fail(&entry.path, format!("verification failed: {message}")),
            }
        }
    };
    dirs::for_each_dir_parallel(root.clone(), index, open, wanted, work);
    checked.into_inner()
}
