//! Helpers shared by the integration tests of the `reprise` command: a
//! throw-away repository, commands isolated from the caller's `REPRISE_*`
//! environment, deterministic data, and an exact comparison of two trees.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

/// Removes from `cmd` every variable of this process's environment whose
/// name starts with `REPRISE_`: the settings of the caller's own reprise
/// (repository, password, token…) must never reach a command under test,
/// including variables added after these tests were written. The harness's
/// own `REPRISE_TEST_*` variables go too: tests read them in process and
/// hand a child what it needs explicitly (as `.env(..)` after this call).
/// Every command a test spawns (`reprise`, `setpriv reprise`, the bench
/// scripts) goes through here.
pub fn scrub_reprise_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    scrub_vars_named(cmd, std::env::vars_os().map(|(name, _)| name))
}

/// [`scrub_reprise_env`] over the variable names `names`.
fn scrub_vars_named(
    cmd: &mut std::process::Command,
    names: impl IntoIterator<Item = std::ffi::OsString>,
) -> &mut std::process::Command {
    for name in names {
        if name.as_bytes().starts_with(b"REPRISE_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

#[test]
fn every_reprise_variable_is_scrubbed_and_no_other() {
    let names = [
        "REPRISE_PASSWORD",
        "REPRISE_TO_PASSWORD_FILE",
        "REPRISE_S3_ADDRESSING",
        "REPRISE_TEST_S3_ENDPOINT",
        "REPRISE_A_VARIABLE_NOT_YET_INVENTED",
        "PATH",
        "AWS_REGION",
        "NOT_REPRISE_X",
        "reprise_lowercase",
    ];
    let mut cmd = std::process::Command::new("true");
    cmd.env("REPRISE_REPOSITORY", "/set/before");
    scrub_vars_named(&mut cmd, names.iter().map(std::ffi::OsString::from));
    let removed: BTreeSet<&OsStr> = cmd
        .get_envs()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name)
        .collect();
    let expected: BTreeSet<&OsStr> = names
        .iter()
        .filter(|n| n.starts_with("REPRISE_"))
        .map(OsStr::new)
        .collect();
    assert_eq!(removed, expected);
    // The scrub comes first: what a test sets afterwards reaches the child.
    cmd.env("REPRISE_PASSWORD", "set after");
    assert!(cmd
        .get_envs()
        .any(|(n, v)| n == "REPRISE_PASSWORD" && v.is_some()));
}

/// Cheap password hashing: these tests open repositories hundreds of times.
pub const FAST_KDF: [&str; 4] = ["--kdf-memory-mib", "8", "--kdf-iterations", "1"];

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_reprise"))
}

/// The workspace's root directory (crates/cli sits two levels below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli sits two levels below the workspace root")
        .to_path_buf()
}

