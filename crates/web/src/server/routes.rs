//! The dashboard's addresses and who may use each.
//!
//! Public, for anyone: `/` and `/en/` (the status page), `/api/v2/…` (its
//! Statuspage JSON), `/login`. With a bearer token (`[web]
//! metrics_token_file`) or a session: `/metrics`. With a session: every
//! page under `/admin`, and every POST, each of which must carry the
//! session's CSRF token and come from this origin. Everything answers with
//! headers that forbid scripts, framing and sniffing.

use std::collections::HashMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use reprise_services::live::LiveRecovery;
use serde::Serialize;

use super::auth::{same_token, LoginRefusal, Session, COOKIE, LONGEST_NAME};
use super::{pages, Peer, WebState};
use crate::jobs::{JobContext, JobKind, JobSpec, RestoreSpec};
use crate::status::board::NewIncident;
use crate::status::model::{Impact, IncidentStage, ServiceState};
use crate::status::page::PublicPage;
use crate::status::{render_html, statuspage, Lang};

/// Forms are small; anything larger is not the dashboard's.
const MOST_FORM_BYTES: usize = 64 << 10;
/// A form's body arrives within this, or the request is refused: a client
/// trickling its body must not hold a connection for ever.
const FORM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A form's body, read whole within [`FORM_DEADLINE`] and
/// [`MOST_FORM_BYTES`].
pub(crate) struct FormBody(Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormBody {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Response> {
        let reading = axum::body::to_bytes(request.into_body(), MOST_FORM_BYTES);
        match tokio::time::timeout(FORM_DEADLINE, reading).await {
            Ok(Ok(bytes)) => Ok(FormBody(bytes)),
            Ok(Err(_)) => Err(error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "this form is larger than any of the dashboard's",
            )),
            Err(_) => Err(error_page(
                StatusCode::REQUEST_TIMEOUT,
                "the form took too long to arrive: send it again",
            )),
        }
    }
}

type Shared = State<Arc<WebState>>;

pub(crate) fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(public_fr))
        .route("/index.html", get(public_fr))
        .route("/en/", get(public_en))
        .route("/en/index.html", get(public_en))
        .route("/api/v2/{file}", get(public_json))
        .route("/api/v2/incidents/unresolved.json", get(public_unresolved))
        .route("/metrics", get(metrics))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
        .route("/admin", get(overview))
        .route("/admin/status", get(board))
        .route("/admin/status/set", post(set_state))
        .route("/admin/status/open", post(open_incident))
        .route("/admin/status/update", post(update_incident))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/drill", post(start_drill))
        .route("/admin/jobs/recover", post(start_recovery))
        .route("/admin/jobs/restore", post(start_restore))
        .route("/admin/snapshots", get(snapshots))
        .route("/admin/snapshots/{id}", get(browse))
        .route("/admin/snapshots/{id}/file", get(download))
        .route("/admin/diff", get(difference))
        .route("/admin/jobs/{id}", get(job))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MOST_FORM_BYTES))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Runs blocking work off the event loop; a panic in it is a 500, never a
/// dead server.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed on this request",
        )
    })
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (status, html(pages::message_page(status, message))).into_response()
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "there is nothing at this address")
}

// ---------------------------------------------------------------------------
// The public page.

