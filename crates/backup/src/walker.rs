//! The parallel walk: builds one tree blob per directory, bottom-up.
//!
//! The snapshot's root tree mirrors the absolute paths given to backup
//! (`/srv/partage` is stored as `srv` → `partage`), as restic users expect;
//! the directories above a backed-up path carry their own metadata.
//!
//! Below a backed-up path the walk never uses a path: every entry is
//! reached through the open handle of its directory (`fstatat`, `openat`
//! with `O_NOFOLLOW`, `readlinkat`), so a tree deeper than `PATH_MAX` is
//! backed up whole, and a symlink swapped in for a directory while the
//! backup runs is recorded as the symlink it now is, never followed.

use crate::delta::DeltaBasis;
use crate::file::{save_content, save_reader};
use crate::metadata::{node_from_stat, unchanged_since, At, EntryStat};
use crate::{BackupError, Context};
use rayon::prelude::*;
use reprise_detect::changes::DirChanges;
use reprise_format::{BlobId, Node, NodeKind, Tree};
use rustix::fs::{openat, statat, AtFlags, Dir, Mode, OFlags};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// The directories above and including the backed-up paths.
enum Virtual {
    /// A path given to backup: everything below it is walked.
    Leaf,
    /// A directory above one or more given paths.
    Inner(BTreeMap<Vec<u8>, Virtual>),
}

fn virtual_root(paths: &[PathBuf]) -> BTreeMap<Vec<u8>, Virtual> {
    let mut root = BTreeMap::new();
    for path in paths {
        let parts: Vec<Vec<u8>> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.as_bytes().to_vec()),
                _ => None,
            })
            .collect();
        insert_virtual(&mut root, &parts);
    }
    root
}

fn insert_virtual(map: &mut BTreeMap<Vec<u8>, Virtual>, parts: &[Vec<u8>]) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), Virtual::Leaf);
        return;
    }
    let entry = map
        .entry(first.clone())
        .or_insert_with(|| Virtual::Inner(BTreeMap::new()));
    if let Virtual::Inner(children) = entry {
        insert_virtual(children, rest);
    }
}

fn nodes_by_name(tree: Option<Tree>) -> HashMap<Vec<u8>, Node> {
    tree.map(|t| t.nodes.into_iter().map(|n| (n.name.0.clone(), n)).collect())
        .unwrap_or_default()
}

fn parent_subtree(ctx: &Context, parent: Option<&Node>) -> Option<Tree> {
    let node = parent.filter(|n| n.kind == NodeKind::Dir)?;
    ctx.repo.load_tree(node.subtree.as_ref()?).ok()
}

fn save_tree(ctx: &Context, nodes: Vec<Node>) -> Result<BlobId, BackupError> {
    let mut tree = Tree { nodes };
    tree.sort();
    Ok(ctx.saver.save_tree(&tree)?.0)
}

/// Opens a directory below `dir` without following a symlink: a symlink
/// swapped in for the directory makes this fail (ELOOP or ENOTDIR) rather
/// than lead the walk elsewhere.
fn open_dir_at(dir: BorrowedFd, name: &CStr) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(openat(dir, name, flags, Mode::empty())?)
}

/// Opens a directory above the backed-up paths, following symlinks: those
/// are the paths the user named, resolved as the user meant them.
fn open_named_dir(dir: BorrowedFd, name: &CStr) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(openat(dir, name, flags, Mode::empty())?)
}

/// Backs up the given absolute paths; returns the root tree.
pub(crate) fn save_roots(
    ctx: &Context,
    paths: &[PathBuf],
    parent: Option<Tree>,
) -> Result<BlobId, BackupError> {
    let root = match open_named_dir(rustix::fs::CWD, c"/") {
        Ok(fd) => fd,
        Err(e) => {
            ctx.warn(Path::new("/"), format!("cannot open: {e}"));
            return save_tree(ctx, Vec::new());
        }
    };
    save_virtual(
        ctx,
        root.as_fd(),
        Path::new("/"),
        &virtual_root(paths),
        parent,
    )
}

