//! The request handler: authentication, roles, write-once, retention,
//! quotas, and one audit line per request.
//!
//! Every request ends in a status, never in a panic or a dropped
//! connection: refusals carry a one-line reason in their body, which the
//! client shows to its user and the audit log records. The order of the
//! checks matters: the token first (so nothing is revealed to strangers),
//! then the path, then the method, the role, and the repository.
//!
//! Nothing happens without its audit line: a request that changes
//! something (creates a repository or an object, deletes one) is decided
//! and prepared first, its line is written, and only then is the change
//! made ([`Effect`]). A request whose line cannot be written is refused
//! with 503 and changes nothing.

use crate::audit::{AuditEntry, AuditLog};
use crate::body::FileBody;
use crate::config::Config;
use crate::quota::{Charged, Usage, OBJECT_CHARGE, REPO_CHARGE};
use crate::route::{self, Target};
use crate::store::{self, Deletion, Staged, Store, Upload};
use crate::token::{Token, Tokens};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::{BodyExt, Either, Full};
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
/// Bytes of an upload gathered before they are written to its temporary
/// file: with the connection's buffers, what one upload holds in memory.
pub(crate) const UPLOAD_CHUNK: usize = 256 << 10;

/// What a response sends: a short text or JSON in memory, or an object
/// read from its file as it is sent.
pub(crate) type ResponseBody = Either<Full<Bytes>, FileBody>;

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
    /// An object to send instead of `body` (boxed: replies travel in
    /// `Result`s, and most have none).
    object: Option<Box<FileBody>>,
    result: String,
    bytes: Option<u64>,
    /// Close the connection after it (the body was not read).
    close: bool,
    /// The change the request makes, once its audit line is written.
    effect: Option<Box<Effect>>,
}

/// A change a request makes, prepared and not yet visible.
enum Effect {
    /// Link a complete, checked upload to its name.
    Publish {
        /// Boxed: its hasher's state is large.
        staged: Box<Staged>,
        charged: Charged,
        kind: ObjectKind,
        name: String,
    },
    CreateRepo {
        repo: String,
        charged: Charged,
    },
    Delete {
        repo: String,
        kind: ObjectKind,
        name: String,
    },
}

