//! The client against a real server, in process: the `Backend` contract
//! holds over HTTPS, and the server's refusals arrive as the storage errors
//! the command maps to exit codes.
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reprise_server::{token, Config, Server, ServerHandle};
use reprise_storage::conformance::{self, Expectations, Locks, Removal};
use reprise_storage::{Backend, ObjectKind, StorageError, WriteOutcome};
use reprise_storage_rest::RestBackend;
use std::path::PathBuf;

struct Fixture {
    dir: tempfile::TempDir,
    server: Option<ServerHandle>,
    cacert: PathBuf,
    url: String,
    secrets: Vec<String>,
}

/// A server with one token per role given, named after the role.
fn start(retention_days: u32, roles: &[&str]) -> Fixture {
    start_with(retention_days, roles, "")
}

/// Same, with `token_extra` (TOML lines) added to every token.
fn start_with(retention_days: u32, roles: &[&str], token_extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nretention_days = {retention_days}\nmax_object_bytes = 4096\n",
        dir.path().join("data")
    );
    let mut secrets = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let secret = token::generate().unwrap();
        text += &format!(
            "[[token]]\nname = \"{role}{i}\"\nrole = \"{role}\"\nhash = \"{}\"\n{token_extra}",
            token::hash(&secret)
        );
        secrets.push(secret);
    }
    let config = Config::parse(&text, dir.path()).unwrap();
    let server = Server::bind(&config, None).unwrap();
    let cacert = server.generated_cert().unwrap().to_path_buf();
    let handle = server.spawn().unwrap();
    let url = format!("https://{}/mairie", handle.addr());
    Fixture {
        dir,
        server: Some(handle),
        cacert,
        url,
        secrets,
    }
}

impl Fixture {
    /// How many audit lines have this status.
    fn audited(&self, status: u64) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("data/audit.log")).unwrap();
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|l| l["status"] == status)
            .count()
    }

    fn backend(&self, secret: usize) -> RestBackend {
        RestBackend::new(
            &self.url,
            Some(self.secrets[secret].clone()),
            Some(&self.cacert),
        )
        .unwrap()
    }
}

