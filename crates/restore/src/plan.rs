//! The restore plan: every selected entry with its target path, computed
//! from the snapshot's trees before anything is written.
//!
//! A directory whose tree cannot be read (a damaged or missing blob) is
//! planned empty and recorded as a failure, so the rest of the snapshot is
//! still restored. Every directory and file planned is charged to the
//! options' [`reprise_repo::WalkBudget`]: a forged snapshot whose trees
//! reuse subtrees is refused instead of planned for ever.

use crate::{RestoreFailure, RestoreOptions};
use reprise_format::{BlobId, Node, NodeKind};
use reprise_repo::walk::join;
use reprise_repo::{Repository, Result};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One entry to restore.
#[derive(Debug, Clone)]
pub struct PlannedEntry {
    pub path: PathBuf,
    pub node: Node,
}

/// What a restore will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Directories in pre-order (parents first).
    pub dirs: Vec<PlannedEntry>,
    /// Regular files whose content is written (one per hard-link group).
    pub files: Vec<PlannedEntry>,
    /// (path, existing path to link to), for the other members of hard-link groups.
    pub hard_links: Vec<(PathBuf, PathBuf)>,
    pub specials: Vec<PlannedEntry>,
    /// Directories whose contents could not be read, and why.
    pub failures: Vec<RestoreFailure>,
}

struct Builder<'a> {
    repo: &'a Repository,
    options: &'a RestoreOptions,
    plan: Plan,
    link_leaders: HashMap<(u64, u64), PathBuf>,
}

impl Plan {
    pub fn build(
        repo: &Repository,
        nodes: Vec<Node>,
        base: &[u8],
        target: &Path,
        options: &RestoreOptions,
    ) -> Result<Plan> {
        let mut b = Builder {
            repo,
            options,
            plan: Plan::default(),
            link_leaders: HashMap::new(),
        };
        options.budget.charge_nodes(&nodes)?;
        b.add_nodes(nodes, base, target, false)?;
        Ok(b.plan)
    }
}

impl Builder<'_> {
    /// `included` is true when an ancestor already matched an include pattern.
    fn add_nodes(
        &mut self,
        nodes: Vec<Node>,
        base: &[u8],
        dir: &Path,
        included: bool,
    ) -> Result<()> {
        for node in self.overlaid(nodes, base) {
            let snap_path = join(base, node.name.as_bytes());
            let snap_path_os = Path::new(OsStr::from_bytes(&snap_path));
            if self.options.excludes.matches(snap_path_os) {
                continue;
            }
            let selected = included
                || self.options.includes.is_empty()
                || self.options.includes.matches(snap_path_os);
            let path = dir.join(OsStr::from_bytes(node.name.as_bytes()));
            match node.kind {
                NodeKind::Dir => self.add_dir(node, &snap_path, path, selected)?,
                _ if !selected => {}
                NodeKind::File => self.add_file(node, path),
                NodeKind::Socket => {}
                _ => self.plan.specials.push(PlannedEntry { path, node }),
            }
        }
        Ok(())
    }

    /// A directory's entries with the overlay applied: left-out entries
    /// dropped, replaced ones swapped, added ones inserted in name order.
    fn overlaid(&self, nodes: Vec<Node>, base: &[u8]) -> Vec<Node> {
        let overlay = &self.options.overlay;
        let mut out: Vec<Node> = nodes
            .into_iter()
            .filter_map(|node| {
                let path = join(base, node.name.as_bytes());
                if overlay.omit.contains(&path) {
                    return None;
                }
                Some(overlay.replace.get(&path).cloned().unwrap_or(node))
            })
            .collect();
        let key = if base.is_empty() { &b"/"[..] } else { base };
        if let Some(added) = overlay.add.get(key) {
            for node in added {
                if !out.iter().any(|n| n.name == node.name) {
                    out.push(node.clone());
                }
            }
            out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        }
        out
    }

    fn add_dir(
        &mut self,
        node: Node,
        snap_path: &[u8],
        path: PathBuf,
        selected: bool,
    ) -> Result<()> {
        let children = match &node.subtree {
            Some(id) => self.children(id, &path)?,
            None => Vec::new(),
        };
        let index = self.plan.dirs.len();
        let before = self.plan.files.len() + self.plan.specials.len() + self.plan.hard_links.len();
        self.plan.dirs.push(PlannedEntry {
            path: path.clone(),
            node,
        });
        self.add_nodes(children, snap_path, &path, selected)?;
        let after = self.plan.files.len() + self.plan.specials.len() + self.plan.hard_links.len();
        // With includes, a directory is restored only if it was selected or holds something that was.
        if !selected && after == before && self.plan.dirs.len() == index + 1 {
            self.plan.dirs.pop();
        }
        Ok(())
    }

    /// The entries of the directory restored at `path`; none, with a
    /// failure recorded, when its tree is damaged or missing.
    fn children(&mut self, tree: &BlobId, path: &Path) -> Result<Vec<Node>> {
        match self.repo.load_tree(tree) {
            Ok(loaded) => {
                self.options.budget.charge_nodes(&loaded.nodes)?;
                Ok(loaded.nodes)
            }
            Err(e) if e.is_damage() => {
                self.plan.failures.push(RestoreFailure {
                    path: path.display().to_string(),
                    message: format!(
                        "the contents of this directory cannot be read (tree {tree}): {e}; \
                         it is restored empty"
                    ),
                });
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    fn add_file(&mut self, node: Node, path: PathBuf) {
        if node.links > 1 {
            let key = (node.device, node.inode);
            if let Some(leader) = self.link_leaders.get(&key) {
                self.plan.hard_links.push((path, leader.clone()));
                return;
            }
            self.link_leaders.insert(key, path.clone());
        }
        self.plan.files.push(PlannedEntry { path, node });
    }
}
