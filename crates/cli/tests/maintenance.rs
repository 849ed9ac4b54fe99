//! Retention and maintenance through the command line: `forget` (and why a
//! flagged snapshot never takes a clean one's place), two-phase `prune`,
//! `prune` alongside a running backup, `copy` to a second repository, and
//! the attacks a client holding the key can try: chunk poisoning, forged
//! snapshots, garbage index files.

use crate::common::*;
use reprise_format::{BlobType, IndexFile, IndexPack, PackEntry, PackId, Snapshot};
use reprise_repo::{BlobSaver, Repository};
use reprise_storage::{Backend, LocalBackend, ObjectKind};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::sync::Arc;

fn backup(repo: &TestRepo, dir: &Path) -> Value {
    repo.json([
        "backup".as_ref(),
        "--no-detection".as_ref(),
        dir.as_os_str(),
    ])
}

/// A JSON array of ids, sorted: prune reports packs in no particular order.
fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn pack_bytes(repo: &TestRepo) -> u64 {
    repo.pack_files().iter().map(|(_, n)| n).sum()
}

/// The repository opened in this process, as a client holding the key.
fn open(repo: &TestRepo) -> Repository {
    Repository::open(Arc::new(LocalBackend::new(&repo.repo)), PASSWORD.as_bytes()).unwrap()
}

#[test]
fn forget_drops_what_the_policy_does_not_keep_and_prune_frees_its_space() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for seed in 1..=3 {
        write_random_file(&src.join("registre.db"), 3 << 20, seed);
        backup(&repo, &src);
    }
    let before = pack_bytes(&repo);
    let ids = repo.snapshot_ids();

    let dry = repo.json(["forget", "--keep-last", "1", "--dry-run"]);
    let fates: Vec<bool> = dry["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keep"].as_bool().unwrap())
        .collect();
    assert_eq!(fates, vec![false, false, true], "{dry:#}");
    assert_eq!(repo.snapshot_ids(), ids, "a dry run removes nothing");

    let out = repo
        .cmd()
        .args(["forget", "--keep-last", "1", "--prune", "--grace", "0"])
        .output()
        .unwrap();
    assert_success(&out, "forget --prune");
    assert_eq!(repo.snapshot_ids(), vec![ids[2].clone()]);
    let after = pack_bytes(&repo);
    assert!(
        after * 2 < before,
        "prune freed too little: {before} -> {after} bytes"
    );
    repo.assert_check_ok(true);
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_restored_content(&target, &src);

    let out = repo.cmd().arg("forget").output().unwrap();
    assert_exit(&out, 1, "forget without a policy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keep-"));
}

#[test]
fn prune_marks_first_and_deletes_once_the_grace_period_has_passed() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for seed in 1..=2 {
        write_random_file(&src.join("paie.db"), 2 << 20, seed);
        backup(&repo, &src);
    }
    repo.json(["forget", "--keep-last", "1"]);
    let packs = repo.pack_files();

    let dry = repo.json(["prune", "--dry-run"]);
    assert!(!dry["marked"].as_array().unwrap().is_empty(), "{dry:#}");
    let first = repo.json(["prune"]);
    assert_eq!(ids(&first["marked"]), ids(&dry["marked"]), "{first:#}");
    assert_eq!(first["deleted"].as_array().unwrap().len(), 0, "{first:#}");
    assert_eq!(repo.pack_files(), packs, "the mark phase deletes nothing");

    let second = repo.json(["prune"]);
    assert_eq!(second["marked"].as_array().unwrap().len(), 0);
    assert_eq!(ids(&second["waiting"]), ids(&first["marked"]), "{second:#}");

    let last = repo.json(["prune", "--grace", "0"]);
    assert_eq!(ids(&last["deleted"]), ids(&first["marked"]), "{last:#}");
    assert!(repo.pack_files().len() < packs.len());
    repo.assert_check_ok(true);
}

