//! The request handler: authentication, roles, write-once, retention,
//! quotas, and one audit line per request.
//!
//! Every request ends in a status, never in a panic or a dropped
//! connection: refusals carry a one-line reason in their body, which the
//! client shows to its user and the audit log records. The order of the
//! checks matters: the token first (so nothing is revealed to strangers),
//! then the path, then the method, the role, and the repository.

use crate::audit::{AuditEntry, AuditLog};
use crate::config::Config;
use crate::quota::Usage;
use crate::route::{self, Target};
use crate::store::{self, Deletion, Store, Upload};
use crate::token::{Token, Tokens};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use reprise_storage::{Backend, LocalBackend, ObjectKind, StorageError};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The response header that carries the BLAKE3 of an upload, in hex.
pub const BLAKE3_HEADER: &str = "reprise-blake3";
/// The response header of a 423: when the object may be deleted.
pub const RETAIN_UNTIL_HEADER: &str = "retain-until";
/// A client silent this long in the middle of a body is dropped.
const BODY_IDLE: Duration = Duration::from_secs(60);
/// Discarding the body of a refused upload stops after this long.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// Bodies are read into a buffer this large at first, whatever length a
/// client announces, so an announcement alone reserves little memory.
const PREALLOCATE_MAX: u64 = 16 << 20;

/// Everything a request may need.
pub(crate) struct State {
    pub store: Store,
    pub tokens: TokenSource,
    pub usage: Usage,
    pub audit: AuditLog,
    pub retention: Duration,
    pub retention_days: u32,
    pub max_object_bytes: u64,
}

/// The tokens, reloaded when the configuration file changes, so that
/// `reprise serve token add|revoke` take effect without a restart.
pub(crate) struct TokenSource {
    path: Option<PathBuf>,
    current: Mutex<(Option<Stamp>, Arc<Tokens>)>,
}

/// What identifies a version of the file: a rewrite (always a rename)
/// changes the inode, an edit in place the time or length.
type Stamp = (Option<SystemTime>, u64, u64);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok(), m.len(), m.ino()))
}

impl TokenSource {
    pub fn new(path: Option<PathBuf>, tokens: Tokens) -> TokenSource {
        let s = path.as_deref().and_then(stamp);
        TokenSource {
            path,
            current: Mutex::new((s, Arc::new(tokens))),
        }
    }

    /// The tokens of the file as it is now. A file that no longer parses
    /// keeps the previous tokens (and says so on standard error).
    pub fn current(&self) -> Arc<Tokens> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = &self.path else {
            return Arc::clone(&current.1);
        };
        let now = stamp(path);
        if now.is_some() && now != current.0 {
            current.0 = now;
            match Config::load(path) {
                Ok(c) => current.1 = Arc::new(Tokens::from_entries(&c.tokens)),
                Err(e) => eprintln!("reprise serve: keeping the previous tokens: {e}"),
            }
        }
        Arc::clone(&current.1)
    }
}

/// A response, with what the audit log says of it.
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    result: String,
    bytes: Option<u64>,
    /// Close the connection after it (the body was not read).
    close: bool,
}

