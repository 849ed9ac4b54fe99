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
}