#[test]
fn a_flagged_snapshot_never_takes_the_place_of_a_clean_one() {
    let repo = TestRepo::new();
    let share = repo.path().join("share");
    fs::create_dir_all(&share).unwrap();
    for i in 0..12u64 {
        let text = format!("Délibération n°{i} du conseil municipal.\n").repeat(200);
        fs::write(share.join(format!("note-{i}.txt")), text).unwrap();
    }
    repo.backup_json(&[&share]);
    for i in 0..12u64 {
        let path = share.join(format!("note-{i}.txt"));
        let plain = fs::read(&path).unwrap();
        let key = reprise_sample::random_bytes(plain.len(), i);
        let cipher: Vec<u8> = plain.iter().zip(key).map(|(a, b)| a ^ b).collect();
        fs::write(path.with_extension("txt.locked"), cipher).unwrap();
        fs::remove_file(path).unwrap();
    }
    fs::write(share.join("HOW-TO-DECRYPT.txt"), "Pay 2 BTC.\n").unwrap();
    let out = repo.cmd().arg("backup").arg(&share).output().unwrap();
    assert_exit(&out, 4, "backup of the encrypted share");
    let ids = repo.snapshot_ids();

    // A naive keep-last 1 would keep only the attack snapshot.
    let forget = repo.json(["forget", "--keep-last", "1"]);
    let rows = forget["snapshots"].as_array().unwrap();
    assert_eq!(
        rows[0]["keep"], true,
        "the clean snapshot stays: {forget:#}"
    );
    assert_eq!(rows[1]["standing"], "flagged");
    assert_eq!(
        rows[1]["keep"], true,
        "newer than every clean one: kept for review"
    );
    assert_eq!(repo.snapshot_ids(), ids);
}

#[test]
fn copy_to_a_second_repository_is_incremental_and_restores() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..8 {
        write_random_file(&src.join(format!("acte-{i}.pdf")), 600_000, i);
    }
    backup(&repo, &src);
    let offline = repo.path().join("offline");
    let offline_pw = repo.password_file_with("offline-password", "another password");
    let out = reprise()
        .arg("--repo")
        .arg(&offline)
        .env("REPRISE_NEW_PASSWORD", "another password")
        .arg("init")
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "init of the offline repository");
    let copy = |repo: &TestRepo| {
        repo.json([
            "copy".as_ref(),
            "--to".as_ref(),
            offline.as_os_str(),
            "--to-password-file".as_ref(),
            offline_pw.as_os_str(),
        ])
    };
    let first = copy(&repo);
    assert_eq!(first["copied"].as_array().unwrap().len(), 1, "{first:#}");

    write_random_file(&src.join("acte-3.pdf"), 600_000, 99);
    backup(&repo, &src);
    let second = copy(&repo);
    assert_eq!(second["copied"].as_array().unwrap().len(), 1, "{second:#}");
    assert_eq!(second["already_there"].as_array().unwrap().len(), 1);
    let added = second["bytes_added"].as_u64().unwrap();
    assert!(
        added < 2_000_000,
        "an incremental copy sends the change, not the share: {added} bytes"
    );
    assert_eq!(copy(&repo)["copied"].as_array().unwrap().len(), 0);

    let offline_cmd = || {
        let mut c = reprise();
        c.arg("--repo")
            .arg(&offline)
            .env("REPRISE_PASSWORD_FILE", &offline_pw);
        c
    };
    let target = repo.path().join("target");
    let out = offline_cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "restore from the offline copy");
    assert_restored_content(&target, &src);
    let out = offline_cmd()
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    assert_success(&out, "check of the offline copy");
}