impl Reply {
    fn new(status: StatusCode, result: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            result: result.into(),
            bytes: None,
            close: false,
        }
    }

    /// A refusal: the reason is the body and the audit result.
    fn refuse(status: StatusCode, reason: impl Into<String>) -> Reply {
        let reason = reason.into();
        let mut r = Reply::new(status, reason.clone());
        r.body = Bytes::from(format!("{reason}\n"));
        r.headers
            .push((header::CONTENT_TYPE, "text/plain; charset=utf-8".into()));
        r
    }

    fn data(status: StatusCode, data: Vec<u8>, content_type: &str) -> Reply {
        let n = data.len() as u64;
        let mut r = Reply::new(status, format!("sent {n} bytes"));
        r.bytes = Some(n);
        r.body = Bytes::from(data);
        r.headers.push((header::CONTENT_TYPE, content_type.into()));
        r
    }

    fn header(mut self, name: impl Into<HeaderName>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            // Values are built here from ASCII; one that is not is dropped.
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// What the audit line says of the request, filled in as it is understood.
struct Log {
    token: String,
    remote: SocketAddr,
    method: Method,
    action: &'static str,
    target: Option<Target>,
    path: Option<String>,
}

/// Serves one request.
pub(crate) async fn handle(
    state: Arc<State>,
    remote: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let mut body = Some(body);
    let mut log = Log {
        token: "unknown".into(),
        remote,
        method: parts.method.clone(),
        action: "refused",
        target: None,
        path: None,
    };
    let reply = process(&state, &parts, &mut body, &mut log).await;
    // A client still sending a refused upload must be able to read the
    // refusal: read what it sends, then answer.
    if let Some(body) = body.take().filter(|_| !reply.close) {
        drain(body, state.max_object_bytes).await;
    }
    record(&state, log, &reply).await;
    let mut response = reply.into_response();
    if parts.method == Method::HEAD {
        *response.body_mut() = Full::new(Bytes::new());
    }
    Ok(response)
}

async fn process(
    state: &Arc<State>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    log: &mut Log,
) -> Reply {
    // The path is parsed first only for the audit log: a stranger's
    // attempt is worth recording in full, but it is answered 401.
    let target = route::parse(parts.uri.path(), parts.uri.query());
    match &target {
        Ok(t) => log.target = Some(t.clone()),
        Err(_) => log.path = Some(parts.uri.to_string().chars().take(256).collect()),
    }
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let token = match state.tokens.current().authenticate(auth, Utc::now()) {
        Ok(t) => t,
        Err(e) => {
            log.token = e.token_name().to_string();
            return Reply::refuse(StatusCode::UNAUTHORIZED, e.reason())
                .header(header::WWW_AUTHENTICATE, "Bearer");
        }
    };
    log.token = token.name.clone();
    let target = match target {
        Ok(t) => t,
        Err(e) => return Reply::refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if !token.allows_repo(target.repo()) {
        return Reply::refuse(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} may not use repository {:?}: it is limited to other repositories",
                token.name,
                target.repo()
            ),
        );
    }
    dispatch(state, parts, body, log, &token, target).await
}

async fn dispatch(
    state: &Arc<State>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    log: &mut Log,
    token: &Token,
    target: Target,
) -> Reply {
    let method = &parts.method;
    let reading = method == Method::GET || method == Method::HEAD;
    match target {
        Target::Repo(repo) if method == Method::POST => {
            log.action = "create";
            create(state, token, repo).await
        }
        Target::List { repo, kind } if reading => {
            log.action = "list";
            list(state, repo, kind).await
        }
        Target::Object { repo, kind, name } if reading => {
            let head = method == Method::HEAD;
            log.action = if head { "size" } else { "read" };
            read(state, parts, repo, kind, name, head).await
        }
        Target::Object { repo, kind, name } if method == Method::PUT => {
            log.action = "write";
            write(state, parts, body, token, repo, kind, name).await
        }
        Target::Object { repo, kind, name } if method == Method::DELETE => {
            log.action = "delete";
            delete(state, token, repo, kind, name).await
        }
        other => Reply::refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{method} is not allowed here (allowed: {}): objects are only ever created whole, read, \
                 or deleted by an admin after retention",
                other.allowed_methods()
            ),
        )
        .header(header::ALLOW, other.allowed_methods()),
    }
}

/// Why a blocking operation failed.
enum OpError {
    NoRepo(String),
    Storage(StorageError),
}

impl From<StorageError> for OpError {
    fn from(e: StorageError) -> Self {
        OpError::Storage(e)
    }
}

impl OpError {
    fn reply(self) -> Reply {
        match self {
            OpError::NoRepo(repo) => Reply::refuse(
                StatusCode::NOT_FOUND,
                format!("no repository {repo:?} on this server: create it with `reprise init`"),
            ),
            OpError::Storage(e) => storage_reply(e),
        }
    }
}

/// Maps a storage failure to a status, without revealing server paths.
fn storage_reply(e: StorageError) -> Reply {
    match e {
        StorageError::NotFound { kind, name, .. } => {
            Reply::refuse(StatusCode::NOT_FOUND, format!("{kind} {name} not found"))
        }
        StorageError::InvalidName { name } => Reply::refuse(
            StatusCode::BAD_REQUEST,
            format!("invalid object name {name:?}"),
        ),
        StorageError::ShortRead { kind, name, .. } => Reply::refuse(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("range beyond the end of {kind} {name}"),
        ),
        StorageError::NoSpace { .. } => {
            eprintln!("reprise serve: {e}");
            Reply::refuse(
                StatusCode::INSUFFICIENT_STORAGE,
                "the server's disk is full: tell its administrator",
            )
        }
        other => {
            eprintln!("reprise serve: {other}");
            Reply::refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server failed to access its storage (see its log)",
            )
        }
    }
}

