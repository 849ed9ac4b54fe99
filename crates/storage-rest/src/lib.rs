//! The `rest:` backend: a repository kept by a reprise server
//! (`reprise serve`), reached over HTTPS with a bearer token.
//!
//! `--repo rest:https://host:port/NAME` designates repository NAME on that
//! server. The protocol is documented in docs/SERVER.md; this crate is one
//! client of it. What it adds on top of plain HTTP:
//! - retries with exponential backoff for what may pass (see [`retry`]);
//! - an upload counts only when the server answers 201 with the BLAKE3 of
//!   the bytes it stored, equal to ours (409: already there, which
//!   write-once allows);
//! - the server's refusals become the storage errors the command maps to
//!   exit codes: 401 `Unauthorized`, 403/405/413 `Refused`, 423 `Locked`,
//!   404 `NotFound`, 507 (disk full or quota spent) a final `Remote`
//!   error, each naming the object and what to do.
pub mod retry;

use reprise_storage::{Backend, ObjectInfo, ObjectKind, Result, StorageError, WriteOutcome};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use ureq::http::Response;
use ureq::tls::{PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body};

/// The response header carrying the BLAKE3 (hex) of an upload.
const BLAKE3_HEADER: &str = "reprise-blake3";
/// The response header of a 423: when the object may be deleted.
const RETAIN_UNTIL_HEADER: &str = "retain-until";
/// The response header naming the role of the request's token.
const TOKEN_ROLE_HEADER: &str = "reprise-token-role";

/// Problems with the repository's address or the trusted certificate,
/// found before any request.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("invalid rest: repository {url:?}: {reason} (expected rest:https://HOST:PORT/NAME)")]
    Url { url: String, reason: &'static str },
    #[error("cannot use {path} as a CA certificate: {detail}")]
    CaCert { path: PathBuf, detail: String },
}

/// A repository on a reprise server.
pub struct RestBackend {
    /// `https://host:port/NAME`, no trailing slash.
    base: String,
    agent: Agent,
    authorization: Option<String>,
    /// The token's role, as the server's last answer named it.
    role: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("RestBackend")
            .field("base", &self.base)
            .finish()
    }
}

/// A repository name: `[a-z0-9][a-z0-9._-]{0,63}`. The server has the
/// final word; this only catches typos before the first request.
fn valid_repo_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
}

/// Checks `https://host[:port]/NAME` and returns it without a trailing slash.
fn parse_url(url: &str) -> std::result::Result<String, RestError> {
    let err = |reason| RestError::Url {
        url: url.to_string(),
        reason,
    };
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        err("only https:// is supported: the token must not cross the network in clear")
    })?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, name) = rest
        .split_once('/')
        .ok_or_else(|| err("the repository name is missing after the host"))?;
    if host.is_empty() || host.contains(['@', '?', '#']) {
        return Err(err("invalid host"));
    }
    if !valid_repo_name(name) {
        return Err(err(
            "the repository name must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
        ));
    }
    Ok(format!("https://{host}/{name}"))
}