/// The directory holding this build's `reprise` and the bench harnesses'
/// other two binaries (`reprise-detect-bench`, `reprise-bench-data`).
/// Cargo builds no binary of another package for an integration test, but
/// `cargo test --workspace` builds both (each package has an integration
/// test) with the workspace's features; the nested build below repeats that
/// very build, so under scripts/test-all it finds everything fresh. A build
/// of one package or with other targets would resolve other features and
/// rebuild dozens of crates (and a nested `--release` build a whole second
/// tree), which CI paid for in minutes.
pub fn bench_bin_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let dir = bin()
        .parent()
        .expect("the binary sits in a directory")
        .to_path_buf();
    let built = BUILT.get_or_init(|| {
        let mut build = std::process::Command::new(env!("CARGO"));
        build.current_dir(workspace_root()).args([
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--no-run",
            "--quiet",
        ]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let out = build
            .output()
            .map_err(|e| format!("cargo does not start: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!("cargo build of the bench binaries failed: {e}");
    }
    dir
}

/// `reprise` with no `REPRISE_*` variable set and no repository given.
pub fn reprise() -> Command {
    Command::from_std(reprise_std())
}

/// Same as [`reprise`], as a `std` command (for children that are killed).
pub fn reprise_std() -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    scrub_reprise_env(&mut c);
    c
}

/// A fresh repository in its own temporary directory, which also serves as
/// scratch space for the test's trees and restore targets.
pub struct TestRepo {
    pub dir: TempDir,
    pub repo: PathBuf,
    pub password_file: PathBuf,
}

impl TestRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let repo = dir.path().join("repo");
        let password_file = dir.path().join("password");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let r = TestRepo {
            dir,
            repo,
            password_file,
        };
        let out = r.cmd().arg("init").args(FAST_KDF).output().unwrap();
        assert_success(&out, "reprise init");
        r
    }

    /// The scratch directory (the repository is `path()/repo`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `reprise` pointed at this repository with its password.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = reprise_std();
        c.arg("--repo")
            .arg(&self.repo)
            .env("REPRISE_PASSWORD_FILE", &self.password_file);
        c
    }

    /// Writes another password file in the scratch directory.
    pub fn password_file_with(&self, name: &str, password: &str) -> PathBuf {
        let p = self.path().join(name);
        fs::write(&p, format!("{password}\n")).unwrap();
        p
    }

    /// Runs `reprise <args> --json`, asserts exit 0, and parses standard output.
    pub fn json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_json(self.cmd(), args)
    }

    /// `backup --json PATHS...`: the summary object.
    pub fn backup_json(&self, paths: &[&Path]) -> Value {
        let mut args: Vec<&OsStr> = vec![OsStr::new("backup")];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        self.json(args)
    }

    /// `snapshots --json`: the list, oldest first.
    pub fn snapshots(&self) -> Vec<Value> {
        self.json(["snapshots"])
            .as_array()
            .expect("snapshots --json is an array")
            .clone()
    }

    pub fn snapshot_ids(&self) -> Vec<String> {
        self.snapshots()
            .iter()
            .map(|s| s["snapshot_id"].as_str().expect("snapshot id").to_string())
            .collect()
    }

    /// `restore SNAPSHOT --target TARGET --json`, asserting exit 0 and no failures.
    pub fn restore_json(&self, snapshot: &str, target: &Path) -> Value {
        let report = self.json([
            OsStr::new("restore"),
            OsStr::new(snapshot),
            OsStr::new("--target"),
            target.as_os_str(),
        ]);
        assert_eq!(
            report["failures"].as_array().map(Vec::len),
            Some(0),
            "restore reported failures: {report:#}"
        );
        report
    }

    /// Runs `check` (optionally `--read-data`) and returns its output.
    pub fn check(&self, read_data: bool) -> Output {
        let mut c = self.cmd();
        c.arg("check");
        if read_data {
            c.arg("--read-data");
        }
        let out = c.output().unwrap();
        assert_no_panic(&out);
        out
    }

    /// Asserts `check` (and with `read_data`, `check --read-data`) exits 0.
    pub fn assert_check_ok(&self, read_data: bool) {
        let out = self.check(read_data);
        assert_success(
            &out,
            if read_data {
                "check --read-data"
            } else {
                "check"
            },
        );
    }

    /// Total size of the pack files of the repository.
    pub fn pack_files(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let Ok(dirs) = fs::read_dir(self.repo.join("data")) else {
            return out;
        };
        for d in dirs {
            let d = d.unwrap();
            if let Ok(files) = fs::read_dir(d.path()) {
                for f in files {
                    let f = f.unwrap();
                    out.push((f.path(), f.metadata().unwrap().len()));
                }
            }
        }
        out.sort();
        out
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `cmd <args> --json`, asserts exit 0, and parses standard output.
pub fn run_json<I, S>(mut cmd: Command, args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = cmd.args(&args).arg("--json").output().unwrap();
    assert_success(&out, &format!("reprise {args:?} --json"));
    parse_json(&out.stdout)
}

pub fn parse_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Parses JSON lines (`ls --json`).
pub fn parse_json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "the command panicked:\n{}",
        describe(out)
    );
}

pub fn assert_success(out: &Output, what: &str) {
    assert_no_panic(out);
    assert!(out.status.success(), "{what} failed:\n{}", describe(out));
}

pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_no_panic(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}:\n{}",
        describe(out)
    );
}

/// Where a backed-up absolute path lands when a whole snapshot is restored into `target`.
pub fn restored(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").expect("absolute source path"))
}

/// The path a snapshot gives to `p` (the absolute path, as text).
pub fn snap_path(p: &Path) -> String {
    p.to_str().expect("UTF-8 test path").to_string()
}

// ---------------------------------------------------------------------------
// Deterministic data

/// SplitMix64: fast, deterministic, and incompressible enough for zstd.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng::new(seed).fill(&mut v);
    v
}