/// Runs blocking storage work off the async threads; a panic there
/// becomes a 500, never a dead server.
async fn blocking<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<T, OpError> + Send + 'static,
) -> Result<T, Reply> {
    let state = Arc::clone(state);
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.reply()),
        Err(e) => {
            eprintln!("reprise serve: a request's task failed: {e}");
            Err(Reply::refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

/// A blocking operation whose success is a reply too.
async fn blocking_reply(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<Reply, OpError> + Send + 'static,
) -> Reply {
    blocking(state, f).await.unwrap_or_else(|refusal| refusal)
}

fn open(state: &State, repo: &str) -> Result<LocalBackend, OpError> {
    state
        .store
        .repo(repo)
        .ok_or_else(|| OpError::NoRepo(repo.to_string()))
}

fn role_refusal(token: &Token, what: &str) -> Reply {
    Reply::refuse(
        StatusCode::FORBIDDEN,
        format!(
            "token {:?} has role {}, which may not {what}",
            token.name, token.role
        ),
    )
}

async fn create(state: &Arc<State>, token: &Token, repo: String) -> Reply {
    if !token.role.may_write() {
        return role_refusal(token, "create repositories");
    }
    blocking_reply(state, move |s| {
        Ok(if s.store.create(&repo)? {
            Reply::new(StatusCode::CREATED, "created")
        } else {
            Reply::refuse(
                StatusCode::CONFLICT,
                format!("repository {repo:?} already exists"),
            )
        })
    })
    .await
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    size: u64,
    stored: Option<u64>,
}

async fn list(state: &Arc<State>, repo: String, kind: ObjectKind) -> Reply {
    blocking_reply(state, move |s| {
        let objects: Vec<Listed> = open(s, &repo)?
            .list(kind)?
            .into_iter()
            .map(|o| Listed {
                stored: o
                    .stored
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
                name: o.name,
                size: o.size,
            })
            .collect();
        let n = objects.len();
        let json = serde_json::to_vec(&objects).unwrap_or_else(|_| b"[]".to_vec());
        let mut reply = Reply::data(StatusCode::OK, json, "application/json");
        reply.result = format!("listed {n} objects");
        Ok(reply)
    })
    .await
}

/// A `Range: bytes=…` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// `a-b` or `a-` (inclusive).
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Last(u64),
}

fn parse_range(value: Option<&HeaderValue>) -> Result<Option<ByteRange>, String> {
    let Some(value) = value else { return Ok(None) };
    let bad = || "invalid Range header: send one range, such as bytes=0-99".to_string();
    let text = value.to_str().map_err(|_| bad())?.trim();
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err("only one range per request is supported".into());
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => Ok(Some(ByteRange::Last(num(b)?))),
        (false, true) => Ok(Some(ByteRange::From(num(a)?, None))),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(bad());
            }
            Ok(Some(ByteRange::From(a, Some(b))))
        }
        (true, true) => Err(bad()),
    }
}

impl ByteRange {
    /// First and last byte within an object of `size` bytes, if any.
    fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        match self {
            ByteRange::From(a, b) if a <= last => Some((a, b.map_or(last, |b| b.min(last)))),
            ByteRange::From(..) => None,
            ByteRange::Last(0) => None,
            ByteRange::Last(n) => Some((size - n.min(size), last)),
        }
    }
}

async fn read(
    state: &Arc<State>,
    parts: &Parts,
    repo: String,
    kind: ObjectKind,
    name: String,
    head: bool,
) -> Reply {
    let range = match parse_range(parts.headers.get(header::RANGE)) {
        Ok(r) => r,
        Err(reason) => return Reply::refuse(StatusCode::BAD_REQUEST, reason),
    };
    blocking_reply(state, move |s| {
        let backend = open(s, &repo)?;
        let size = backend.size(kind, &name)?;
        if head {
            return Ok(Reply::new(StatusCode::OK, format!("size {size}"))
                .header(header::CONTENT_LENGTH, size.to_string()));
        }
        let octets = "application/octet-stream";
        let Some(range) = range else {
            return Ok(Reply::data(
                StatusCode::OK,
                backend.read(kind, &name)?,
                octets,
            ));
        };
        let Some((first, last)) = range.resolve(size) else {
            return Ok(Reply::refuse(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("{kind} {name} has {size} bytes: the range is beyond its end"),
            )
            .header(header::CONTENT_RANGE, format!("bytes */{size}")));
        };
        let data = backend.read_range(kind, &name, first, last - first + 1)?;
        Ok(
            Reply::data(StatusCode::PARTIAL_CONTENT, data, octets).header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{size}"),
            ),
        )
    })
    .await
}

