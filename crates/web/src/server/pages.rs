//! The operator's pages, rendered from askama templates
//! (`templates/operator/`), which escape everything they are given: no
//! script, forms only, so they work in any browser and under a strict
//! content security policy.

use askama::Template;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use reprise_services::config::Config;

use reprise_services::live::{LiveRecovery, LiveState};
use reprise_services::report::human_duration;

use super::auth::Session;
use crate::jobs::{Job, JobKind, JobState};
use crate::overview::Overview;
use crate::status::model::{Impact, IncidentStage, ServiceState};
use crate::status::page::PublicPage;
use crate::status::Lang;

/// How the pages write a time.
const MINUTE: &str = "%Y-%m-%d %H:%M UTC";
/// How the pages write a time to the second.
const SECOND: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A backup older than this is stale.
const STALE_BACKUP_HOURS: i64 = 26;
/// No drill for this long is stale.
const STALE_DRILL_DAYS: i64 = 31;
/// No check that read every byte for this long is stale.
const STALE_FULL_CHECK_DAYS: i64 = 35;

#[derive(Template)]
#[template(path = "operator/message.html")]
struct MessagePage<'a> {
    title: String,
    message: &'a str,
}

/// A page that only says what happened.
pub(crate) fn message_page(status: StatusCode, message: &str) -> String {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    MessagePage { title, message }
        .render()
        .unwrap_or_else(|_| message.to_owned())
}

#[derive(Template)]
#[template(path = "operator/login.html")]
struct LoginPage<'a> {
    town: &'a str,
    refusal: Option<&'a str>,
}

pub(crate) fn login(town: &str, refusal: Option<&str>) -> String {
    LoginPage { town, refusal }
        .render()
        .unwrap_or_else(|e| format!("cannot render the login page: {e}"))
}