fn save_virtual(
    ctx: &Context,
    dir_fd: BorrowedFd,
    dir: &Path,
    children: &BTreeMap<Vec<u8>, Virtual>,
    parent: Option<Tree>,
) -> Result<BlobId, BackupError> {
    let parent_nodes = nodes_by_name(parent);
    let nodes: Vec<Option<Node>> = children
        .par_iter()
        .map(|(name, entry)| {
            let path = dir.join(OsStr::from_bytes(name));
            let at = At {
                dir: dir_fd,
                name,
                path: &path,
            };
            let parent_node = parent_nodes.get(name);
            match entry {
                Virtual::Leaf => save_entry(ctx, &at, parent_node, None, 0),
                Virtual::Inner(sub) => save_inner(ctx, &at, sub, parent_node),
            }
        })
        .collect::<Result<_, _>>()?;
    if let Some(changes) = &ctx.changes {
        record_changes(changes, dir, &nodes, &parent_nodes);
    }
    save_tree(ctx, nodes.into_iter().flatten().collect())
}

/// A directory above one or more backed-up paths.
fn save_inner(
    ctx: &Context,
    at: &At,
    children: &BTreeMap<Vec<u8>, Virtual>,
    parent: Option<&Node>,
) -> Result<Option<Node>, BackupError> {
    let opened = at
        .c_name()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
        .and_then(|name| open_named_dir(at.dir, &name))
        .and_then(|fd| Ok((EntryStat::from(&rustix::fs::fstat(&fd)?), fd)));
    let (st, fd) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            ctx.warn(at.path, e.to_string());
            return Ok(None);
        }
    };
    let mut node = node_from_stat(at, &st, &ctx.users);
    node.kind = NodeKind::Dir;
    node.subtree = Some(save_virtual(
        ctx,
        fd.as_fd(),
        at.path,
        children,
        parent_subtree(ctx, parent),
    )?);
    count_dir(ctx, parent, &node);
    Ok(Some(node))
}

/// Notes what changed among this directory's files since the parent
/// snapshot, for ransomware detection: the backup has both versions in hand
/// here, so the analysis need not read the trees back from the repository.
fn record_changes(
    changes: &Mutex<Vec<DirChanges>>,
    dir: &Path,
    nodes: &[Option<Node>],
    parent: &HashMap<Vec<u8>, Node>,
) {
    let mut here = DirChanges {
        dir: dir.as_os_str().as_bytes().to_vec(),
        ..Default::default()
    };
    let mut present = HashSet::new();
    for node in nodes.iter().flatten().filter(|n| n.kind == NodeKind::File) {
        present.insert(node.name.as_bytes());
        match parent
            .get(node.name.as_bytes())
            .filter(|p| p.kind == NodeKind::File)
        {
            Some(before) if before.content != node.content => {
                here.modified.push((before.clone(), node.clone()))
            }
            Some(_) => {}
            None => here.added.push(node.clone()),
        }
    }
    here.removed = parent
        .values()
        .filter(|p| p.kind == NodeKind::File && !present.contains(p.name.as_bytes()))
        .cloned()
        .collect();
    // The parent's entries come from a map: sort, so matching is deterministic.
    here.removed
        .sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    if !(here.added.is_empty() && here.modified.is_empty() && here.removed.is_empty()) {
        changes.lock().unwrap_or_else(|p| p.into_inner()).push(here);
    }
}

/// How deep the walk goes below a backed-up path. Each level holds a
/// directory handle and a few stack frames; a deeper tree (made on purpose:
/// no share is organised so) is cut there with a warning.
const MAX_DEPTH: usize = 1024;

