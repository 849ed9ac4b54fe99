//! Property: any generated tree, backed up and restored, comes back byte-exact
//! with its metadata (type, content, mode, mtime to the nanosecond, symlink
//! targets, non-UTF-8 names).
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use reprise_backup::{BackupOptions, BackupProgress};
use reprise_crypto::KdfParams;
use reprise_repo::walk::resolve;
use reprise_repo::{InitOptions, Repository};
use reprise_restore::{RestoreOptions, RestoreProgress};
use reprise_storage::LocalBackend;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Entry {
    File {
        content: Vec<u8>,
        mode: u32,
    },
    Dir {
        children: Vec<(Vec<u8>, Entry)>,
        mode: u32,
    },
    Symlink {
        target: Vec<u8>,
    },
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(|s| s.into_bytes()),
        Just("Délibération 2024.odt".as_bytes().to_vec()),
        Just(b"caf\xe9".to_vec()),
        Just(b"with space".to_vec()),
    ]
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 1..4096),
        (any::<u8>(), 600_000usize..1_200_000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let leaf = prop_oneof![
        (
            content(),
            prop::sample::select(vec![0o644u32, 0o600, 0o755, 0o400])
        )
            .prop_map(|(content, mode)| Entry::File { content, mode }),
        "[a-z./]{1,20}".prop_map(|t| Entry::Symlink {
            target: t.into_bytes()
        }),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        (
            proptest::collection::vec((name(), inner), 0..6),
            prop::sample::select(vec![0o755u32, 0o700, 0o2775]),
        )
            .prop_map(|(mut children, mode)| {
                children.sort_by(|a, b| a.0.cmp(&b.0));
                children.dedup_by(|a, b| a.0 == b.0);
                Entry::Dir { children, mode }
            })
    })
}

fn write(path: &Path, entry: &Entry, mtime_ns: i64) {
    match entry {
        Entry::File { content, mode } => {
            std::fs::write(path, content).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        Entry::Symlink { target } => {
            std::os::unix::fs::symlink(OsStr::from_bytes(target), path).unwrap()
        }
        Entry::Dir { children, mode } => {
            std::fs::create_dir(path).unwrap();
            for (i, (name, child)) in children.iter().enumerate() {
                write(
                    &path.join(OsStr::from_bytes(name)),
                    child,
                    mtime_ns + i as i64 * 7_777,
                );
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
    }
    let t = filetime::FileTime::from_unix_time(
        mtime_ns / 1_000_000_000,
        (mtime_ns % 1_000_000_000) as u32,
    );
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

fn assert_same(a: &Path, b: &Path) {
    let (ma, mb) = (
        std::fs::symlink_metadata(a).unwrap(),
        std::fs::symlink_metadata(b).unwrap(),
    );
    assert_eq!(ma.file_type(), mb.file_type(), "{}", b.display());
    assert_eq!(
        (ma.mtime(), ma.mtime_nsec()),
        (mb.mtime(), mb.mtime_nsec()),
        "mtime of {}",
        b.display()
    );
    if ma.file_type().is_symlink() {
        assert_eq!(
            std::fs::read_link(a).unwrap(),
            std::fs::read_link(b).unwrap()
        );
        return;
    }
    assert_eq!(ma.mode(), mb.mode(), "mode of {}", b.display());
    if ma.is_file() {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "content of {}",
            b.display()
        );
    } else {
        let mut names: Vec<_> = std::fs::read_dir(a)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut other: Vec<_> = std::fs::read_dir(b)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        other.sort();
        assert_eq!(names, other, "entries of {}", b.display());
        for n in names {
            assert_same(&a.join(&n), &b.join(&n));
        }
    }
}

fn cheap_repo(dir: &Path) -> Repository {
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    Repository::init(Arc::new(LocalBackend::new(dir)), b"pw", &options).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_tree_round_trips_with_metadata(children in proptest::collection::vec((name(), entry()), 0..6), mtime in 0i64..4_000_000_000_000_000_000) {
        let mut children = children;
        children.sort_by(|a, b| a.0.cmp(&b.0));
        children.dedup_by(|a, b| a.0 == b.0);
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("source");
        write(&source, &Entry::Dir { children, mode: 0o755 }, mtime);
        let repo = cheap_repo(&tmp.path().join("repo"));
        let options = BackupOptions::new(vec![source.clone()], "h");
        let report = reprise_backup::run(&repo, options, &BackupProgress::default()).unwrap();
        prop_assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let node = resolve(&repo, &report.snapshot.tree, source.as_os_str().as_bytes()).unwrap().unwrap();
        let target = tmp.path().join("target");
        let restored = reprise_restore::run(
            &repo,
            vec![node],
            b"/",
            &target,
            &RestoreOptions { verify: true, ..RestoreOptions::default() },
            &RestoreProgress::default(),
        )
        .unwrap();
        prop_assert!(restored.failures.is_empty(), "{:?}", restored.failures);
        assert_same(&source, &target.join("source"));
    }
}

/// Regression: a file holding exactly the bytes of an empty tree, beside an
/// empty directory, once shared a blob id with that tree and was never stored.
#[test]
fn a_file_with_the_bytes_of_a_tree_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source");
    std::fs::create_dir_all(source.join("empty")).unwrap();
    std::fs::write(source.join("looks-like-a-tree.json"), br#"{"nodes":[]}"#).unwrap();
    let repo = cheap_repo(&tmp.path().join("repo"));
    let options = BackupOptions::new(vec![source.clone()], "h");
    let report = reprise_backup::run(&repo, options, &BackupProgress::default()).unwrap();
    let node = resolve(&repo, &report.snapshot.tree, source.as_os_str().as_bytes())
        .unwrap()
        .unwrap();
    let target = tmp.path().join("target");
    let restored = reprise_restore::run(
        &repo,
        vec![node],
        b"/",
        &target,
        &RestoreOptions::default(),
        &RestoreProgress::default(),
    )
    .unwrap();
    assert!(restored.failures.is_empty(), "{:?}", restored.failures);
    assert_same(&source, &target.join("source"));
}