/// Writes `len` pseudo-random bytes, 1 MiB at a time.
pub fn write_random_file(path: &Path, len: u64, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut f = File::create(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
}

// ---------------------------------------------------------------------------
// File system helpers

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Sets atime and mtime (with nanoseconds) without following symlinks.
pub fn set_mtime(path: &Path, sec: i64, nsec: i64) {
    // SAFETY: timespec is plain data; zeroed is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    ts.tv_sec = sec as libc::time_t;
    ts.tv_nsec = nsec as _;
    let times = [ts, ts];
    let c = cpath(path);
    // SAFETY: c is NUL-terminated and times points to two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        rc,
        0,
        "utimensat {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

pub fn mkfifo(path: &Path, mode: u32) {
    let c = cpath(path);
    // SAFETY: c is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `chown -R` without following symlinks.
pub fn chown_recursive(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for e in fs::read_dir(path).unwrap() {
            chown_recursive(&e.unwrap().path(), uid, gid);
        }
    }
}

/// True when the file system under `dir` accepts `user.*` extended attributes.
pub fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    fs::write(&probe, b"probe").unwrap();
    let ok = xattr::set(&probe, "user.reprise_probe", b"1").is_ok();
    fs::remove_file(&probe).unwrap();
    ok
}

/// All regular files under `root`, relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(root, &e.path(), out);
            } else if t.is_file() {
                out.push(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Sum of the sizes of the regular files under `root`.
pub fn tree_size(root: &Path) -> u64 {
    files_under(root)
        .iter()
        .map(|p| fs::metadata(root.join(p)).unwrap().len())
        .sum()
}

/// `None` if both files hold the same bytes, else a description of the first difference.
pub fn file_difference(a: &Path, b: &Path) -> Option<String> {
    let mut fa = match File::open(a) {
        Ok(f) => f,
        Err(e) => return Some(format!("cannot open {}: {e}", a.display())),
    };
    let mut fb = match File::open(b) {
        Ok(f) => f,
        Err(e) => return Some(format!("cannot open {}: {e}", b.display())),
    };
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if ba[..na] != bb[..nb] {
            let i = ba[..na]
                .iter()
                .zip(&bb[..nb])
                .position(|(x, y)| x != y)
                .unwrap_or(na.min(nb));
            return Some(format!("content differs at offset {}", offset + i as u64));
        }
        if na == 0 {
            return None;
        }
        offset += na as u64;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read error: {e}"),
        }
    }
    n
}

// ---------------------------------------------------------------------------
// Tree comparison

/// What [`assert_same_tree`] compares beyond names, types and contents.
#[derive(Debug, Clone, Copy)]
pub struct Compare {
    /// Compare `user.*` extended attributes (off when the file system refuses them).
    pub xattrs: bool,
    /// Compare the metadata (mode, owner, mtime) of the two roots themselves.
    pub root_metadata: bool,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            xattrs: true,
            root_metadata: true,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDev,
    BlockDev,
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    size: u64,
    blocks: u64,
    ino: u64,
    nlink: u64,
    target: Option<Vec<u8>>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn kind_of(t: fs::FileType) -> Kind {
    if t.is_dir() {
        Kind::Dir
    } else if t.is_symlink() {
        Kind::Symlink
    } else if t.is_fifo() {
        Kind::Fifo
    } else if t.is_socket() {
        Kind::Socket
    } else if t.is_char_device() {
        Kind::CharDev
    } else if t.is_block_device() {
        Kind::BlockDev
    } else {
        Kind::File
    }
}

fn user_xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(names) = xattr::list(path) {
        for n in names {
            if n.as_bytes().starts_with(b"user.") {
                let v = xattr::get(path, &n).ok().flatten().unwrap_or_default();
                out.insert(n.as_bytes().to_vec(), v);
            }
        }
    }
    out
}

fn scan_entry(path: &Path) -> Entry {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let kind = kind_of(m.file_type());
    Entry {
        kind,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
        size: m.len(),
        blocks: m.blocks(),
        ino: m.ino(),
        nlink: m.nlink(),
        target: (kind == Kind::Symlink)
            .then(|| fs::read_link(path).unwrap().as_os_str().as_bytes().to_vec()),
        xattrs: user_xattrs(path),
    }
}

