//! The parallel walk: builds one tree blob per directory, bottom-up.
//!
//! The snapshot's root tree mirrors the absolute paths given to backup
//! (`/srv/partage` is stored as `srv` → `partage`), as restic users expect;
//! the directories above a backed-up path carry their own metadata.

use crate::file::{save_content, save_reader};
use crate::metadata::{kind_of, node_from_metadata, unchanged_since};
use crate::{BackupError, Context};
use rayon::prelude::*;
use reprise_detect::changes::DirChanges;
use reprise_format::{BlobId, BlobType, Node, NodeKind, Tree};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
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
    Ok(ctx.saver.save(BlobType::Tree, &tree.to_json())?.0)
}

/// Backs up the given absolute paths; returns the root tree.
pub(crate) fn save_roots(
    ctx: &Context,
    paths: &[PathBuf],
    parent: Option<Tree>,
) -> Result<BlobId, BackupError> {
    save_virtual(ctx, Path::new("/"), &virtual_root(paths), parent)
}

fn save_virtual(
    ctx: &Context,
    dir: &Path,
    children: &BTreeMap<Vec<u8>, Virtual>,
    parent: Option<Tree>,
) -> Result<BlobId, BackupError> {
    let parent_nodes = nodes_by_name(parent);
    let nodes: Vec<Option<Node>> = children
        .par_iter()
        .map(|(name, entry)| {
            let path = dir.join(OsStr::from_bytes(name));
            let parent_node = parent_nodes.get(name);
            match entry {
                Virtual::Leaf => save_entry(ctx, &path, name, parent_node, None),
                Virtual::Inner(sub) => {
                    let meta = match std::fs::symlink_metadata(&path) {
                        Ok(m) => m,
                        Err(e) => {
                            ctx.warn(&path, e.to_string());
                            return Ok(None);
                        }
                    };
                    let mut node = node_from_metadata(name, &path, &meta, &ctx.users);
                    node.kind = NodeKind::Dir;
                    node.subtree = Some(save_virtual(
                        ctx,
                        &path,
                        sub,
                        parent_subtree(ctx, parent_node),
                    )?);
                    count_dir(ctx, parent_node, &node);
                    Ok(Some(node))
                }
            }
        })
        .collect::<Result<_, _>>()?;
    if let Some(changes) = &ctx.changes {
        record_changes(changes, dir, &nodes, &parent_nodes);
    }
    save_tree(ctx, nodes.into_iter().flatten().collect())
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

/// Backs up one entry of any kind; `None` if it could not be read at all.
fn save_entry(
    ctx: &Context,
    path: &Path,
    name: &[u8],
    parent: Option<&Node>,
    fs_device: Option<u64>,
) -> Result<Option<Node>, BackupError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            ctx.warn(path, format!("cannot read metadata: {e}"));
            return Ok(None);
        }
    };
    let mut node = node_from_metadata(name, path, &meta, &ctx.users);
    match kind_of(&meta) {
        NodeKind::Dir => {
            let device = meta.dev();
            let crosses = ctx.options.one_file_system && fs_device.is_some_and(|d| d != device);
            let subtree = if crosses {
                save_tree(ctx, Vec::new())?
            } else {
                save_dir(
                    ctx,
                    path,
                    parent_subtree(ctx, parent),
                    fs_device.or(Some(device)),
                )?
            };
            node.subtree = Some(subtree);
            count_dir(ctx, parent, &node);
        }
        NodeKind::File if !save_file(ctx, path, &mut node, parent)? => {
            return Ok(None);
        }
        _ => {}
    }
    Ok(Some(node))
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
    path: &Path,
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
    let Some((content, len, stats)) = save_content(ctx, path, node)? else {
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

/// Backs up the entries of a directory in parallel; returns its tree.
fn save_dir(
    ctx: &Context,
    dir: &Path,
    parent: Option<Tree>,
    fs_device: Option<u64>,
) -> Result<BlobId, BackupError> {
    let mut names: Vec<Vec<u8>> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| match e {
                Ok(e) => Some(e.file_name().as_bytes().to_vec()),
                Err(err) => {
                    ctx.warn(dir, format!("cannot list entry: {err}"));
                    None
                }
            })
            .collect(),
        Err(e) => {
            ctx.warn(dir, format!("cannot list directory: {e}"));
            Vec::new()
        }
    };
    names.sort();
    let parent_nodes = nodes_by_name(parent);
    let nodes: Vec<Option<Node>> = names
        .par_iter()
        .map(|name| {
            let path = dir.join(OsStr::from_bytes(name));
            if ctx.options.excludes.matches(&path) {
                return Ok(None);
            }
            save_entry(ctx, &path, name, parent_nodes.get(name), fs_device)
        })
        .collect::<Result<_, _>>()?;
    if let Some(changes) = &ctx.changes {
        record_changes(changes, dir, &nodes, &parent_nodes);
    }
    save_tree(ctx, nodes.into_iter().flatten().collect())
}

/// Backs up standard input as a single file at the root of the snapshot.
pub(crate) fn save_stdin(
    ctx: &Context,
    reader: Box<dyn std::io::Read + Send>,
    name: &str,
) -> Result<BlobId, BackupError> {
    let name = name.trim_start_matches('/');
    let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    node.mode = 0o644;
    node.mtime_ns = now;
    node.atime_ns = now;
    node.ctime_ns = now;
    node.links = 1;
    let (content, size, stats) = save_reader(ctx, reader, 0).map_err(BackupError::Stdin)?;
    node.content = content?;
    node.size = size;
    node.stats = stats;
    let c = &ctx.counters;
    c.total_files.fetch_add(1, Ordering::Relaxed);
    c.total_bytes.fetch_add(size, Ordering::Relaxed);
    c.files_new.fetch_add(1, Ordering::Relaxed);
    save_tree(ctx, vec![node])
}