impl Reply {
    fn new(status: StatusCode, result: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            object: None,
            result: result.into(),
            bytes: None,
            close: false,
            effect: None,
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

    /// An object's bytes, read from its open file as they are sent.
    fn object(status: StatusCode, object: FileBody, len: u64) -> Reply {
        let mut r = Reply::new(status, format!("sent {len} bytes"));
        r.bytes = Some(len);
        r.object = Some(Box::new(object));
        r.headers
            .push((header::CONTENT_TYPE, "application/octet-stream".into()));
        r.headers.push((header::CONTENT_LENGTH, len.to_string()));
        r
    }

    fn header(mut self, name: impl Into<HeaderName>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn into_response(self) -> Response<ResponseBody> {
        let body = match self.object {
            Some(object) => Either::Right(*object),
            None => Either::Left(Full::new(self.body)),
        };
        let mut response = Response::new(body);
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

/// Called once a request on a connection has authenticated: the
/// connection is then a client's, not a stranger's (see `serve`).
pub(crate) type Proven = Arc<dyn Fn() + Send + Sync>;

/// Serves one request.
pub(crate) async fn handle(
    state: Arc<State>,
    remote: SocketAddr,
    proven: Proven,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
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
    let reply = process(&state, &parts, &mut body, &mut log, &proven).await;
    // A client still sending a refused upload must be able to read the
    // refusal: read what it sends, then answer.
    if let Some(body) = body.take().filter(|_| !reply.close) {
        drain(body, state.max_object_bytes).await;
    }
    let reply = conclude(&state, &log, reply).await;
    let mut response = reply.into_response();
    if parts.method == Method::HEAD {
        *response.body_mut() = Either::Left(Full::new(Bytes::new()));
    }
    Ok(response)
}

async fn process(
    state: &Arc<State>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    log: &mut Log,
    proven: &Proven,
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
    proven();
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

fn repo_exists_refusal(repo: &str) -> Reply {
    Reply::refuse(
        StatusCode::CONFLICT,
        format!("repository {repo:?} already exists"),
    )
}

/// A new repository is charged to the token's quota (its directories cost
/// inodes and blocks) before it is made.
async fn create(state: &Arc<State>, token: &Token, repo: String) -> Reply {
    if !token.role.may_write() {
        return role_refusal(token, "create repositories");
    }
    let (name, quota) = (token.name.clone(), token.quota_bytes);
    blocking_reply(state, move |s| {
        if s.store.repo(&repo).is_some() {
            // Completes the tree of a creation cut short, as `init` expects.
            s.store.create(&repo)?;
            return Ok(repo_exists_refusal(&repo));
        }
        let charged = match charge(s, &name, quota, REPO_CHARGE) {
            Ok(c) => c,
            Err(refusal) => return Ok(refusal),
        };
        let mut reply = Reply::new(StatusCode::CREATED, "created");
        reply.effect = Some(Box::new(Effect::CreateRepo { repo, charged }));
        Ok(reply)
    })
    .await
}

fn over_quota(over: crate::quota::OverQuota) -> Reply {
    Reply::refuse(StatusCode::INSUFFICIENT_STORAGE, over.to_string())
}

/// Records `bytes` as used by the token, or the refusal to send: over the
/// quota, or the count cannot be recorded (then nothing is created, so a
/// quota never lapses). Blocking.
fn charge(s: &State, token: &str, quota: Option<u64>, bytes: u64) -> Result<Charged, Reply> {
    let reservation = s.usage.reserve(token, quota, bytes).map_err(over_quota)?;
    s.usage.commit(reservation).map_err(|e| {
        eprintln!("reprise serve: cannot record quota usage, refusing the creation: {e}");
        Reply::refuse(
            StatusCode::INSUFFICIENT_STORAGE,
            "the server cannot record this token's usage, so it creates nothing: tell its administrator",
        )
    })
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
        if head {
            let size = backend.size(kind, &name)?;
            return Ok(Reply::new(StatusCode::OK, format!("size {size}"))
                .header(header::CONTENT_LENGTH, size.to_string()));
        }
        // The size announced is the opened file's, and only that file is
        // read: nothing swapped in by path afterwards is sent.
        let (file, size) = store::open_object(&backend, kind, &name)?;
        let Some(range) = range else {
            return Ok(Reply::object(
                StatusCode::OK,
                FileBody::new(file, 0, size),
                size,
            ));
        };
        let Some((first, last)) = range.resolve(size) else {
            return Ok(Reply::refuse(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("{kind} {name} has {size} bytes: the range is beyond its end"),
            )
            .header(header::CONTENT_RANGE, format!("bytes */{size}")));
        };
        let len = last - first + 1;
        Ok(Reply::object(
            StatusCode::PARTIAL_CONTENT,
            FileBody::new(file, first, len),
            len,
        )
        .header(
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{size}"),
        ))
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

/// What an upload that passed the checks made before its body needs.
struct Admitted {
    staged: Staged,
    /// Bytes the body may have: the object limit, or less under a quota.
    limit: u64,
    quota_left: Option<u64>,
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
    let admitted = match admit_upload(state, parts, token, &repo, kind, &name).await {
        Ok(a) => a,
        Err(refusal) => {
            // A client waiting for 100 Continue has sent no body and will
            // send none: there is nothing to drain.
            if expects_continue(parts) {
                body.take();
            }
            return refusal;
        }
    };
    receive_upload(state, body, token, admitted, kind, name).await
}

/// The checks an upload passes before its body is read (role, length,
/// quota, existence), and its temporary file.
async fn admit_upload(
    state: &Arc<State>,
    parts: &Parts,
    token: &Token,
    repo: &str,
    kind: ObjectKind,
    name: &str,
) -> Result<Admitted, Reply> {
    if !token.role.may_write() {
        return Err(role_refusal(token, "write objects"));
    }
    if parts.headers.contains_key(header::CONTENT_RANGE) {
        return Err(Reply::refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "partial writes (Content-Range) are refused: objects are written whole, once",
        ));
    }
    let declared = declared_length(parts)?;
    let max = state.max_object_bytes;
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let quota = token.quota_bytes;
    let announced = declared.unwrap_or(0).saturating_add(OBJECT_CHARGE);
    if let Err(over) = state.usage.check(&token.name, quota, announced) {
        return Err(over_quota(over));
    }
    if let Some(refusal) = existing(state, repo, kind, name).await {
        return Err(refusal);
    }
    let quota_left = state
        .usage
        .remaining(&token.name, quota)
        .map(|q| q.saturating_sub(OBJECT_CHARGE));
    let limit = quota_left.map_or(max, |q| q.min(max));
    let (repo, name) = (repo.to_string(), name.to_string());
    let staged = blocking(state, move |s| {
        let backend = open(s, &repo)?;
        Ok(s.store.stage(&backend, kind, &name)?)
    })
    .await?;
    Ok(Admitted {
        staged,
        limit,
        quota_left,
    })
}

fn expects_continue(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Continues [`write`] once the body may come.
async fn receive_upload(
    state: &Arc<State>,
    body: &mut Option<Incoming>,
    token: &Token,
    admitted: Admitted,
    kind: ObjectKind,
    name: String,
) -> Reply {
    let Admitted {
        staged,
        limit,
        quota_left,
    } = admitted;
    let max = state.max_object_bytes;
    let quota = token.quota_bytes;
    let Some(incoming) = body.as_mut() else {
        return Reply::refuse(StatusCode::BAD_REQUEST, "no body");
    };
    let staged = match receive(incoming, staged, limit).await {
        Ok(staged) => staged,
        // The rest of the body is drained, so the client reads the refusal.
        Err(BodyError::TooLarge) if quota_left.is_some_and(|q| q < max) => {
            let over =
                state
                    .usage
                    .check(&token.name, quota, limit.saturating_add(OBJECT_CHARGE + 1));
            return over.err().map_or_else(
                || Reply::refuse(StatusCode::INSUFFICIENT_STORAGE, "quota exceeded"),
                over_quota,
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
        Err(BodyError::Disk(e)) => return storage_reply(e),
    };
    body.take();
    let hash = staged.hash();
    if kind.is_content_named() && hash != name {
        return Reply::refuse(
            StatusCode::BAD_REQUEST,
            format!("the BLAKE3 of the body is {hash}, not the name {name}: objects are named by their hash"),
        )
        .header(HeaderName::from_static(BLAKE3_HEADER), hash);
    }
    let n = staged.len();
    let token_name = token.name.clone();
    blocking_reply(state, move |s| {
        let charged = match charge(s, &token_name, quota, n.saturating_add(OBJECT_CHARGE)) {
            Ok(c) => c,
            Err(refusal) => return Ok(refusal),
        };
        let mut reply = Reply::new(StatusCode::CREATED, "created")
            .header(HeaderName::from_static(BLAKE3_HEADER), hash);
        reply.bytes = Some(n);
        reply.effect = Some(Box::new(Effect::Publish {
            staged: Box::new(staged),
            charged,
            kind,
            name,
        }));
        Ok(reply)
    })
    .await
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
    Disk(StorageError),
}

/// Receives an upload's body into its temporary file, in chunks of
/// [`UPLOAD_CHUNK`] bytes, so that no upload is ever whole in memory;
/// then syncs the file.
async fn receive(body: &mut Incoming, staged: Staged, limit: u64) -> Result<Staged, BodyError> {
    let mut staged = staged;
    let mut chunk = Vec::with_capacity(UPLOAD_CHUNK);
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
            Err(_) => return Err(BodyError::Failed("the client stopped sending".into())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Failed(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let received = staged.len() + chunk.len() as u64 + data.len() as u64;
        if received > limit {
            return Err(BodyError::TooLarge);
        }
        chunk.extend_from_slice(&data);
        if chunk.len() >= UPLOAD_CHUNK {
            (staged, chunk) = write_chunk(staged, chunk).await?;
        }
    }
    let (staged, _) = write_chunk(staged, chunk).await?;
    off_thread(move || staged.finish()).await
}

/// Appends a chunk to the upload's file, off the async threads; gives the
/// emptied buffer back for the next chunk.
async fn write_chunk(
    mut staged: Staged,
    mut chunk: Vec<u8>,
) -> Result<(Staged, Vec<u8>), BodyError> {
    off_thread(move || {
        staged.append(&chunk)?;
        chunk.clear();
        Ok((staged, chunk))
    })
    .await
}

async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, BodyError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(BodyError::Disk),
        Err(e) => Err(BodyError::Failed(format!("internal error: {e}"))),
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
        let now = SystemTime::now();
        Ok(
            match store::deletion_allowed(&backend, kind, &name, s.retention, now)? {
                Deletion::Allowed => {
                    let mut reply = Reply::new(StatusCode::NO_CONTENT, "deleted");
                    reply.effect = Some(Box::new(Effect::Delete { repo, kind, name }));
                    reply
                }
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

/// Writes the request's audit line, then makes its change, if any.
async fn conclude(state: &Arc<State>, log: &Log, mut reply: Reply) -> Reply {
    let effect = reply.effect.take();
    if let Err(e) = record(state, log, &reply).await {
        if let Some(effect) = effect {
            off_thread_state(state, move |s| cancel(s, *effect)).await;
        }
        return unlogged(e);
    }
    let Some(effect) = effect else { return reply };
    match off_thread_state(state, move |s| apply(s, *effect)).await {
        None => reply,
        // The change did not happen as the line says: a second line says
        // what did, and without it the answer is the refusal of a server
        // that cannot log, like any other.
        Some(outcome) => match record(state, log, &outcome).await {
            Ok(()) => outcome,
            Err(e) => unlogged(e),
        },
    }
}

/// The answer to a request whose audit line could not be written: the
/// server fails closed, and says why on its standard error.
fn unlogged(e: std::io::Error) -> Reply {
    eprintln!("reprise serve: cannot write the audit log, refusing the request: {e}");
    Reply::refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server cannot write its audit log, so it refuses requests: tell its administrator",
    )
}

/// Runs blocking work that cannot fail into a reply of its own.
async fn off_thread_state<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Option<T> + Send + 'static,
) -> Option<T> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .unwrap_or_else(|e| {
            eprintln!("reprise serve: a request's task failed: {e}");
            None
        })
}

/// Makes a prepared change; `None` when it happened as recorded, else the
/// reply that says what happened instead. Blocking.
fn apply(s: &State, effect: Effect) -> Option<Reply> {
    let (outcome, charged) = match effect {
        Effect::Publish {
            staged,
            charged,
            kind,
            name,
        } => {
            let hash = staged.hash();
            let outcome = match store::publish(*staged) {
                Ok(Upload::Created) => return None,
                Ok(Upload::Exists) => {
                    exists_refusal(kind, &name).header(HeaderName::from_static(BLAKE3_HEADER), hash)
                }
                Err(e) => storage_reply(e),
            };
            (outcome, Some(charged))
        }
        Effect::CreateRepo { repo, charged } => {
            let outcome = match s.store.create(&repo) {
                Ok(true) => return None,
                Ok(false) => repo_exists_refusal(&repo),
                Err(e) => storage_reply(e),
            };
            (outcome, Some(charged))
        }
        Effect::Delete { repo, kind, name } => {
            let removed = open(s, &repo).and_then(|b| Ok(b.remove(kind, &name)?));
            match removed {
                Ok(()) => return None,
                Err(e) => (e.reply(), None),
            }
        }
    };
    if let Some(charged) = charged {
        refund(s, charged);
    }
    Some(outcome)
}

/// Drops a prepared change (its temporary file goes with it). Blocking.
fn cancel(s: &State, effect: Effect) -> Option<()> {
    match effect {
        Effect::Publish { charged, .. } | Effect::CreateRepo { charged, .. } => refund(s, charged),
        Effect::Delete { .. } => {}
    }
    None
}

fn refund(s: &State, charged: Charged) {
    if let Err(e) = s.usage.refund(charged) {
        eprintln!("reprise serve: cannot record a refund of quota usage: {e}");
    }
}

async fn record(state: &Arc<State>, log: &Log, reply: &Reply) -> std::io::Result<()> {
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
        token: log.token.clone(),
        remote: log.remote.to_string(),
        method: log.method.to_string(),
        action: log.action,
        repo,
        kind,
        object,
        path: log.path.clone(),
        status: reply.status.as_u16(),
        result: reply.result.clone(),
        bytes: reply.bytes,
    };
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || state.audit.append(&entry, !quiet_read))
        .await
        .map_err(std::io::Error::other)?
}

/// Records a request that never reached the handler: the connection's
/// parser refused it (431, 414, 400) and answered it itself.
pub(crate) async fn record_unparsed(
    state: &Arc<State>,
    remote: SocketAddr,
    status: u16,
    why: String,
) {
    let entry = AuditEntry {
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        token: "unknown".into(),
        remote: remote.to_string(),
        method: "-".into(),
        action: "refused",
        repo: None,
        kind: None,
        object: None,
        path: None,
        status,
        result: format!("refused before parsing: {why}"),
        bytes: None,
    };
    let state = Arc::clone(state);
    let written = tokio::task::spawn_blocking(move || state.audit.append(&entry, true)).await;
    if !matches!(written, Ok(Ok(()))) {
        eprintln!("reprise serve: cannot write the audit log for a request refused before parsing");
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
