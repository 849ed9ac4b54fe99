//! Opening a repository for reading: its snapshots are listed *before* its
//! index is loaded. A backup writes its snapshot only after the index file
//! that lists its chunks, so in this order every chunk of every listed
//! snapshot is in the loaded index, even when a backup commits meanwhile;
//! in the other order, a snapshot committed between the two steps would
//! look as if it had lost its chunks. The types make the order the only
//! one possible: the index is loaded from a [`Listed`] only.

use crate::{IndexLoadReport, Repository, Result, SnapshotList};

/// The snapshots of a repository, listed; its index not loaded yet.
///
/// A backup holds this while it announces itself (the started mark must
/// come between the listing and the index load), then loads the index.
#[must_use = "the index is loaded by Listed::load_index"]
pub struct Listed<'r> {
    repo: &'r Repository,
    snapshots: SnapshotList,
}

/// The snapshots of a repository and the report of loading its index after them.
pub struct Opened {
    pub snapshots: SnapshotList,
    pub index: IndexLoadReport,
}

impl<'r> Listed<'r> {
    /// Lists the snapshots of `repo`.
    pub fn list(repo: &'r Repository) -> Result<Self> {
        let snapshots = repo.list_snapshots()?;
        Ok(Listed { repo, snapshots })
    }

    pub fn snapshots(&self) -> &SnapshotList {
        &self.snapshots
    }

    /// Loads the index, which now covers every listed snapshot. It is
    /// loaded again even if it was loaded before the listing, since an
    /// index loaded then may miss the chunks of the snapshots just listed.
    pub fn load_index(self) -> Result<Opened> {
        let index = self.repo.load_index()?;
        Ok(Opened {
            snapshots: self.snapshots,
            index,
        })
    }
}

/// Lists the snapshots of `repo`, then loads its index.
pub fn list_then_index(repo: &Repository) -> Result<Opened> {
    Listed::list(repo)?.load_index()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{fresh_repo, reopen, snapshot_of, Entry};
    use reprise_format::BlobType;

    /// Another process backs up after this one loaded its index: opening
    /// again lists the new snapshot and loads the index again, so the new
    /// snapshot's chunks are found rather than reported missing.
    #[test]
    fn an_index_loaded_before_the_listing_is_loaded_again() {
        let (_dir, repo) = fresh_repo();
        repo.load_index().unwrap();
        let other = reopen(&repo);
        let (id, snapshot) = snapshot_of(&other, &[Entry::File("a.txt", b"late content")]);
        let opened = list_then_index(&repo).unwrap();
        assert!(opened.snapshots.snapshots.iter().any(|(s, _)| *s == id));
        let root = repo.load_tree(&snapshot.tree).unwrap();
        let chunk = root.nodes[0].content[0];
        assert_eq!(
            repo.read_blob(BlobType::Data, &chunk).unwrap(),
            b"late content"
        );
    }

    /// Between the two steps a backup announces itself; the list it chose
    /// its parent from is the one returned.
    #[test]
    fn the_listing_is_kept_until_the_index_is_loaded() {
        let (_dir, repo) = fresh_repo();
        let (first, _) = snapshot_of(&repo, &[Entry::File("a.txt", b"one")]);
        let listed = Listed::list(&repo).unwrap();
        assert_eq!(listed.snapshots().snapshots.len(), 1);
        snapshot_of(&reopen(&repo), &[Entry::File("b.txt", b"two")]);
        let opened = listed.load_index().unwrap();
        assert_eq!(opened.snapshots.snapshots.len(), 1);
        assert_eq!(opened.snapshots.snapshots[0].0, first);
    }

    /// A long-lived reader follows another process's backups by adding the
    /// new index files, and loads the index whole again after a prune
    /// removed one; with nothing new it does nothing.
    #[test]
    fn a_refresh_adds_new_index_files_and_reloads_after_one_was_removed() {
        let (_dir, repo) = fresh_repo();
        assert!(!repo.index_is_loaded());
        assert!(repo.refresh_index().unwrap(), "never loaded: loaded");
        assert!(!repo.refresh_index().unwrap(), "nothing new");
        let other = reopen(&repo);
        let (id, snapshot) = snapshot_of(&other, &[Entry::File("a.txt", b"late content")]);
        assert!(matches!(
            repo.load_tree(&snapshot.tree),
            Err(crate::RepoError::BlobNotFound(_))
        ));
        let before = repo.index_generation();
        assert!(
            repo.refresh_index().unwrap(),
            "a backup added an index file"
        );
        assert_ne!(repo.index_generation(), before);
        let root = repo.load_tree(&snapshot.tree).unwrap();
        assert_eq!(
            repo.read_blob(BlobType::Data, &root.nodes[0].content[0])
                .unwrap(),
            b"late content"
        );
        assert_eq!(repo.load_snapshot(&id).unwrap().tree, snapshot.tree);

        // A prune replaces index files: the index is loaded whole again.
        let known = repo
            .backend()
            .list(reprise_storage::ObjectKind::Index)
            .unwrap();
        let (_, second) = snapshot_of(&other, &[Entry::File("b.txt", b"second")]);
        repo.backend()
            .remove(reprise_storage::ObjectKind::Index, &known[0].name)
            .unwrap();
        assert!(repo.refresh_index().unwrap());
        assert!(repo.load_tree(&second.tree).is_ok());
        assert!(!repo.refresh_index().unwrap());
    }

    #[test]
    fn a_snapshot_is_read_by_its_id_and_a_missing_or_altered_one_named() {
        let (dir, repo) = fresh_repo();
        let (id, snapshot) = snapshot_of(&repo, &[Entry::File("a.txt", b"one")]);
        assert_eq!(repo.load_snapshot(&id).unwrap().tree, snapshot.tree);
        let missing = reprise_format::SnapshotId::from_bytes([7; 32]);
        assert!(matches!(
            repo.load_snapshot(&missing),
            Err(crate::RepoError::SnapshotNotFound(_))
        ));
        let path = dir.path().join("repo/snapshots").join(id.to_hex());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            repo.load_snapshot(&id),
            Err(crate::RepoError::SnapshotDamaged { .. })
        ));
    }
}
