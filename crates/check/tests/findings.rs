//! What `check` reports for repositories damaged or tampered with in known ways.
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_backup::{BackupOptions, BackupProgress};
use reprise_check::{CheckOptions, CheckProgress, CheckReport, Severity};
use reprise_crypto::KdfParams;
use reprise_format::{BlobType, IndexFile, IndexPack, PackEntry};
use reprise_repo::{InitOptions, Repository};
use reprise_storage::{Backend, LocalBackend, ObjectKind};
use std::path::Path;
use std::sync::Arc;

/// A repository holding one snapshot of three files of random data.
fn backed_up(tmp: &Path) -> (Arc<dyn Backend>, Repository) {
    let source = tmp.join("source");
    std::fs::create_dir_all(&source).unwrap();
    for i in 0..3u64 {
        std::fs::write(
            source.join(format!("f{i}.bin")),
            reprise_sample::random_bytes(300_000, i),
        )
        .unwrap();
    }
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(tmp.join("repo")));
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    let repo = Repository::init(Arc::clone(&backend), b"pw", &options).unwrap();
    let backup = BackupOptions::new(vec![source], "h");
    reprise_backup::run(&repo, backup, &BackupProgress::default()).unwrap();
    (backend, repo)
}

fn check(backend: &Arc<dyn Backend>) -> CheckReport {
    let repo = Repository::open(Arc::clone(backend), b"pw").unwrap();
    let options = CheckOptions {
        read_data: true,
        read_data_percent: None,
    };
    reprise_check::run(&repo, &options, &CheckProgress::default()).unwrap()
}

#[test]
fn a_clean_repository_has_no_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let (backend, _) = backed_up(tmp.path());
    let report = check(&backend);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.blobs_verified >= 4);
}

#[test]
fn a_forged_index_entry_is_a_warning_not_data_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let (backend, repo) = backed_up(tmp.path());
    let index = repo.index();
    let mut data: Vec<_> = index
        .blobs()
        .filter(|(_, l)| l.blob_type == BlobType::Data)
        .map(|(id, l)| (*id, *l))
        .collect();
    data.sort_by_key(|(_, l)| l.offset);
    let (victim, victim_loc) = data[0];
    let (_, other_loc) = data[1];
    let pack = index.pack_id(other_loc.pack).unwrap();
    drop(index);
    let forged = IndexFile {
        packs: vec![IndexPack {
            id: pack,
            entries: vec![PackEntry {
                blob_type: BlobType::Data,
                id: victim,
                offset: other_loc.offset,
                sealed_len: other_loc.sealed_len,
                raw_len: victim_loc.raw_len,
                delta: false,
            }],
        }],
    };
    let sealed = forged.seal(repo.key()).unwrap();
    backend
        .write_once(
            ObjectKind::Index,
            &hex::encode(reprise_crypto::storage_hash(&sealed)),
            &sealed,
        )
        .unwrap();

    let report = check(&backend);
    assert_eq!(report.errors(), 0, "{:?}", report.findings);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == "index_mismatch" && f.severity == Severity::Warning),
        "{:?}",
        report.findings
    );
}

#[test]
fn a_flipped_byte_names_the_damaged_file_and_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (backend, repo) = backed_up(tmp.path());
    let index = repo.index();
    let (id, loc) = index
        .blobs()
        .find(|(_, l)| l.blob_type == BlobType::Data)
        .map(|(id, l)| (*id, *l))
        .unwrap();
    let pack = index.pack_id(loc.pack).unwrap().to_hex();
    drop(index);
    let path = tmp.path().join("repo/data").join(&pack[..2]).join(&pack);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[loc.offset as usize + 100] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();

    let report = check(&backend);
    let finding = report
        .findings
        .iter()
        .find(|f| f.code == "blob_damaged")
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    assert_eq!(finding.object, format!("blob {id}"));
    assert_eq!(finding.affected.len(), 1, "{finding:?}");
    assert!(finding.affected[0].path.ends_with(".bin"), "{finding:?}");
    assert!(report.findings.iter().any(|f| f.code == "pack_damaged"));
}

/// Path of a pack file in the local layout.
fn pack_path(tmp: &Path, pack: &str) -> std::path::PathBuf {
    tmp.join("repo/data").join(&pack[..2]).join(pack)
}

/// `check` skips hashing a pack whose authenticated blobs and header cover
/// every byte; these are the damages that skip must not hide.
#[test]
fn a_pack_swapped_for_another_or_grown_is_an_error() {
    for damage in ["swapped", "appended"] {
        let tmp = tempfile::tempdir().unwrap();
        let (backend, repo) = backed_up(tmp.path());
        let index = repo.index();
        let pack_of = |t: BlobType| {
            let (_, loc) = index.blobs().find(|(_, l)| l.blob_type == t).unwrap();
            index.pack_id(loc.pack).unwrap().to_hex()
        };
        let (data, tree) = (pack_of(BlobType::Data), pack_of(BlobType::Tree));
        drop(index);
        let target = pack_path(tmp.path(), &data);
        let mut bytes = std::fs::read(&target).unwrap();
        match damage {
            "swapped" => bytes = std::fs::read(pack_path(tmp.path(), &tree)).unwrap(),
            _ => bytes.extend_from_slice(b"garbage"),
        }
        std::fs::write(&target, bytes).unwrap();
        let report = check(&backend);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.code == "pack_damaged" && f.severity == Severity::Error),
            "{damage}: {:?}",
            report.findings
        );
    }
}
