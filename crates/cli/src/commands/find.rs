//! `reprise find`: every version of matching paths across snapshots.
//! Matches under a tree are memoised by tree id, so unchanged directories
//! are searched once however many snapshots share them.

use crate::cli::{FindArgs, GlobalOptions};
use crate::commands::{filter_of, snapshots_then_index};
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_format::{BlobId, Node, NodeKind};
use reprise_repo::walk::join;
use reprise_repo::{PathPatterns, Repository, WalkBudget};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

/// Matches found under one tree, with paths relative to it.
type Matches = Rc<Vec<(Vec<u8>, Node)>>;

struct Finder<'a> {
    repo: &'a Repository,
    pattern: PathPatterns,
    by_name_only: bool,
    memo: HashMap<BlobId, Matches>,
    /// Bounds the work on forged snapshots whose trees reuse subtrees: the
    /// memo saves reading them again, not copying their matches.
    budget: WalkBudget,
}

impl Finder<'_> {
    fn search(&mut self, tree: &BlobId, at: &[u8]) -> reprise_repo::Result<Matches> {
        // A whole-path pattern depends on where the tree sits, so only name patterns are memoised.
        if self.by_name_only {
            if let Some(m) = self.memo.get(tree) {
                return Ok(Rc::clone(m));
            }
        }
        let mut found = Vec::new();
        let nodes = self.repo.load_tree(tree)?.nodes;
        self.budget.charge_nodes(&nodes)?;
        for node in nodes {
            let rel = join(b"/", node.name.as_bytes());
            let full = [at, rel.as_slice()].concat();
            let full = if at == b"/" { rel.clone() } else { full };
            if self.pattern.matches(Path::new(OsStr::from_bytes(&full))) {
                found.push((rel.clone(), node.clone()));
            }
            if let Some(sub) = node.subtree.filter(|_| node.kind == NodeKind::Dir) {
                let below = self.search(&sub, &full)?;
                self.budget.charge(below.len() as u64)?;
                for (p, n) in below.iter() {
                    found.push(([rel.as_slice(), p.as_slice()].concat(), n.clone()));
                }
            }
        }
        let found = Rc::new(found);
        if self.by_name_only {
            self.memo.insert(*tree, Rc::clone(&found));
        }
        Ok(found)
    }
}

pub fn run(g: &GlobalOptions, args: &FindArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let list = snapshots_then_index(&repo)?;
    let selected = list.filtered(&filter_of(&args.filter));
    let named: Vec<_> = selected.iter().map(|(id, s)| (id, s)).collect();
    let mut finder = Finder {
        repo: &repo,
        pattern: PathPatterns::new(vec![args.pattern.clone()])?,
        by_name_only: !args.pattern.contains('/'),
        memo: HashMap::new(),
        budget: WalkBudget::for_snapshots(&named),
    };
    let mut results = Vec::new();
    for (id, snapshot) in selected {
        for (path, node) in finder.search(&snapshot.tree, b"/")?.iter() {
            results.push((id, snapshot, path.clone(), node.clone()));
        }
    }
    if g.json {
        let docs: Vec<_> = results
            .iter()
            .map(|(id, s, path, node)| {
                serde_json::json!({
                    "snapshot_id": id, "snapshot": id, "time": s.time, "path": output::lossy(path),
                    "type": node.kind, "size": node.size, "mtime": output::json_time_ns(node.mtime_ns),
                })
            })
            .collect();
        output::json(&docs)?;
    } else {
        for (id, s, path, node) in &results {
            println!(
                "{}  {}  {:>12}  {}  {}",
                id.short(),
                output::text_time(&s.time),
                node.size,
                output::text_time_ns(node.mtime_ns),
                output::lossy(path)
            );
        }
        if !g.quiet {
            println!(
                "{}",
                output::count(results.len() as u64, "match", "matches")
            );
        }
    }
    Ok(exit::OK)
}