async fn public_page(state: &Arc<WebState>) -> Result<PublicPage, Response> {
    let state = Arc::clone(state);
    blocking(move || {
        let board = state.board.read().unwrap_or_else(|e| {
            eprintln!("reprise web: {e}; the public page shows no operator word");
            Default::default()
        });
        // A live state that cannot be read is only a missing hint.
        let live = LiveRecovery::read(&state.config.recovery.state_dir())
            .ok()
            .flatten();
        PublicPage::assemble(&state.config, &board, live.as_ref(), Utc::now())
    })
    .await
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn public_in(state: Arc<WebState>, lang: Lang, other: &'static str) -> Response {
    let page = match public_page(&state).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    match render_html(&page, lang, other) {
        Ok(body) => html(body),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn public_fr(State(state): Shared) -> Response {
    public_in(state, Lang::Fr, "/en/").await
}

async fn public_en(State(state): Shared) -> Response {
    public_in(state, Lang::En, "/").await
}

async fn public_file(state: Arc<WebState>, name: &str) -> Response {
    let page = match public_page(&state).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    match statuspage::files(&page, "/")
        .into_iter()
        .find(|(n, _)| *n == name)
    {
        Some((_, json)) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            json.to_string(),
        )
            .into_response(),
        None => error_page(
            StatusCode::NOT_FOUND,
            "there is no such file in the status API",
        ),
    }
}

async fn public_json(State(state): Shared, Path(file): Path<String>) -> Response {
    public_file(state, &file).await
}

async fn public_unresolved(State(state): Shared) -> Response {
    public_file(state, "incidents/unresolved.json").await
}

// ---------------------------------------------------------------------------
// Who is asking.

/// The session of the request's cookie, if live; proves the connection.
fn session_of(state: &WebState, headers: &HeaderMap, peer: &Peer) -> Option<(String, Session)> {
    let cookie = cookie(headers, COOKIE)?;
    let session = state.auth.session(&cookie)?;
    peer.slot.prove();
    Some((cookie, session))
}

/// The value of cookie `name`. By hand: a request carries `name=value`
/// pairs only, and the one cookie the dashboard sets is hex.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn to_login() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
}

fn see(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A POST from another site is refused: browsers say where a request
/// comes from, and the session's cookie is `SameSite=Strict` besides.
/// (The pages' referrer policy is `same-origin`: with `no-referrer`,
/// Chromium sends `Origin: null` even on the dashboard's own forms.)
fn same_origin(headers: &HeaderMap) -> bool {
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == "same-origin" || v == "none");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => host.is_some_and(|h| origin == format!("https://{h}")),
    };
    site_ok && origin_ok
}

/// A form's fields; a field given several times keeps every value.
fn form(body: &Bytes) -> HashMap<String, Vec<String>> {
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    fields
}

fn field<'a>(fields: &'a HashMap<String, Vec<String>>, name: &str) -> &'a str {
    fields
        .get(name)
        .and_then(|v| v.first())
        .map_or("", String::as_str)
}

/// A state-changing request's session, after its origin and CSRF token.
// The refusal is the response itself, built once per refused form: boxing
// it would only add an allocation.
#[allow(clippy::result_large_err)]
async fn operator(
    state: &Arc<WebState>,
    headers: &HeaderMap,
    peer: &Peer,
    fields: &HashMap<String, Vec<String>>,
) -> Result<Session, Response> {
    let Some((_, session)) = session_of(state, headers, peer) else {
        return Err(to_login());
    };
    if !same_origin(headers) || !same_token(field(fields, "csrf"), &session.csrf) {
        audit(state, peer, Some(&session.account), "refused_csrf", "").await;
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "this form is stale or did not come from the dashboard: reload the page and try again",
        ));
    }
    Ok(session)
}

#[derive(Serialize)]
struct AuditLine {
    time: String,
    remote: String,
    account: Option<String>,
    action: &'static str,
    detail: String,
}