/// Backs up one entry of any kind, reached through its directory's handle;
/// `None` if it could not be read at all.
fn save_entry(
    ctx: &Context,
    at: &At,
    parent: Option<&Node>,
    fs_device: Option<u64>,
    depth: usize,
) -> Result<Option<Node>, BackupError> {
    let Some(name) = at.c_name() else {
        ctx.warn(at.path, "name holds a NUL byte");
        return Ok(None);
    };
    // Stat, then open what the stat said. An entry swapped between the two
    // (a directory replaced by a symlink) fails the open, which never
    // follows a link; it is then taken again for what it has become, once.
    for retry in [false, true] {
        let st = match statat(at.dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => EntryStat::from(&st),
            Err(e) => {
                ctx.warn(at.path, format!("cannot read metadata: {e}"));
                return Ok(None);
            }
        };
        let mut node = node_from_stat(at, &st, &ctx.users);
        match st.kind {
            NodeKind::Dir => {
                match save_dir_entry(ctx, at, &name, &mut node, parent, fs_device, depth) {
                    Err(Swapped) if !retry => continue,
                    Err(Swapped) => {
                        ctx.warn(at.path, "kept changing type while backing up");
                        return Ok(None);
                    }
                    Ok(result) => result?,
                }
            }
            NodeKind::File if !save_file(ctx, at, &mut node, parent)? => {
                return Ok(None);
            }
            _ => {}
        }
        return Ok(Some(node));
    }
    Ok(None)
}

/// The entry stopped being a directory between its stat and its open.
struct Swapped;

/// Fills a directory node's subtree by walking it through its own handle.
fn save_dir_entry(
    ctx: &Context,
    at: &At,
    name: &CStr,
    node: &mut Node,
    parent: Option<&Node>,
    fs_device: Option<u64>,
    depth: usize,
) -> Result<Result<(), BackupError>, Swapped> {
    let crosses = ctx.options.one_file_system && fs_device.is_some_and(|d| d != node.device);
    let subtree = if crosses {
        save_tree(ctx, Vec::new())
    } else if depth >= MAX_DEPTH {
        ctx.warn(
            at.path,
            format!("nested more than {MAX_DEPTH} directories deep: its content is left out"),
        );
        save_tree(ctx, Vec::new())
    } else {
        match open_dir_at(at.dir, name) {
            Ok(fd) => save_dir(
                ctx,
                fd,
                at.path,
                parent_subtree(ctx, parent),
                fs_device.or(Some(node.device)),
                depth + 1,
            ),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                return Err(Swapped)
            }
            Err(e) => {
                ctx.warn(at.path, format!("cannot list directory: {e}"));
                save_tree(ctx, Vec::new())
            }
        }
    };
    Ok(subtree.map(|subtree| {
        node.subtree = Some(subtree);
        count_dir(ctx, parent, node);
    }))
}

fn count_dir(ctx: &Context, parent: Option<&Node>, node: &Node) {
    let c = &ctx.counters;
    match parent {
        None => c.dirs_new.fetch_add(1, Ordering::Relaxed),
        Some(p) if p.subtree == node.subtree => c.dirs_unmodified.fetch_add(1, Ordering::Relaxed),
        Some(_) => c.dirs_changed.fetch_add(1, Ordering::Relaxed),
    };
}

/// Fills a file node's content, reusing the parent's when the file is
/// unchanged. Returns false if the file could not be read.
fn save_file(
    ctx: &Context,
    at: &At,
    node: &mut Node,
    parent: Option<&Node>,
) -> Result<bool, BackupError> {
    let c = &ctx.counters;
    c.total_files.fetch_add(1, Ordering::Relaxed);
    let reusable = parent.filter(|p| {
        !ctx.options.force_read && unchanged_since(p, node) && {
            let index = ctx.repo.index();
            p.content.iter().all(|id| index.has_usable_copy(id))
        }
    });
    if let Some(p) = reusable {
        node.content = p.content.clone();
        node.stats = p.stats.clone();
        c.total_bytes.fetch_add(node.size, Ordering::Relaxed);
        c.files_unmodified.fetch_add(1, Ordering::Relaxed);
        ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
        ctx.progress
            .bytes_done
            .fetch_add(node.size, Ordering::Relaxed);
        return Ok(true);
    }
    let Some((content, len, stats)) = save_content(ctx, at, node)? else {
        return Ok(false);
    };
    node.content = content;
    node.size = len;
    node.stats = stats;
    c.total_bytes.fetch_add(node.size, Ordering::Relaxed);
    let counter = match parent {
        None => &c.files_new,
        Some(p) if p.kind == NodeKind::File && p.content == node.content => &c.files_unmodified,
        Some(_) => &c.files_changed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
    Ok(true)
}

/// The names in an open directory, sorted, without `.` and `..`.
fn list_names(ctx: &Context, dir: &mut Dir, path: &Path) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    for entry in dir.by_ref() {
        match entry {
            Ok(e) => {
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(name.to_vec());
                }
            }
            Err(err) => {
                // The stream ends after an error: keep what was listed.
                ctx.warn(path, format!("cannot list entry: {err}"));
                break;
            }
        }
    }
    names.sort();
    names
}

