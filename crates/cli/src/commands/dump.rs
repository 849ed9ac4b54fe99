//! `reprise dump`: a file's content, or a directory as a tar stream, on
//! standard output, read chunk by chunk so memory stays small.

use crate::cli::{DumpArgs, GlobalOptions};
use crate::commands::select;
use crate::{exit, repo_open};
use anyhow::{bail, Context, Result};
use reprise_format::{Node, NodeKind};
use reprise_repo::browse::{resolve_subpath, FileReader};
use reprise_repo::walk::walk;
use reprise_repo::{Repository, WalkBudget};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

fn tar_header(node: &Node) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(node.mode);
    h.set_uid(node.uid as u64);
    h.set_gid(node.gid as u64);
    h.set_mtime(node.mtime_ns.max(0) as u64 / 1_000_000_000);
    h.set_size(0);
    if let Some(u) = &node.user {
        let _ = h.set_username(u);
    }
    if let Some(gr) = &node.group {
        let _ = h.set_groupname(gr);
    }
    h
}

fn append(
    repo: &Repository,
    tar: &mut tar::Builder<impl Write>,
    path: &[u8],
    node: &Node,
) -> std::io::Result<()> {
    let name = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    let mut h = tar_header(node);
    match node.kind {
        NodeKind::File => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(node.size);
            tar.append_data(
                &mut h,
                name,
                FileReader::new(repo, node).map_err(std::io::Error::other)?,
            )
        }
        NodeKind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut h, name, std::io::empty())
        }
        NodeKind::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = node
                .target
                .as_ref()
                .map(|t| t.display())
                .unwrap_or_default();
            tar.append_link(&mut h, name, target)
        }
        _ => Ok(()),
    }
}

pub fn run(g: &GlobalOptions, args: &DumpArgs) -> Result<u8> {
    let repo = repo_open::open(g)?;
    let (id, snapshot) = select(&repo, &args.snapshot, &args.filter)?;
    let at = resolve_subpath(&repo, &snapshot.tree, args.path.as_bytes())?;
    let stdout = std::io::stdout().lock();
    match (&at.node, at.tree_below(&snapshot.tree)) {
        (Some(n), _) if n.kind == NodeKind::File => {
            let mut out = std::io::BufWriter::new(stdout);
            std::io::copy(&mut FileReader::new(&repo, n)?, &mut out).context("dump failed")?;
            out.flush()?;
        }
        (_, Some(tree)) => {
            let mut tar = tar::Builder::new(std::io::BufWriter::new(stdout));
            let mut failed = None;
            let budget = WalkBudget::for_snapshot(&id, &snapshot);
            walk(&repo, &tree, b"", &budget, &mut |path, node| {
                let rel = path.strip_prefix(b"/").unwrap_or(path);
                if let Err(e) = append(&repo, &mut tar, rel, node) {
                    failed = Some(e);
                    return Ok(false);
                }
                Ok(true)
            })?;
            if let Some(e) = failed {
                return Err(e).context("dump failed");
            }
            tar.into_inner()?.flush()?;
        }
        (Some(n), None) => {
            bail!("{} is a {:?}, not a file or directory", args.path, n.kind)
        }
        (None, None) => bail!("{} is not in the snapshot", args.path),
    }
    Ok(exit::OK)
}