/// One line in the audit log, synced, written off the event loop: logins
/// and every change. Names come from the client: cut and cleaned.
async fn audit(
    state: &Arc<WebState>,
    peer: &Peer,
    account: Option<&str>,
    action: &'static str,
    detail: &str,
) {
    let clean = |text: &str| -> String {
        text.chars()
            .take(LONGEST_NAME)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let line = AuditLine {
        time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        remote: peer.address.ip().to_string(),
        account: account.map(clean),
        action,
        detail: clean(detail),
    };
    let state = Arc::clone(state);
    let written = blocking(move || state.audit.append(&line, true)).await;
    if let Ok(Err(e)) = written {
        eprintln!("reprise web: the audit log cannot be written: {e}");
    }
}

// ---------------------------------------------------------------------------
// Logging in and out.

async fn login_page(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    if session_of(&state, &headers, &peer).is_some() {
        return see("/admin");
    }
    html(pages::login(&town(&state), None))
}

fn town(state: &WebState) -> String {
    state
        .config
        .web
        .town
        .clone()
        .unwrap_or_else(|| "reprise".into())
}

async fn log_in(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    if !same_origin(&headers) {
        return error_page(
            StatusCode::FORBIDDEN,
            "log in from the dashboard's own page",
        );
    }
    let fields = form(&body);
    let name = field(&fields, "name").to_owned();
    let password = field(&fields, "password").to_owned();
    let checked = Arc::clone(&state);
    let address = peer.address.ip();
    let attempt = {
        let name = name.clone();
        blocking(move || checked.auth.log_in(address, &name, &password)).await
    };
    let outcome = match attempt {
        Ok(outcome) => outcome,
        Err(response) => return response,
    };
    match outcome {
        Ok(cookie) => {
            audit(&state, &peer, Some(&name), "login", "").await;
            let set = format!("{COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Strict");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/admin".to_owned()),
                    (header::SET_COOKIE, set),
                ],
            )
                .into_response()
        }
        Err(refusal) => {
            let (status, action, message) = match refusal {
                LoginRefusal::Wrong => (
                    StatusCode::UNAUTHORIZED,
                    "login_failed",
                    "wrong name or password",
                ),
                LoginRefusal::Throttled => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "login_throttled",
                    "too many failed logins from here or for this account: wait 15 minutes",
                ),
                LoginRefusal::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "login_busy",
                    "the server is checking other logins: try again in a moment",
                ),
                LoginRefusal::NoRandomness => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "login_failed",
                    "the server cannot make a session now: try again",
                ),
            };
            if refusal != LoginRefusal::Throttled || state.first_throttle(peer.address.ip()) {
                audit(&state, &peer, Some(&name), action, "").await;
            }
            (status, html(pages::login(&town(&state), Some(message)))).into_response()
        }
    }
}

async fn log_out(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    let fields = form(&body);
    let session = match operator(&state, &headers, &peer, &fields).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Some(cookie) = cookie(&headers, COOKIE) {
        state.auth.log_out(&cookie);
    }
    audit(&state, &peer, Some(&session.account), "logout", "").await;
    let clear = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_owned()),
            (header::SET_COOKIE, clear),
        ],
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Metrics.

async fn metrics(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token_ok = match (&state.metrics_token, bearer) {
        (Some(expected), Some(given)) => same_token(given, expected),
        _ => false,
    };
    if token_ok {
        peer.slot.prove();
    }
    if !token_ok && session_of(&state, &headers, &peer).is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token ([web] metrics_token_file) or a session is needed\n",
        )
            .into_response();
    }
    let scraped = {
        let state = Arc::clone(&state);
        blocking(move || crate::metrics::scrape(&state.repo)).await
    };
    match scraped {
        Ok(Ok(text)) => {
            ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
        }
        Ok(Err(e)) => error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(response) => response,
    }
}

// ---------------------------------------------------------------------------
// The operator's pages.

async fn overview(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let gathered = {
        let state = Arc::clone(&state);
        blocking(move || crate::overview::Overview::gather(&state.repo)).await
    };
    let page = match public_page(&state).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    match gathered {
        Ok(Ok(overview)) => html(pages::overview(
            &state.config,
            &session,
            &overview,
            &page,
            Utc::now(),
        )),
        Ok(Err(e)) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("cannot read the repository: {e}"),
        ),
        Err(response) => response,
    }
}

async fn board(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    board_page(&state, &session, None).await
}

