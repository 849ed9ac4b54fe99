//! Snapshots whose trees are damaged or forged: a flipped byte in one tree
//! blob fails only that directory's restore; a snapshot shaped as a graph
//! that reuses its subtrees (2^40 paths from 41 blobs) is refused by every
//! walk instead of walked for ever; `latest` says when it passes over a
//! newer snapshot it cannot read.

use crate::common::*;
use reprise_format::{BlobId, BlobType, Node, NodeKind, Snapshot, Tree};
use reprise_repo::walk::resolve;
use reprise_repo::{BlobSaver, Repository};
use reprise_storage::LocalBackend;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The repository opened in this process, as a client holding the key.
fn open(repo: &TestRepo) -> Repository {
    let r = Repository::open(Arc::new(LocalBackend::new(&repo.repo)), PASSWORD.as_bytes()).unwrap();
    r.load_index().unwrap();
    r
}

/// `backup --no-detection SRC`: the data is random, which detection
/// would rightly call encrypted. Returns the snapshot id.
fn backup(repo: &TestRepo, src: &Path) -> String {
    let summary = repo.json([
        "backup".as_ref(),
        "--no-detection".as_ref(),
        src.as_os_str(),
    ]);
    summary["snapshot_id"].as_str().unwrap().to_string()
}

/// Two directories of files: `mairie/` and `ecole/`.
fn two_directories(repo: &TestRepo) -> std::path::PathBuf {
    let src = repo.path().join("src");
    for dir in ["mairie", "ecole"] {
        fs::create_dir_all(src.join(dir)).unwrap();
        for i in 0..5u64 {
            write_random_file(&src.join(dir).join(format!("f{i}.odt")), 20_000, i + 1);
        }
    }
    src
}

/// Flips one byte inside the sealed bytes of blob `id`, in its pack file.
fn damage_blob(repo: &TestRepo, r: &Repository, id: &BlobId) {
    let (pack, loc) = r.index().get(id).expect("blob in the index");
    let hex = pack.to_hex();
    let path = repo.repo.join("data").join(&hex[..2]).join(&hex);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let at = u64::from(loc.offset) + u64::from(loc.sealed_len) / 2;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5a], at).unwrap();
}

#[test]
fn a_damaged_tree_fails_only_its_directory_and_the_rest_is_restored() {
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    backup(&repo, &src);
    let r = open(&repo);
    let (_, snapshot) = r.list_snapshots().unwrap().snapshots.pop().unwrap();
    let mairie = [snap_path(&src).as_str(), "/mairie"].concat();
    let node = resolve(&r, &snapshot.tree, mairie.as_bytes())
        .unwrap()
        .unwrap();
    damage_blob(&repo, &r, &node.subtree.unwrap());

    let (target, out) = restore_latest(&repo);
    assert_exit(&out, 3, "restore with one damaged tree");
    let report = parse_json(&out.stdout);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    let failed = failures[0]["path"].as_str().unwrap();
    assert!(
        failed.ends_with("/mairie"),
        "names the directory: {report:#}"
    );
    let message = failures[0]["message"].as_str().unwrap();
    assert!(message.contains("cannot be read"), "{message}");
    let restored_src = restored(&target, &src);
    assert_same_tree(
        &src.join("ecole"),
        &restored_src.join("ecole"),
        Compare::default(),
    );
    assert!(restored_src.join("mairie").is_dir());
}

/// A tree whose two directories both name `below`.
fn fork_to(saver: &BlobSaver, below: BlobId) -> BlobId {
    let nodes = ["a", "b"]
        .map(|name| {
            let mut dir = Node::new(name.as_bytes().to_vec(), NodeKind::Dir);
            dir.mode = 0o755;
            dir.subtree = Some(below);
            dir
        })
        .to_vec();
    saver
        .save(BlobType::Tree, &Tree { nodes }.to_json().unwrap())
        .unwrap()
        .0
}