/// How long ago `t` was, in words.
pub(crate) fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now.signed_duration_since(t);
    let when = t.format(MINUTE);
    if d < Duration::zero() {
        return format!("{when} (in the future: check this machine's clock)");
    }
    let ago = if d.num_minutes() < 2 {
        "just now".to_owned()
    } else if d.num_hours() < 2 {
        format!("{} minutes ago", d.num_minutes())
    } else if d.num_days() < 2 {
        format!("{} hours ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    };
    format!("{ago} ({when})")
}

fn human_bytes(b: u64) -> String {
    if b < 1024 {
        return format!("{b} B");
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = b as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

struct SourceRow {
    name: String,
    age: String,
    stale: bool,
    verdict: String,
    verdict_bad: bool,
    flagged: u64,
    snapshots: u64,
    incident: bool,
}

struct ServiceRow {
    priority: u32,
    name: String,
    public_name: String,
    public_state: String,
    last_drill: String,
    drill_stale: bool,
    rto: String,
    target: String,
    met: String,
    missed: bool,
}

#[derive(Template)]
#[template(path = "operator/overview.html")]
struct OverviewPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    open_incidents: usize,
    public_headline: &'static str,
    sources: Vec<SourceRow>,
    services: Vec<ServiceRow>,
    size: String,
    snapshots: u64,
    last_check: String,
    check_bad: bool,
    last_full_check: String,
    full_check_stale: bool,
    now: String,
}

pub(crate) fn overview(
    config: &Config,
    session: &Session,
    overview: &Overview,
    public: &PublicPage,
    now: DateTime<Utc>,
) -> String {
    let town = config.web.town.as_deref().unwrap_or("reprise");
    let sources = overview
        .sources
        .iter()
        .map(|s| SourceRow {
            name: s.source.clone(),
            age: age(s.last_backup, now),
            stale: now.signed_duration_since(s.last_backup) > Duration::hours(STALE_BACKUP_HOURS),
            verdict: if s.verdict.is_empty() {
                "not judged".into()
            } else {
                s.verdict.clone()
            },
            verdict_bad: s.verdict == "attack" || s.verdict == "suspicious",
            flagged: s.flagged_files,
            snapshots: s.snapshots,
            incident: s.incident_open,
        })
        .collect();
    let mut services: Vec<ServiceRow> = config
        .services
        .iter()
        .map(|(name, service)| {
            let drill = overview.drills.iter().find(|d| &d.service == name);
            let public_state = public
                .services
                .iter()
                .find(|p| p.service == *name)
                .map_or("not public", |p| p.state.label(Lang::En))
                .to_owned();
            ServiceRow {
                priority: service.priority,
                name: name.clone(),
                public_name: service.public_name.clone(),
                public_state,
                last_drill: drill.map_or_else(|| "never".to_owned(), |d| age(d.when, now)),
                drill_stale: drill.is_none_or(|d| {
                    now.signed_duration_since(d.when) > Duration::days(STALE_DRILL_DAYS)
                }),
                rto: drill
                    .and_then(|d| d.report.up_after_seconds)
                    .map_or_else(|| "-".to_owned(), human_duration),
                target: service
                    .target
                    .map_or_else(|| "-".to_owned(), |t| human_duration(t.as_secs_f64())),
                met: match drill {
                    None => "-".to_owned(),
                    Some(d) if d.met() => "yes".to_owned(),
                    Some(d) => d.report.status.label(),
                },
                missed: drill.is_some_and(|d| !d.met()),
            }
        })
        .collect();
    services.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    let check = overview.last_check.as_ref();
    let full = overview.last_full_check.as_ref();
    OverviewPage {
        town,
        account: &session.account,
        csrf: &session.csrf,
        open_incidents: overview.open_incidents.len(),
        public_headline: public.overall.headline(Lang::En),
        sources,
        services,
        size: human_bytes(overview.size_bytes),
        snapshots: overview.snapshots,
        last_check: check.map_or_else(
            || "never".to_owned(),
            |c| {
                format!(
                    "{}: {:.0} % of the data read, {} error(s)",
                    age(c.stored, now),
                    c.record.read_data_percent,
                    c.record.errors
                )
            },
        ),
        check_bad: check.is_none_or(|c| c.record.errors > 0),
        last_full_check: full.map_or_else(|| "never".to_owned(), |c| age(c.stored, now)),
        full_check_stale: full.is_none_or(|c| {
            now.signed_duration_since(c.stored) > Duration::days(STALE_FULL_CHECK_DAYS)
        }),
        now: now.format(SECOND).to_string(),
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the overview: {e}"))
}

struct BoardService {
    name: String,
    public_name: String,
    state_key: &'static str,
    state_label: &'static str,
}

struct BoardIncident {
    id: String,
    title: String,
    stage: &'static str,
    impact: &'static str,
    /// Stage, message, when; newest first.
    updates: Vec<(&'static str, String, String)>,
}

/// What the incident view shows.
pub(crate) struct IncidentView<'a> {
    pub detections: &'a [crate::incidents::DetectionIncident],
    pub jobs: &'a [Job],
    pub public: &'a PublicPage,
}

struct DetectionLine {
    source: String,
    status: String,
    open: bool,
    since: String,
    encrypted: usize,
    notes: usize,
    waves: usize,
    attacked: Option<(String, String)>,
    last_clean: Option<(String, String)>,
    closed_because: Option<String>,
}

struct JobLine {
    id: String,
    kind: &'static str,
    subject: String,
    state: &'static str,
    failed: bool,
    summary: String,
}

#[derive(Template)]
#[template(path = "operator/board.html")]
struct BoardPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    refusal: Option<&'a str>,
    detections: Vec<DetectionLine>,
    /// Restores and recoveries started since the oldest open incident.
    repairs: Vec<JobLine>,
    headline: &'static str,
    services: Vec<BoardService>,
    incidents: Vec<BoardIncident>,
    states: Vec<(&'static str, &'static str)>,
    stages: Vec<(&'static str, &'static str)>,
    /// Key, and whether it is the default choice.
    impacts: Vec<(&'static str, bool)>,
}

fn detection_line(i: &crate::incidents::DetectionIncident, now: DateTime<Utc>) -> DetectionLine {
    let link =
        |id: &reprise_format::SnapshotId| (id.short(), format!("/admin/snapshots/{}", id.to_hex()));
    DetectionLine {
        source: i.source.clone(),
        status: i.status.clone(),
        open: i.open,
        since: age(i.opened, now),
        encrypted: i.encrypted,
        notes: i.notes,
        waves: i.waves,
        // At the share's own directory, where its restore form is.
        attacked: i.opened_by.as_ref().map(|id| {
            let (short, href) = link(id);
            match &i.share {
                Some(share) => (short, format!("{href}?path={}", encode_path(share))),
                None => (short, href),
            }
        }),
        last_clean: i.last_clean.as_ref().map(link),
        closed_because: i.closed_because.clone(),
    }
}

/// Restores and recoveries started since the oldest open incident opened
/// (since the newest closed one, when none is open), newest first.
fn repairs(view: &IncidentView) -> Vec<JobLine> {
    let since = view
        .detections
        .iter()
        .filter(|d| d.open)
        .map(|d| d.opened)
        .min()
        .or_else(|| view.detections.iter().map(|d| d.opened).max());
    let Some(since) = since else {
        return Vec::new();
    };
    view.jobs
        .iter()
        .filter(|j| j.spec.kind != JobKind::Drill && j.created_at >= since)
        .map(|j| JobLine {
            id: j.id.clone(),
            kind: kind_label(j.spec.kind),
            subject: job_subject(j),
            state: state_label(j.state),
            failed: j.state == JobState::Failed,
            summary: j.summary.clone(),
        })
        .collect()
}

pub(crate) fn board(
    config: &Config,
    session: &Session,
    view: &IncidentView,
    refusal: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let public = view.public;
    BoardPage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        refusal,
        detections: view
            .detections
            .iter()
            .map(|d| detection_line(d, now))
            .collect(),
        repairs: repairs(view),
        headline: public.overall.headline(Lang::En),
        services: public
            .services
            .iter()
            .map(|s| BoardService {
                name: s.service.clone(),
                public_name: s.name.clone(),
                state_key: s.state.key(),
                state_label: s.state.label(Lang::En),
            })
            .collect(),
        incidents: public
            .incidents
            .iter()
            .map(|shown| {
                let i = &shown.incident;
                BoardIncident {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    stage: i.stage().label(Lang::En),
                    impact: i.impact.key(),
                    updates: i
                        .updates
                        .iter()
                        .rev()
                        .map(|u| {
                            (
                                u.stage.label(Lang::En),
                                u.message.clone(),
                                u.at.format(MINUTE).to_string(),
                            )
                        })
                        .collect(),
                }
            })
            .collect(),
        states: ServiceState::ALL
            .iter()
            .map(|s| (s.key(), s.label(Lang::En)))
            .collect(),
        stages: IncidentStage::ALL
            .iter()
            .map(|s| (s.key(), s.label(Lang::En)))
            .collect(),
        impacts: Impact::ALL
            .iter()
            .map(|i| (i.key(), *i == Impact::Major))
            .collect(),
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the status board: {e}"))
}

struct JobRow {
    id: String,
    kind: &'static str,
    services: String,
    account: String,
    state: &'static str,
    failed: bool,
    summary: String,
}

#[derive(Template)]
#[template(path = "operator/jobs.html")]
struct JobsPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    refusal: Option<&'a str>,
    jobs: Vec<JobRow>,
    /// Name and public name of every service.
    services: Vec<(String, String)>,
}

fn kind_label(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Recover => "Recovery",
        JobKind::Drill => "Drill",
        JobKind::Restore => "Restore",
    }
}

/// What a job works on, in a few words.
fn job_subject(job: &Job) -> String {
    spec_subject(&job.spec)
}

/// What a job of `spec` works on, in a few words.
pub(crate) fn spec_subject(spec: &crate::jobs::JobSpec) -> String {
    match (&spec.restore, spec.services.is_empty()) {
        (Some(r), _) if r.in_place => format!(
            "{}:{} in place, last clean (quarantine {})",
            crate::jobs::short_id(&r.snapshot),
            r.path.display(),
            r.quarantine
                .as_ref()
                .map_or_else(|| "-".into(), |q| q.display()),
        ),
        (Some(r), _) => format!(
            "{}:{} into {}{}",
            crate::jobs::short_id(&r.snapshot),
            r.path.display(),
            r.target.display(),
            if spec.last_clean { " (last clean)" } else { "" }
        ),
        (None, true) => "all services".into(),
        (None, false) => spec.services.join(", "),
    }
}

fn state_label(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
    }
}

