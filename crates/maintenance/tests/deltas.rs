//! Dumps stored as deltas against the night before (format version 2):
//! nights with scattered changed rows cost a small part of a whole dump,
//! read back byte for byte, keep their chains bounded, survive a prune
//! after the snapshots holding their bases were forgotten, and a
//! version-1 repository gets none.
// Test helpers may panic: a panic is the test's verdict.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use reprise_backup::{BackupOptions, BackupProgress, Stream};
use reprise_crypto::KdfParams;
use reprise_format::blob::DELTA_DEPTH_WRITTEN_MAX;
use reprise_format::{BlobId, BlobType, SnapshotId};
use reprise_maintenance::{prune, PruneOptions};
use reprise_repo::reachable::keep_delta_bases;
use reprise_repo::{BlobSaver, DeltaBase, InitOptions, Repository};
use reprise_storage::{Backend, LocalBackend, ObjectKind};
use std::path::Path;
use std::sync::Arc;

const ROWS: usize = 12_000;

fn new_repo(dir: &Path, format_version: u32) -> Repository {
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.join("repo")));
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        pack_size_target: 256 * 1024,
        // Small chunks, so a dump of a MiB has a few dozen of them.
        chunk_min_avg_max: (16 * 1024, 32 * 1024, 128 * 1024),
        format_version,
        ..InitOptions::default()
    };
    Repository::init(backend, b"pw", &options).unwrap()
}

/// A plain-SQL dump on `night`: every night 1 % of the rows, one in a
/// hundred over the whole table (so every chunk has some), have a new
/// amount and label.
fn dump(night: u64) -> Vec<u8> {
    let mut out = b"COPY public.factures (id, abonne, montant, libelle) FROM stdin;\n".to_vec();
    for row in 0..ROWS as u64 {
        let last_change = (1..=night)
            .rev()
            .find(|n| (row + n * 37) % 100 == 0)
            .unwrap_or(0);
        let amount = (row * 7919 + last_change * 104_729) % 100_000;
        out.extend_from_slice(
            format!(
                "{row}\tabonne-{}\t{}.{:02}\tfacture d'eau du semestre {} rue des Lilas\n",
                row % 4_000,
                amount / 100,
                amount % 100,
                last_change
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\\.\n");
    // pg_dump ends with a line of its own too. Here it names the night, so
    // the last chunk, however short the chunker's random seed cuts it,
    // changes every night like the others (a short last chunk holding no
    // changed row was shared by every night, and the prune test below
    // found its premise false about one run in five).
    out.extend_from_slice(format!("-- dump of night {night} complete\n").as_bytes());
    out
}

/// A night's snapshot and its tree.
type Night = (SnapshotId, BlobId);

fn back_up(repo: &Repository, night: u64) -> Night {
    repo.load_index().unwrap();
    // This machine's name, as the backup's started mark records it: prune
    // then sees each forgotten night's backup as finished.
    let mut options = BackupOptions::new(Vec::new(), reprise_repo::hostname());
    options.detection = false;
    options.streams = vec![Stream {
        name: "factures.sql".into(),
        label: "dump".into(),
        open: Box::new(move || Ok(Box::new(std::io::Cursor::new(dump(night))))),
        allow_empty: false,
        delta: true,
    }];
    let report = reprise_backup::run(repo, options, &BackupProgress::default()).unwrap();
    (report.snapshot_id, report.snapshot.tree)
}

fn pack_bytes(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let m = e.metadata().unwrap();
                        if m.is_dir() {
                            walk(&e.path())
                        } else {
                            m.len()
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("repo").join("data"))
}

/// The dump a snapshot holds, and the longest chain of deltas among its
/// chunks.
fn read_back(repo: &Repository, night: &Night) -> (Vec<u8>, u32) {
    let tree = repo.load_tree(&night.1).unwrap();
    let node = tree
        .nodes
        .iter()
        .find(|n| n.name.0 == b"factures.sql")
        .unwrap();
    let mut out = Vec::new();
    let mut deepest = 0;
    for chunk in &node.content {
        let (data, depth) = repo.read_blob_with_depth(BlobType::Data, chunk).unwrap();
        out.extend_from_slice(&data);
        deepest = deepest.max(depth);
    }
    (out, deepest)
}

fn content(repo: &Repository, night: &Night) -> Vec<BlobId> {
    let tree = repo.load_tree(&night.1).unwrap();
    tree.nodes.into_iter().flat_map(|n| n.content).collect()
}

fn delta_blobs(repo: &Repository) -> usize {
    let index = repo.index();
    index
        .blobs()
        .filter(|(id, _)| index.has_delta_copy(id))
        .count()
}

/// Backs up night 0, then nights 1 to 4; returns the nights and the bytes
/// of packs nights 1 to 4 added.
fn five_nights(dir: &Path, repo: &Repository) -> (Vec<Night>, u64) {
    let mut nights = vec![back_up(repo, 0)];
    let one_night = pack_bytes(dir);
    for night in 1..=4 {
        nights.push(back_up(repo, night));
    }
    (nights, pack_bytes(dir) - one_night)
}

#[test]
fn nights_with_scattered_changes_cost_a_fraction_of_a_dump_and_read_back() {
    let whole_dir = tempfile::tempdir().unwrap();
    let (_, whole) = five_nights(whole_dir.path(), &new_repo(whole_dir.path(), 1));
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path(), 2);
    let (nights, deltas) = five_nights(dir.path(), &repo);
    assert!(
        deltas * 4 < whole,
        "4 nights with 1 % of rows changed took {deltas} bytes as deltas, {whole} whole"
    );
    let repo = Repository::open(repo.shared_backend(), b"pw").unwrap();
    repo.load_index().unwrap();
    assert!(delta_blobs(&repo) > 0);
    for (night, id) in nights.iter().enumerate() {
        let (data, depth) = read_back(&repo, id);
        assert!(data == dump(night as u64), "night {night} reads back wrong");
        assert!(depth <= night as u32);
    }
    assert!(read_back(&repo, &nights[4]).1 >= 2, "chains were made");
}

#[test]
fn a_prune_after_forgetting_the_first_nights_keeps_the_bases_of_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path(), 2);
    let nights: Vec<Night> = (0..4).map(|n| back_up(&repo, n)).collect();
    let first_chunks = content(&repo, &nights[0]);
    assert!(
        content(&repo, &nights[3])
            .iter()
            .all(|c| !first_chunks.contains(c)),
        "the last night shares no chunk with the first: only its chain keeps them"
    );
    for (id, _) in &nights[..3] {
        repo.backend()
            .remove(ObjectKind::Snapshot, &id.to_hex())
            .unwrap();
    }
    let options = PruneOptions {
        grace: Duration::zero(),
        dry_run: false,
    };
    let report = prune(&repo, &options, Utc::now() + Duration::days(30)).unwrap();
    assert!(!report.deleted.is_empty(), "{report:?}");
    let repo = Repository::open(repo.shared_backend(), b"pw").unwrap();
    repo.load_index().unwrap();
    let (data, depth) = read_back(&repo, &nights[3]);
    assert!(
        depth >= 2,
        "the last night is a chain over the forgotten ones"
    );
    assert!(data == dump(3), "the last night reads back after prune");
}