fn named(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// The `Backend` contract holds over HTTPS for each role: an admin token
/// deletes once retention is over and meets the lock before; an append-only
/// token is refused every delete.
#[test]
fn the_backend_contract_holds_for_each_role() {
    for (retention_days, role, removal) in [
        (0, "admin", Removal::Deletes),
        (30, "admin", Removal::Locked),
        (30, "append", Removal::Refused),
    ] {
        let f = start(retention_days, &[role]);
        let expect = Expectations {
            removal,
            locks: Locks::Unsupported,
        };
        conformance::run(&f.backend(0), &expect)
            .unwrap_or_else(|v| panic!("{role} token, {retention_days} days of retention: {v}"));
    }
}

#[test]
fn objects_round_trip_and_are_written_once() {
    let f = start(30, &["append"]);
    let b = f.backend(0);
    assert!(
        b.list(ObjectKind::Snapshot).unwrap().is_empty(),
        "no repository lists empty"
    );
    b.create().unwrap();
    b.create().unwrap(); // no config yet: creating again is harmless
    let data = b"a pack's bytes".to_vec();
    let name = named(&data);
    assert_eq!(
        b.write_once(ObjectKind::Pack, &name, &data).unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        b.write_once(ObjectKind::Pack, &name, &data).unwrap(),
        WriteOutcome::AlreadyExisted
    );
    assert_eq!(b.read(ObjectKind::Pack, &name).unwrap(), data);
    assert_eq!(
        b.read_range(ObjectKind::Pack, &name, 2, 4).unwrap(),
        &data[2..6]
    );
    assert!(b
        .read_range(ObjectKind::Pack, &name, 0, 0)
        .unwrap()
        .is_empty());
    assert!(matches!(
        b.read_range(ObjectKind::Pack, &name, 10, 100),
        Err(StorageError::ShortRead { .. })
    ));
    assert_eq!(b.size(ObjectKind::Pack, &name).unwrap(), data.len() as u64);
    let listed = b.list(ObjectKind::Pack).unwrap();
    assert_eq!(
        (listed[0].name.as_str(), listed[0].size),
        (name.as_str(), 14)
    );
    assert!(listed[0].stored.is_some());
    assert!(matches!(
        b.read(ObjectKind::Snapshot, &name),
        Err(StorageError::NotFound { .. })
    ));
    b.write_once(ObjectKind::Config, "config", b"any bytes")
        .unwrap();
    assert!(matches!(b.create(), Err(StorageError::Refused { .. })));
}

#[test]
fn refusals_become_the_storage_errors_of_their_cause() {
    let f = start(30, &["append", "read", "admin"]);
    let (append, read, admin) = (f.backend(0), f.backend(1), f.backend(2));
    append.create().unwrap();
    let data = b"snapshot".to_vec();
    let name = named(&data);
    append
        .write_once(ObjectKind::Snapshot, &name, &data)
        .unwrap();

    let err = append.remove(ObjectKind::Snapshot, &name).unwrap_err();
    assert!(matches!(err, StorageError::Refused { .. }), "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    let err = read
        .write_once(ObjectKind::Index, &named(b"i"), b"i")
        .unwrap_err();
    assert!(matches!(err, StorageError::Refused { .. }), "{err}");
    let err = admin.remove(ObjectKind::Snapshot, &name).unwrap_err();
    let StorageError::Locked { until, .. } = &err else {
        panic!("expected Locked, got {err}")
    };
    assert!(until.ends_with('Z') && until.len() == 20, "{until}");
    let err = append
        .write_once(ObjectKind::Pack, &named(&[0; 5000]), &[0; 5000])
        .unwrap_err();
    assert!(matches!(err, StorageError::Refused { .. }), "{err}");
    let err = append
        .write_once(ObjectKind::Pack, &name, b"other bytes")
        .unwrap_err();
    assert!(err.to_string().contains("BLAKE3"), "{err}");

    let stranger = RestBackend::new(&f.url, Some("0".repeat(64)), Some(&f.cacert)).unwrap();
    let err = stranger.list(ObjectKind::Snapshot).unwrap_err();
    assert!(matches!(err, StorageError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("REPRISE_TOKEN"), "{err}");
    assert_eq!(read.read(ObjectKind::Snapshot, &name).unwrap(), data);
}

#[test]
fn an_admin_deletes_once_retention_is_over() {
    let f = start(0, &["admin"]);
    let admin = f.backend(0);
    admin.create().unwrap();
    let name = named(b"old");
    admin
        .write_once(ObjectKind::Snapshot, &name, b"old")
        .unwrap();
    admin.remove(ObjectKind::Snapshot, &name).unwrap();
    assert!(matches!(
        admin.remove(ObjectKind::Snapshot, &name),
        Err(StorageError::NotFound { .. })
    ));
}

#[test]
fn an_untrusted_certificate_fails_at_once_with_a_hint() {
    let f = start(30, &["append"]);
    let b = RestBackend::new(&f.url, Some(f.secrets[0].clone()), None).unwrap();
    let err = b.list(ObjectKind::Snapshot).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("--cacert"), "{text}");
    // A retried failure is reported as "failed N times, the last with …".
    assert!(
        !text.contains(&format!("{} times", reprise_storage_rest::retry::ATTEMPTS)),
        "certificate errors must not be retried: {text}"
    );
}

#[test]
fn a_stopped_server_is_retried_then_reported() {
    let mut f = start(30, &["append"]);
    let b = f.backend(0);
    f.server.take().unwrap().stop().unwrap();
    let err = b.list(ObjectKind::Snapshot).unwrap_err();
    assert!(matches!(err, StorageError::Remote { .. }), "{err}");
    assert!(err.to_string().contains("5 times"), "{err}");
}

/// Regression (issue 10, finding 21): an object over the server's limit
/// showed as "Broken pipe … check that the server is running" after five
/// attempts, and a spent quota as a role problem.
#[test]
fn a_too_large_object_and_a_spent_quota_are_final_and_say_what_to_do() {
    let f = start_with(30, &["append"], "quota_bytes = 1200000\n");
    let b = f.backend(0);
    b.create().unwrap();
    let big = vec![7u8; 8 << 20];
    let err = b
        .write_once(ObjectKind::Pack, &named(&big), &big)
        .unwrap_err();
    assert!(matches!(err, StorageError::Refused { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("raise max_object_bytes"), "{text}");
    assert!(!text.contains("running"), "{text}");
    assert_eq!(f.audited(413), 1, "a 413 must not be retried");

    let mut refused = None;
    for i in 0..40u32 {
        let data = format!("{i:04000}").into_bytes();
        if let Err(e) = b.write_once(ObjectKind::Index, &named(&data), &data) {
            refused = Some(e);
            break;
        }
    }
    let text = refused.expect("the quota was never reached").to_string();
    assert!(text.contains("quota exceeded"), "{text}");
    assert!(text.contains("raise the token's quota_bytes"), "{text}");
    assert!(!text.contains("reachable"), "{text}");
    assert_eq!(f.audited(507), 1, "a 507 must not be retried");
}