pub(crate) fn jobs(
    config: &Config,
    session: &Session,
    jobs: &[Job],
    refusal: Option<&str>,
) -> String {
    JobsPage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        refusal,
        jobs: jobs
            .iter()
            .map(|j| JobRow {
                id: j.id.clone(),
                kind: kind_label(j.spec.kind),
                services: job_subject(j),
                account: j.account.clone(),
                state: state_label(j.state),
                failed: j.state == JobState::Failed,
                summary: j.summary.clone(),
            })
            .collect(),
        services: config
            .services
            .iter()
            .map(|(name, s)| (name.clone(), s.public_name.clone()))
            .collect(),
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the jobs: {e}"))
}

struct ProgressRow {
    name: String,
    state: &'static str,
    bad: bool,
    bytes: String,
    files: u64,
    percent: String,
    eta: String,
}

#[derive(Template)]
#[template(path = "operator/job.html")]
struct JobPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    id: &'a str,
    kind: &'static str,
    subject: String,
    state: &'static str,
    running: bool,
    failed: bool,
    summary: &'a str,
    created: String,
    resumed: u32,
    services: Vec<ProgressRow>,
    report: Option<String>,
    log: String,
}

fn live_label(state: LiveState) -> (&'static str, bool) {
    match state {
        LiveState::Waiting => ("waiting", false),
        LiveState::Restoring => ("restoring", false),
        LiveState::Checking => ("checking its health", false),
        LiveState::Up => ("up", false),
        LiveState::Failed => ("failed", true),
        LiveState::NotStarted => ("not started", true),
    }
}

