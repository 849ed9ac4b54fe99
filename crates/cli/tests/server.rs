//! The append-only server as it is deployed: the real `reprise` binary runs
//! `serve` on a loopback port, over TLS with the certificate it generated,
//! and is attacked with a raw HTTPS client that sends what a compromised
//! backup client would (DELETE, overwrites, MOVE, `..`, lying lengths,
//! stolen or stale tokens). Every refused request must leave the stored
//! bytes as they were and a line in the audit log. Then the whole cycle —
//! init, backup, restore, check — runs through the server with an append
//! token, which cannot remove a key.

use crate::common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

/// `reprise serve` in a child process, with its configuration and data.
struct TestServer {
    dir: TempDir,
    config: PathBuf,
    data: PathBuf,
    addr: String,
    child: Option<Child>,
}

impl TestServer {
    /// A configuration listening on a free loopback port; not started.
    fn new(retention_days: u32, max_object_bytes: u64) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("server.toml");
        let data = dir.path().join("data");
        let out = reprise()
            .args(["serve", "init-config"])
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--retention-days"])
            .arg(retention_days.to_string())
            .output()
            .unwrap();
        assert_success(&out, "serve init-config");
        let text = fs::read_to_string(&config).unwrap();
        let text = text.replace(
            "max_object_bytes = 268435456",
            &format!("max_object_bytes = {max_object_bytes}"),
        );
        fs::write(&config, text).unwrap();
        TestServer {
            dir,
            config,
            data,
            addr: String::new(),
            child: None,
        }
    }

    /// `serve token add NAME --role ROLE EXTRA…`: the token.
    fn token(&self, name: &str, role: &str, extra: &[&str]) -> String {
        let out = reprise()
            .args([
                "serve", "token", "add", name, "--role", role, "--json", "--config",
            ])
            .arg(&self.config)
            .args(extra)
            .output()
            .unwrap();
        assert_success(&out, "serve token add");
        parse_json(&out.stdout)["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn revoke(&self, name: &str) {
        let out = reprise()
            .args(["serve", "token", "revoke", name, "--config"])
            .arg(&self.config)
            .output()
            .unwrap();
        assert_success(&out, "serve token revoke");
    }

    /// Starts the server and waits until it says where it listens.
    fn start(&mut self) {
        let stderr = fs::File::create(self.dir.path().join("serve.stderr")).unwrap();
        let mut child = reprise_std()
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("reprise serve: listening on https://") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        self.addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", self.stderr()));
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("serve.stderr")).unwrap_or_default()
    }

    fn cacert(&self) -> PathBuf {
        self.data.join("tls/cert.pem")
    }

    fn url(&self, repo: &str) -> String {
        format!("rest:https://{}/{repo}", self.addr)
    }

    fn audit(&self) -> Vec<Value> {
        parse_json_lines(&fs::read(self.data.join("audit.log")).unwrap())
    }

    /// Sends one raw request over TLS and reads the whole answer.
    fn raw(&self, req: &Req) -> Resp {
        self.raw_bytes(&req.bytes(&self.addr), req.method == "HEAD")
    }

    /// Sends bytes over TLS, whatever they are, and reads the whole answer.
    fn raw_bytes(&self, bytes: &[u8], head: bool) -> Resp {
        let tcp = TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut tls = rustls::StreamOwned::new(self.tls_client(), tcp);
        tls.write_all(bytes).unwrap();
        tls.flush().unwrap();
        let mut answer = Vec::new();
        // The server closes without close_notify at times: what arrived counts.
        let _ = tls.read_to_end(&mut answer);
        Resp::parse(&answer, head)
    }

    /// A TLS client that trusts the server's generated certificate.
    fn tls_client(&self) -> rustls::ClientConnection {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.cacert()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        rustls::ClientConnection::new(Arc::new(config), name).unwrap()
    }

    /// Whether the server process is still running.
    fn alive(&mut self) -> bool {
        let child = self.child.as_mut().unwrap();
        child.try_wait().unwrap().is_none()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a raw request sends its body.
#[derive(Clone, Copy)]
enum Body<'a> {
    None,
    /// With a Content-Length.
    Bytes(&'a [u8]),
    /// With Transfer-Encoding: chunked, so only the bytes tell the size.
    Chunked(&'a [u8]),
    /// Announces this many bytes and sends none.
    Announce(u64),
}

struct Req<'a> {
    method: &'a str,
    path: String,
    token: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Body<'a>,
}

fn req<'a>(method: &'a str, path: impl Into<String>, token: Option<&'a str>) -> Req<'a> {
    Req {
        method,
        path: path.into(),
        token,
        headers: Vec::new(),
        body: Body::None,
    }
}

impl<'a> Req<'a> {
    fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bytes(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
            self.method, self.path
        );
        if let Some(t) = self.token {
            head += &format!("Authorization: Bearer {t}\r\n");
        }
        for (n, v) in &self.headers {
            head += &format!("{n}: {v}\r\n");
        }
        let body: Vec<u8> = match self.body {
            Body::None => Vec::new(),
            Body::Bytes(b) => {
                head += &format!("Content-Length: {}\r\n", b.len());
                b.to_vec()
            }
            Body::Announce(n) => {
                head += &format!("Content-Length: {n}\r\n");
                Vec::new()
            }
            Body::Chunked(b) => {
                head += "Transfer-Encoding: chunked\r\n";
                let mut out = Vec::new();
                for chunk in b.chunks(8192) {
                    out.extend(format!("{:x}\r\n", chunk.len()).bytes());
                    out.extend(chunk);
                    out.extend(b"\r\n");
                }
                out.extend(b"0\r\n\r\n");
                out
            }
        };
        head += "\r\n";
        let mut bytes = head.into_bytes();
        bytes.extend(body);
        bytes
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn parse(raw: &[u8], head: bool) -> Resp {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(raw)));
        let text = String::from_utf8_lossy(&raw[..split]);
        let mut lines = text.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let resp = Resp {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        };
        if !head {
            let len: usize = resp
                .header("content-length")
                .unwrap_or("0")
                .parse()
                .unwrap();
            assert_eq!(resp.body.len(), len, "truncated answer: {resp:?}");
        }
        resp
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Requests sent, with what the audit log must say of each.
#[derive(Default)]
struct Journal(Vec<(String, String, u16, String)>);

impl Journal {
    /// Sends `r` as token `who`, asserts the status and that the reason
    /// (the body, for refusals) contains `reason`, and expects an audit line.
    fn send(&mut self, server: &TestServer, who: &str, r: Req, status: u16, reason: &str) -> Resp {
        let what = format!("{} {} as {who}", r.method, r.path);
        let resp = server.raw(&r);
        assert_eq!(resp.status, status, "{what}: {}", resp.text());
        if status >= 400 {
            assert!(
                resp.text().contains(reason),
                "{what}: {:?} lacks {reason:?}",
                resp.text()
            );
        }
        self.0.push((
            r.method.to_string(),
            who.to_string(),
            status,
            reason.to_string(),
        ));
        resp
    }

    /// Every request has its audit line, in order, and there are no others.
    fn assert_audited(&self, server: &TestServer) {
        let lines = server.audit();
        assert_eq!(lines.len(), self.0.len(), "audit lines: {lines:#?}");
        for (line, (method, token, status, reason)) in lines.iter().zip(&self.0) {
            let what = format!("{line}");
            assert_eq!(line["method"], method.as_str(), "{what}");
            assert_eq!(line["token"], token.as_str(), "{what}");
            assert_eq!(line["status"], *status, "{what}");
            assert!(
                line["result"].as_str().unwrap().contains(reason.as_str()),
                "{what}"
            );
            assert!(line["time"].as_str().unwrap().ends_with('Z'), "{what}");
            assert!(
                line["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
                "{what}"
            );
        }
    }
}

fn hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

#[test]
fn an_append_token_cannot_destroy_or_alter_anything() {
    let max = 64 * 1024;
    let mut server = TestServer::new(30, max);
    let pc = server.token("pc", "append", &[]);
    // Each object costs its bytes and 4 KiB: 600 + 4096 fits once in 9 KiB.
    let small = server.token("small", "append", &["--quota", "9K"]);
    let limited = server.token("limited", "append", &["--repo", "other"]);
    let old = server.token("old", "append", &["--expires", "2001-01-01T00:00:00Z"]);
    let gone = server.token("gone", "append", &[]);
    let unknown = "0".repeat(64);
    server.start();
    let mut j = Journal::default();

    j.send(&server, "pc", req("POST", "/mairie/", Some(&pc)), 201, "");
    j.send(
        &server,
        "pc",
        req("POST", "/mairie/", Some(&pc)),
        409,
        "already exists",
    );
    j.send(&server, "pc", req("POST", "/other", Some(&pc)), 201, "");
    let snap = random_bytes(1, 1000);
    let id = hash(&snap);
    let path = format!("/mairie/snapshot/{id}");
    let created = j.send(
        &server,
        "pc",
        req("PUT", &path, Some(&pc)).body(Body::Bytes(&snap)),
        201,
        "",
    );
    assert_eq!(created.header("reprise-blake3"), Some(id.as_str()));
    let config = b"the sealed config".to_vec();
    let put_config = req("PUT", "/mairie/config/config", Some(&pc)).body(Body::Bytes(&config));
    j.send(&server, "pc", put_config, 201, "");
    let stored = server.data.join("mairie/snapshots").join(&id);
    assert_eq!(fs::read(&stored).unwrap(), snap);

    // Delete, overwrite, truncate, rename.
    let other = random_bytes(2, 1000);
    for r in [
        req("DELETE", &path, Some(&pc)),
        req("DELETE", "/mairie/config/config", Some(&pc)),
    ] {
        j.send(&server, "pc", r, 403, "may not delete");
    }
    for r in [
        req("PUT", &path, Some(&pc)).body(Body::Bytes(&other)),
        req("PUT", &path, Some(&pc)).body(Body::Bytes(&snap[..10])),
        req("PUT", &path, Some(&pc)).body(Body::Bytes(&[])),
        req("PUT", "/mairie/config/config", Some(&pc)).body(Body::Bytes(b"evil")),
    ] {
        j.send(&server, "pc", r, 409, "already exists");
    }
    let partial = req("PUT", &path, Some(&pc))
        .header("Content-Range", "bytes 0-9/1000")
        .body(Body::Bytes(&snap[..10]));
    j.send(&server, "pc", partial, 405, "Content-Range");
    for method in ["MOVE", "COPY", "PATCH", "POST"] {
        let r = req(method, &path, Some(&pc))
            .header("Destination", format!("/mairie/snapshot/{}", hash(b"x")))
            .body(Body::Bytes(b"x"));
        j.send(&server, "pc", r, 405, "not allowed");
    }
    let wrong = format!("/mairie/snapshot/{}", hash(b"another name"));
    let r = req("PUT", &wrong, Some(&pc)).body(Body::Bytes(&other));
    let resp = j.send(&server, "pc", r, 400, "not the name");
    assert_eq!(resp.header("reprise-blake3"), Some(hash(&other).as_str()));

    // Paths out of the repository.
    for p in [
        "/mairie/snapshot/../../../../etc/passwd".to_string(),
        format!("/mairie/../other/snapshot/{id}"),
        format!("/other/../mairie/snapshot/{id}"),
        format!("/mairie/snapshot/%2e%2e%2f{id}"),
        format!("/%2e%2e/mairie/snapshot/{id}"),
        "//etc/passwd".to_string(),
        "/mairie/snapshot//etc/passwd".to_string(),
        "/tls/key.pem".to_string(),
        "/audit.log".to_string(),
    ] {
        j.send(&server, "pc", req("GET", &p, Some(&pc)), 400, "");
        let r = req("PUT", &p, Some(&pc)).body(Body::Bytes(&other));
        j.send(&server, "pc", r, 400, "");
        j.send(&server, "pc", req("DELETE", &p, Some(&pc)), 400, "");
    }

    // Too large: announced, then only in the bytes.
    let big = random_bytes(3, max as usize + 1);
    let big_path = format!("/mairie/pack/{}", hash(&big));
    let r = req("PUT", &big_path, Some(&pc)).body(Body::Announce(10 << 20));
    j.send(&server, "pc", r, 413, "max_object_bytes");
    let r = req("PUT", &big_path, Some(&pc)).body(Body::Chunked(&big));
    j.send(&server, "pc", r, 413, "max_object_bytes");

    // Tokens that are unknown, absent, expired, revoked, or for another repository.
    j.send(
        &server,
        "unknown",
        req("DELETE", &path, Some(&unknown)),
        401,
        "unknown token",
    );
    j.send(
        &server,
        "unknown",
        req("GET", "/mairie/snapshot/", None),
        401,
        "no token",
    );
    j.send(
        &server,
        "old",
        req("DELETE", &path, Some(&old)),
        401,
        "expired",
    );
    j.send(&server, "gone", req("GET", &path, Some(&gone)), 200, "");
    server.revoke("gone");
    j.send(
        &server,
        "gone",
        req("DELETE", &path, Some(&gone)),
        401,
        "revoked",
    );
    j.send(
        &server,
        "gone",
        req("PUT", &wrong, Some(&gone)).body(Body::Bytes(&other)),
        401,
        "revoked",
    );
    for r in [
        req("DELETE", &path, Some(&limited)),
        req("GET", &path, Some(&limited)),
        req("PUT", &wrong, Some(&limited)).body(Body::Bytes(&other)),
    ] {
        j.send(&server, "limited", r, 403, "limited to other repositories");
    }

    // The quota: announced, then only in the bytes, then after a restart.
    let (a, b, c) = (
        random_bytes(4, 600),
        random_bytes(5, 600),
        random_bytes(6, 400),
    );
    let put = |data| {
        let p = format!("/other/index/{}", hash(data));
        req("PUT", p, Some(&small)).body(Body::Bytes(data))
    };
    j.send(&server, "small", put(&a), 201, "");
    j.send(&server, "small", put(&b), 507, "quota exceeded");
    let chunked =
        req("PUT", format!("/other/index/{}", hash(&b)), Some(&small)).body(Body::Chunked(&b));
    j.send(&server, "small", chunked, 507, "quota exceeded");
    server.stop();
    server.start();
    j.send(&server, "small", put(&b), 507, "quota exceeded");
    j.send(&server, "small", put(&c), 201, "");

    // Everything is as it was written.
    assert_eq!(fs::read(&stored).unwrap(), snap);
    assert_eq!(fs::read(server.data.join("mairie/config")).unwrap(), config);
    assert_eq!(names_in(&server.data.join("mairie/snapshots")).len(), 1);
    assert!(names_in(&server.data.join("mairie/data"))
        .iter()
        .all(|d| names_in(&server.data.join("mairie/data").join(d)).is_empty()));
    let got = j.send(&server, "pc", req("GET", &path, Some(&pc)), 200, "");
    assert_eq!(got.body, snap);
    let range = j.send(
        &server,
        "pc",
        req("GET", &path, Some(&pc)).header("Range", "bytes=10-19"),
        206,
        "",
    );
    assert_eq!(range.body, &snap[10..20]);
    assert_eq!(range.header("content-range"), Some("bytes 10-19/1000"));
    let head = j.send(&server, "pc", req("HEAD", &path, Some(&pc)), 200, "");
    assert_eq!(head.header("content-length"), Some("1000"));
    let listing = j.send(
        &server,
        "pc",
        req("GET", "/mairie/snapshot/", Some(&pc)),
        200,
        "",
    );
    let listing: Value = serde_json::from_slice(&listing.body).unwrap();
    assert_eq!(listing[0]["name"], id.as_str());
    assert_eq!(listing[0]["size"], 1000);
    assert!(listing[0]["stored"].as_u64().unwrap() > 1_700_000_000);
    j.assert_audited(&server);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[test]
fn an_admin_deletes_only_after_retention() {
    let mut server = TestServer::new(1, 1 << 20);
    let admin = server.token("admin", "admin", &[]);
    let reader = server.token("auditor", "read", &[]);
    server.start();
    let mut j = Journal::default();
    j.send(&server, "admin", req("POST", "/m/", Some(&admin)), 201, "");
    let snap = random_bytes(7, 300);
    let path = format!("/m/snapshot/{}", hash(&snap));
    j.send(
        &server,
        "admin",
        req("PUT", &path, Some(&admin)).body(Body::Bytes(&snap)),
        201,
        "",
    );
    j.send(
        &server,
        "auditor",
        req("PUT", &path, Some(&reader)).body(Body::Bytes(&snap)),
        403,
        "may not write",
    );
    j.send(
        &server,
        "auditor",
        req("DELETE", &path, Some(&reader)),
        403,
        "may not delete",
    );

    let locked = j.send(
        &server,
        "admin",
        req("DELETE", &path, Some(&admin)),
        423,
        "under retention",
    );
    let until = locked.header("retain-until").unwrap().to_string();
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap();
    let in_a_day = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(
        (until.to_utc() - in_a_day).num_seconds().abs() < 120,
        "{until}"
    );
    assert!(server.data.join("m/snapshots").join(hash(&snap)).exists());

    // Two days later, as far as the file's time says.
    let file = server.data.join("m/snapshots").join(hash(&snap));
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    let secs = two_days_ago
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    set_mtime(&file, secs as i64, 0);
    j.send(
        &server,
        "auditor",
        req("DELETE", &path, Some(&reader)),
        403,
        "may not delete",
    );
    j.send(
        &server,
        "admin",
        req("DELETE", &path, Some(&admin)),
        204,
        "",
    );
    assert!(!file.exists());
    j.send(
        &server,
        "admin",
        req("GET", &path, Some(&admin)),
        404,
        "not found",
    );
    j.assert_audited(&server);
    let lines = server.audit();
    assert_eq!(lines[lines.len() - 2]["result"], "deleted");
}

/// `reprise init` of the server's repository `mairie`, with cheap hashing.
fn init_through(server: &TestServer, token: &str, password_file: &Path) {
    let out = client(server, token, password_file)
        .arg("init")
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_success(&out, "init through the server");
}

/// `reprise --repo rest:… --cacert …` with `REPRISE_TOKEN`.
fn client(server: &TestServer, token: &str, password_file: &Path) -> assert_cmd::Command {
    let mut c = reprise();
    c.arg("--repo")
        .arg(server.url("mairie"))
        .arg("--cacert")
        .arg(server.cacert())
        .env("REPRISE_TOKEN", token)
        .env("REPRISE_PASSWORD_FILE", password_file);
    c
}

#[test]
fn a_backup_client_works_through_the_server_and_cannot_remove_a_key() {
    let mut server = TestServer::new(30, 256 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    let scratch = tempfile::tempdir().unwrap();
    let password = scratch.path().join("password");
    fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let src = scratch.path().join("share");
    fs::create_dir_all(src.join("compta/2024")).unwrap();
    write_random_file(&src.join("compta/2024/grand-livre.ods"), 700_000, 11);
    fs::write(
        src.join("compta/notes.txt"),
        "budget primitif\n".repeat(500),
    )
    .unwrap();
    std::os::unix::fs::symlink("compta/notes.txt", src.join("lien")).unwrap();

    let run = |args: &[&str]| {
        let out = client(&server, &pc, &password).args(args).output().unwrap();
        assert_success(&out, &format!("reprise {args:?} through the server"));
        out
    };
    let mut init = vec!["init"];
    init.extend(FAST_KDF);
    run(&init);
    let src_arg = src.to_str().unwrap();
    let summary = parse_json(&run(&["backup", src_arg, "--json"]).stdout);
    let snapshot = summary["snapshot_id"].as_str().unwrap().to_string();
    let target = scratch.path().join("restored");
    run(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
    run(&["check", "--read-data"]);

    let second = scratch.path().join("password2");
    fs::write(&second, "another password\n").unwrap();
    let mut add = vec![
        "key",
        "add",
        "--new-password-file",
        second.to_str().unwrap(),
    ];
    add.extend(FAST_KDF);
    run(&add);
    let keys = parse_json(&run(&["key", "list", "--json"]).stdout);
    let other = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = client(&server, &pc, &password)
        .args(["key", "remove", &other])
        .output()
        .unwrap();
    assert_exit(&out, 13, "key remove with an append token");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused") && stderr.contains(&other),
        "{stderr}"
    );
    let keys = parse_json(&run(&["key", "list", "--json"]).stdout);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let snapshots = parse_json(&run(&["snapshots", "--json"]).stdout);
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
    assert_eq!(snapshots[0]["id"], snapshot.as_str());

    let out = client(&server, &"f".repeat(64), &password)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_exit(&out, 14, "an unknown token");
    let out = reprise()
        .args(["--repo", &server.url("mairie"), "snapshots"])
        .env("REPRISE_TOKEN", &pc)
        .env("REPRISE_PASSWORD_FILE", &password)
        .output()
        .unwrap();
    assert_exit(&out, 1, "a server certificate nobody trusts");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--cacert"),
        "{}",
        describe(&out)
    );
    server.stop();
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[test]
fn token_add_takes_repositories_from_its_own_option_only() {
    let server = TestServer::new(30, 1 << 20);
    let list = || {
        let out = reprise()
            .args(["serve", "token", "list", "--json", "--config"])
            .arg(&server.config)
            .output()
            .unwrap();
        assert_success(&out, "serve token list");
        parse_json(&out.stdout)
    };
    // The global --repo shares the option's name; its variable must not leak in.
    let out = reprise()
        .args([
            "serve", "token", "add", "pc", "--role", "append", "--config",
        ])
        .arg(&server.config)
        .env("REPRISE_REPOSITORY", "mairie")
        .output()
        .unwrap();
    assert_success(&out, "serve token add");
    assert!(list()[0]["repos"].is_null(), "{}", list());
    server.token("compta", "read", &["--repo", "compta", "--repo", "rh"]);
    assert_eq!(list()[1]["repos"], serde_json::json!(["compta", "rh"]));
    assert_eq!(list()[1]["state"], "active");
}

#[test]
fn odd_requests_get_an_answer_and_never_break_the_server() {
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    let created = server.raw(&req("POST", "/m/", Some(&pc)));
    assert_eq!(created.status, 201);
    let id = hash(b"x");
    let long = format!("/m/pack/{}", "a".repeat(129));
    let object = format!("/m/pack/{id}");
    let paths = [
        "/",
        "/m",
        "/m/",
        "/m/pack",
        "/m/nope/",
        "/M/pack/00",
        "/m/pack/zz",
        &long,
        "/m/config/config",
        &object,
        "/m/pack/00?x=1",
        "/m/pack/00#frag",
        "/m/pack/00;x",
    ];
    let methods = [
        "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "TRACE", "MOVE", "PROPFIND", "X",
    ];
    let mut answered = 0;
    for path in paths {
        for method in methods {
            let r = req(method, path, Some(&pc)).body(Body::Bytes(b"x"));
            let resp = server.raw(&r);
            assert!(
                (200..500).contains(&resp.status),
                "{method} {path}: {} {}",
                resp.status,
                resp.text()
            );
            answered += 1;
        }
    }
    for (name, value) in [
        ("Range", "bytes=99999999999999999999-"),
        ("Range", "bytes=5-2"),
        ("Range", "bytes=-0"),
        ("Range", "bytes=0-0,2-3"),
        ("Range", "pages=1"),
        ("Authorization", "Bearer"),
        ("Authorization", "Basic cGM6cGM="),
    ] {
        let token = (name != "Authorization").then_some(pc.as_str());
        let resp = server.raw(&req("GET", &object, token).header(name, value));
        assert!(
            (400..500).contains(&resp.status),
            "{name}: {value}: {}",
            resp.status
        );
        answered += 1;
    }
    let listing = server.raw(&req("GET", "/m/pack/", Some(&pc)));
    assert_eq!(listing.status, 200, "the server still serves");
    assert_eq!(server.audit().len(), answered + 2);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Makes closing `tcp` send a reset instead of a FIN, as a client that
/// crashes or is killed does, so that the server's next write to it fails.
fn reset_on_close(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}

/// Connection `i` of an attack: it stops at one of four points of a
/// request and resets, so the server writes to a connection that is gone.
fn connect_and_reset(server: &TestServer, token: &str, i: usize) {
    let Ok(tcp) = TcpStream::connect(&server.addr) else {
        return;
    };
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    reset_on_close(&tcp);
    let mut tls = rustls::StreamOwned::new(server.tls_client(), tcp);
    let listing = format!(
        "GET /mairie/snapshot/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let upload = format!(
        "PUT /mairie/pack/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 1048576\r\n\r\n{}",
        "a".repeat(64),
        "x".repeat(10_000)
    );
    let _ = match i % 4 {
        // Only the TLS ClientHello: the server answers into the void.
        0 => {
            let mut hello = Vec::new();
            let _ = tls.conn.write_tls(&mut hello);
            (&tls.sock).write_all(&hello)
        }
        1 => tls.write_all(listing.as_bytes()).and_then(|()| tls.flush()),
        2 => tls.write_all(upload.as_bytes()).and_then(|()| tls.flush()),
        _ => tls
            .write_all(b"GET /mairie/snap")
            .and_then(|()| tls.flush()),
    };
    // Dropped here: the reset goes out while the server is answering.
}

/// Regression (issue 10, finding 1): clients that reset their connection
/// mid-request, or are killed mid-upload, killed the server with SIGPIPE.
#[test]
fn clients_that_reset_or_die_mid_request_do_not_stop_the_server() {
    let mut server = TestServer::new(30, 256 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    let scratch = tempfile::tempdir().unwrap();
    let password = scratch.path().join("password");
    fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let src = scratch.path().join("share");
    fs::create_dir_all(&src).unwrap();
    for i in 0..6 {
        write_random_file(&src.join(format!("f{i}")), 4 << 20, 100 + i);
    }
    init_through(&server, &pc, &password);

    // A backup client killed while it uploads.
    let backup = |server: &TestServer| {
        let mut c = reprise_std();
        c.arg("--repo")
            .arg(server.url("mairie"))
            .arg("--cacert")
            .arg(server.cacert())
            .env("REPRISE_TOKEN", &pc)
            .env("REPRISE_PASSWORD_FILE", &password)
            .arg("backup")
            .arg(&src)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let packs = server.data.join("mairie/data");
    let mut victim = backup(&server);
    let any_pack = || {
        names_in(&packs)
            .iter()
            .any(|d| !names_in(&packs.join(d)).is_empty())
    };
    kill_when(&mut victim, Duration::from_secs(60), any_pack);
    assert!(
        server.alive(),
        "a killed client stopped the server: {}",
        server.stderr()
    );

    // A backup that completes while 60 connections reset mid-request.
    let honest = backup(&server);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..60 {
                connect_and_reset(&server, &pc, i);
            }
        });
    });
    let out = honest.wait_with_output().unwrap();
    assert!(out.status.success(), "backup: {}", describe(&out));
    assert!(
        server.alive(),
        "resets stopped the server: {}",
        server.stderr()
    );
    let check = client(&server, &pc, &password)
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    assert_success(&check, "check --read-data after the attack");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Waits until `done` holds; panics naming `what` if it never does. A bound
/// on the wait, not a timing: the condition decides.
fn wait_until(what: &str, done: &dyn Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}");
}

/// `serve audit verify --config`, as a command output.
fn audit_verify(server: &TestServer) -> std::process::Output {
    reprise()
        .args(["serve", "audit", "verify", "--config"])
        .arg(&server.config)
        .output()
        .unwrap()
}

/// Regression (issue 10, finding 19): requests the HTTP parser refused
/// (431, 414, 400) left no line, and the log was not tamper-evident.
#[test]
fn the_audit_log_records_unparsable_requests_and_shows_tampering() {
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    let many_headers: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
    let long_uri = format!("/m/{}", "a".repeat(66_000));
    let refused = [
        (
            format!("GET /m/ HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
            431,
        ),
        (format!("GET {long_uri} HTTP/1.1\r\nHost: x\r\n\r\n"), 414),
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (
            "GET /m/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_string(),
            400,
        ),
    ];
    for (bytes, status) in &refused {
        let resp = server.raw_bytes(bytes.as_bytes(), false);
        assert_eq!(resp.status, *status, "{}", resp.text());
    }
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    // A refused request's line is written once its connection is closed.
    wait_until("five audit lines", &|| server.audit().len() == 5);
    let lines = server.audit();
    let mut statuses: Vec<u64> = lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 400, 400, 414, 431], "{lines:#?}");
    for line in lines.iter().filter(|l| l["status"] != 201) {
        assert_eq!(line["token"], "unknown", "{line}");
        assert!(line["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    }
    let out = audit_verify(&server);
    assert_success(&out, "audit verify of an intact log");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("5 lines"),
        "{}",
        describe(&out)
    );

    // An edit, then a deletion: each named by the first line it breaks.
    let log = server.data.join("audit.log");
    let intact = fs::read_to_string(&log).unwrap();
    let mut text: Vec<&str> = intact.lines().collect();
    let edited = text[1].replace("\"status\":", "\"status\":1");
    text[1] = &edited;
    fs::write(&log, text.join("\n") + "\n").unwrap();
    let out = audit_verify(&server);
    assert_exit(&out, 1, "audit verify of an edited log");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{}",
        describe(&out)
    );
    let mut text: Vec<&str> = intact.lines().collect();
    text.remove(3);
    fs::write(&log, text.join("\n") + "\n").unwrap();
    let out = audit_verify(&server);
    assert_exit(&out, 1, "audit verify of a log missing a line");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 4"),
        "{}",
        describe(&out)
    );
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Regression (issue 10, finding 19): with its audit log unwritable (a full
/// disk), the server went on serving without the lines.
#[test]
fn a_request_whose_audit_line_cannot_be_written_is_refused_and_changes_nothing() {
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    server.stop();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    let log = server.data.join("audit.log");
    fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    server.start();
    let data = b"a snapshot".to_vec();
    let path = format!("/m/snapshot/{}", hash(&data));
    let put = server.raw(&req("PUT", &path, Some(&pc)).body(Body::Bytes(&data)));
    assert_eq!(put.status, 503, "{}", put.text());
    assert!(put.text().contains("audit log"), "{}", put.text());
    assert!(names_in(&server.data.join("m/snapshots")).is_empty());
    assert!(names_in(&server.data.join("m/tmp")).is_empty());
    assert_eq!(server.raw(&req("POST", "/n/", Some(&pc))).status, 503);
    assert!(!server.data.join("n").exists());
    assert_eq!(
        server.raw(&req("GET", "/m/snapshot/", Some(&pc))).status,
        503
    );
    assert!(server.alive());
    // The administrator learns why from the server's own output.
    let stderr = server.stderr();
    assert!(
        stderr.contains("cannot write the audit log, refusing the request"),
        "{stderr}"
    );
}

/// Regression (issue 10, finding 9): repositories cost nothing, a
/// repository named after the usage file's temporary copy stopped usage
/// from being saved, and tiny objects cost only their bytes.
#[test]
fn quotas_count_repositories_and_objects_and_never_lapse() {
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &[]);
    let q = server.token("q", "append", &["--quota", "3M"]);
    server.start();
    // A repository costs 263 directories of 4 KiB: two fit in 3 MiB, not three.
    for (repo, status) in [("/r1/", 201), ("/r2/", 201), ("/r3/", 507)] {
        let resp = server.raw(&req("POST", repo, Some(&q)));
        assert_eq!(resp.status, status, "{repo}: {}", resp.text());
    }
    assert!(!server.data.join("r3").exists());
    for i in 0..10u8 {
        let data = [i, i];
        let p = format!("/r1/index/{}", hash(&data));
        let resp = server.raw(&req("PUT", p, Some(&q)).body(Body::Bytes(&data)));
        assert_eq!(resp.status, 201, "{}", resp.text());
    }
    let out = reprise()
        .args(["serve", "token", "list", "--json", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    let tokens = parse_json(&out.stdout);
    let used = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "q")
        .unwrap()["used_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(used, 2 * 263 * 4096 + 10 * (2 + 4096));

    for name in ["usage.json.tmp", "usage.json", "audit.log.1", "tls"] {
        let resp = server.raw(&req("POST", format!("/{name}/"), Some(&pc)));
        assert_eq!(resp.status, 400, "{name}: {}", resp.text());
    }

    // The usage file cannot be rewritten: nothing is created uncounted.
    server.stop();
    fs::create_dir(server.data.join("usage.json.tmp")).unwrap();
    server.start();
    let data = b"uncounted".to_vec();
    let p = format!("/r1/snapshot/{}", hash(&data));
    let resp = server.raw(&req("PUT", &p, Some(&q)).body(Body::Bytes(&data)));
    assert_eq!(resp.status, 507, "{}", resp.text());
    assert!(resp.text().contains("cannot record"), "{}", resp.text());
    assert!(names_in(&server.data.join("r1/snapshots")).is_empty());
    assert_eq!(server.raw(&req("POST", "/r4/", Some(&q))).status, 507);
    assert!(!server.data.join("r4").exists());
}

/// Regression (issue 10, finding 23): the server created its repositories
/// and files world-readable, wrapped keys included.
#[test]
fn everything_the_server_creates_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &["--quota", "1G"]);
    server.start();
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    let key = b"a wrapped key".to_vec();
    let p = format!("/m/key/{}", hash(&key));
    assert_eq!(
        server
            .raw(&req("PUT", &p, Some(&pc)).body(Body::Bytes(&key)))
            .status,
        201
    );
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for dir in [
        server.data.clone(),
        server.data.join("tls"),
        server.data.join("m"),
        server.data.join("m/keys"),
        server.data.join("m/data/00"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        server.config.clone(),
        server.data.join("audit.log"),
        server.data.join("usage.json"),
        server.data.join("tls/key.pem"),
        server.data.join("m/keys").join(hash(&key)),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// A TCP connection from `source` (another loopback address), as a client
/// on another machine would have.
fn connect_from(source: [u8; 4], addr: &str) -> TcpStream {
    use std::os::fd::FromRawFd;
    let target: std::net::SocketAddrV4 = addr.parse().unwrap();
    let sockaddr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a new socket we own, bound and connected with valid addresses;
    // TcpStream takes ownership of the descriptor.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let from = sockaddr(source, 0);
        assert_eq!(
            libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len),
            0
        );
        let to = sockaddr(target.ip().octets(), target.port());
        assert_eq!(
            libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len),
            0
        );
        TcpStream::from_raw_fd(fd)
    }
}

/// Whether the server closed the connection (it sends nothing first).
fn closed_by_server(mut tcp: &TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    match tcp.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Regression (issue 10, finding 8): connections that never show a token
/// took every slot and locked the clients out.
#[test]
fn silent_strangers_cannot_lock_a_client_out() {
    let mut server = TestServer::new(30, 1 << 20);
    let text = fs::read_to_string(&server.config).unwrap();
    let text = text
        .replace("# max_connections = 512", "max_connections = 8")
        .replace(
            "# max_connections_per_address = 64",
            "max_connections_per_address = 4",
        );
    fs::write(&server.config, text).unwrap();
    let pc = server.token("pc", "append", &[]);
    server.start();
    // Eight connections from two other addresses that never say a word.
    let strangers: Vec<TcpStream> = (0..8)
        .map(|i| connect_from([127, 0, 0, 2 + (i % 2)], &server.addr))
        .collect();
    // A ninth from an address that has its four is closed at once.
    let ninth = connect_from([127, 0, 0, 2], &server.addr);
    assert!(
        closed_by_server(&ninth),
        "a fifth connection from one address"
    );
    // A client still gets in, the first time in the oldest stranger's place.
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    for _ in 0..2 {
        assert_eq!(server.raw(&req("GET", "/m/pack/", Some(&pc))).status, 200);
    }
    assert!(
        closed_by_server(&strangers[0]),
        "the oldest stranger made room"
    );
}

/// Regression (issue 10, finding 8): uploads were held whole in memory;
/// they must reach the disk as they arrive, and leave nothing behind when
/// the client goes away.
#[test]
fn uploads_go_to_disk_as_they_arrive() {
    let mut server = TestServer::new(30, 64 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    let data = random_bytes(9, 8 << 20);
    let head = format!(
        "PUT /m/pack/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {pc}\r\nContent-Length: {}\r\n\r\n",
        hash(&data),
        data.len()
    );
    let tmp = server.data.join("m/tmp");
    let staged_bytes = || -> u64 {
        fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let tcp = TcpStream::connect(&server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(server.tls_client(), tcp);
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(&data[..4 << 20]).unwrap();
    tls.flush().unwrap();
    wait_until("half an upload on disk before its end", &|| {
        staged_bytes() >= 2 << 20
    });
    tls.write_all(&data[4 << 20..]).unwrap();
    tls.flush().unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tls.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    drop(tls);
    assert_eq!(
        fs::read(
            server
                .data
                .join("m/data")
                .join(&hash(&data)[..2])
                .join(hash(&data))
        )
        .unwrap(),
        data
    );
    assert_eq!(staged_bytes(), 0);

    // A client that goes away mid-upload leaves no temporary file.
    let tcp = TcpStream::connect(&server.addr).unwrap();
    reset_on_close(&tcp);
    let mut tls = rustls::StreamOwned::new(server.tls_client(), tcp);
    let other = random_bytes(10, 2 << 20);
    let head = head.replace(&hash(&data), &hash(&other));
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(&other[..1 << 20]).unwrap();
    tls.flush().unwrap();
    wait_until("the upload started", &|| staged_bytes() > 0);
    drop(tls);
    wait_until("the abandoned upload removed", &|| {
        names_in(&tmp).is_empty()
    });
    assert!(server.alive());
}

/// A client that waits for `100 Continue` before sending an upload's body
/// reads a refusal decided before the body at once, and sends no body.
#[test]
fn a_refusal_decided_before_the_body_does_not_wait_for_it() {
    let mut server = TestServer::new(30, 1 << 20);
    let pc = server.token("pc", "append", &[]);
    server.start();
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    let data = b"an index".to_vec();
    let path = format!("/m/index/{}", hash(&data));
    let put = req("PUT", &path, Some(&pc)).body(Body::Bytes(&data));
    assert_eq!(server.raw(&put).status, 201);
    let waiting = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {pc}\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n"
    );
    let resp = server.raw_bytes(waiting.as_bytes(), false);
    assert_eq!(resp.status, 409, "{}", resp.text());
}

/// The peak resident memory of a process, in bytes (`VmHWM`).
fn peak_memory(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Opens a GET of `path` and reads its head and the first bytes of the
/// object, then stops reading: the connection is left open.
fn start_reading(
    server: &TestServer,
    path: &str,
    token: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(&server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(server.tls_client(), tcp);
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    tls.flush().unwrap();
    let mut first = vec![0u8; 64 << 10];
    tls.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"), "{:?}", &first[..64]);
    tls
}

/// A GET sends the object from its file as the client takes it: clients
/// that open reads of a large object and stop reading do not make the
/// server load it, and everyone else is still served, byte-exact.
#[test]
fn reads_are_sent_from_disk_as_the_client_takes_them() {
    let object = 64 << 20;
    let mut server = TestServer::new(30, object as u64);
    let pc = server.token("pc", "append", &[]);
    server.start();
    assert_eq!(server.raw(&req("POST", "/m/", Some(&pc))).status, 201);
    let data = random_bytes(11, object);
    let path = format!("/m/pack/{}", hash(&data));
    let put = req("PUT", &path, Some(&pc)).body(Body::Bytes(&data));
    assert_eq!(server.raw(&put).status, 201);

    let stalled: Vec<_> = (0..4).map(|_| start_reading(&server, &path, &pc)).collect();
    let whole = server.raw(&req("GET", &path, Some(&pc)));
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "the object came back altered");
    let range = req("GET", &path, Some(&pc)).header("Range", "bytes=1000000-1999999");
    let part = server.raw(&range);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[1_000_000..2_000_000]);
    let pid = server.child.as_ref().unwrap().id();
    let peak = peak_memory(pid);
    assert!(
        peak < object as u64 / 2,
        "the server's peak memory is {peak} bytes with 4 stalled reads of a {object}-byte object"
    );
    drop(stalled);
    let sent = server
        .audit()
        .into_iter()
        .filter(|l| l["action"] == "read" && l["bytes"] == object as u64)
        .count();
    assert_eq!(sent, 5, "one audit line per read of the whole object");
    assert!(server.alive());
}

/// Text documents encrypted in place: an attack on a first look.
fn encrypt_documents_in_place(dir: &Path, count: u64) {
    for i in 0..count {
        let doc = dir.join(format!("doc{i}.txt"));
        let len = fs::metadata(&doc).unwrap().len() as usize;
        fs::write(&doc, random_bytes(700 + i, len)).unwrap();
    }
}

fn text_documents(dir: &Path, count: u64) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        fs::write(
            dir.join(format!("doc{i}.txt")),
            format!("registre {i}\n").repeat(300),
        )
        .unwrap();
    }
}

/// Through the server, with the backup client's append token: the attack
/// opens an incident, the next backup reads it back and keeps the alarm,
/// and an admin's `forget --keep-last 1` keeps the last clean snapshot.
#[test]
fn an_incident_through_the_server_keeps_the_alarm_and_its_clean_copy() {
    let mut server = TestServer::new(30, 256 << 20);
    let pc = server.token("pc", "append", &[]);
    let admin = server.token("admin", "admin", &[]);
    server.start();
    let scratch = tempfile::tempdir().unwrap();
    let password = scratch.path().join("password");
    fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let share = scratch.path().join("share");
    text_documents(&share, 12);
    let backup = |expected: i32| {
        let out = client(&server, &pc, &password)
            .args(["backup", "--json"])
            .arg(&share)
            .output()
            .unwrap();
        assert_exit(&out, expected, "backup through the server");
        parse_json(&out.stdout)
    };
    init_through(&server, &pc, &password);
    let clean = backup(0)["snapshot_id"].as_str().unwrap().to_string();
    encrypt_documents_in_place(&share, 12);
    assert_eq!(backup(4)["detection"]["incident"]["step"], "opened");
    let next = backup(4);
    assert_eq!(
        next["detection"]["incident"]["step"], "still_open",
        "{next}"
    );
    let out = client(&server, &admin, &password)
        .args(["forget", "--keep-last", "1", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_success(&out, "forget --dry-run with the admin token");
    let plan = parse_json(&out.stdout);
    let kept = plan["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == clean.as_str())
        .unwrap();
    assert_eq!(kept["keep"], true, "{plan}");
    assert!(kept["reasons"].to_string().contains("incident"), "{plan}");
}