/// The attacker's snapshot: a copy of the newest one with the tree that
/// `build` stores and the date `date` gives it. Returns its id.
fn forge_from_latest(
    repo: &TestRepo,
    build: impl FnOnce(&BlobSaver) -> BlobId,
    date: impl FnOnce(chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc>,
) -> String {
    let r = open(repo);
    let (_, real) = r.list_snapshots().unwrap().snapshots.pop().unwrap();
    let saver = BlobSaver::new(&r);
    let tree = build(&saver);
    saver.finish(Vec::new()).unwrap();
    let forged = Snapshot {
        tree,
        time: date(real.time),
        ..real
    };
    r.save_snapshot(&forged).unwrap().to_hex()
}

/// A forged snapshot whose tree is `levels` forks over one small file,
/// dated a second after the real one so that it is `latest`. With
/// `missing_leaf`, the file's one chunk is in no pack.
fn forge_dag_snapshot(repo: &TestRepo, levels: usize, missing_leaf: bool) {
    let build = |saver: &BlobSaver| {
        let (content, _) = saver.save(BlobType::Data, b"bonjour").unwrap();
        let content = match missing_leaf {
            true => BlobId::from_bytes([7; 32]),
            false => content,
        };
        let mut file = Node::new(b"leaf.txt".to_vec(), NodeKind::File);
        file.mode = 0o644;
        file.size = 7;
        file.content = vec![content];
        let (mut tree, _) = saver
            .save(
                BlobType::Tree,
                &Tree { nodes: vec![file] }.to_json().unwrap(),
            )
            .unwrap();
        for _ in 0..levels {
            tree = fork_to(saver, tree);
        }
        tree
    };
    forge_from_latest(repo, build, |real| real + chrono::Duration::seconds(1));
}

/// `restore latest --json` into a fresh `target` directory.
fn restore_latest(repo: &TestRepo) -> (std::path::PathBuf, std::process::Output) {
    let target = repo.path().join("target");
    let out = repo
        .cmd()
        .args(["restore", "latest", "--json", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    (target, out)
}

/// Runs `reprise ARGS`, its output going to files (a walk may print a
/// lot before it is refused), and kills it after a minute: on a graph
/// snapshot the walks used to run for ever.
fn run_bounded(repo: &TestRepo, args: &[String]) -> (Ending, String) {
    let out_path = repo.path().join("walk.out");
    let err_path = repo.path().join("walk.err");
    let mut child = repo
        .std_cmd()
        .args(args)
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let ending = kill_when(&mut child, Duration::from_secs(60), || false);
    let stderr = fs::read_to_string(&err_path).unwrap();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (ending, stderr)
}

#[test]
fn a_snapshot_whose_trees_reuse_subtrees_is_refused_by_every_walk() {
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    backup(&repo, &src);
    forge_dag_snapshot(&repo, 40, false);
    let target = repo.path().join("target");
    let target = target.to_str().unwrap();
    let ids = repo.snapshot_ids();
    let walks: [&[&str]; 7] = [
        &["ls", "latest"],
        &["find", "leaf.txt"],
        &["diff", &ids[0], &ids[1]],
        &["detect", "latest"],
        &["dump", "latest", "/"],
        &["restore", "latest", "--target", target],
        &["restore", "latest", "--last-clean", "--target", target],
    ];
    for args in walks {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (ending, stderr) = run_bounded(&repo, &args);
        assert!(
            matches!(ending, Ending::Exited(Some(1))),
            "{args:?} ends with exit 1, not {ending:?}: {stderr}"
        );
        assert!(
            stderr.contains("expands to more than"),
            "{args:?} names the reason: {stderr}"
        );
    }
    let target = Path::new(target);
    assert!(
        !target.exists() || files_under(target).len() < 1000,
        "the refused restore did not write the expansion"
    );
    // The honest snapshot is still walked normally.
    let first = &repo.snapshot_ids()[0];
    repo.restore_json(first, &repo.path().join("honest"));
}

#[test]
fn check_of_a_graph_snapshot_over_a_missing_chunk_ends_and_names_it() {
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    backup(&repo, &src);
    forge_dag_snapshot(&repo, 40, true);
    let args = vec!["check".to_string(), "--json".to_string()];
    let (ending, stderr) = run_bounded(&repo, &args);
    assert!(
        matches!(ending, Ending::Exited(Some(1))),
        "check ends with exit 1 (damage found), not {ending:?}: {stderr}"
    );
    let report = fs::read_to_string(repo.path().join("walk.out")).unwrap();
    let missing = BlobId::from_bytes([7; 32]).to_string();
    assert!(report.contains(&missing), "names the chunk: {report}");
}

#[test]
fn a_small_graph_snapshot_within_its_recorded_totals_is_walked() {
    // Subtrees shared honestly (identical directories) stay restorable:
    // 2^4 = 16 copies of one file is within any snapshot's margin.
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    backup(&repo, &src);
    forge_dag_snapshot(&repo, 4, false);
    let out = repo.cmd().args(["ls", "latest"]).output().unwrap();
    assert_success(&out, "ls of a small shared-subtree snapshot");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.matches("leaf.txt").count(), 16, "{listed}");
}

#[test]
fn latest_says_when_it_passes_over_a_newer_snapshot_it_cannot_read() {
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    let older = backup(&repo, &src);
    let newer = backup(&repo, &src);
    let path = repo.repo.join("snapshots").join(&newer);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    for args in [&["ls", "latest"][..], &["restore", "latest", "--target"]] {
        let mut cmd = repo.cmd();
        cmd.args(args);
        if args[0] == "restore" {
            cmd.arg(repo.path().join("target"));
        }
        let out = cmd.output().unwrap();
        assert_success(&out, args[0]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&newer),
            "names the unreadable one: {stderr}"
        );
        assert!(stderr.contains(&older[..8]), "names the one used: {stderr}");
    }
}

#[test]
fn latest_is_never_a_snapshot_dated_after_the_storage_received_it() {
    let repo = TestRepo::new();
    let src = two_directories(&repo);
    let real = backup(&repo, &src);
    // The attacker's copy of it, emptied and dated 2099: were it `latest`,
    // a restore at 3 a.m. would bring back nothing.
    let empty = |saver: &BlobSaver| {
        saver
            .save(BlobType::Tree, &Tree::default().to_json().unwrap())
            .unwrap()
            .0
    };
    let forged = forge_from_latest(&repo, empty, |_| "2099-01-01T00:00:00Z".parse().unwrap());

    let (target, out) = restore_latest(&repo);
    assert_success(&out, "restore latest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&forged[..8]), "names the forgery: {stderr}");
    assert!(stderr.contains(&real[..8]), "names the one used: {stderr}");
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
    // Still reachable by id, for whoever wants to look at it.
    let out = repo.cmd().args(["ls", &forged]).output().unwrap();
    assert_success(&out, "ls of the forgery by id");
}
