//! Copying snapshots to another repository: an offline disk, another site.
//!
//! Blob ids are keyed with the repository's master key, so a blob copied to
//! a repository with another key gets another id, and the trees that name it
//! are rewritten: every tree is re-encoded with the destination's ids and
//! every blob sealed with the destination's key. Nothing is decrypted on the
//! way but in this process's memory.
//!
//! Copies are incremental. A copied snapshot records the id of its original,
//! so a later copy skips it; and before copying a snapshot whose parent was
//! copied earlier, the two copies of the parent are walked side by side,
//! which maps the original's blob ids to the copy's without reading any
//! file data: only what changed since the parent is read and sent.
//!
//! Write order is a backup's: packs, then index files, then the snapshots.
//! An interrupted copy leaves packs the next copy (or backup) adopts.

use crate::MaintenanceError;
use rayon::prelude::*;
use reprise_format::{BlobId, BlobType, NodeKind, Snapshot, SnapshotId, Tree};
use reprise_repo::{BlobSaver, Repository};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::RwLock;

/// What a copy did.
#[derive(Debug, Default, Serialize)]
pub struct CopyReport {
    /// Original id → id in the destination.
    pub copied: Vec<(SnapshotId, SnapshotId)>,
    /// Snapshots the destination already had.
    pub already_there: Vec<SnapshotId>,
    pub blobs_added: u64,
    pub bytes_added: u64,
}

/// Source blob id → destination blob id, for data and trees alike.
type IdMap = RwLock<HashMap<BlobId, BlobId>>;

/// Copies `selected` (snapshots of `src`) into `dst`, skipping those `dst`
/// already holds a copy of.
pub fn copy_snapshots(
    src: &Repository,
    dst: &Repository,
    selected: &[(SnapshotId, Snapshot)],
) -> Result<CopyReport, MaintenanceError> {
    src.ensure_index()?;
    let existing = dst.list_snapshots()?;
    let mut copies: HashMap<SnapshotId, (SnapshotId, Snapshot)> = existing
        .snapshots
        .into_iter()
        .filter_map(|(id, s)| Some((s.original?, (id, s))))
        .collect();
    let mut report = CopyReport::default();
    let src_all: HashMap<SnapshotId, Snapshot> =
        src.list_snapshots()?.snapshots.into_iter().collect();
    let mut ordered: Vec<&(SnapshotId, Snapshot)> = selected.iter().collect();
    ordered.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    let ids: IdMap = RwLock::default();
    let todo: Vec<String> = ordered
        .iter()
        .filter(|(id, _)| !copies.contains_key(id))
        .flat_map(|(_, s)| s.paths.iter().cloned())
        .collect();
    // Like a backup, a copy announces itself so prune spares what it may use.
    let session = if todo.is_empty() {
        None
    } else {
        Some(dst.announce_start(&todo)?)
    };
    dst.load_index()?;
    let saver = BlobSaver::new(dst);
    let mut pending: Vec<(SnapshotId, Snapshot)> = Vec::new();
    for (src_id, snapshot) in ordered {
        if copies.contains_key(src_id) {
            report.already_there.push(*src_id);
            continue;
        }
        let parent = snapshot
            .parent
            .and_then(|p| Some((src_all.get(&p)?, copies.get(&p)?)));
        if let Some((original, (_, copy))) = parent {
            learn_ids(src, dst, &original.tree, &copy.tree, &ids)?;
        }
        let mut copy = snapshot.clone();
        copy.tree = copy_tree(src, &saver, &ids, &snapshot.tree)?;
        copy.original = Some(*src_id);
        copy.session.clone_from(&session);
        pending.push((*src_id, copy));
    }
    let stats = saver.finish(Vec::new())?;
    report.blobs_added = stats.blobs_added;
    report.bytes_added = stats.bytes_added;
    // Snapshots last, oldest first: each is a commit point, valid once the
    // index is written, and a parent is saved before its children.
    for (src_id, mut copy) in pending {
        copy.parent = copy.parent.and_then(|p| copies.get(&p).map(|(id, _)| *id));
        let dst_id = dst.save_snapshot(&copy)?;
        copies.insert(src_id, (dst_id, copy));
        report.copied.push((src_id, dst_id));
    }
    Ok(report)
}

/// Records which destination blob each source blob became, by walking an
/// earlier copy side by side with its original. Trees that do not line up
/// (a copy made by another program) are skipped: the ids are then found the
/// slow way, by reading the data.
fn learn_ids(
    src: &Repository,
    dst: &Repository,
    src_tree: &BlobId,
    dst_tree: &BlobId,
    ids: &IdMap,
) -> Result<(), MaintenanceError> {
    let mut pending = vec![(*src_tree, *dst_tree)];
    while let Some((s, d)) = pending.pop() {
        if ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&s)
        {
            continue;
        }
        let (st, dt) = (src.load_tree(&s)?, dst.load_tree(&d)?);
        let lined_up = st.nodes.len() == dt.nodes.len()
            && st.nodes.iter().zip(&dt.nodes).all(|(a, b)| {
                a.name == b.name
                    && a.content.len() == b.content.len()
                    && a.subtree.is_some() == b.subtree.is_some()
            });
        if !lined_up {
            continue;
        }
        let mut map = ids.write().unwrap_or_else(|p| p.into_inner());
        for (sn, dn) in st.nodes.iter().zip(&dt.nodes) {
            map.extend(sn.content.iter().copied().zip(dn.content.iter().copied()));
            if let (Some(a), Some(b)) = (sn.subtree, dn.subtree) {
                pending.push((a, b));
            }
        }
        map.insert(s, d);
    }
    Ok(())
}

/// Copies one tree and everything under it; returns its id in `dst`.
fn copy_tree(
    src: &Repository,
    saver: &BlobSaver<'_>,
    ids: &IdMap,
    tree_id: &BlobId,
) -> Result<BlobId, MaintenanceError> {
    if let Some(done) = known(ids, tree_id) {
        return Ok(done);
    }
    let mut tree: Tree = src.load_tree(tree_id)?;
    for node in &mut tree.nodes {
        node.content = node
            .content
            .par_iter()
            .map(|blob| copy_data(src, saver, ids, blob))
            .collect::<Result<Vec<_>, _>>()?;
        if node.kind == NodeKind::Dir {
            if let Some(sub) = node.subtree {
                node.subtree = Some(copy_tree(src, saver, ids, &sub)?);
            }
        }
    }
    let (id, _) = saver.save_tree(&tree)?;
    ids.write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(*tree_id, id);
    Ok(id)
}

fn copy_data(
    src: &Repository,
    saver: &BlobSaver<'_>,
    ids: &IdMap,
    blob: &BlobId,
) -> Result<BlobId, MaintenanceError> {
    if let Some(done) = known(ids, blob) {
        return Ok(done);
    }
    let data = src.read_blob(BlobType::Data, blob)?;
    let (id, _) = saver.save(BlobType::Data, &data)?;
    ids.write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(*blob, id);
    Ok(id)
}

fn known(ids: &IdMap, blob: &BlobId) -> Option<BlobId> {
    ids.read()
        .unwrap_or_else(|p| p.into_inner())
        .get(blob)
        .copied()
}
