//! `reprise ls`: every entry below a path of a snapshot (JSON lines with --json).

use crate::cli::{GlobalOptions, LsArgs};
use crate::commands::select;
use crate::{exit, output, repo_open};
use anyhow::Result;
use reprise_format::{Node, NodeKind};
use reprise_repo::browse::resolve_subpath;
use reprise_repo::walk::walk;
use reprise_repo::WalkBudget;

pub fn node_json(path: &[u8], node: &Node) -> serde_json::Value {
    serde_json::json!({
        "path": output::lossy(path),
        "type": node.kind,
        "size": node.size,
        "mode": format!("{:o}", node.mode),
        "uid": node.uid, "gid": node.gid,
        "user": node.user, "group": node.group,
        "mtime": output::json_time_ns(node.mtime_ns),
        "links": node.links,
        "target": node.target.as_ref().map(|t| t.display()),
    })
}

fn kind_char(kind: NodeKind) -> char {
    match kind {
        NodeKind::File => '-',
        NodeKind::Dir => 'd',
        NodeKind::Symlink => 'l',
        NodeKind::Fifo => 'p',
        NodeKind::Socket => 's',
        NodeKind::Chardev => 'c',
        NodeKind::Blockdev => 'b',
    }
}

pub fn long_line(path: &[u8], node: &Node) -> String {
    let mut line = format!(
        "{}{:04o} {:>8} {:>8} {:>12} {}  {}",
        kind_char(node.kind),
        node.mode,
        node.user.clone().unwrap_or_else(|| node.uid.to_string()),
        node.group.clone().unwrap_or_else(|| node.gid.to_string()),
        node.size,
        output::text_time_ns(node.mtime_ns),
        output::lossy(path)
    );
    if let Some(t) = &node.target {
        line.push_str(&format!(" -> {}", t.display()));
    }
    line
}

pub fn run(g: &GlobalOptions, args: &LsArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let (id, snapshot) = select(&repo, &args.snapshot, &args.filter)?;
    let budget = WalkBudget::for_snapshot(&id, &snapshot);
    let start = args.path.clone().unwrap_or_else(|| "/".into());
    // An output error (a full disk behind a redirection) stops the listing
    // and is reported once the walk returns.
    let mut failed: Option<anyhow::Error> = None;
    let mut print = |path: &[u8], node: &Node| -> reprise_repo::Result<bool> {
        if failed.is_some() {
            return Ok(false);
        }
        let printed = if g.json {
            output::json_line(&node_json(path, node))
        } else if args.long {
            output::line(&long_line(path, node))
        } else {
            output::line(&output::lossy(path))
        };
        failed = printed.err();
        Ok(failed.is_none())
    };
    let at = resolve_subpath(&repo, &snapshot.tree, start.as_bytes())?;
    if let Some(node) = &at.node {
        print(&at.path, node)?;
    }
    if let Some(tree) = at.tree_below(&snapshot.tree) {
        walk(&repo, &tree, &at.path, &budget, &mut print)?;
    }
    match failed {
        Some(e) => Err(e.context("cannot write the listing")),
        None => Ok(exit::OK),
    }
}