/// The incident view: what detection found, what was started to restore
/// it, and the board of the public page (with a refusal, if any).
async fn board_page(state: &Arc<WebState>, session: &Session, refusal: Option<&str>) -> Response {
    let page = match public_page(state).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let gathered = {
        let state = Arc::clone(state);
        blocking(move || (crate::incidents::gather(&state.repo), state.jobs.list())).await
    };
    let (detections, jobs) = match gathered {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detections = detections.unwrap_or_else(|e| {
        eprintln!("reprise web: the incidents cannot be read: {e}");
        Vec::new()
    });
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = pages::IncidentView {
        detections: &detections,
        jobs: &jobs,
        public: &page,
    };
    (
        status,
        html(pages::board(
            &state.config,
            session,
            &view,
            refusal,
            Utc::now(),
        )),
    )
        .into_response()
}

/// Runs a change of the board for the operator, then shows the board again
/// (with the refusal, if it was refused).
async fn change_board(
    state: Arc<WebState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
    action: &'static str,
    change: impl FnOnce(&WebState, &HashMap<String, Vec<String>>) -> Result<String, String>
        + Send
        + 'static,
) -> Response {
    let fields = form(&body);
    let session = match operator(&state, &headers, &peer, &fields).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let done = {
        let state = Arc::clone(&state);
        blocking(move || change(&state, &fields)).await
    };
    match done {
        Ok(Ok(detail)) => {
            audit(&state, &peer, Some(&session.account), action, &detail).await;
            see("/admin/status")
        }
        Ok(Err(refusal)) => board_page(&state, &session, Some(&refusal)).await,
        Err(response) => response,
    }
}

async fn set_state(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    change_board(state, peer, headers, body, "status_set", |state, fields| {
        let service = field(fields, "service");
        let wanted =
            ServiceState::parse(field(fields, "state")).ok_or("choose a state from the list")?;
        state
            .board
            .set_state(service, wanted)
            .map_err(|e| e.to_string())?;
        Ok(format!("{service} {}", wanted.key()))
    })
    .await
}

async fn open_incident(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    change_board(
        state,
        peer,
        headers,
        body,
        "incident_open",
        |state, fields| {
            let impact =
                Impact::parse(field(fields, "impact")).ok_or("choose an impact from the list")?;
            let id = state
                .board
                .open_incident(NewIncident {
                    title: field(fields, "title").to_owned(),
                    impact,
                    services: fields.get("service").cloned().unwrap_or_default(),
                    stage: IncidentStage::Investigating,
                    message: field(fields, "message").to_owned(),
                })
                .map_err(|e| e.to_string())?;
            Ok(id)
        },
    )
    .await
}

async fn update_incident(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    change_board(
        state,
        peer,
        headers,
        body,
        "incident_update",
        |state, fields| {
            let id = field(fields, "id");
            let stage = IncidentStage::parse(field(fields, "stage"))
                .ok_or("choose a stage from the list")?;
            state
                .board
                .update_incident(id, stage, field(fields, "message"))
                .map_err(|e| e.to_string())?;
            Ok(format!("{id} {}", stage.key()))
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// Background jobs: drills and recoveries.

async fn jobs(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let listed = {
        let state = Arc::clone(&state);
        blocking(move || state.jobs.list()).await
    };
    match listed {
        Ok(list) => html(pages::jobs(&state.config, &session, &list, None)),
        Err(response) => response,
    }
}

async fn job(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let read = {
        let state = Arc::clone(&state);
        blocking(move || {
            let job = state.jobs.get(&id)?;
            Some((state.jobs.live(&id), state.jobs.log_tail(&id), job))
        })
        .await
    };
    match read {
        Ok(Some((live, log, job))) => html(pages::job(
            &state.config,
            &session,
            &job,
            live.as_ref(),
            &log,
        )),
        Ok(None) => error_page(StatusCode::NOT_FOUND, "there is no such job"),
        Err(response) => response,
    }
}

/// Starts a job for the operator, then shows its page (or the jobs page
/// with the refusal).
async fn start_job(
    state: Arc<WebState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
    spec_of: impl FnOnce(&HashMap<String, Vec<String>>) -> Result<JobSpec, String>,
) -> Response {
    let fields = form(&body);
    let session = match operator(&state, &headers, &peer, &fields).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let started = spec_of(&fields).and_then(|spec| {
        let context: Arc<dyn JobContext> = Arc::clone(&state) as Arc<dyn JobContext>;
        let detail = format!("{}: {}", spec.kind.name(), pages::spec_subject(&spec));
        state
            .jobs
            .start(context, spec, &session.account)
            .map(|id| (id, detail))
            .map_err(|e| e.to_string())
    });
    match started {
        Ok((id, detail)) => {
            audit(
                &state,
                &peer,
                Some(&session.account),
                "job_start",
                &format!("{id} {detail}"),
            )
            .await;
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/admin/jobs/{id}"))],
            )
                .into_response()
        }
        Err(refusal) => {
            let list = state.jobs.list();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                html(pages::jobs(&state.config, &session, &list, Some(&refusal))),
            )
                .into_response()
        }
    }
}

async fn start_drill(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    start_job(state, peer, headers, body, |fields| {
        Ok(JobSpec {
            kind: JobKind::Drill,
            services: fields.get("service").cloned().unwrap_or_default(),
            last_clean: false,
            replace: false,
            target_root: None,
            restore: None,
        })
    })
    .await
}

async fn start_recovery(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    start_job(state, peer, headers, body, |fields| {
        if field(fields, "confirm").trim() != "recover" {
            return Err("type recover in the confirmation field: a recovery writes over live files and databases".into());
        }
        let root = field(fields, "target_root").trim();
        Ok(JobSpec {
            kind: JobKind::Recover,
            services: fields.get("service").cloned().unwrap_or_default(),
            last_clean: field(fields, "last_clean") == "1",
            replace: field(fields, "replace") == "1",
            target_root: (!root.is_empty()).then(|| std::path::PathBuf::from(root)),
            restore: None,
        })
    })
    .await
}

async fn start_restore(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    start_job(state, peer, headers, body, |fields| {
        let mut path = pages::decode_path(field(fields, "path"));
        if path.is_empty() {
            path = b"/".to_vec();
        }
        let in_place = field(fields, "in_place") == "1";
        let target = if in_place {
            if field(fields, "confirm").trim() != "in place" {
                return Err("type in place in the confirmation field: an in-place restore writes into the live share".into());
            }
            let normal = reprise_repo::walk::components(&path)
                .iter()
                .fold(b"/".to_vec(), |p, c| reprise_repo::walk::join(&p, c));
            if normal != path {
                return Err(format!(
                    "in place, give the directory as the snapshot names it: {}",
                    String::from_utf8_lossy(&normal)
                ));
            }
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&path))
        } else {
            let target = field(fields, "target").trim();
            if target.is_empty() {
                return Err("give the directory to restore into".into());
            }
            std::path::PathBuf::from(target)
        };
        Ok(JobSpec {
            kind: JobKind::Restore,
            services: Vec::new(),
            last_clean: field(fields, "last_clean") == "1",
            replace: false,
            target_root: None,
            restore: Some(RestoreSpec {
                snapshot: field(fields, "snapshot").to_owned(),
                path: reprise_format::RawBytes(path),
                quarantine: in_place.then(|| {
                    let dir =
                        reprise_restore::last_clean::default_quarantine_dir(&target, Utc::now());
                    reprise_format::RawBytes(dir.into_os_string().into_vec())
                }),
                target: reprise_format::RawBytes(target.into_os_string().into_vec()),
                in_place,
            }),
        })
    })
    .await
}