fn read_ca(path: &Path) -> std::result::Result<Vec<ureq::tls::Certificate<'static>>, RestError> {
    let err = |detail: String| RestError::CaCert {
        path: path.to_path_buf(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| err(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// A listed object, as the server sends it.
#[derive(serde::Deserialize)]
struct Listed {
    name: String,
    size: u64,
    stored: Option<u64>,
}

impl RestBackend {
    /// A backend for `url` (`https://host:port/NAME`, without `rest:`).
    /// `cacert` replaces the public roots with the certificates of that PEM
    /// file, as for the self-signed certificate a server generates.
    pub fn new(
        url: &str,
        token: Option<String>,
        cacert: Option<&Path>,
    ) -> std::result::Result<RestBackend, RestError> {
        let base = parse_url(url)?;
        let mut tls = TlsConfig::builder();
        if let Some(path) = cacert {
            tls = tls.root_certs(RootCerts::new_with_certs(&read_ca(path)?));
        }
        let config = Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .https_only(true)
            // A redirect would carry the token elsewhere.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(15)))
            // The server hashes and syncs an upload before answering.
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .user_agent(format!("reprise/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(RestBackend {
            base,
            agent: config.into(),
            authorization: token.map(|t| format!("Bearer {}", t.trim())),
            role: std::sync::Mutex::new(None),
        })
    }

    fn url(&self, kind: ObjectKind, name: Option<&str>) -> String {
        format!("{}/{kind}/{}", self.base, name.unwrap_or(""))
    }

    /// The URL of one object, once its name is known to be valid: an
    /// invalid one would make another path (`../config`) or none at all.
    fn object_url(&self, kind: ObjectKind, name: &str) -> Result<String> {
        reprise_storage::validate_name(kind, name)?;
        Ok(self.url(kind, Some(name)))
    }

    fn with_auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.authorization {
            Some(a) => request.header("Authorization", a),
            None => request,
        }
    }

    /// Sends a request, retrying what may pass; returns the first final
    /// response.
    fn exchange(
        &self,
        what: &str,
        send: impl Fn() -> std::result::Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>> {
        let mut last = String::new();
        for attempt in 1..=retry::ATTEMPTS {
            match send() {
                Ok(r) if retry::status_is_transient(r.status().as_u16()) => {
                    let status = r.status().as_u16();
                    last = format!("HTTP {status}: {}", reason(r));
                }
                Ok(r) => {
                    self.remember_role(&r);
                    return Ok(r);
                }
                Err(e) if retry::error_is_transient(&e) => last = e.to_string(),
                Err(e) => {
                    return Err(StorageError::Remote {
                        location: self.location(),
                        detail: format!("{what}: {e}{}", tls_hint(&e)),
                    })
                }
            }
            if attempt < retry::ATTEMPTS {
                std::thread::sleep(retry::delay_after(attempt));
            }
        }
        Err(StorageError::Remote {
            location: self.location(),
            detail: format!(
                "{what} failed {} times, the last with {last}: check that the server is running \
                 and reachable, then run the command again",
                retry::ATTEMPTS
            ),
        })
    }

    /// Keeps the role the server says the token has (older servers say
    /// nothing, and nothing is kept).
    fn remember_role(&self, response: &Response<Body>) {
        if let Some(role) = header(response, TOKEN_ROLE_HEADER) {
            if let Ok(mut kept) = self.role.lock() {
                *kept = Some(role);
            }
        }
    }

    /// The storage error for a final response that is not a success.
    fn refusal(
        &self,
        action: &'static str,
        kind: ObjectKind,
        name: &str,
        response: Response<Body>,
    ) -> StorageError {
        let status = response.status().as_u16();
        let until = header(&response, RETAIN_UNTIL_HEADER);
        let why = reason(response);
        let location = self.location();
        let name = name.to_string();
        let refused = |hint: &str| StorageError::Refused {
            action,
            kind,
            name: name.clone(),
            location: location.clone(),
            reason: format!("{why} (HTTP {status}): {hint}"),
        };
        match status {
            401 => StorageError::Unauthorized {
                location,
                detail: format!(
                    "{why}: set REPRISE_TOKEN to a valid token for this repository (tokens are made \
                     with `reprise serve token add` on the server)"
                ),
            },
            403 => refused("run administrative operations from a trusted machine, with an admin token"),
            405 => refused("the server only creates whole new objects, reads them, and lets an admin delete old ones"),
            413 => refused(
                "the object exceeds the server's limit on the size of one object: raise \
                 max_object_bytes in the server's configuration file, then run the command again",
            ),
            423 => StorageError::Locked {
                kind,
                name,
                location,
                until: until.unwrap_or_else(|| "the end of its retention period".into()),
            },
            507 => StorageError::Remote {
                location,
                detail: format!(
                    "{action} {kind} {name}: {why} (HTTP 507): the server is out of space or this \
                     token's quota is spent; ask the server's administrator to free space or raise \
                     the token's quota_bytes, then run the command again"
                ),
            },
            404 if action != "write" => StorageError::NotFound {
                kind,
                name,
                location,
            },
            _ => StorageError::Remote {
                location,
                detail: format!("{action} {kind} {name}: HTTP {status}: {why}"),
            },
        }
    }

    fn get(&self, kind: ObjectKind, name: &str, range: Option<String>) -> Result<Response<Body>> {
        let url = self.object_url(kind, name)?;
        self.exchange(&format!("reading {kind} {name}"), || {
            let mut request = self.with_auth(self.agent.get(&url));
            if let Some(r) = &range {
                request = request.header("Range", r);
            }
            request.call()
        })
    }

    fn read_body(
        &self,
        kind: ObjectKind,
        name: &str,
        response: Response<Body>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let expected = header(&response, "content-length").and_then(|l| l.parse::<u64>().ok());
        buf.clear();
        let mut body = response.into_body();
        body.with_config()
            .limit(u64::MAX)
            .reader()
            .read_to_end(buf)
            .map_err(|e| StorageError::Remote {
                location: self.location(),
                detail: format!("reading {kind} {name}: {e}: run the command again"),
            })?;
        if expected.is_some_and(|n| n != buf.len() as u64) {
            return Err(StorageError::Remote {
                location: self.location(),
                detail: format!("{kind} {name} arrived incomplete: run the command again"),
            });
        }
        Ok(())
    }
}

/// A header's value, as text.
fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The server's one-line reason, from the body of a refusal.
fn reason(response: Response<Body>) -> String {
    let status = response.status();
    let text = response
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let text: String = text.trim().chars().take(400).collect();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_string()
    } else {
        text
    }
}

fn tls_hint(e: &ureq::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        " (to trust a server's self-signed certificate, give its cert.pem with --cacert or REPRISE_CACERT)"
    } else {
        ""
    }
}

impl Backend for RestBackend {
    fn location(&self) -> String {
        format!("rest:{}", self.base)
    }

    fn deletion_refused(&self) -> Option<String> {
        let role = self.role.lock().ok()?.clone()?;
        (role != "admin").then(|| {
            format!(
                "the token in REPRISE_TOKEN has role {role}, and only an admin token may delete"
            )
        })
    }

    fn create(&self) -> Result<()> {
        let url = format!("{}/", self.base);
        let response = self.exchange("creating the repository", || {
            self.with_auth(self.agent.post(&url)).send_empty()
        })?;
        match response.status().as_u16() {
            201 => Ok(()),
            // Made by an earlier `init` that stopped before its config:
            // as with a local directory, only a config makes it taken.
            409 if self.list(ObjectKind::Config)?.is_empty() => Ok(()),
            409 => Err(StorageError::Refused {
                action: "create",
                kind: ObjectKind::Config,
                name: "config".into(),
                location: self.location(),
                reason: "a repository already exists there: choose another name".into(),
            }),
            _ => Err(self.refusal("create", ObjectKind::Config, "config", response)),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        let url = self.url(kind, None);
        let response = self.exchange(&format!("listing {kind} objects"), || {
            self.with_auth(self.agent.get(&url)).call()
        })?;
        match response.status().as_u16() {
            200 => {}
            // No repository yet lists as empty, as a missing directory does.
            404 => return Ok(Vec::new()),
            _ => return Err(self.refusal("list", kind, "", response)),
        }
        let mut buf = Vec::new();
        self.read_body(kind, "(listing)", response, &mut buf)?;
        let listed: Vec<Listed> =
            serde_json::from_slice(&buf).map_err(|e| StorageError::Remote {
                location: self.location(),
                detail: format!("the listing of {kind} objects is not valid JSON: {e}"),
            })?;
        Ok(listed
            .into_iter()
            .map(|o| ObjectInfo {
                name: o.name,
                size: o.size,
                stored: o
                    .stored
                    .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
            })
            .collect())
    }

    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(kind, name, &mut buf)?;
        Ok(buf)
    }

    fn read_into(&self, kind: ObjectKind, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        let response = self.get(kind, name, None)?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("read", kind, name, response));
        }
        self.read_body(kind, name, response, buf)
    }

    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let short = || StorageError::ShortRead {
            kind,
            name: name.to_string(),
            offset,
            len,
        };
        let Some(last) =
            reprise_storage::http_range_end(kind, name, offset, len, || self.size(kind, name))?
        else {
            return Ok(Vec::new());
        };
        let response = self.get(kind, name, Some(format!("bytes={offset}-{last}")))?;
        match response.status().as_u16() {
            206 => {}
            416 => return Err(short()),
            _ => return Err(self.refusal("read", kind, name, response)),
        }
        let mut buf = Vec::new();
        self.read_body(kind, name, response, &mut buf)?;
        if buf.len() as u64 != len {
            return Err(short());
        }
        Ok(buf)
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        let url = self.object_url(kind, name)?;
        let response = self.exchange(&format!("sizing {kind} {name}"), || {
            self.with_auth(self.agent.head(&url)).call()
        })?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("read", kind, name, response));
        }
        header(&response, "content-length")
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| StorageError::Remote {
                location: self.location(),
                detail: format!("no size for {kind} {name} in the server's answer"),
            })
    }

    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        let url = self.object_url(kind, name)?;
        let response = self.exchange(&format!("writing {kind} {name}"), || {
            // The server refuses what it must (too large, over quota,
            // already there) before the body: waiting for its 100 Continue
            // lets the client read that refusal instead of a broken pipe.
            self.with_auth(self.agent.put(&url))
                .header("Content-Type", "application/octet-stream")
                .header("Expect", "100-continue")
                .send(data)
        })?;
        match response.status().as_u16() {
            201 => {}
            409 => return Ok(WriteOutcome::AlreadyExisted),
            _ => return Err(self.refusal("write", kind, name, response)),
        }
        let ours = blake3::hash(data).to_hex();
        match header(&response, BLAKE3_HEADER) {
            Some(theirs) if theirs == ours.as_str() => Ok(WriteOutcome::Created),
            theirs => Err(StorageError::Remote {
                location: self.location(),
                detail: format!(
                    "the server stored {kind} {name} but reports BLAKE3 {} for it, not {ours}: the bytes \
                     were changed on the way or the server is not a reprise server; run `reprise check --read-data`",
                    theirs.as_deref().unwrap_or("(none)")
                ),
            }),
        }
    }

    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        let url = self.object_url(kind, name)?;
        let response = self.exchange(&format!("deleting {kind} {name}"), || {
            self.with_auth(self.agent.delete(&url)).call()
        })?;
        match response.status().as_u16() {
            200 | 204 => Ok(()),
            _ => Err(self.refusal("delete", kind, name, response)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_an_https_server_and_one_repository() {
        assert_eq!(
            parse_url("https://backup.example:8443/mairie/").unwrap(),
            "https://backup.example:8443/mairie"
        );
        assert_eq!(
            parse_url("https://127.0.0.1:1/a.b-c_d").unwrap(),
            "https://127.0.0.1:1/a.b-c_d"
        );
        for bad in [
            "http://h:1/m",
            "https://h:1",
            "https://h:1/",
            "https://h:1/M",
            "https://h:1/a/b",
            "https://h:1/..",
            "https:///m",
            "https://u@h/m",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_location_never_shows_the_token() {
        let b = RestBackend::new("https://h:1/m", Some("secret".into()), None).unwrap();
        assert_eq!(b.location(), "rest:https://h:1/m");
        assert_eq!(b.url(ObjectKind::Pack, Some("00")), "https://h:1/m/pack/00");
        assert_eq!(b.url(ObjectKind::Snapshot, None), "https://h:1/m/snapshot/");
        assert!(!format!("{b:?}").contains("secret"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("reprise-rest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = RestBackend::new("https://h:1/m", None, Some(&path)).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = RestBackend::new("https://h:1/m", None, Some(&dir.join("missing"))).unwrap_err();
        assert!(matches!(err, RestError::CaCert { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
