//! Directory handles beneath the restore target, and the walks over the
//! plan's directories that open them.
//!
//! Every directory is opened from its parent's handle, one name at a time,
//! with `O_NOFOLLOW | O_DIRECTORY`: a symlink put in place of a directory
//! (before or while the restore runs) makes that subtree fail with a named
//! error instead of sending writes outside the target, and no path longer
//! than one name reaches the kernel, so the depth of a tree is not limited
//! by `PATH_MAX`. Each directory is opened once per walk and its handle is
//! shared by all the entries in it.

use crate::plan::Plan;
use rayon::iter::{ParallelBridge, ParallelIterator};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

pub(crate) type Handle = Arc<OwnedFd>;

/// What became of a directory during a walk.
#[derive(Clone)]
pub(crate) enum DirState {
    /// Open; `created` when this walk made it.
    Open { handle: Handle, created: bool },
    /// Not there and not made (a dry run): everything below would be created.
    Absent,
    /// Could not be made or opened; a failure names it, nothing below is touched.
    Failed,
}

impl DirState {
    pub fn handle(&self) -> Option<&Handle> {
        match self {
            DirState::Open { handle, .. } => Some(handle),
            _ => None,
        }
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the target (made first unless `dry_run`); `None` in a dry run when
/// it does not exist. The target's own path is the user's choice, so it is
/// opened as given, symlinks included.
pub(crate) fn open_target(target: &Path, dry_run: bool) -> io::Result<Option<OwnedFd>> {
    if !dry_run {
        std::fs::create_dir_all(target)?;
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::open(target, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) if dry_run => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The last component of a planned path, refused unless it is one plain name
/// (tree decoding already refuses others; this keeps the guarantee local).
pub(crate) fn leaf_name(path: &Path) -> Result<&OsStr, String> {
    let name = path.file_name().unwrap_or_default();
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err("refused: the entry's name is not a single plain name".into());
    }
    Ok(name)
}

/// Opens the existing directory `name` in `parent`, never through a symlink.
pub(crate) fn open_dir(parent: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())?)
}

/// True for the errors of opening a symlink or a non-directory as a directory.
pub(crate) fn is_not_a_dir(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP))
}

/// Opens the directory `name` in `parent`, making it (mode 700 until its
/// metadata is applied) if missing. A non-directory already there, symlink
/// included, is removed when `replace`, never followed; one that appears
/// after this call made the directory is an error.
pub(crate) fn make_dir(
    parent: &OwnedFd,
    name: &OsStr,
    replace: bool,
) -> io::Result<(OwnedFd, bool)> {
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(e.into()),
    };
    match open_dir(parent, name) {
        Ok(fd) => Ok((fd, created)),
        Err(e) if is_not_a_dir(&e) && !created && replace => {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))?;
            Ok((open_dir(parent, name)?, true))
        }
        Err(e) if is_not_a_dir(&e) && !created => Err(io::Error::other(
            "something other than a directory (a symlink?) is in the way: not followed, left as it is \
             (--overwrite never, or an in-place restore)",
        )),
        Err(e) if is_not_a_dir(&e) => Err(io::Error::other(
            "replaced by a symlink or a non-directory while restoring; not followed",
        )),
        Err(e) => Err(e),
    }
}

/// The plan's directories as slots (0 is the target, then the planned
/// directories in pre-order), with the entries of each.
pub(crate) struct DirIndex<'p> {
    /// Per slot: the planned directory's index in `plan.dirs` (none for the target).
    pub dir: Vec<Option<usize>>,
    /// Per slot: the parent's slot (0 for the target itself).
    pub parent: Vec<usize>,
    /// Per slot: indices in `plan.files`, `plan.specials` and `plan.hard_links`.
    pub files: Vec<Vec<usize>>,
    pub specials: Vec<Vec<usize>>,
    pub links: Vec<Vec<usize>>,
    /// Entries whose directory is not in the plan (never expected).
    pub orphans: Vec<&'p Path>,
    /// Hard-link groups: the leader's path, and the other members' paths.
    pub groups: HashMap<&'p Path, Vec<&'p Path>>,
    slot_of: HashMap<&'p Path, usize>,
}