// ---------------------------------------------------------------------------
// Snapshots: the list, a directory, a file, a diff.

/// The value of `name` in the request's query, percent-decoded to bytes
/// (a snapshot's names need not be UTF-8).
fn query_bytes(uri: &axum::http::Uri, name: &str) -> Option<Vec<u8>> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| pages::decode_query_value(value))
    })
}

fn query_text(uri: &axum::http::Uri, name: &str) -> String {
    query_bytes(uri, name)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A browse failure as a page: the request's fault is a 404, the
/// repository's a 503 that says what failed.
fn browse_failed(e: &crate::snapshots::BrowseError) -> Response {
    use crate::snapshots::BrowseError;
    match e {
        _ if e.is_not_found() => error_page(StatusCode::NOT_FOUND, &e.to_string()),
        BrowseError::DiffTooLarge(..) | BrowseError::Busy => {
            error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        _ => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("cannot read the repository: {e}"),
        ),
    }
}

async fn snapshots(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let listed = {
        let state = Arc::clone(&state);
        blocking(move || crate::snapshots::by_source(&state.repo)).await
    };
    match listed {
        Ok(Ok(sources)) => html(pages::snapshots(
            &state.config,
            &session,
            &sources,
            Utc::now(),
        )),
        Ok(Err(e)) => browse_failed(&e),
        Err(response) => response,
    }
}

async fn browse(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let path = query_bytes(&uri, "path").unwrap_or_else(|| b"/".to_vec());
    let offset = query_text(&uri, "from").parse().unwrap_or(0);
    let listed = {
        let state = Arc::clone(&state);
        blocking(move || crate::snapshots::list_dir(&state.repo, &id, &path, offset)).await
    };
    match listed {
        Ok(Ok(listing)) => html(pages::browse(&state.config, &session, &listing)),
        Ok(Err(e)) => browse_failed(&e),
        Err(response) => response,
    }
}

/// How many blobs a download may read ahead of the client.
const DOWNLOAD_AHEAD: usize = 2;

async fn download(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let path = query_bytes(&uri, "path").unwrap_or_default();
    let found = {
        let state = Arc::clone(&state);
        let path = path.clone();
        blocking(move || crate::snapshots::file(&state.repo, &id, &path)).await
    };
    let node = match found {
        Ok(Ok(node)) => node,
        Ok(Err(e)) => return browse_failed(&e),
        Err(response) => return response,
    };
    audit(
        &state,
        &peer,
        Some(&session.account),
        "download",
        &String::from_utf8_lossy(&path),
    )
    .await;
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(DOWNLOAD_AHEAD);
    let length = node.size;
    let disposition = pages::attachment(node.name.as_bytes());
    let reading = Arc::clone(&state);
    tokio::task::spawn_blocking(move || send_content(&reading.repo, &node, &sender));
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        body,
    )
        .into_response()
}