fn declared_length(parts: &Parts) -> Result<Option<u64>, Reply> {
    let Some(v) = parts.headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| Reply::refuse(StatusCode::BAD_REQUEST, "invalid Content-Length"))
}

fn too_large(max: u64) -> Reply {
    let mut r = Reply::refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the object is larger than this server's max_object_bytes ({max})"),
    );
    r.close = true;
    r
}

async fn write(
    state: &Arc<State>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    token: &Token,
    repo: String,
    kind: ObjectKind,
    name: String,
) -> Reply {
    if !token.role.may_write() {
        return role_refusal(token, "write objects");
    }
    if parts.headers.contains_key(header::CONTENT_RANGE) {
        return Reply::refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "partial writes (Content-Range) are refused: objects are written whole, once",
        );
    }
    let declared = match declared_length(parts) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let max = state.max_object_bytes;
    if declared.is_some_and(|n| n > max) {
        return too_large(max);
    }
    let quota = token.quota_bytes;
    if let Err(over) = state.usage.check(&token.name, quota, declared.unwrap_or(0)) {
        return Reply::refuse(StatusCode::FORBIDDEN, over.to_string());
    }
    if let Some(refusal) = existing(state, &repo, kind, &name).await {
        return refusal;
    }
    let quota_left = state.usage.remaining(&token.name, quota);
    let limit = quota_left.map_or(max, |q| q.min(max));
    let Some(incoming) = body.as_mut() else {
        return Reply::refuse(StatusCode::BAD_REQUEST, "no body");
    };
    let data = match read_body(incoming, limit, declared).await {
        Ok(data) => data,
        // The rest of the body is drained, so the client reads the refusal.
        Err(BodyError::TooLarge) if quota_left.is_some_and(|q| q < max) => {
            let over = state
                .usage
                .check(&token.name, quota, limit.saturating_add(1));
            return Reply::refuse(
                StatusCode::FORBIDDEN,
                over.err()
                    .map_or("quota exceeded".into(), |o| o.to_string()),
            );
        }
        Err(BodyError::TooLarge) => {
            let mut r = too_large(max);
            r.close = false;
            return r;
        }
        Err(BodyError::Failed(e)) => {
            return Reply::refuse(StatusCode::BAD_REQUEST, format!("upload interrupted: {e}"))
        }
    };
    body.take();
    let reservation = match state.usage.reserve(&token.name, quota, data.len() as u64) {
        Ok(r) => r,
        Err(over) => return Reply::refuse(StatusCode::FORBIDDEN, over.to_string()),
    };
    blocking_reply(state, move |s| {
        let hash = blake3::hash(&data).to_hex().to_string();
        let outcome =
            open(s, &repo).and_then(|b| Ok(store::upload(&b, kind, &name, &data, &hash)?));
        if !matches!(outcome, Ok(Upload::Created)) {
            s.usage.release(reservation);
            return Ok(upload_refusal(outcome?, kind, &name, &hash));
        }
        let n = data.len() as u64;
        if let Err(e) = s.usage.commit(reservation) {
            // The object is stored: say so, and let the administrator know
            // the count on disk lags.
            eprintln!("reprise serve: cannot record quota usage: {e}");
        }
        let mut reply = Reply::new(StatusCode::CREATED, "created")
            .header(HeaderName::from_static(BLAKE3_HEADER), hash);
        reply.bytes = Some(n);
        Ok(reply)
    })
    .await
}

fn upload_refusal(outcome: Upload, kind: ObjectKind, name: &str, hash: &str) -> Reply {
    let reply = match outcome {
        Upload::Exists | Upload::Created => exists_refusal(kind, name),
        Upload::WrongName(h) => Reply::refuse(
            StatusCode::BAD_REQUEST,
            format!("the BLAKE3 of the body is {h}, not the name {name}: objects are named by their hash"),
        ),
    };
    reply.header(HeaderName::from_static(BLAKE3_HEADER), hash.to_string())
}

fn exists_refusal(kind: ObjectKind, name: &str) -> Reply {
    Reply::refuse(
        StatusCode::CONFLICT,
        format!("{kind} {name} already exists: objects are written once and never replaced"),
    )
}

