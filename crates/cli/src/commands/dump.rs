//! `reprise dump`: a file's content, or a directory as a tar stream, on
//! standard output, read chunk by chunk so memory stays small.

use crate::cli::{DumpArgs, GlobalOptions};
use crate::commands::select;
use crate::{exit, repo_open};
use anyhow::{bail, Context, Result};
use reprise_format::{BlobId, BlobType, Node, NodeKind};
use reprise_repo::walk::{resolve, walk};
use reprise_repo::{Repository, WalkBudget};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;

/// Reads a file's chunks in order, as one stream.
struct ContentReader<'a> {
    repo: &'a Repository,
    chunks: std::slice::Iter<'a, BlobId>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            let Some(id) = self.chunks.next() else {
                return Ok(0);
            };
            self.current = self
                .repo
                .read_blob(BlobType::Data, id)
                .map_err(std::io::Error::other)?;
            self.pos = 0;
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn reader<'a>(repo: &'a Repository, node: &'a Node) -> ContentReader<'a> {
    ContentReader {
        repo,
        chunks: node.content.iter(),
        current: Vec::new(),
        pos: 0,
    }
}

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
            tar.append_data(&mut h, name, reader(repo, node))
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
    let node = resolve(&repo, &snapshot.tree, args.path.as_bytes())?;
    let stdout = std::io::stdout().lock();
    match node {
        Some(n) if n.kind == NodeKind::File => {
            let mut out = std::io::BufWriter::new(stdout);
            std::io::copy(&mut reader(&repo, &n), &mut out).context("dump failed")?;
            out.flush()?;
        }
        Some(n) if n.kind != NodeKind::Dir => {
            bail!("{} is a {:?}, not a file or directory", args.path, n.kind)
        }
        dir => {
            let tree = match &dir {
                Some(n) => n.subtree.context("directory without a tree")?,
                None => snapshot.tree,
            };
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
    }
    Ok(exit::OK)
}