/// Reads a file's blobs one by one into `sender`, until the end, a failure
/// or the client's leaving. A failure is sent, so the client sees the
/// download cut, never a short file taken for whole; so is content that
/// does not add up to the size the snapshot records (the response's
/// length), which would otherwise be cut to it silently.
fn send_content(
    repo: &reprise_repo::Repository,
    node: &reprise_format::Node,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let fail = |why: String| {
        let _ = sender.blocking_send(Err(std::io::Error::other(why)));
    };
    let mut reader = match reprise_repo::browse::FileReader::new(repo, node) {
        Ok(reader) => reader,
        Err(e) => return fail(e.to_string()),
    };
    let mut sent = 0u64;
    loop {
        match reader.next_blob() {
            Ok(Some(blob)) => {
                sent = sent.saturating_add(blob.len() as u64);
                if sent > node.size {
                    return fail(format!(
                        "the content is longer than the {} bytes the snapshot records",
                        node.size
                    ));
                }
                if sender.blocking_send(Ok(Bytes::from(blob))).is_err() {
                    return;
                }
            }
            Ok(None) if sent == node.size => return,
            Ok(None) => {
                return fail(format!(
                    "the content is {sent} bytes, not the {} the snapshot records",
                    node.size
                ))
            }
            Err(e) => return fail(e.to_string()),
        }
    }
}

async fn difference(
    State(state): Shared,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers, &peer) else {
        return to_login();
    };
    let from = query_text(&uri, "from");
    let to = query_text(&uri, "to");
    let compared = {
        let state = Arc::clone(&state);
        blocking(move || {
            // Comparisons are the one heavy read: one at a time, held by
            // the work itself (not the request, which a client may drop),
            // so reloads of a large one cannot pile up on the cores.
            // A comparison that panicked (poisoning the lock) is over.
            let _one = match state.comparing.try_lock() {
                Ok(held) => held,
                Err(std::sync::TryLockError::Poisoned(held)) => held.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(crate::snapshots::BrowseError::Busy)
                }
            };
            crate::snapshots::diff(&state.repo, &from, &to)
        })
        .await
    };
    match compared {
        Ok(Ok(difference)) => html(pages::difference(&state.config, &session, &difference)),
        Ok(Err(e)) => browse_failed(&e),
        Err(response) => response,
    }
}
