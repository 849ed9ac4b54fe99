//! The regular files that differ between two snapshots' trees, directory by
//! directory, from the tree zip of `reprise_repo::browse` (the comparison
//! `diff` uses too): subtrees with the same id are skipped unread, so the
//! cost follows the size of the change, not of the share; subdirectories
//! are compared in parallel (after a first backup, every tree is new and
//! must be read: the analysis runs while the backup waits to write its
//! snapshot). Every directory and file compared is charged to a
//! [`WalkBudget`], so a forged snapshot whose trees reuse subtrees cannot
//! make it endless.

use reprise_format::{BlobId, Node, NodeKind};
use reprise_repo::browse::{zip, Pair, ZipVisitor};
use reprise_repo::{Repository, Result, WalkBudget};

/// The changed files of one directory.
#[derive(Debug, Default)]
pub struct DirChanges {
    /// The directory's path in the snapshot.
    pub dir: Vec<u8>,
    /// Files whose content changed: (before, after).
    pub modified: Vec<(Node, Node)>,
    /// Files that are new at their name.
    pub added: Vec<Node>,
    /// Files that are gone from their name.
    pub removed: Vec<Node>,
}

/// Every changed directory between `old` (none for a first snapshot) and `new`.
pub fn changed_dirs(
    repo: &Repository,
    old: Option<&BlobId>,
    new: &BlobId,
    budget: &WalkBudget,
) -> Result<Vec<DirChanges>> {
    let dirs = zip(repo, old, Some(new), b"", budget, &ChangedFiles)?;
    Ok(dirs.into_iter().flatten().collect())
}

/// Keeps the regular files of each compared directory that were added,
/// removed or changed in content; compares below every directory, on
/// either side (the files of a directory that replaced a file are added).
struct ChangedFiles;

impl ZipVisitor for ChangedFiles {
    type Out = Option<DirChanges>;

    fn directory(&self, dir: &[u8], pairs: Vec<Pair>) -> Self::Out {
        let mut here = DirChanges {
            dir: dir.to_vec(),
            ..Default::default()
        };
        for pair in pairs {
            let before = pair.old.filter(|n| n.kind == NodeKind::File);
            let after = pair.new.filter(|n| n.kind == NodeKind::File);
            match (before, after) {
                (Some(b), Some(a)) if b.content != a.content => here.modified.push((b, a)),
                (Some(_), Some(_)) | (None, None) => {}
                (Some(b), None) => here.removed.push(b),
                (None, Some(a)) => here.added.push(a),
            }
        }
        let changed =
            !(here.modified.is_empty() && here.added.is_empty() && here.removed.is_empty());
        changed.then_some(here)
    }
}