#[test]
fn prune_alongside_a_running_backup_loses_nothing() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..60 {
        write_random_file(&src.join(format!("f{i}")), 1 << 20, i);
    }
    backup(&repo, &src);
    // Forget it: all its packs become unreferenced...
    let small = repo.path().join("small");
    fs::create_dir(&small).unwrap();
    fs::write(small.join("x"), "x").unwrap();
    fs::rename(&src, repo.path().join("old")).unwrap();
    fs::rename(&small, &src).unwrap();
    backup(&repo, &src);
    repo.json(["forget", "--keep-last", "1"]);
    // ...while the next backup holds the same data again, and more.
    fs::remove_dir_all(&src).unwrap();
    fs::rename(repo.path().join("old"), &src).unwrap();
    for i in 60..120 {
        write_random_file(&src.join(format!("f{i}")), 1 << 20, i);
    }
    let mut running = repo
        .std_cmd()
        .args(["backup", "--no-detection", "--quiet"])
        .arg(&src)
        .spawn()
        .unwrap();
    let mut prunes = 0;
    loop {
        let out = repo
            .cmd()
            .args(["prune", "--grace", "0", "--quiet"])
            .output()
            .unwrap();
        assert_success(&out, "prune during a backup");
        prunes += 1;
        if running.try_wait().unwrap().is_some() {
            break;
        }
    }
    assert!(running.wait().unwrap().success());
    assert!(prunes >= 1);
    repo.json(["prune", "--grace", "0"]);
    repo.assert_check_ok(true);
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_restored_content(&target, &src);
}

/// A backend through which a backup announces its start just before the
/// first mark is written: between prune's listing of marks and its own
/// prune mark, the window a prune without grace period must not miss.
struct BackupStartsBeforeTheMark {
    inner: Arc<dyn Backend>,
    announce: Box<dyn Fn() + Send + Sync>,
    done: std::sync::atomic::AtomicBool,
}

impl Backend for BackupStartsBeforeTheMark {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> reprise_storage::Result<()> {
        self.inner.create()
    }
    fn list(&self, kind: ObjectKind) -> reprise_storage::Result<Vec<reprise_storage::ObjectInfo>> {
        self.inner.list(kind)
    }
    fn read(&self, kind: ObjectKind, name: &str) -> reprise_storage::Result<Vec<u8>> {
        self.inner.read(kind, name)
    }
    fn read_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> reprise_storage::Result<Vec<u8>> {
        self.inner.read_range(kind, name, offset, len)
    }
    fn size(&self, kind: ObjectKind, name: &str) -> reprise_storage::Result<u64> {
        self.inner.size(kind, name)
    }
    fn write_once(
        &self,
        kind: ObjectKind,
        name: &str,
        data: &[u8],
    ) -> reprise_storage::Result<reprise_storage::WriteOutcome> {
        if kind == ObjectKind::Mark && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            (self.announce)();
        }
        self.inner.write_once(kind, name, data)
    }
    fn remove(&self, kind: ObjectKind, name: &str) -> reprise_storage::Result<()> {
        self.inner.remove(kind, name)
    }
}

/// Two backups of one changed file, the first forgotten: its packs are
/// unreferenced, waiting for prune.
fn a_forgotten_snapshot() -> TestRepo {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    write_random_file(&src.join("a"), 2 << 20, 1);
    backup(&repo, &src);
    write_random_file(&src.join("a"), 2 << 20, 2);
    backup(&repo, &src);
    repo.json(["forget", "--keep-last", "1"]);
    repo
}

#[test]
fn prune_without_grace_spares_a_backup_that_began_while_it_was_marking() {
    let repo = a_forgotten_snapshot();
    let packs_before = repo.pack_files().len();
    // The backup that begins in the window: it has announced itself, and
    // loads an index where the forgotten packs carry no mark yet.
    let client = Arc::new(open(&repo));
    let announcer = Arc::clone(&client);
    let backend = BackupStartsBeforeTheMark {
        inner: Arc::new(LocalBackend::new(&repo.repo)),
        announce: Box::new(move || {
            announcer.announce_start(&["/srv/partage".into()]).unwrap();
        }),
        done: Default::default(),
    };
    let pruner = Repository::open(Arc::new(backend), PASSWORD.as_bytes()).unwrap();
    let options = reprise_maintenance::PruneOptions {
        grace: chrono::Duration::zero(),
        dry_run: false,
    };
    let report = reprise_maintenance::prune(&pruner, &options, chrono::Utc::now()).unwrap();
    assert!(report.mark_written.is_some(), "{report:?}");
    assert!(
        report.deleted.is_empty(),
        "nothing deleted under the backup: {report:?}"
    );
    assert!(!report.held_by_running.is_empty(), "{report:?}");
    assert_eq!(repo.pack_files().len(), packs_before);
}

