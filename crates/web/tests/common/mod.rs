//! What the dashboard's tests share: a town backed up, `reprise web` on it,
//! and an HTTPS client that trusts its certificate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use reprise_backup::{BackupOptions, BackupProgress};
use reprise_crypto::KdfParams;
use reprise_repo::{InitOptions, Repository};
use reprise_services::backup::back_up_services;
use reprise_services::config::Config;
use reprise_storage::LocalBackend;
use reprise_web::server::auth::hash_password;
use reprise_web::server::{WebHandle, WebServer};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

pub const PASSWORD: &str = "correct horse battery";
pub const METRICS_TOKEN: &str = "0123456789abcdef0123456789abcdef";

pub struct Site {
    pub dir: tempfile::TempDir,
    pub handle: WebHandle,
    pub agent: ureq::Agent,
    pub base: String,
    /// The server's self-signed certificate.
    pub cert: PathBuf,
}

pub fn config_text(dir: &Path, hash: &str, idle: &str) -> String {
    format!(
        r#"
[sources.partages]
type = "files"
paths = ["{dir}/partages"]

[services.partages]
public_name = "Dossiers partagés"
priority = 3
sources = ["partages"]

[services.etat-civil]
public_name = "État civil"
priority = 1

[services.eau]
public_name = "Facturation de l'eau"
priority = 2

[recovery]
state_dir = "{dir}/state"
drill_dir = "{dir}/drills"
health_timeout = "5s"

[web]
town = "Saint-Exemple"
data_dir = "{dir}/web"
metrics_token_file = "{dir}/metrics-token"
session_idle = "{idle}"

[[web.accounts]]
name = "marie"
password_hash = "{hash}"
"#,
        dir = dir.display()
    )
}

pub fn site(idle: &str) -> Site {
    site_in(tempfile::tempdir().unwrap(), idle, false)
}

/// A site on `dir`; `backed_up`: the share is backed up first.
pub fn site_in(dir: tempfile::TempDir, idle: &str, backed_up: bool) -> Site {
    std::fs::write(
        dir.path().join("metrics-token"),
        format!("{METRICS_TOKEN}\n"),
    )
    .unwrap();
    let text = config_text(dir.path(), &hash_password(PASSWORD).unwrap(), idle);
    let config = Config::parse(&text, Path::new("reprise.toml")).unwrap();
    let options = InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    let backend = || Arc::new(LocalBackend::new(dir.path().join("repo")));
    let repo = match Repository::open(backend(), b"pw") {
        Ok(repo) => repo,
        Err(_) => Repository::init(backend(), b"pw", &options).unwrap(),
    };
    if backed_up && repo.list_snapshots().unwrap().snapshots.is_empty() {
        std::fs::create_dir_all(dir.path().join("partages/compta")).unwrap();
        std::fs::write(
            dir.path().join("partages/compta/budget.ods"),
            b"budget 2027",
        )
        .unwrap();
        let runs = back_up_services(
            &repo,
            &config,
            &["partages".into()],
            "srv",
            &BackupProgress::default(),
        );
        for run in &runs {
            assert!(
                run.outcome.is_ok(),
                "{}: {:?}",
                run.source,
                run.outcome.as_ref().err()
            );
        }
    }
    let server = WebServer::bind(config, repo, Some("127.0.0.1:0".parse().unwrap())).unwrap();
    let cert = server.generated_cert().unwrap().to_path_buf();
    let base = format!("https://127.0.0.1:{}", server.local_addr().port());
    let handle = server.spawn().unwrap();
    Site {
        dir,
        handle,
        agent: agent(&cert),
        base,
        cert,
    }
}

/// A client that trusts the site's self-signed certificate only, and
/// follows no redirect.
pub fn agent(cert: &Path) -> ureq::Agent {
    let pem = std::fs::read(cert).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item.unwrap() {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        )
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    Answer {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

impl Site {
    pub fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("Cookie", format!("__Host-reprise_session={c}"));
        }
        answer(request.call())
    }

    pub fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("Cookie", format!("__Host-reprise_session={c}"));
        }
        if let Some(o) = origin {
            request = request.header("Origin", o);
        }
        answer(request.send_form(fields.iter().copied()))
    }

    /// Logs in; returns the session cookie's value.
    pub fn log_in(&self) -> String {
        let a = self.post(
            "/login",
            None,
            &[("name", "marie"), ("password", PASSWORD)],
            None,
        );
        assert_eq!(a.status, 303, "{}", a.body);
        let set = a.header("set-cookie").unwrap().to_owned();
        for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
        set.split(';')
            .next()
            .unwrap()
            .trim_start_matches("__Host-reprise_session=")
            .to_owned()
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("web/audit.log")
    }
}