/// Every entry under `root` (and `root` itself, as the empty path), by relative path bytes.
fn scan(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    fn walk(root: &Path, rel: &[u8], out: &mut BTreeMap<Vec<u8>, Entry>) {
        let path = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(OsStr::from_bytes(rel))
        };
        let entry = scan_entry(&path);
        let is_dir = entry.kind == Kind::Dir;
        out.insert(rel.to_vec(), entry);
        if is_dir {
            for e in fs::read_dir(&path).unwrap() {
                let name = e.unwrap().file_name();
                let mut child = rel.to_vec();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.as_bytes());
                walk(root, &child, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, b"", &mut out);
    out
}

/// Groups of paths that share an inode (hard links), as a comparable set.
fn link_groups(entries: &BTreeMap<Vec<u8>, Entry>) -> BTreeSet<Vec<Vec<u8>>> {
    let mut by_ino: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    for (p, e) in entries {
        if e.kind != Kind::Dir && e.nlink > 1 {
            by_ino.entry(e.ino).or_default().push(p.clone());
        }
    }
    // A group needs two names inside the tree: a link to something outside is just a file.
    by_ino
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect()
}

fn show(p: &[u8]) -> String {
    if p.is_empty() {
        "<root>".into()
    } else {
        String::from_utf8_lossy(p).into_owned()
    }
}

/// Asserts that the trees at `expected` and `actual` are identical: names
/// (byte-exact), types, contents, permission bits, owners, mtimes to the
/// nanosecond, symlink targets, `user.*` xattrs, hard-link groups, and that
/// files sparse in `expected` are sparse in `actual` too.
/// Asserts that the restore of `src` under `target` has the same names,
/// types and contents as `src` (not its root's metadata nor xattrs).
pub fn assert_restored_content(target: &Path, src: &Path) {
    assert_same_tree(
        src,
        &restored(target, src),
        Compare {
            xattrs: false,
            root_metadata: false,
        },
    );
}

pub fn assert_same_tree(expected: &Path, actual: &Path, opts: Compare) {
    let a = scan(expected);
    let b = scan(actual);
    let mut errors: Vec<String> = Vec::new();
    for p in a.keys().filter(|p| !b.contains_key(*p)) {
        errors.push(format!("missing from the restored tree: {}", show(p)));
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        errors.push(format!("unexpected in the restored tree: {}", show(p)));
    }
    for (p, x) in &a {
        let Some(y) = b.get(p) else { continue };
        let name = show(p);
        if x.kind != y.kind {
            errors.push(format!("{name}: type {:?} became {:?}", x.kind, y.kind));
            continue;
        }
        let check_meta = !p.is_empty() || opts.root_metadata;
        if check_meta {
            if x.mode != y.mode {
                errors.push(format!("{name}: mode {:o} became {:o}", x.mode, y.mode));
            }
            if (x.uid, x.gid) != (y.uid, y.gid) {
                errors.push(format!(
                    "{name}: owner {}:{} became {}:{}",
                    x.uid, x.gid, y.uid, y.gid
                ));
            }
            if x.mtime != y.mtime {
                errors.push(format!(
                    "{name}: mtime {}.{:09} became {}.{:09}",
                    x.mtime.0, x.mtime.1, y.mtime.0, y.mtime.1
                ));
            }
            if opts.xattrs && x.xattrs != y.xattrs {
                errors.push(format!(
                    "{name}: user xattrs {:?} became {:?}",
                    x.xattrs, y.xattrs
                ));
            }
        }
        if x.target != y.target {
            errors.push(format!(
                "{name}: symlink target {:?} became {:?}",
                x.target.as_deref().map(String::from_utf8_lossy),
                y.target.as_deref().map(String::from_utf8_lossy)
            ));
        }
        if x.kind == Kind::File {
            if x.size != y.size {
                errors.push(format!("{name}: size {} became {}", x.size, y.size));
            } else if let Some(d) = file_difference(
                &expected.join(OsStr::from_bytes(p)),
                &actual.join(OsStr::from_bytes(p)),
            ) {
                errors.push(format!("{name}: {d}"));
            }
            let (xa, ya) = (x.blocks * 512, y.blocks * 512);
            if x.size >= 1 << 20 && xa < x.size / 2 && (ya > x.size / 2 || ya > xa + (64 << 20)) {
                errors.push(format!(
                    "{name}: sparse file of {} bytes ({xa} allocated) was restored with {ya} bytes allocated",
                    x.size
                ));
            }
        }
    }
    let (ga, gb) = (link_groups(&a), link_groups(&b));
    if ga != gb {
        let fmt = |g: &BTreeSet<Vec<Vec<u8>>>| {
            g.iter()
                .map(|v| v.iter().map(|p| show(p)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        errors.push(format!(
            "hard-link groups differ: expected {:?}, restored {:?}",
            fmt(&ga),
            fmt(&gb)
        ));
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(40);
        panic!(
            "{} differs from {} ({n} difference(s)):\n  {}",
            actual.display(),
            expected.display(),
            errors.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------
// Child processes

/// How a child ended under [`kill_when`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself with this status code.
    Exited(Option<i32>),
    /// We sent SIGKILL.
    Killed,
}

/// Polls `condition` until it holds (then SIGKILLs the child), the child
/// exits by itself, or `timeout` passes (then kills it too). The kill lands
/// some time after the condition first held: a test must accept any later
/// point, including the child's own end (to crash at an exact point, see
/// `crash.rs`'s file size limit).
pub fn kill_when(
    child: &mut std::process::Child,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Ending {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ending::Exited(status.code());
        }
        if condition() || start.elapsed() > timeout {
            // kill() fails only if the child already exited: then report that.
            if child.kill().is_err() {
                let status = child.wait().unwrap();
                return Ending::Exited(status.code());
            }
            let status = child.wait().unwrap();
            use std::os::unix::process::ExitStatusExt;
            return match status.signal() {
                Some(_) => Ending::Killed,
                None => Ending::Exited(status.code()),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Names in a directory (empty if it does not exist).
pub fn names_in(dir: &Path) -> BTreeSet<std::ffi::OsString> {
    fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default()
}
