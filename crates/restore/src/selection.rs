//! What a restore of `SNAPSHOT:/path` puts back: the entries below the
//! path, the snapshot path of their directory, and, for a last-clean
//! restore, the plan that replaces what the attack touched with its last
//! clean version. One reading for `reprise restore` and the dashboard's
//! restore jobs.

use reprise_detect::LastClean;
use reprise_format::{Node, Snapshot, SnapshotId};
use reprise_repo::browse::{resolve_subpath, Subpath};
use reprise_repo::{Repository, Result, SnapshotList, WalkBudget};

use crate::{overlay_of, Overwrite, RestoreOptions};

/// Which versions a restore takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// The snapshot's, as they are.
    AsSnapshot,
    /// The last clean version of every file the attack touched;
    /// `all_changed` also of every file changed since.
    LastClean { all_changed: bool },
}

/// The entries a restore will write.
pub struct Selection {
    /// What stands at the path asked for.
    pub at: Subpath,
    pub nodes: Vec<Node>,
    /// The snapshot path of the directory that holds `nodes`.
    pub base: Vec<u8>,
    pub last_clean: Option<LastClean>,
}

/// Resolves `subpath` in `snapshot` (of `list`) and, for a last-clean
/// restore, works out the clean versions from the snapshots before it.
pub fn select(
    repo: &Repository,
    list: &SnapshotList,
    (id, snapshot): (&SnapshotId, &Snapshot),
    subpath: &[u8],
    versions: Versions,
) -> Result<Selection> {
    let at = resolve_subpath(repo, &snapshot.tree, subpath)?;
    let (nodes, base) = at.entries(repo, &snapshot.tree)?;
    let last_clean = match versions {
        Versions::AsSnapshot => None,
        Versions::LastClean { all_changed } => Some(reprise_detect::last_clean_with(
            repo,
            list,
            id,
            snapshot,
            all_changed,
        )?),
    };
    Ok(Selection {
        at,
        nodes,
        base,
        last_clean,
    })
}

impl Selection {
    /// The options a plain restore of this selection takes: the clean
    /// versions laid over the snapshot, the snapshot's own walk budget.
    pub fn options(
        &self,
        id: &SnapshotId,
        snapshot: &Snapshot,
        overwrite: Overwrite,
    ) -> RestoreOptions {
        RestoreOptions {
            overlay: self.last_clean.as_ref().map(overlay_of).unwrap_or_default(),
            budget: WalkBudget::for_snapshot(id, snapshot),
            overwrite,
            ..RestoreOptions::default()
        }
    }
}
