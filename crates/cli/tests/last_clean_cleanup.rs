//! Last-clean restore of an attack that writes each encrypted file under a
//! random name and deletes the original (LockBit 3.0 style), into a fresh
//! target and in place with the quarantine (issue 11, failures 3 and 6).

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

const DIRS: [&str; 3] = ["mairie", "ecole", "urbanisme"];
const FILES_PER_DIR: usize = 12;

/// Every regular file under `root` with its content.
fn listing(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(root.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Asserts two listings are equal, naming the paths that differ.
fn assert_same_listing(
    expected: &BTreeMap<PathBuf, Vec<u8>>,
    actual: &BTreeMap<PathBuf, Vec<u8>>,
    context: &str,
) {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let different: Vec<_> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && different.is_empty(),
        "missing {missing:?}\nextra {extra:?}\ndifferent {different:?}\n{context}"
    );
}

fn random_name(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// A share attacked LockBit-style, backed up before and after.
struct Attacked {
    repo: TestRepo,
    share: PathBuf,
    /// The share as the last clean backup saw it, plus the file created
    /// between that backup and the attack.
    expected: BTreeMap<PathBuf, Vec<u8>>,
    /// What the attack left (random-named copies and notes), relative to the share.
    left_by_attack: BTreeMap<PathBuf, Vec<u8>>,
}

/// Backs up a share of three directories, deletes a file (a deliberate
/// deletion, long before the attack), backs up, adds a file, then encrypts
/// every document into `<10 chars>.<6 chars>`, deletes the originals,
/// drops a note with its own ID in each directory, deletes a file in a
/// subdirectory the attack did not touch, and backs up again.
fn attacked_share() -> Attacked {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    for (d, dir) in DIRS.iter().enumerate() {
        fs::create_dir_all(share.join(dir)).unwrap();
        for i in 0..FILES_PER_DIR {
            let text = format!("Compte rendu {dir} n°{i}: délibération du conseil.\n")
                .repeat(40 + 7 * i + d);
            fs::write(share.join(dir).join(format!("doc-{i}.txt")), text).unwrap();
        }
    }
    // Untouched by the attack, in a directory it affected.
    fs::write(
        share.join("ecole/budget.csv"),
        "poste;montant\ncantine;1200\n",
    )
    .unwrap();
    fs::create_dir_all(share.join("mairie/archives")).unwrap();
    fs::write(share.join("mairie/archives/2019.txt"), "Archives 2019.\n").unwrap();
    fs::write(share.join("mairie/obsolete.txt"), "Ancienne version.\n").unwrap();
    repo.backup_json(&[&share]);
    fs::remove_file(share.join("mairie/obsolete.txt")).unwrap();
    repo.backup_json(&[&share]);
    fs::write(share.join("ecole/new-work.txt"), "Travail du jour.\n").unwrap();
    let expected = listing(&share);

    let mut rng = Rng::new(11);
    let mut left_by_attack = BTreeMap::new();
    for (d, dir) in DIRS.iter().enumerate() {
        for i in 0..FILES_PER_DIR {
            let original = share.join(dir).join(format!("doc-{i}.txt"));
            let plain = fs::read(&original).unwrap();
            let key = random_bytes((d * 100 + i) as u64, plain.len());
            let cipher: Vec<u8> = plain.iter().zip(key).map(|(a, b)| a ^ b).collect();
            let name = format!("{}.{}", random_name(&mut rng, 10), random_name(&mut rng, 6));
            fs::write(share.join(dir).join(&name), &cipher).unwrap();
            fs::remove_file(&original).unwrap();
            left_by_attack.insert(Path::new(dir).join(name), cipher);
        }
        let note = format!(
            "~~~ YOUR FILES ARE ENCRYPTED ~~~\nTo decrypt them, pay 0.5 bitcoin to our wallet.\nYour personal ID: {}\n",
            rng.next_u64()
        );
        let note_path = Path::new(dir).join("RESTORE-MY-FILES.txt");
        fs::write(share.join(&note_path), &note).unwrap();
        left_by_attack.insert(note_path, note.into_bytes());
    }
    // Not affected: no flagged file in this subdirectory.
    fs::remove_file(share.join("mairie/archives/2019.txt")).unwrap();
    let mut expected = expected;
    expected.remove(Path::new("mairie/archives/2019.txt"));
    let out = repo.cmd().arg("backup").arg(&share).output().unwrap();
    assert_no_panic(&out);
    assert!(
        matches!(out.status.code(), Some(0) | Some(4)),
        "backup after the attack: {}",
        describe(&out)
    );
    Attacked {
        repo,
        share,
        expected,
        left_by_attack,
    }
}

fn last_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn random_named_copies_are_left_out_and_listed_and_the_deleted_originals_come_back() {
    let a = attacked_share();
    let target = a.repo.path().join("clean");
    let out = a
        .repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean");
    let restored_share = restored(&target, &a.share);
    // The originals come back byte for byte, without copies or notes; the
    // old deletion and the deletion in an untouched subdirectory stay.
    assert_same_listing(&a.expected, &listing(&restored_share), &describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for rel in a.left_by_attack.keys() {
        let path = snap_path(&a.share.join(rel));
        assert!(
            stdout.contains(&format!("not restored (encrypted copy): {path}"))
                || stdout.contains(&format!("not restored (ransom note): {path}"))
                || stdout.contains(&format!("encrypted copy {path}")),
            "{path} is listed:\n{stdout}"
        );
    }
    let last = last_line(&out.stdout);
    assert!(
        last.starts_with(&format!(
            "Last-clean restore: {} recovered, {} not restored (",
            DIRS.len() * FILES_PER_DIR,
            DIRS.len() * (FILES_PER_DIR + 1)
        )) && last.contains(", 0 unrecoverable, 0 changed files not judged encrypted."),
        "{last}"
    );
}

#[test]
fn changed_files_not_judged_are_reported_and_all_changed_puts_them_back() {
    let a = attacked_share();
    // A document changed after the attack, in a plain way (not encrypted).
    let changed = a.share.join("ecole/budget.csv");
    fs::write(&changed, "poste;montant\ncantine;0\n").unwrap();
    let out = a.repo.cmd().arg("backup").arg(&a.share).output().unwrap();
    assert_no_panic(&out);
    let target = a.repo.path().join("partial");
    let out = a
        .repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 changed file in the affected directories was not judged encrypted"),
        "{stdout}"
    );
    assert!(last_line(&out.stdout).ends_with(", 1 changed file not judged encrypted."));
    let restored_changed = restored(&target, &changed);
    assert_eq!(
        fs::read(&restored_changed).unwrap(),
        b"poste;montant\ncantine;0\n"
    );

    let target = a.repo.path().join("all");
    let report = a.repo.json([
        OsStr::new("restore"),
        OsStr::new("latest"),
        OsStr::new("--last-clean"),
        OsStr::new("--all-changed"),
        OsStr::new("--target"),
        target.as_os_str(),
    ]);
    assert_eq!(
        report["last_clean_summary"]["changed_not_judged"], 1,
        "{report:#}"
    );
    // Everything as before the attack, budget.csv included.
    assert_same_listing(
        &a.expected,
        &listing(&restored(&target, &a.share)),
        &format!("{report:#}"),
    );
}

/// The quarantine directories made next to `share` (default names).
fn default_quarantines(share: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        "{}.reprise-quarantine-",
        share.file_name().unwrap().to_str().unwrap()
    );
    let mut found: Vec<PathBuf> = fs::read_dir(share.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[test]
fn in_place_puts_the_originals_back_and_moves_every_copy_and_note_to_quarantine() {
    let a = attacked_share();
    // Made, and edited, after the attack's backup: the users' work, kept.
    fs::write(a.share.join("mairie/after.txt"), "Écrit après l'attaque.\n").unwrap();
    fs::write(
        a.share.join("ecole/budget.csv"),
        "poste;montant\ncantine;900\n",
    )
    .unwrap();
    let mut expected = a.expected.clone();
    expected.insert(
        PathBuf::from("mairie/after.txt"),
        "Écrit après l'attaque.\n".as_bytes().to_vec(),
    );
    expected.insert(
        PathBuf::from("ecole/budget.csv"),
        b"poste;montant\ncantine;900\n".to_vec(),
    );
    let attacked = listing(&a.share);

    let out = a
        .repo
        .cmd()
        .args([
            "restore",
            "latest",
            "--last-clean",
            "--dry-run",
            "--in-place",
        ])
        .arg(&a.share)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean --in-place --dry-run");
    assert_same_listing(&attacked, &listing(&a.share), "a dry run changes nothing");
    assert!(
        default_quarantines(&a.share).is_empty(),
        "a dry run makes no quarantine"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would move to quarantine"), "{stdout}");
    assert!(
        last_line(&out.stdout).starts_with("Last-clean restore: 36 recovered, 39 to quarantine"),
        "{stdout}"
    );

    let out = a
        .repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--in-place"])
        .arg(&a.share)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean --in-place");
    assert_eq!(
        last_line(&out.stdout),
        "Last-clean restore: 36 recovered, 39 quarantined (36 encrypted copies, 3 notes), 0 unrecoverable, 0 changed files not judged encrypted.",
        "{}",
        describe(&out)
    );
    assert_same_listing(&expected, &listing(&a.share), &describe(&out));
    let quarantines = default_quarantines(&a.share);
    assert_eq!(quarantines.len(), 1, "{quarantines:?}");
    assert_same_listing(
        &a.left_by_attack,
        &listing(&quarantines[0]),
        "every copy and note, byte for byte, under its relative path",
    );
}

#[test]
fn in_place_does_not_follow_a_symlink_planted_where_a_directory_was() {
    let a = attacked_share();
    let outside = a.repo.path().join("outside");
    fs::rename(a.share.join("urbanisme"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, a.share.join("urbanisme")).unwrap();
    let outside_before = listing(&outside);
    let quarantine = a.repo.path().join("quarantine");
    let out = a
        .repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--json", "--in-place"])
        .arg(&a.share)
        .arg("--quarantine")
        .arg(&quarantine)
        .output()
        .unwrap();
    assert_exit(&out, 3, "in-place restore over a planted symlink");
    let report: Value = parse_json(&out.stdout);
    let failures = report["quarantine"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), FILES_PER_DIR + 1, "{report:#}");
    assert!(failures.iter().all(|f| {
        f["path"].as_str().unwrap().contains("/urbanisme/")
            && f["message"].as_str().unwrap().contains("not followed")
    }));
    assert_eq!(
        report["last_clean_summary"]["quarantined"],
        2 * (FILES_PER_DIR + 1),
        "{report:#}"
    );
    assert_same_listing(&outside_before, &listing(&outside), "nothing outside moved");
    assert!(!quarantine.join("urbanisme").exists());
    // The restore does not write through it either, and leaves it there.
    let restore_failures = report["failures"].as_array().unwrap();
    assert!(
        restore_failures.iter().any(|f| {
            f["path"].as_str().unwrap().ends_with("/urbanisme")
                && f["message"].as_str().unwrap().contains("not followed")
        }),
        "{report:#}"
    );
    assert!(fs::symlink_metadata(a.share.join("urbanisme"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn the_summary_of_a_partial_restore_counts_only_what_is_below_its_path() {
    let a = attacked_share();
    let target = a.repo.path().join("ecole-only");
    let out = a
        .repo
        .cmd()
        .arg("restore")
        .arg(format!("latest:{}", snap_path(&a.share.join("ecole"))))
        .args(["--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore latest:/…/ecole --last-clean");
    assert!(
        last_line(&out.stdout).starts_with(&format!(
            "Last-clean restore: {FILES_PER_DIR} recovered, {} not restored (",
            FILES_PER_DIR + 1
        )),
        "{}",
        describe(&out)
    );
    let expected: BTreeMap<PathBuf, Vec<u8>> = a
        .expected
        .iter()
        .filter_map(|(p, v)| Some((p.strip_prefix("ecole").ok()?.to_path_buf(), v.clone())))
        .collect();
    assert_same_listing(&expected, &listing(&target), &describe(&out));
}

#[test]
fn in_place_all_changed_quarantines_the_changed_version_and_puts_the_clean_one_back() {
    let a = attacked_share();
    let changed = a.share.join("ecole/budget.csv");
    fs::write(&changed, "poste;montant\ncantine;0\n").unwrap();
    let out = a.repo.cmd().arg("backup").arg(&a.share).output().unwrap();
    assert_no_panic(&out);
    let quarantine = a.repo.path().join("quarantine");
    let out = a
        .repo
        .cmd()
        .args([
            "restore",
            "latest",
            "--last-clean",
            "--all-changed",
            "--in-place",
        ])
        .arg(&a.share)
        .arg("--quarantine")
        .arg(&quarantine)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean --all-changed --in-place");
    assert_eq!(
        last_line(&out.stdout),
        "Last-clean restore: 37 recovered, 40 quarantined (36 encrypted copies, 3 notes, 1 changed version), 0 unrecoverable, 1 changed file not judged encrypted.",
        "{}",
        describe(&out)
    );
    assert_same_listing(&a.expected, &listing(&a.share), &describe(&out));
    assert_eq!(
        fs::read(quarantine.join("ecole/budget.csv")).unwrap(),
        b"poste;montant\ncantine;0\n"
    );
}

#[test]
fn a_file_encrypted_in_place_then_kept_by_quiet_backups_comes_back_clean_after_a_second_wave() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    fs::create_dir_all(share.join("finances")).unwrap();
    for i in 0..FILES_PER_DIR {
        let text = format!("finances document {i}, registre et mandat\n").repeat(60);
        fs::write(share.join(format!("finances/doc{i}.txt")), text).unwrap();
    }
    let before = listing(&share);
    let backup = |what: &str| {
        let out = repo.cmd().arg("backup").arg(&share).output().unwrap();
        assert_no_panic(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 4)),
            "{what}: {}",
            describe(&out)
        );
    };
    backup("first backup");
    // A slow drip: one document encrypted in place, then a quiet night.
    let doc9 = share.join("finances/doc9.txt");
    let plain = fs::read(&doc9).unwrap();
    let key = random_bytes(99, plain.len());
    fs::write(
        &doc9,
        plain
            .iter()
            .zip(&key)
            .map(|(a, b)| a ^ b)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    backup("the drip");
    backup("a quiet night");
    // The second wave renames every document, the encrypted one included.
    for i in 0..FILES_PER_DIR {
        let doc = share.join(format!("finances/doc{i}.txt"));
        let data = fs::read(&doc).unwrap();
        let key = random_bytes(1000 + i as u64, data.len());
        let cipher: Vec<u8> = data.iter().zip(key).map(|(a, b)| a ^ b).collect();
        fs::write(doc.with_extension("txt.lock"), cipher).unwrap();
        fs::remove_file(&doc).unwrap();
    }
    fs::write(
        share.join("finances/COMMENT-DECHIFFRER.txt"),
        "Vos fichiers sont chiffrés. Payez 1 BTC pour les déchiffrer: wallet 1A2b3C.\n",
    )
    .unwrap();
    backup("the second wave");
    backup("another quiet night");
    let target = repo.path().join("clean");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--last-clean", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore --last-clean");
    assert_same_listing(
        &before,
        &listing(&restored(&target, &share)),
        &describe(&out),
    );
}