impl<'p> DirIndex<'p> {
    pub fn build(plan: &'p Plan, target: &'p Path) -> DirIndex<'p> {
        let mut index = DirIndex {
            dir: vec![None],
            parent: vec![0],
            files: vec![Vec::new()],
            specials: vec![Vec::new()],
            links: vec![Vec::new()],
            orphans: Vec::new(),
            groups: HashMap::new(),
            slot_of: HashMap::from([(target, 0)]),
        };
        index.add_dirs(plan);
        for (i, e) in plan.files.iter().enumerate() {
            index.place(&e.path, i, |x| &mut x.files);
        }
        for (i, e) in plan.specials.iter().enumerate() {
            index.place(&e.path, i, |x| &mut x.specials);
        }
        for (i, (path, leader)) in plan.hard_links.iter().enumerate() {
            index.place(path, i, |x| &mut x.links);
            index.groups.entry(leader).or_default().push(path);
        }
        index
    }

    /// Gives each directory a slot, checking the pre-order the walks rely
    /// on: a directory's parent is on the stack of open ancestors.
    fn add_dirs(&mut self, plan: &'p Plan) {
        let mut ancestors: Vec<usize> = vec![0];
        for (i, d) in plan.dirs.iter().enumerate() {
            let parent = d.path.parent().and_then(|p| self.slot_of.get(p).copied());
            let Some(parent) = parent else {
                self.orphans.push(&d.path);
                continue;
            };
            while ancestors.last().is_some_and(|top| *top != parent) {
                ancestors.pop();
            }
            if ancestors.is_empty() {
                self.orphans.push(&d.path);
                ancestors.push(0);
                continue;
            }
            let slot = self.dir.len();
            self.dir.push(Some(i));
            self.parent.push(parent);
            self.files.push(Vec::new());
            self.specials.push(Vec::new());
            self.links.push(Vec::new());
            self.slot_of.insert(&d.path, slot);
            ancestors.push(slot);
        }
    }

    fn place(
        &mut self,
        path: &'p Path,
        i: usize,
        list: impl Fn(&mut Self) -> &mut Vec<Vec<usize>>,
    ) {
        match path.parent().and_then(|p| self.slot_of.get(p).copied()) {
            Some(slot) => list(self)[slot].push(i),
            None => self.orphans.push(path),
        }
    }

    pub fn slots(&self) -> usize {
        self.dir.len()
    }

    /// The slot of the directory holding `path`.
    pub fn slot_of_parent(&self, path: &Path) -> Option<usize> {
        path.parent().and_then(|p| self.slot_of.get(p).copied())
    }

    /// Opens the directory of `slot` from the target's handle, one name at a
    /// time (for the few entries not reached by a walk: hard-link leaders).
    pub fn open_slot(
        &self,
        plan: &Plan,
        root: &OwnedFd,
        slot: usize,
    ) -> io::Result<Option<OwnedFd>> {
        let mut chain = Vec::new();
        let mut s = slot;
        while s != 0 {
            chain.push(s);
            s = self.parent[s];
        }
        let mut current: Option<OwnedFd> = None;
        for s in chain.into_iter().rev() {
            let Some(d) = self.dir[s] else { continue };
            let name = leaf_name(&plan.dirs[d].path).map_err(io::Error::other)?;
            let parent = current.as_ref().unwrap_or(root);
            current = Some(open_dir(parent, name)?);
        }
        Ok(current)
    }
}

/// Looks at `path` (a planned entry) without following it, from the
/// target's handle one name at a time.
pub(crate) fn stat_beneath(
    plan: &Plan,
    index: &DirIndex,
    root: &OwnedFd,
    path: &Path,
) -> io::Result<rustix::fs::Stat> {
    let slot = index
        .slot_of_parent(path)
        .ok_or_else(|| io::Error::other("its directory is not part of the restore"))?;
    let dir = index.open_slot(plan, root, slot)?;
    let name = leaf_name(path).map_err(io::Error::other)?;
    Ok(rustix::fs::statat(
        dir.as_ref().unwrap_or(root),
        name,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Visits the target (slot 0, in `root` state) and then every planned
/// directory in pre-order. `open` makes a directory's state from its
/// parent's; `enter` sees each directory before anything below it, `leave`
/// after everything below it (children before parents). At most one handle
/// per level of depth is held by the walk itself.
pub(crate) fn walk(
    root: DirState,
    index: &DirIndex,
    mut open: impl FnMut(usize, &DirState) -> DirState,
    mut enter: impl FnMut(usize, &DirState),
    mut leave: impl FnMut(usize, DirState),
) {
    let mut stack: Vec<(usize, DirState)> = Vec::new();
    enter(0, &root);
    stack.push((0, root));
    for slot in 1..index.slots() {
        let parent = index.parent[slot];
        while stack.last().is_some_and(|(top, _)| *top != parent) {
            if let Some((s, state)) = stack.pop() {
                leave(s, state);
            }
        }
        let state = match stack.last() {
            Some((_, parent_state)) => open(slot, parent_state),
            None => DirState::Failed,
        };
        enter(slot, &state);
        stack.push((slot, state));
    }
    while let Some((s, state)) = stack.pop() {
        leave(s, state);
    }
}

/// Walks the directories on one thread and runs `work` on each directory
/// that `wanted` selects, in parallel. The queue between them is bounded, so
/// the handles open at once stay near the depth plus twice the thread count.
pub(crate) fn for_each_dir_parallel(
    root: DirState,
    index: &DirIndex,
    open: impl FnMut(usize, &DirState) -> DirState + Send,
    wanted: impl Fn(usize, &DirState) -> bool + Send,
    work: impl Fn(usize, &DirState) + Sync + Send,
) {
    let queue = rayon::current_num_threads().saturating_mul(2).max(2);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, DirState)>(queue);
        scope.spawn(move || {
            let enter = |slot: usize, state: &DirState| {
                if wanted(slot, state) {
                    // A send fails only if the workers are gone: nothing left to do.
                    let _ = tx.send((slot, state.clone()));
                }
            };
            walk(root, index, open, enter, |_, _| {});
        });
        rx.into_iter()
            .par_bridge()
            .for_each(|(slot, state)| work(slot, &state));
    });
}
