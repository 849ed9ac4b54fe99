//! Helpers for tests against a real S3 server (radosgw, started by
//! `scripts/s3-server`; `scripts/test-all` does it): the server from the
//! environment, a fresh bucket per test, the environment the `reprise`
//! command needs for an `s3:` repository, and [`s3_repo`] to make one.
//!
//! A test file uses them with, next to `mod common;`:
//! ```ignore
//! #[path = "common/s3.rs"]
//! mod s3_common;
//! use s3_common::*;
//! ```
//! (a path module, so that test binaries without S3 tests do not compile it).
//!
//! Tests that need S3 start with `let Some(server) = S3Server::from_env() else { return };`:
//! without `REPRISE_TEST_S3_ENDPOINT`, `REPRISE_TEST_S3_ACCESS_KEY` and
//! `REPRISE_TEST_S3_SECRET_KEY` they **fail**, unless `REPRISE_TEST_SKIP_S3=1`
//! says to skip them (then they print that they were skipped and pass).
#![allow(dead_code)]

use crate::common::{assert_success, reprise_std, run_json, FAST_KDF, PASSWORD};
use assert_cmd::Command;
use reprise_storage_s3::{S3Backend, S3Location, S3Settings};
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;
use tempfile::TempDir;

/// Variables of the AWS SDKs that the commands under test must never inherit
/// from the caller (`REPRISE_*` ones, such as `REPRISE_S3_ADDRESSING`, are
/// gone already: see [`crate::common::scrub_reprise_env`]).
pub const S3_ENV: [&str; 6] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
];

/// The test S3 server.
#[derive(Debug, Clone)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Server {
    /// The server named by `REPRISE_TEST_S3_*`. `None` (after saying so)
    /// only when `REPRISE_TEST_SKIP_S3=1`; otherwise a missing server fails
    /// the test, so that S3 tests never pass silently without running.
    pub fn from_env() -> Option<S3Server> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (
            var("REPRISE_TEST_S3_ENDPOINT"),
            var("REPRISE_TEST_S3_ACCESS_KEY"),
            var("REPRISE_TEST_S3_SECRET_KEY"),
        ) {
            (Some(endpoint), Some(access_key), Some(secret_key)) => Some(S3Server {
                endpoint,
                access_key,
                secret_key,
            }),
            _ if var("REPRISE_TEST_SKIP_S3").as_deref() == Some("1") => {
                eprintln!("skipped: needs an S3 server (REPRISE_TEST_SKIP_S3=1)");
                None
            }
            _ => panic!(
                "this test needs an S3 server: run scripts/test-all (it starts one), or \
                 `eval \"$(scripts/s3-server)\"` first; set REPRISE_TEST_SKIP_S3=1 to skip S3 tests"
            ),
        }
    }

    pub fn settings(&self) -> S3Settings {
        S3Settings {
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            session_token: None,
            region: S3Settings::DEFAULT_REGION.into(),
            addressing: None,
        }
    }

    /// A bucket name no other test (or test run) uses.
    pub fn unique_bucket(&self, tag: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut name = format!(
            "{tag}-{}-{}-{:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos & 0xffff_ffff
        );
        name.truncate(63);
        name.trim_end_matches('-').to_string()
    }

    /// The `s3:` location of `prefix` in `bucket`.
    pub fn location(&self, bucket: &str, prefix: &str) -> String {
        format!("s3:{}/{bucket}/{prefix}", self.endpoint)
    }

    /// A backend on `location`, for looking at objects behind the command's back.
    pub fn backend(&self, location: &str) -> S3Backend {
        S3Backend::new(S3Location::parse(location).unwrap(), self.settings()).unwrap()
    }

    /// Creates a new bucket (with Object Lock if asked) and returns its name.
    pub fn create_bucket(&self, tag: &str, object_lock: bool) -> String {
        let bucket = self.unique_bucket(tag);
        self.backend(&self.location(&bucket, ""))
            .create_bucket(object_lock)
            .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e}"));
        bucket
    }

    /// Gives a command this server's credentials and nothing else of the caller's.
    pub fn env(&self, cmd: &mut std::process::Command) {
        for var in S3_ENV {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("REPRISE_S3_ADDRESSING", "path");
    }
}

/// How to make an S3 test repository; see [`s3_repo`].
pub struct S3RepoBuilder {
    server: S3Server,
    tag: String,
    bucket_object_lock: bool,
    object_lock: Option<(String, String)>,
}

/// Starts describing a repository in a new bucket with Object Lock enabled
/// and no lock policy; `.object_lock("compliance", "1d")` adds one.
pub fn s3_repo(server: &S3Server) -> S3RepoBuilder {
    S3RepoBuilder {
        server: server.clone(),
        tag: "reprise".into(),
        bucket_object_lock: true,
        object_lock: None,
    }
}

impl S3RepoBuilder {
    /// A word in the bucket's name, to find a test's bucket in the server's logs.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    /// `init --object-lock MODE --retention RETENTION`.
    pub fn object_lock(mut self, mode: &str, retention: &str) -> Self {
        self.object_lock = Some((mode.to_string(), retention.to_string()));
        self
    }

    /// A bucket created without Object Lock.
    pub fn bucket_without_object_lock(mut self) -> Self {
        self.bucket_object_lock = false;
        self
    }

    /// The bucket and scratch space, without running `init`.
    pub fn uninitialised(self) -> S3Repo {
        let bucket = self
            .server
            .create_bucket(&self.tag, self.bucket_object_lock);
        let dir = tempfile::tempdir().expect("temporary directory");
        let password_file = dir.path().join("password");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        S3Repo {
            location: self.server.location(&bucket, "repo"),
            server: self.server,
            bucket,
            dir,
            password_file,
            init_args: self
                .object_lock
                .map(|(mode, retention)| {
                    vec![
                        "--object-lock".into(),
                        mode,
                        "--retention".into(),
                        retention,
                    ]
                })
                .unwrap_or_default(),
        }
    }

    /// The repository, initialised (asserting `init` succeeds).
    pub fn init(self) -> S3Repo {
        let repo = self.uninitialised();
        let out = repo.run_init();
        assert_success(&out, "reprise init (s3)");
        repo
    }
}

/// A repository under the prefix `repo` of its own bucket.
pub struct S3Repo {
    pub server: S3Server,
    pub bucket: String,
    /// `s3:http://127.0.0.1:PORT/BUCKET/repo`
    pub location: String,
    /// Scratch space for the test's trees and restore targets.
    pub dir: TempDir,
    pub password_file: PathBuf,
    init_args: Vec<String>,
}

impl S3Repo {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `init` with the builder's options (and fast password hashing).
    pub fn run_init(&self) -> Output {
        self.cmd()
            .arg("init")
            .args(FAST_KDF)
            .args(&self.init_args)
            .output()
            .unwrap()
    }

    /// `reprise` on this repository, with its password and the server's credentials.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = reprise_std();
        self.server.env(&mut c);
        c.arg("--repo")
            .arg(&self.location)
            .env("REPRISE_PASSWORD_FILE", &self.password_file);
        c
    }

    /// A backend on the repository, to look at its objects directly.
    pub fn backend(&self) -> S3Backend {
        self.server.backend(&self.location)
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

    /// `check` (with `--read-data` if asked), whatever its outcome.
    pub fn check(&self, read_data: bool) -> Output {
        let mut c = self.cmd();
        c.arg("check");
        if read_data {
            c.arg("--read-data");
        }
        c.output().unwrap()
    }
}
