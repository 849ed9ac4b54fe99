//! The retention guarantee of issue 11, as a property: for random histories
//! of a share (benign work, attacks, slow drips, second waves, and unchanged
//! nightly backups after each) and random policies, `forget --prune` never
//! changes what `restore --last-clean` of the newest snapshot gives back.
//! Everything runs through the real `reprise` command.

use crate::common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const DIRS: [&str; 3] = ["finances", "etat-civil", "urbanisme"];
const FILES_PER_DIR: usize = 12;

/// One thing that happens to the share before a night's backup.
#[derive(Debug, Clone)]
enum Event {
    /// A few documents edited, one added.
    Work { seed: u64 },
    /// Ten or more documents of one directory encrypted into `*.lock`
    /// copies, originals deleted, a note dropped.
    Attack { dir: usize, seed: u64 },
    /// One or two documents encrypted in place, no note.
    Drip { seed: u64 },
    /// Nothing changed.
    Quiet,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => any::<u64>().prop_map(|seed| Event::Work { seed }),
        2 => (0..DIRS.len(), any::<u64>()).prop_map(|(dir, seed)| Event::Attack { dir, seed }),
        2 => any::<u64>().prop_map(|seed| Event::Drip { seed }),
        1 => Just(Event::Quiet),
    ]
}

/// A history: events, each followed by 0 to 3 unchanged nightly backups.
fn history() -> impl Strategy<Value = Vec<(Event, usize)>> {
    prop::collection::vec((event(), 0usize..=3), 2..=5)
}

fn policy() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (1u32..=3).prop_map(|n| vec!["--keep-last".to_string(), n.to_string()]),
        (1u32..=7).prop_map(|n| vec!["--keep-daily".to_string(), n.to_string()]),
        Just(vec!["--keep-hourly".to_string(), "2".to_string()]),
        Just(vec![
            "--keep-last".to_string(),
            "1".to_string(),
            "--keep-weekly".to_string(),
            "4".to_string()
        ]),
    ]
}

fn document(dir: &str, i: usize, version: u64) -> String {
    (0..60)
        .map(|l| format!("{dir} document {i} version {version}, ligne {l}: registre, mandat\n"))
        .collect()
}

fn make_share(root: &Path) {
    for dir in DIRS {
        fs::create_dir_all(root.join(dir)).unwrap();
        for i in 0..FILES_PER_DIR {
            fs::write(
                root.join(dir).join(format!("doc{i}.txt")),
                document(dir, i, 0),
            )
            .unwrap();
        }
    }
}

/// The plain documents of a directory, sorted.
fn documents(dir: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("LISEZ")
        })
        .collect();
    docs.sort();
    docs
}

fn encrypted(data: &[u8], seed: u64) -> Vec<u8> {
    let key = random_bytes(seed, data.len());
    data.iter().zip(&key).map(|(a, b)| a ^ b).collect()
}

fn apply(share: &Path, event: &Event) {
    match *event {
        Event::Work { seed } => {
            let mut rng = crate::common::Rng::new(seed);
            for _ in 0..3 {
                let dir = DIRS[rng.below(3) as usize];
                let docs = documents(&share.join(dir));
                if let Some(doc) = docs.get(rng.below(docs.len().max(1) as u64) as usize) {
                    let mut text = fs::read(doc).unwrap();
                    if text.iter().all(|b| b.is_ascii()) {
                        text.extend_from_slice(format!("edit {seed}\n").as_bytes());
                        fs::write(doc, text).unwrap();
                    }
                }
            }
            let dir = DIRS[rng.below(3) as usize];
            fs::write(
                share.join(dir).join(format!("new-{seed:x}.txt")),
                document(dir, 99, seed),
            )
            .unwrap();
        }
        Event::Attack { dir, seed } => {
            let dir = share.join(DIRS[dir]);
            for (n, doc) in documents(&dir).into_iter().enumerate() {
                let data = fs::read(&doc).unwrap();
                let mut target = doc.clone().into_os_string();
                target.push(".lock");
                fs::write(&target, encrypted(&data, seed + n as u64)).unwrap();
                fs::remove_file(&doc).unwrap();
            }
            fs::write(
                dir.join("LISEZ-MOI-RANCON.txt"),
                "Vos fichiers sont chiffrés. Payez 1 BTC pour les déchiffrer: wallet 1A2b3C.\n",
            )
            .unwrap();
        }
        Event::Drip { seed } => {
            let mut rng = crate::common::Rng::new(seed);
            for _ in 0..1 + rng.below(2) {
                let dir = DIRS[rng.below(3) as usize];
                let docs = documents(&share.join(dir));
                if let Some(doc) = docs.get(rng.below(docs.len().max(1) as u64) as usize) {
                    let data = fs::read(doc).unwrap();
                    fs::write(doc, encrypted(&data, seed)).unwrap();
                }
            }
        }
        Event::Quiet => {}
    }
}

fn backup(repo: &TestRepo, share: &Path) {
    let out = repo
        .cmd()
        .arg("--quiet")
        .arg("backup")
        .arg(share)
        .output()
        .unwrap();
    assert_no_panic(&out);
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 4)), "backup: {}", describe(&out));
}

/// What `restore latest --last-clean` gives back: every file and its bytes.
fn last_clean(repo: &TestRepo, share: &Path, name: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let target = repo.path().join(name);
    let out = repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_no_panic(&out);
    // Exit 3 when some flagged file has no clean version at all (the first
    // backup already encrypted): the same before and after.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        describe(&out)
    );
    let root = restored(&target, share);
    if !root.exists() {
        return BTreeMap::new();
    }
    files_under(&root)
        .into_iter()
        .map(|p| {
            let data = fs::read(root.join(&p)).unwrap();
            (p, data)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn forget_never_changes_what_the_last_clean_restore_gives_back(
        events in history(),
        policy in policy(),
    ) {
        let repo = TestRepo::new();
        let share = repo.path().join("share");
        make_share(&share);
        backup(&repo, &share);
        for (event, quiet_nights) in &events {
            apply(&share, event);
            backup(&repo, &share);
            for _ in 0..*quiet_nights {
                backup(&repo, &share);
            }
        }
        let before = last_clean(&repo, &share, "before");
        let mut forget = vec!["forget", "--prune", "--grace", "0"];
        forget.extend(policy.iter().map(String::as_str));
        let out = repo.cmd().args(&forget).output().unwrap();
        assert_success(&out, "forget --prune");
        let after = last_clean(&repo, &share, "after");
        let lost: Vec<_> = before
            .iter()
            .filter(|(p, data)| after.get(*p) != Some(*data))
            .map(|(p, _)| p.display().to_string())
            .collect();
        let gained: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
        prop_assert!(
            lost.is_empty() && gained.is_empty(),
            "{events:?} under {policy:?}: lost or changed {lost:?}, appeared {gained:?}"
        );
    }
}