/// A 409 (or 404, for a missing repository) before the body is taken.
async fn existing(state: &Arc<State>, repo: &str, kind: ObjectKind, name: &str) -> Option<Reply> {
    let (repo, name) = (repo.to_string(), name.to_string());
    let found = blocking(state, move |s| match open(s, &repo)?.size(kind, &name) {
        Ok(_) => Ok(Some(exists_refusal(kind, &name))),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    })
    .await;
    found.unwrap_or_else(Some)
}

enum BodyError {
    TooLarge,
    Failed(String),
}

async fn read_body(
    body: &mut Incoming,
    limit: u64,
    declared: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let capacity = declared.unwrap_or(0).min(limit).min(PREALLOCATE_MAX);
    let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
            Err(_) => return Err(BodyError::Failed("the client stopped sending".into())),
            Ok(None) => return Ok(data),
            Ok(Some(Err(e))) => return Err(BodyError::Failed(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(chunk) = frame.into_data() {
            if (data.len() as u64).saturating_add(chunk.len() as u64) > limit {
                return Err(BodyError::TooLarge);
            }
            data.extend_from_slice(&chunk);
        }
    }
}

/// Reads and discards a body, within bounds of size and time.
async fn drain(mut body: Incoming, limit: u64) {
    let _ = tokio::time::timeout(DRAIN_MAX, async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(chunk) = frame.into_data() {
                seen = seen.saturating_add(chunk.len() as u64);
                if seen > limit {
                    return;
                }
            }
        }
    })
    .await;
}

async fn delete(
    state: &Arc<State>,
    token: &Token,
    repo: String,
    kind: ObjectKind,
    name: String,
) -> Reply {
    if !token.role.may_delete() {
        return role_refusal(
            token,
            "delete objects: deletion needs an admin token, and an object older than the retention period",
        );
    }
    blocking_reply(state, move |s| {
        let backend = open(s, &repo)?;
        Ok(
            match store::delete_after_retention(&backend, kind, &name, s.retention, SystemTime::now())? {
                Deletion::Deleted => Reply::new(StatusCode::NO_CONTENT, "deleted"),
                Deletion::Retained(until) => {
                    let until = rfc3339(until);
                    Reply::refuse(
                        StatusCode::LOCKED,
                        format!(
                            "{kind} {name} is under retention until {until} (retention_days = {} on the server)",
                            s.retention_days
                        ),
                    )
                    .header(HeaderName::from_static(RETAIN_UNTIL_HEADER), until)
                }
            },
        )
    })
    .await
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn record(state: &Arc<State>, log: Log, reply: &Reply) {
    let (repo, kind, object) = match &log.target {
        Some(t) => (
            Some(t.repo().to_string()),
            t.kind().map(|k| k.to_string()),
            t.object().map(str::to_string),
        ),
        None => (None, None, None),
    };
    let quiet_read =
        (log.method == Method::GET || log.method == Method::HEAD) && reply.status.is_success();
    let entry = AuditEntry {
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        token: log.token,
        remote: log.remote.to_string(),
        method: log.method.to_string(),
        action: log.action,
        repo,
        kind,
        object,
        path: log.path,
        status: reply.status.as_u16(),
        result: reply.result.clone(),
        bytes: reply.bytes,
    };
    let state = Arc::clone(state);
    let written =
        tokio::task::spawn_blocking(move || state.audit.append(&entry, !quiet_read)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("reprise serve: cannot write the audit log: {e}"),
        Err(e) => eprintln!("reprise serve: cannot write the audit log: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Result<Option<ByteRange>, String> {
        parse_range(Some(&HeaderValue::from_str(s).unwrap()))
    }

    #[test]
    fn ranges_parse_and_resolve_within_the_object() {
        assert_eq!(range("bytes=0-9"), Ok(Some(ByteRange::From(0, Some(9)))));
        assert_eq!(range("bytes=5-"), Ok(Some(ByteRange::From(5, None))));
        assert_eq!(range("bytes=-3"), Ok(Some(ByteRange::Last(3))));
        for bad in [
            "bytes=9-0",
            "bytes=-",
            "0-9",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "items=0-1",
        ] {
            assert!(range(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_range(None), Ok(None));
        assert_eq!(ByteRange::From(0, Some(9)).resolve(5), Some((0, 4)));
        assert_eq!(ByteRange::From(5, None).resolve(5), None);
        assert_eq!(ByteRange::From(0, None).resolve(0), None);
        assert_eq!(ByteRange::Last(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Last(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Last(0).resolve(10), None);
    }
}