pub(crate) fn job(
    config: &Config,
    session: &Session,
    job: &Job,
    live: Option<&LiveRecovery>,
    log: &str,
) -> String {
    let services = live
        .map(|l| {
            l.services
                .iter()
                .map(|(name, s)| {
                    let (state, bad) = live_label(s.state);
                    ProgressRow {
                        name: name.clone(),
                        state,
                        bad,
                        bytes: if s.bytes_total > 0 {
                            format!(
                                "{} of {}",
                                human_bytes(s.bytes_done),
                                human_bytes(s.bytes_total)
                            )
                        } else {
                            human_bytes(s.bytes_done)
                        },
                        files: s.files_done,
                        percent: s
                            .bytes_done
                            .saturating_mul(100)
                            .checked_div(s.bytes_total)
                            .map_or_else(|| "-".into(), |p| format!("{p} %")),
                        eta: s.eta_seconds.map_or_else(|| "-".into(), human_duration),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    JobPage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        id: &job.id,
        kind: kind_label(job.spec.kind),
        subject: job_subject(job),
        state: state_label(job.state),
        running: job.state == JobState::Running,
        failed: job.state == JobState::Failed,
        summary: &job.summary,
        created: job.created_at.format(SECOND).to_string(),
        resumed: job.resumed,
        services,
        report: job.report.as_ref().map(|r| r.to_text()),
        log: log.to_owned(),
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the job: {e}"))
}

// ---------------------------------------------------------------------------
// Snapshots.

/// Bytes of a snapshot path as they travel in a link or a form field:
/// percent-encoded, so names that are not UTF-8 survive.
pub(crate) fn encode_path(path: &[u8]) -> String {
    percent_encoding::percent_encode(path, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The other way: a field's text back to the path's bytes.
pub(crate) fn decode_path(field: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(field).collect()
}

/// A query's value to bytes: a `+` is a space, then percent-decoded.
pub(crate) fn decode_query_value(value: &str) -> Vec<u8> {
    decode_path(&value.replace('+', " "))
}

/// A `Content-Disposition` that saves the file under its name: an ASCII
/// fallback, and the name itself percent-encoded (RFC 6266).
pub(crate) fn attachment(name: &[u8]) -> String {
    let ascii: String = String::from_utf8_lossy(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encode_path(String::from_utf8_lossy(name).as_bytes())
    )
}

fn verdict_text(verdict: &str) -> (String, bool) {
    if verdict.is_empty() {
        ("not judged".into(), false)
    } else {
        (
            verdict.to_owned(),
            verdict == "attack" || verdict == "suspicious",
        )
    }
}

struct SnapshotLine {
    id: String,
    short: String,
    time: String,
    host: String,
    verdict: String,
    bad: bool,
    flagged: u64,
    files: String,
    size: String,
    /// The snapshot before it of the same source, to diff with.
    previous: Option<String>,
}

struct SourceBlock {
    name: String,
    snapshots: Vec<SnapshotLine>,
}

#[derive(Template)]
#[template(path = "operator/snapshots.html")]
struct SnapshotsPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    sources: Vec<SourceBlock>,
    now: String,
}

pub(crate) fn snapshots(
    config: &Config,
    session: &Session,
    sources: &[crate::snapshots::SourceSnapshots],
    now: DateTime<Utc>,
) -> String {
    let sources = sources
        .iter()
        .map(|source| SourceBlock {
            name: source.source.clone(),
            snapshots: source
                .snapshots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (verdict, bad) = verdict_text(&s.verdict);
                    SnapshotLine {
                        id: s.id.to_hex(),
                        short: s.id.short(),
                        time: age(s.time, now),
                        host: s.hostname.clone(),
                        verdict,
                        bad,
                        flagged: s.flagged_files,
                        files: s.files.map_or_else(|| "-".into(), |f| f.to_string()),
                        size: s.bytes.map_or_else(|| "-".into(), human_bytes),
                        previous: source.snapshots.get(i + 1).map(|p| p.id.to_hex()),
                    }
                })
                .collect(),
        })
        .collect();
    SnapshotsPage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        sources,
        now: now.format(SECOND).to_string(),
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the snapshots: {e}"))
}

struct EntryLine {
    name: String,
    kind: &'static str,
    /// A directory's listing or a file's download.
    href: Option<String>,
    size: String,
    modified: String,
}

#[derive(Template)]
#[template(path = "operator/browse.html")]
struct BrowsePage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    id: String,
    short: String,
    taken: String,
    verdict: String,
    bad: bool,
    path: String,
    /// The path as the restore form sends it.
    path_field: String,
    /// Each component of the path and its listing.
    crumbs: Vec<(String, String)>,
    entries: Vec<EntryLine>,
    total: usize,
    first: usize,
    last: usize,
    previous_page: Option<String>,
    next_page: Option<String>,
}

fn kind_word(kind: reprise_format::NodeKind) -> &'static str {
    use reprise_format::NodeKind;
    match kind {
        NodeKind::File => "file",
        NodeKind::Dir => "directory",
        NodeKind::Symlink => "symlink",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
        NodeKind::Chardev => "character device",
        NodeKind::Blockdev => "block device",
    }
}

fn listing_href(id: &str, path: &[u8], from: usize) -> String {
    let mut href = format!("/admin/snapshots/{id}?path={}", encode_path(path));
    if from > 0 {
        href.push_str(&format!("&from={from}"));
    }
    href
}

fn crumbs(id: &str, path: &[u8]) -> Vec<(String, String)> {
    let mut crumbs = vec![("/".to_owned(), listing_href(id, b"/", 0))];
    let mut so_far = Vec::new();
    for part in path.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
        so_far.push(b'/');
        so_far.extend_from_slice(part);
        crumbs.push((
            String::from_utf8_lossy(part).into_owned(),
            listing_href(id, &so_far, 0),
        ));
    }
    crumbs
}

pub(crate) fn browse(
    config: &Config,
    session: &Session,
    listing: &crate::snapshots::Listing,
) -> String {
    use reprise_format::NodeKind;
    let id = listing.id.to_hex();
    let entries = listing
        .entries
        .iter()
        .map(|node| {
            let path = reprise_repo::walk::join(&listing.path, node.name.as_bytes());
            EntryLine {
                name: node.name.display(),
                kind: kind_word(node.kind),
                href: match node.kind {
                    NodeKind::Dir => Some(listing_href(&id, &path, 0)),
                    NodeKind::File => Some(format!(
                        "/admin/snapshots/{id}/file?path={}",
                        encode_path(&path)
                    )),
                    _ => None,
                },
                size: if node.kind == NodeKind::File {
                    human_bytes(node.size)
                } else {
                    String::new()
                },
                modified: DateTime::<Utc>::from_timestamp_nanos(node.mtime_ns)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            }
        })
        .collect();
    let (verdict, bad) = verdict_text(
        listing
            .snapshot
            .detection
            .as_ref()
            .map_or("", |d| d.verdict.as_str()),
    );
    let end = listing.offset + listing.entries.len();
    BrowsePage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        short: listing.id.short(),
        taken: listing.snapshot.time.format(MINUTE).to_string(),
        verdict,
        bad,
        path: String::from_utf8_lossy(&listing.path).into_owned(),
        path_field: encode_path(&listing.path),
        crumbs: crumbs(&id, &listing.path),
        entries,
        total: listing.total,
        first: (listing.offset + 1).min(end),
        last: end,
        previous_page: (listing.offset > 0).then(|| {
            listing_href(
                &id,
                &listing.path,
                listing.offset.saturating_sub(crate::snapshots::PAGE),
            )
        }),
        next_page: (end < listing.total).then(|| listing_href(&id, &listing.path, end)),
        id,
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the directory: {e}"))
}

struct ChangeLine {
    kind: &'static str,
    path: String,
}

#[derive(Template)]
#[template(path = "operator/diff.html")]
struct DiffPage<'a> {
    town: &'a str,
    account: &'a str,
    csrf: &'a str,
    from: String,
    from_time: String,
    to: String,
    to_time: String,
    changes: Vec<ChangeLine>,
    total: usize,
    /// Count of each kind of change shown.
    counts: Vec<(&'static str, usize)>,
}

pub(crate) fn difference(
    config: &Config,
    session: &Session,
    difference: &crate::snapshots::Difference,
) -> String {
    let counts = difference
        .counts
        .iter()
        .map(|(k, n)| (k.name(), *n))
        .collect();
    DiffPage {
        town: config.web.town.as_deref().unwrap_or("reprise"),
        account: &session.account,
        csrf: &session.csrf,
        from: difference.from.0.short(),
        from_time: difference.from.1.time.format(MINUTE).to_string(),
        to: difference.to.0.short(),
        to_time: difference.to.1.time.format(MINUTE).to_string(),
        changes: difference
            .changes
            .iter()
            .map(|c| ChangeLine {
                kind: c.kind.name(),
                path: String::from_utf8_lossy(&c.path).into_owned(),
            })
            .collect(),
        total: difference.total,
        counts,
    }
    .render()
    .unwrap_or_else(|e| format!("cannot render the difference: {e}"))
}