#[test]
fn prune_spares_what_a_backup_still_running_may_use() {
    let repo = a_forgotten_snapshot();
    // A backup announces itself, as every backup does before loading the
    // index, and has not written its snapshot yet.
    let client = open(&repo);
    let session = client.announce_start(&["/srv/partage".into()]).unwrap();
    let held = repo.json(["prune", "--grace", "0"]);
    assert_eq!(held["backups_running"], 1, "{held:#}");
    assert_eq!(held["deleted"].as_array().unwrap().len(), 0, "{held:#}");
    assert!(!ids(&held["held_by_running"]).is_empty(), "{held:#}");
    assert_eq!(held["running"][0]["paths"][0], "/srv/partage", "{held:#}");
    // The text names the backup it waits for, not the grace period.
    let out = repo.cmd().args(["prune", "--grace", "0"]).output().unwrap();
    assert_success(&out, "prune");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("a backup of /srv/partage on host") && text.contains("considered dead after"),
        "{text}"
    );
    // Its snapshot lands: the packs are free to go.
    let (_, mut snapshot) = client.list_snapshots().unwrap().snapshots.remove(0);
    snapshot.session = Some(session);
    snapshot.paths = vec!["/srv/partage".into()];
    client.save_snapshot(&snapshot).unwrap();
    let freed = repo.json(["prune", "--grace", "0"]);
    assert_eq!(freed["backups_running"], 0, "{freed:#}");
    assert!(
        !freed["deleted"].as_array().unwrap().is_empty(),
        "{freed:#}"
    );
    repo.assert_check_ok(true);
}

#[test]
fn a_poisoned_chunk_is_named_by_check_and_healed_by_the_next_backup() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    let content = random_bytes(7, 300_000);
    // The attacker, who holds the key, stores garbage under the id of a
    // chunk that a clean client will back up later.
    let attacker = open(&repo);
    attacker.load_index().unwrap();
    let id = BlobType::Data.id_of(attacker.key(), &content);
    let saver = BlobSaver::new(&attacker);
    saver
        .save_with_id(BlobType::Data, id, &random_bytes(8, 300_000))
        .unwrap();
    saver.finish(Vec::new()).unwrap();

    fs::write(src.join("etat-civil.odt"), &content).unwrap();
    backup(&repo, &src);
    let out = repo.check(true);
    assert_exit(&out, 1, "check of the poisoned repository");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("blob {id}")), "{text}");
    assert!(text.contains("etat-civil.odt"), "names the file: {text}");
    assert!(text.contains("marked 1 damaged"), "{text}");
    // A restore refuses the garbage rather than writing it.
    let out = repo
        .cmd()
        .args(["restore", "latest", "--target"])
        .arg(repo.path().join("bad"))
        .output()
        .unwrap();
    assert_exit(&out, 3, "restore of the poisoned file");

    // The next backup stores the chunk again: both snapshots restore.
    backup(&repo, &src);
    let out = repo.check(true);
    assert_no_panic(&out);
    for snapshot in repo.snapshot_ids() {
        let target = repo.path().join(format!("t-{}", &snapshot[..8]));
        repo.restore_json(&snapshot, &target);
        assert_restored_content(&target, &src);
    }
}

