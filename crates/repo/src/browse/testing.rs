//! Small repositories for the unit tests of the read side: a fresh
//! repository in a temporary directory, and snapshots written from a
//! nested description of their files.

use crate::{BlobSaver, InitOptions, Repository, WalkBudget};
use reprise_crypto::KdfParams;
use reprise_format::{BlobId, BlobType, Node, NodeKind, Snapshot, SnapshotId, Tree};
use reprise_storage::LocalBackend;
use std::sync::Arc;

/// An entry of a test snapshot.
pub(crate) enum Entry<'a> {
    File(&'a str, &'a [u8]),
    /// A file whose content is one chunk per slice.
    Chunked(&'a str, &'a [&'a [u8]]),
    Dir(&'a str, Vec<Entry<'a>>),
}

pub(crate) fn fresh_repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    let repo = Repository::init(backend, b"pw", &options).unwrap();
    (dir, repo)
}

/// The same repository opened a second time, with an index of its own.
pub(crate) fn reopen(repo: &Repository) -> Repository {
    Repository::open(repo.shared_backend(), b"pw").unwrap()
}

/// Writes `entries` as a snapshot (packs, index, then the snapshot).
pub(crate) fn snapshot_of(repo: &Repository, entries: &[Entry]) -> (SnapshotId, Snapshot) {
    let saver = BlobSaver::new(repo);
    let tree = save_tree(&saver, entries);
    saver.finish(Vec::new()).unwrap();
    let snapshot = snapshot_with_tree(tree);
    (repo.save_snapshot(&snapshot).unwrap(), snapshot)
}

pub(crate) fn snapshot_with_tree(tree: BlobId) -> Snapshot {
    Snapshot {
        version: 1,
        time: chrono::Utc::now(),
        tree,
        paths: vec!["/srv".into()],
        hostname: "mairie".into(),
        username: "root".into(),
        uid: 0,
        gid: 0,
        tags: Vec::new(),
        parent: None,
        excludes: Vec::new(),
        program_version: "test".into(),
        summary: None,
        detection: None,
        original: None,
        session: None,
        paths_bytes: None,
    }
}

/// Saves a tree of the given nodes as they are (sorted by name first).
pub(crate) fn save_nodes(saver: &BlobSaver, mut nodes: Vec<Node>) -> BlobId {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let json = serde_json::to_vec(&Tree { nodes }).unwrap();
    saver.save(BlobType::Tree, &json).unwrap().0
}

fn save_tree(saver: &BlobSaver, entries: &[Entry]) -> BlobId {
    let nodes = entries.iter().map(|e| node_of(saver, e)).collect();
    save_nodes(saver, nodes)
}

fn node_of(saver: &BlobSaver, entry: &Entry) -> Node {
    match entry {
        Entry::File(name, content) => file_node(saver, name, &[content]),
        Entry::Chunked(name, chunks) => file_node(saver, name, chunks),
        Entry::Dir(name, entries) => {
            let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::Dir);
            node.mode = 0o755;
            node.subtree = Some(save_tree(saver, entries));
            node
        }
    }
}

fn file_node(saver: &BlobSaver, name: &str, chunks: &[&[u8]]) -> Node {
    let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    node.mode = 0o644;
    for chunk in chunks {
        node.content
            .push(saver.save(BlobType::Data, chunk).unwrap().0);
        node.size += chunk.len() as u64;
    }
    node
}

/// A budget large enough for any test snapshot.
pub(crate) fn budget() -> WalkBudget {
    WalkBudget::new("the test snapshot", 10_000)
}
