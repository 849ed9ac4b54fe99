//! What the snapshots still need: every blob reachable from a set of
//! snapshots, the bases of those stored as deltas, and the packs that hold
//! them. `prune` deletes what is not reachable; `locks extend` renews the
//! locks of what is.

use crate::{Repository, Result};
use rayon::prelude::*;
use reprise_format::{BlobId, NodeKind, PackId, Snapshot, SnapshotId};
use std::collections::HashSet;

/// Every tree and data blob reachable from `snapshots`. Each tree is read
/// once, however many snapshots share it.
pub fn referenced_blobs(
    repo: &Repository,
    snapshots: &[(SnapshotId, Snapshot)],
) -> Result<HashSet<BlobId>> {
    repo.ensure_index()?;
    let mut seen: HashSet<BlobId> = HashSet::new();
    let mut pending: Vec<BlobId> = Vec::new();
    for (_, s) in snapshots {
        if seen.insert(s.tree) {
            pending.push(s.tree);
        }
    }
    while let Some(tree_id) = pending.pop() {
        let tree = repo.load_tree(&tree_id)?;
        for node in &tree.nodes {
            seen.extend(node.content.iter().copied());
            if node.kind == NodeKind::Dir {
                if let Some(sub) = node.subtree {
                    if seen.insert(sub) {
                        pending.push(sub);
                    }
                }
            }
        }
    }
    add_delta_bases(repo, &mut seen)?;
    Ok(seen)
}

/// Adds to `blobs` the base of every blob stored as a delta, and the bases
/// of those bases: a kept delta is unreadable without its whole chain.
/// Trees do not name bases (a snapshot may reuse a chunk another source
/// stored as a delta), so each delta's frame is opened; deltas are small.
/// A frame that cannot be read stops here rather than risk deleting a base.
fn add_delta_bases(repo: &Repository, blobs: &mut HashSet<BlobId>) -> Result<()> {
    let mut frontier: Vec<BlobId> = {
        let index = repo.index();
        blobs
            .iter()
            .filter(|id| index.has_delta_copy(id))
            .copied()
            .collect()
    };
    while !frontier.is_empty() {
        let bases: Vec<Option<BlobId>> = frontier
            .par_iter()
            .map(|id| repo.delta_base(id))
            .collect::<Result<_>>()?;
        let index = repo.index();
        frontier = bases
            .into_iter()
            .flatten()
            .filter(|base| blobs.insert(*base) && index.has_delta_copy(base))
            .collect();
    }
    Ok(())
}

/// The packs holding at least one copy of one of `blobs`, per the index.
pub fn packs_holding(repo: &Repository, blobs: &HashSet<BlobId>) -> HashSet<PackId> {
    let index = repo.index();
    index
        .all_locations()
        .filter(|(id, _)| blobs.contains(id))
        .filter_map(|(_, loc)| index.pack_id(loc.pack))
        .collect()
}

/// Takes out of `deletable` every pack holding the only copies of a base
/// that a delta in a pack that stays needs (and, in turn, what those packs'
/// deltas need), and returns them. The deltas need not be referenced by
/// any snapshot: a backup running now may have deduplicated against one.
pub fn keep_delta_bases(repo: &Repository, deletable: &mut Vec<PackId>) -> Result<Vec<PackId>> {
    let mut going: HashSet<PackId> = deletable.iter().copied().collect();
    let mut kept = Vec::new();
    let mut checked: HashSet<BlobId> = HashSet::new();
    loop {
        let deltas: Vec<BlobId> = {
            let index = repo.index();
            let staying: HashSet<BlobId> = index
                .all_locations()
                .filter(|(id, loc)| {
                    loc.delta
                        && !checked.contains(*id)
                        && index.pack_id(loc.pack).is_some_and(|p| !going.contains(&p))
                })
                .map(|(id, _)| *id)
                .collect();
            staying.into_iter().collect()
        };
        if deltas.is_empty() {
            break;
        }
        checked.extend(deltas.iter().copied());
        let bases: Vec<Option<BlobId>> = deltas
            .par_iter()
            .map(|id| repo.delta_base(id))
            .collect::<Result<_>>()?;
        let index = repo.index();
        let mut newly_kept = Vec::new();
        for base in bases.into_iter().flatten() {
            let copies = index.locations(&base);
            if copies.iter().any(|(pack, _)| !going.contains(pack)) {
                continue;
            }
            for (pack, _) in copies {
                if going.remove(&pack) {
                    newly_kept.push(pack);
                }
            }
        }
        if newly_kept.is_empty() {
            break;
        }
        kept.extend(newly_kept);
    }
    deletable.retain(|pack| going.contains(pack));
    Ok(kept)
}
