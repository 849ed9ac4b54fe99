//! A path inside a snapshot (`reprise restore SNAPSHOT:/path`, `ls`,
//! `dump`), resolved to its node: one reading of such paths for every
//! command. Empty and `.` components are ignored, so `/a//b/` and `a/./b`
//! name `/a/b`; a `..` component names nothing (no entry of a snapshot can
//! be called `..`), and neither does a path through a file.

use crate::walk::{components, join, SnapshotPath};
use crate::{RepoError, Repository, Result};
use reprise_format::{BlobId, Node, NodeKind};

/// Splits a `SNAPSHOT:/path` argument into its snapshot selector and the
/// path, if one is given. Selectors (ids, `latest`) never hold a `:`.
pub fn split_selector(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once(':') {
        Some((selector, path)) => (selector, Some(path)),
        None => (arg, None),
    }
}

/// A path of a snapshot and what stands there.
#[derive(Debug, Clone)]
pub struct Subpath {
    /// The path, normalised: `/` for the root, else `/a/b`.
    pub path: SnapshotPath,
    /// The node at the path; `None` for the root, which has none.
    pub node: Option<Node>,
}

impl Subpath {
    /// The path of the directory that holds it (`/` for the root itself).
    pub fn parent(&self) -> SnapshotPath {
        match self.path.iter().rposition(|b| *b == b'/') {
            Some(0) | None => b"/".to_vec(),
            Some(i) => self.path.get(..i).unwrap_or(b"/").to_vec(),
        }
    }

    /// The tree of what is below it: the root tree for the root, the
    /// subtree of a directory, nothing for anything else.
    pub fn tree_below(&self, root: &BlobId) -> Option<BlobId> {
        match &self.node {
            None => Some(*root),
            Some(n) if n.kind == NodeKind::Dir => n.subtree,
            Some(_) => None,
        }
    }

    /// The entries it stands for, and the path of their directory: the
    /// contents of a directory (or of the root), or the entry itself when
    /// it is not a directory. What a restore of the path restores.
    pub fn entries(&self, repo: &Repository, root: &BlobId) -> Result<(Vec<Node>, SnapshotPath)> {
        match (&self.node, self.tree_below(root)) {
            (_, Some(tree)) => Ok((repo.load_tree(&tree)?.nodes, self.path.clone())),
            (Some(node), None) => Ok((vec![node.clone()], self.parent())),
            (None, None) => Err(self.not_found()),
        }
    }

    fn not_found(&self) -> RepoError {
        RepoError::PathNotFound(String::from_utf8_lossy(&self.path).into_owned())
    }
}

/// Finds what stands at `path` under the snapshot root tree `root`.
pub fn resolve_subpath(repo: &Repository, root: &BlobId, path: &[u8]) -> Result<Subpath> {
    let not_found = || RepoError::PathNotFound(String::from_utf8_lossy(path).into_owned());
    let mut resolved = Subpath {
        path: b"/".to_vec(),
        node: None,
    };
    for name in components(path) {
        if name == b".." {
            return Err(not_found());
        }
        let tree = resolved.tree_below(root).ok_or_else(not_found)?;
        let node = repo
            .load_tree(&tree)?
            .nodes
            .into_iter()
            .find(|n| n.name.as_bytes() == name)
            .ok_or_else(not_found)?;
        resolved.path = join(&resolved.path, name);
        resolved.node = Some(node);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{fresh_repo, snapshot_of, Entry};

    fn share(repo: &Repository) -> BlobId {
        let (_, snapshot) = snapshot_of(
            repo,
            &[Entry::Dir(
                "srv",
                vec![Entry::Dir("partage", vec![Entry::File("budget.ods", b"1")])],
            )],
        );
        snapshot.tree
    }

    #[test]
    fn a_selector_may_carry_a_path() {
        assert_eq!(
            split_selector("latest:/srv/partage"),
            ("latest", Some("/srv/partage"))
        );
        assert_eq!(split_selector("3fa2c1d0"), ("3fa2c1d0", None));
        assert_eq!(split_selector("latest:"), ("latest", Some("")));
    }

    #[test]
    fn empty_and_dot_components_are_ignored() {
        let (_dir, repo) = fresh_repo();
        let root = share(&repo);
        for path in ["/srv/partage", "srv//partage/", "/./srv/./partage//"] {
            let sub = resolve_subpath(&repo, &root, path.as_bytes()).unwrap();
            assert_eq!(sub.path, b"/srv/partage", "{path}");
            assert_eq!(sub.parent(), b"/srv");
            assert_eq!(sub.node.unwrap().kind, NodeKind::Dir);
        }
        for path in ["", "/", "//", "/."] {
            let sub = resolve_subpath(&repo, &root, path.as_bytes()).unwrap();
            assert_eq!(
                (sub.path.as_slice(), sub.node.is_none()),
                (&b"/"[..], true),
                "{path}"
            );
            assert_eq!(sub.parent(), b"/");
        }
    }

    #[test]
    fn dot_dot_and_paths_through_files_name_nothing() {
        let (_dir, repo) = fresh_repo();
        let root = share(&repo);
        for path in [
            "/srv/..",
            "/srv/partage/../partage",
            "/..",
            "/srv/partage/budget.ods/x",
            "/nope",
        ] {
            let err = resolve_subpath(&repo, &root, path.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, RepoError::PathNotFound(p) if p == path),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn entries_of_a_directory_and_of_a_file() {
        let (_dir, repo) = fresh_repo();
        let root = share(&repo);
        let dir = resolve_subpath(&repo, &root, b"/srv/partage").unwrap();
        let (nodes, base) = dir.entries(&repo, &root).unwrap();
        assert_eq!((nodes.len(), base.as_slice()), (1, &b"/srv/partage"[..]));
        let file = resolve_subpath(&repo, &root, b"/srv/partage/budget.ods").unwrap();
        assert_eq!(file.tree_below(&root), None);
        let (nodes, base) = file.entries(&repo, &root).unwrap();
        assert_eq!(nodes[0].name.as_bytes(), b"budget.ods");
        assert_eq!(base, b"/srv/partage");
        let (nodes, base) = resolve_subpath(&repo, &root, b"/")
            .unwrap()
            .entries(&repo, &root)
            .unwrap();
        assert_eq!((nodes.len(), base.as_slice()), (1, &b"/"[..]));
    }

    #[test]
    fn a_root_tree_that_is_missing_is_an_error() {
        let (_dir, repo) = fresh_repo();
        let missing = BlobId::from_bytes([4; 32]);
        let err = resolve_subpath(&repo, &missing, b"/srv").unwrap_err();
        assert!(matches!(err, RepoError::BlobNotFound(_)), "{err}");
    }
}
