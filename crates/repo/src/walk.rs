//! Walking the trees of a snapshot: depth-first, in name order, with the
//! path of every node (`ls` and `dump` use it), and the snapshot paths
//! every reader builds (`join`) and splits (`components`).

use crate::{Repository, Result, WalkBudget};
use reprise_format::{BlobId, Node, NodeKind};

/// Path of a node inside its snapshot, as bytes (names need not be UTF-8),
/// always starting with `/`.
pub type SnapshotPath = Vec<u8>;

pub fn join(parent: &[u8], name: &[u8]) -> SnapshotPath {
    let mut p = Vec::with_capacity(parent.len() + name.len() + 1);
    p.extend_from_slice(parent);
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Calls `visit` for every node under `tree`, parents before children.
/// `visit` returns false to skip a directory's contents. Every directory
/// and file visited is charged to `budget`.
pub fn walk(
    repo: &Repository,
    tree: &BlobId,
    base: &[u8],
    budget: &WalkBudget,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<bool>,
) -> Result<()> {
    let tree = repo.load_tree(tree)?;
    budget.charge_nodes(&tree.nodes)?;
    for node in &tree.nodes {
        let path = join(base, node.name.as_bytes());
        let descend = visit(&path, node)?;
        if descend && node.kind == NodeKind::Dir {
            if let Some(sub) = &node.subtree {
                walk(repo, sub, &path, budget, visit)?;
            }
        }
    }
    Ok(())
}

/// Splits `/a/b/c` into its non-empty components.
pub fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// Finds the node at `path` under the snapshot root `tree`; `None` is the
/// root itself. See [`crate::browse::resolve_subpath`], which it calls.
pub fn resolve(repo: &Repository, tree: &BlobId, path: &[u8]) -> Result<Option<Node>> {
    Ok(crate::browse::resolve_subpath(repo, tree, path)?.node)
}