pub fn csrf_of(page: &str) -> String {
    let at =
        page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_owned()
}

/// Leaves in the site's jobs the file of a job of `spec` that the server
/// was running when it stopped (its file says running); returns its id.
pub fn job_cut_off(site: &Site, spec: serde_json::Value) -> String {
    let id = "20261204120000-0a1b2c3d";
    let job_dir = site.dir.path().join("web/jobs").join(id);
    std::fs::create_dir_all(&job_dir).unwrap();
    let job = serde_json::json!({
        "id": id, "spec": spec, "account": "marie",
        "created_at": "2026-12-04T12:00:00Z", "state": "running"
    });
    std::fs::write(job_dir.join("job.json"), job.to_string()).unwrap();
    id.to_owned()
}

/// Waits for a job's page to say it ended; returns the page.
pub fn job_page_when_done(site: &Site, cookie: &str, location: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let page = site.get(location, Some(cookie));
        assert_eq!(page.status, 200, "{}", page.body);
        if !page.body.contains("<strong>running</strong>") {
            return page.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job did not end:\n{}",
            page.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn start(site: &Site, cookie: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
    let csrf = csrf_of(&site.get("/admin/jobs", Some(cookie)).body);
    let mut all = fields.to_vec();
    all.push(("csrf", &csrf));
    site.post(path, Some(cookie), &all, None)
}

// ---------------------------------------------------------------------------
// A share, an attack on it, and backups with detection.

/// A name that is not UTF-8, as old shares have.
pub const LATIN1_NAME: &[u8] = b"r\xe9sum\xe9.txt";

/// 24 text documents in two directories, and one file named in Latin-1.
pub fn make_share(root: &Path) {
    for dir in ["finances", "etat-civil"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for i in 0..12 {
            let text: String = (0..200)
                .map(|l| format!("{dir} document {i}, ligne {l}: mandat, budget, registre\n"))
                .collect();
            std::fs::write(root.join(dir).join(format!("doc{i}.txt")), text).unwrap();
        }
    }
    std::fs::write(root.join(OsStr::from_bytes(LATIN1_NAME)), b"CV 2027\n").unwrap();
}

/// Every `.txt` file of `dir` encrypted into `NAME.lockbit` (the original
/// deleted), and a ransom note.
pub fn encrypt(dir: &Path) {
    encrypt_with(dir, true);
}

/// Every `.txt` file of `dir` encrypted, into `NAME.lockbit` (the original
/// deleted) when `rename`, else in place under its own name; and a ransom
/// note.
pub fn encrypt_with(dir: &Path, rename: bool) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let sealed: Vec<u8> = data
            .iter()
            .map(|b| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b ^ (state as u8)
            })
            .collect();
        if rename {
            let mut target = path.clone().into_os_string();
            target.push(".lockbit");
            std::fs::write(&target, sealed).unwrap();
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::write(&path, sealed).unwrap();
        }
    }
    std::fs::write(
        dir.join("README-RESTORE-FILES.txt"),
        "All your files are encrypted. Contact us to buy the decryptor.\n",
    )
    .unwrap();
}

/// Backs `share` up with detection, as `reprise backup` does; returns the
/// snapshot's id and verdict.
pub fn back_up(repo_dir: &Path, share: &Path) -> (String, String) {
    let repo = Repository::open(Arc::new(LocalBackend::new(repo_dir)), b"pw").unwrap();
    let options = BackupOptions::new(vec![share.to_path_buf()], "srv-fichiers");
    let report = reprise_backup::run(&repo, options, &BackupProgress::default()).unwrap();
    let verdict = report
        .detection
        .as_ref()
        .map(|d| d.verdict.as_str().to_owned())
        .unwrap_or_default();
    (report.snapshot_id.to_hex(), verdict)
}

pub fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let data = std::fs::read(&path).unwrap();
                all.insert(path.strip_prefix(root).unwrap().to_path_buf(), data);
            }
        }
    }
    all
}

pub fn encoded(path: &Path) -> String {
    path.as_os_str()
        .as_bytes()
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (*b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
