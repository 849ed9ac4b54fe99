//! `backup --dry-run`: what a backup of the same paths would read, found
//! from metadata alone with the backup's own rules (parent snapshot,
//! excludes, one file system, the unchanged-file test), and nothing
//! written to the repository: no pack, index, mark or snapshot.

use crate::metadata::{nanos, unchanged_since};
use crate::parent::find_parent;
use crate::{source_of, BackupError, BackupOptions, BackupWarning};
use chrono::Utc;
use reprise_format::{BlobId, Node, NodeKind, SnapshotId};
use reprise_repo::walk::resolve;
use reprise_repo::Repository;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What a backup would do with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Not in the parent snapshot: read and added.
    New,
    /// In the parent snapshot with other metadata: read, and only its
    /// chunks the repository lacks added.
    Changed,
    /// Unchanged since the parent snapshot: not read.
    Unchanged,
}

/// One regular file a backup would cover.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreviewFile {
    pub path: String,
    pub size: u64,
    pub state: FileState,
}

/// What a backup would read.
#[derive(Debug, Default, serde::Serialize)]
pub struct Preview {
    /// The snapshot whose unchanged files would be reused.
    pub parent: Option<SnapshotId>,
    /// Every regular file, in walk order (directories sorted by name).
    pub files: Vec<PreviewFile>,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    /// Bytes of all the files.
    pub total_bytes: u64,
    /// Bytes of the new and changed files: what the backup would read. What
    /// it would add is at most that (less what deduplication and
    /// compression save), which only reading tells.
    pub bytes_to_read: u64,
    /// Entries that could not be looked at (a backup would skip them too).
    pub warnings: Vec<BackupWarning>,
}

/// Previews a backup of `options.paths` (standard input cannot be previewed).
pub fn preview(repo: &Repository, options: &BackupOptions) -> Result<Preview, BackupError> {
    let source = source_of(options, None)?;
    let list = repo.list_snapshots()?;
    let choice = find_parent(&list, &options.hostname, &source.bytes, Utc::now());
    let parent = choice.parent.filter(|_| !options.force_read);
    if parent.is_some() {
        repo.ensure_index()?;
    }
    let mut walk = Walk {
        repo,
        options,
        out: Preview {
            parent: parent.as_ref().map(|(id, _)| *id),
            ..Preview::default()
        },
    };
    for root in &source.paths {
        // A parent whose trees cannot be read is no parent, as in a backup.
        let before = parent.as_ref().and_then(|(_, s)| {
            resolve(repo, &s.tree, root.as_os_str().as_bytes())
                .ok()
                .flatten()
        });
        match std::fs::symlink_metadata(root) {
            Ok(meta) => {
                let device = options.one_file_system.then(|| meta.dev());
                walk.visit(root, &meta, before.as_ref(), device);
            }
            Err(e) => walk.warn(root, e),
        }
    }
    Ok(walk.out)
}

struct Walk<'a> {
    repo: &'a Repository,
    options: &'a BackupOptions,
    out: Preview,
}

impl Walk<'_> {
    fn visit(
        &mut self,
        path: &Path,
        meta: &std::fs::Metadata,
        before: Option<&Node>,
        device: Option<u64>,
    ) {
        if meta.is_file() {
            self.record_file(path, meta, before);
            return;
        }
        if !meta.is_dir() || device.is_some_and(|d| d != meta.dev()) {
            return;
        }
        let earlier = self.children_before(before);
        let mut entries = match std::fs::read_dir(path) {
            Ok(entries) => entries.flatten().collect::<Vec<_>>(),
            Err(e) => return self.warn(path, e),
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let child = entry.path();
            if self.options.excludes.matches(&child) {
                continue;
            }
            match std::fs::symlink_metadata(&child) {
                Ok(m) => {
                    let name = entry.file_name();
                    self.visit(&child, &m, earlier.get(name.as_bytes()), device);
                }
                Err(e) => self.warn(&child, e),
            }
        }
    }

    /// The entries of a directory in the parent snapshot, by name.
    fn children_before(&self, before: Option<&Node>) -> HashMap<Vec<u8>, Node> {
        let subtree: Option<BlobId> = before
            .filter(|n| n.kind == NodeKind::Dir)
            .and_then(|n| n.subtree);
        subtree
            .and_then(|id| self.repo.load_tree(&id).ok())
            .map(|tree| {
                tree.nodes
                    .into_iter()
                    .map(|n| (n.name.0.clone(), n))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn record_file(&mut self, path: &Path, meta: &std::fs::Metadata, before: Option<&Node>) {
        let mut now = Node::new(path.as_os_str().as_bytes().to_vec(), NodeKind::File);
        now.size = meta.len();
        now.mtime_ns = nanos(meta.mtime(), meta.mtime_nsec());
        now.ctime_ns = nanos(meta.ctime(), meta.ctime_nsec());
        now.inode = meta.ino();
        let state = match before {
            None => FileState::New,
            Some(p) if unchanged_since(p, &now) => FileState::Unchanged,
            Some(_) => FileState::Changed,
        };
        let out = &mut self.out;
        match state {
            FileState::New => out.files_new += 1,
            FileState::Changed => out.files_changed += 1,
            FileState::Unchanged => out.files_unmodified += 1,
        }
        out.total_bytes += now.size;
        if state != FileState::Unchanged {
            out.bytes_to_read += now.size;
        }
        out.files.push(PreviewFile {
            path: path.display().to_string(),
            size: now.size,
            state,
        });
    }

    fn warn(&mut self, path: &Path, e: std::io::Error) {
        self.out.warnings.push(BackupWarning {
            path: path.display().to_string(),
            message: e.to_string(),
            skipped: true,
        });
    }
}