#[test]
fn forged_snapshots_and_garbage_index_files_do_not_hurt_the_others() {
    let repo = TestRepo::new();
    let src = repo.path().join("src");
    fs::create_dir(&src).unwrap();
    write_random_file(&src.join("budget.ods"), 1 << 20, 3);
    backup(&repo, &src);
    let attacker = open(&repo);
    let real = attacker.list_snapshots().unwrap().snapshots[0].1.clone();
    // Ten snapshots dated a year ahead, and ten dated two years back.
    for n in 0..20i64 {
        let mut forged: Snapshot = real.clone();
        forged.time = if n < 10 {
            real.time + chrono::Duration::days(365 + n)
        } else {
            real.time - chrono::Duration::days(700 + n)
        };
        attacker.save_snapshot(&forged).unwrap();
    }
    // An index file that places blobs in a pack full of nothing.
    let garbage = IndexFile {
        packs: vec![IndexPack {
            id: PackId::from_bytes([7; 32]),
            entries: vec![PackEntry {
                blob_type: BlobType::Data,
                id: real.tree,
                offset: 0,
                sealed_len: 100,
                raw_len: 50,
                delta: false,
            }],
        }],
    };
    let sealed = garbage.seal(attacker.key()).unwrap();
    let name = hex::encode(reprise_crypto::storage_hash(&sealed));
    attacker
        .backend()
        .write_once(ObjectKind::Index, &name, &sealed)
        .unwrap();
    attacker
        .backend()
        .write_once(ObjectKind::Index, &"ab".repeat(32), b"not an index at all")
        .unwrap();

    // The forgeries are the newest objects: kept for review, but the real
    // snapshot keeps its place.
    let forget = repo.json(["forget", "--keep-last", "1", "--keep-yearly", "3"]);
    let rows = forget["snapshots"].as_array().unwrap();
    let standing = |s: &str| rows.iter().filter(|r| r["standing"] == s).count();
    assert_eq!(
        (
            standing("trusted"),
            standing("future_dated"),
            standing("late_arrival")
        ),
        (1, 10, 10),
        "{forget:#}"
    );
    let real_row = rows.iter().find(|r| r["standing"] == "trusted").unwrap();
    assert_eq!(real_row["keep"], true, "{forget:#}");
    let real_id = real_row["snapshot_id"].as_str().unwrap().to_string();

    // The next real backup: the future-dated forgeries are older than it by
    // the storage's clock and count for nothing; the past-dated ones only
    // take yearly slots no real snapshot wanted.
    write_random_file(&src.join("budget.ods"), 1 << 20, 4);
    backup(&repo, &src);
    let forget = repo.json(["forget", "--keep-last", "1", "--keep-yearly", "3"]);
    let rows = forget["snapshots"].as_array().unwrap();
    for r in rows.iter().filter(|r| r["standing"] == "future_dated") {
        assert_eq!(r["keep"], false, "{r:#}");
    }
    let trusted: Vec<&Value> = rows.iter().filter(|r| r["standing"] == "trusted").collect();
    assert_eq!(trusted.len(), 2);
    assert_eq!(
        trusted.iter().filter(|r| r["keep"] == true).count(),
        1,
        "{forget:#}"
    );
    let newest = trusted.iter().find(|r| r["keep"] == true).unwrap();
    assert_ne!(
        newest["snapshot_id"].as_str().unwrap(),
        real_id,
        "the newest real one is kept"
    );
    assert!(
        rows.iter()
            .filter(|r| r["standing"] == "late_arrival" && r["keep"] == true)
            .count()
            <= 2
    );

    // Restores go on working through the garbage index files.
    let target = repo.path().join("target");
    repo.restore_json("latest", &target);
    assert_restored_content(&target, &src);
    // Check names the garbage, and no snapshot is affected by it.
    let out = repo.check(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&"ab".repeat(32)), "{text}");
    assert!(text.contains(&"07".repeat(32)), "{text}");
    assert!(!text.contains("affects snapshot"), "{text}");
}