#[test]
fn chains_stop_at_their_limit_and_start_again_whole() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path(), 2);
    let nights = DELTA_DEPTH_WRITTEN_MAX as u64 + 2;
    let mut last = back_up(&repo, 0);
    for night in 1..=nights {
        last = back_up(&repo, night);
    }
    let repo = Repository::open(repo.shared_backend(), b"pw").unwrap();
    repo.load_index().unwrap();
    let (data, depth) = read_back(&repo, &last);
    assert!(data == dump(nights));
    assert!(depth <= DELTA_DEPTH_WRITTEN_MAX, "chain of {depth}");
}

#[test]
fn a_version_1_repository_stores_no_delta() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path(), 1);
    assert_eq!(repo.config().version, 1);
    back_up(&repo, 0);
    let second = back_up(&repo, 1);
    let repo = Repository::open(repo.shared_backend(), b"pw").unwrap();
    repo.load_index().unwrap();
    assert_eq!(delta_blobs(&repo), 0);
    assert!(read_back(&repo, &second).0 == dump(1));
}

#[test]
fn a_pack_holding_the_base_of_a_delta_in_a_pack_that_stays_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path(), 2);
    repo.load_index().unwrap();
    let base = dump(0);
    let changed = dump(1);
    // The base and the delta in packs of their own, as two backups would.
    let saver = BlobSaver::new(&repo);
    let (base_id, _) = saver.save(BlobType::Data, &base).unwrap();
    saver.finish(Vec::new()).unwrap();
    let saver = BlobSaver::new(&repo);
    let delta_id = BlobType::Data.id_of(repo.key(), &changed);
    let on = DeltaBase {
        id: base_id,
        data: &base,
    };
    saver
        .save_dump_chunk(delta_id, &changed, Some(&on))
        .unwrap();
    saver.finish(Vec::new()).unwrap();
    let pack_of = |id: &BlobId| repo.index().locations(id)[0].0;
    let (base_pack, delta_pack) = (pack_of(&base_id), pack_of(&delta_id));
    assert!(repo.index().has_delta_copy(&delta_id));

    // The delta's pack stays (some snapshot, or a running backup, needs
    // it): its base's pack may not go.
    let mut deletable = vec![base_pack];
    let kept = keep_delta_bases(&repo, &mut deletable).unwrap();
    assert_eq!((kept, deletable), (vec![base_pack], vec![]));
    // Both going: both may go.
    let mut deletable = vec![base_pack, delta_pack];
    assert!(keep_delta_bases(&repo, &mut deletable).unwrap().is_empty());
    assert_eq!(deletable.len(), 2);
}

#[test]
fn a_dump_is_compressed_at_the_dump_level_in_a_faster_repository() {
    // The same dump, as a dump and as a file, each into a repository of
    // its own at zstd level 1.
    let sealed_size = |as_dump: bool| {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
        let options = InitOptions {
            kdf: KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            zstd_level: 1,
            ..InitOptions::default()
        };
        let repo = Repository::init(backend, b"pw", &options).unwrap();
        repo.load_index().unwrap();
        let data = dump(0);
        let id = BlobType::Data.id_of(repo.key(), &data);
        let saver = BlobSaver::new(&repo);
        if as_dump {
            saver.save_dump_chunk(id, &data, None).unwrap();
        } else {
            saver.save_with_id(BlobType::Data, id, &data).unwrap();
        }
        saver.finish(Vec::new()).unwrap().bytes_added
    };
    let (plain, as_dump) = (sealed_size(false), sealed_size(true));
    // Measured: 2.5 % smaller on these very regular rows (4 % on the bench's).
    assert!(
        as_dump * 100 < plain * 99,
        "a dump took {as_dump} bytes, the same bytes as a file {plain}"
    );
}