/// Backs up the entries of an open directory in parallel, each through the
/// directory's handle (one open per directory, whatever its depth or the
/// length of its path); returns its tree.
fn save_dir(
    ctx: &Context,
    fd: OwnedFd,
    dir: &Path,
    parent: Option<Tree>,
    fs_device: Option<u64>,
    depth: usize,
) -> Result<BlobId, BackupError> {
    let mut handle = match Dir::new(fd) {
        Ok(d) => d,
        Err(e) => {
            ctx.warn(dir, format!("cannot list directory: {e}"));
            return save_tree(ctx, Vec::new());
        }
    };
    let names = list_names(ctx, &mut handle, dir);
    let dir_fd = match handle.fd() {
        Ok(fd) => fd,
        Err(e) => {
            ctx.warn(dir, format!("cannot list directory: {e}"));
            return save_tree(ctx, Vec::new());
        }
    };
    let parent_nodes = nodes_by_name(parent);
    let nodes: Vec<Option<Node>> = names
        .par_iter()
        .map(|name| {
            let path = dir.join(OsStr::from_bytes(name));
            if ctx.options.excludes.matches(&path) {
                return Ok(None);
            }
            let at = At {
                dir: dir_fd,
                name,
                path: &path,
            };
            save_entry(ctx, &at, parent_nodes.get(name), fs_device, depth)
        })
        .collect::<Result<_, _>>()?;
    if let Some(changes) = &ctx.changes {
        record_changes(changes, dir, &nodes, &parent_nodes);
    }
    save_tree(ctx, nodes.into_iter().flatten().collect())
}

/// Backs up streams (standard input, a dump and its manifest) as files at
/// the root of the snapshot, in order, their names already checked.
/// `parent` is the parent snapshot's tree: a stream's earlier version is
/// the file of the same name there.
pub(crate) fn save_streams(
    ctx: &Context,
    streams: Vec<crate::Stream>,
    parent: Option<Tree>,
) -> Result<BlobId, BackupError> {
    let mut earlier = nodes_by_name(parent);
    let mut nodes = Vec::with_capacity(streams.len());
    for stream in streams {
        let name = stream.name.trim_start_matches('/').as_bytes().to_vec();
        let before = earlier.remove(&name).filter(|n| n.kind == NodeKind::File);
        nodes.push(save_stream(ctx, stream, before)?);
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    save_tree(ctx, nodes)
}

fn save_stream(
    ctx: &Context,
    stream: crate::Stream,
    before: Option<Node>,
) -> Result<Node, BackupError> {
    let crate::Stream {
        name,
        label,
        open,
        allow_empty,
        delta,
    } = stream;
    let failed = |source| BackupError::Stream {
        name: label.clone(),
        source,
    };
    let name = name.trim_start_matches('/');
    let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    node.mode = 0o644;
    node.mtime_ns = now;
    node.atime_ns = now;
    node.ctime_ns = now;
    node.links = 1;
    let reader = open().map_err(failed)?;
    let basis = delta
        .then(|| DeltaBasis::new(ctx.repo, before.map(|n| n.content).unwrap_or_default()))
        .flatten();
    let (content, size, stats) = save_reader(ctx, reader, 0, basis).map_err(failed)?;
    if size == 0 && !allow_empty {
        return Err(BackupError::EmptyStream { name: label });
    }
    node.content = content?;
    node.size = size;
    node.stats = stats;
    let c = &ctx.counters;
    c.total_files.fetch_add(1, Ordering::Relaxed);
    c.total_bytes.fetch_add(size, Ordering::Relaxed);
    c.files_new.fetch_add(1, Ordering::Relaxed);
    Ok(node)
}
