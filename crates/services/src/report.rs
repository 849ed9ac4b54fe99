//! The record of a recovery or a drill: what came back, from which
//! snapshot, how much data was lost, how long it took against each target.
//!
//! [`RecoveryReport`] is data with stable field names (it is stored with
//! drills and read back by later versions): times are RFC 3339 in UTC
//! with a `Z`, durations are seconds as floating-point numbers. It renders
//! as a terminal table ([`RecoveryReport::to_text`]) and as one
//! self-contained HTML page ([`RecoveryReport::to_html`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use reprise_databases::Verification;
use serde::{Deserialize, Serialize};

use crate::health::HealthResult;

/// Recovery for real, or a drill into scratch places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Recover,
    Drill,
}

/// Where a service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Restored, and every health check passed.
    Up,
    /// Restored; it has no health check, so nothing says it works.
    UpUnchecked,
    Failed {
        reason: String,
    },
    NotStarted {
        because: String,
    },
    /// Brought back by an earlier, interrupted run and kept: `checked` when
    /// its health checks passed again in this run.
    Resumed {
        checked: bool,
    },
}

impl Status {
    /// Up in any way (restored or kept from an earlier run).
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            Status::Up | Status::UpUnchecked | Status::Resumed { .. }
        )
    }

    /// The status as the report's table says it.
    pub fn label(&self) -> String {
        match self {
            Status::Up => "up".into(),
            Status::UpUnchecked => "up, unchecked".into(),
            Status::Failed { reason } => format!("FAILED: {reason}"),
            Status::NotStarted { because } => format!("not started: {because}"),
            Status::Resumed { checked: true } => "resumed, checked again".into(),
            Status::Resumed { checked: false } => "resumed, unchecked".into(),
        }
    }
}

/// A restored database compared with its backup-time manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseCheck {
    /// The database as the source names it.
    pub database: String,
    /// Where it was restored (a scratch name in a drill).
    pub restored_as: String,
    pub verification: Verification,
}

/// One source of a service as its restore brought it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceOutcome {
    pub source: String,
    pub snapshot_id: String,
    #[serde(with = "rfc3339")]
    pub snapshot_time: DateTime<Utc>,
    /// The snapshot's detection verdict (`clean`, `suspicious`, …).
    pub verdict: String,
    pub bytes: u64,
    #[serde(default)]
    pub databases: Vec<DatabaseCheck>,
}

/// What restoring one service did, as the runner reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreOutcome {
    pub sources: Vec<SourceOutcome>,
}

/// One source in the report: its outcome and the data it lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: String,
    pub snapshot_id: String,
    #[serde(with = "rfc3339")]
    pub snapshot_time: DateTime<Utc>,
    pub verdict: String,
    pub bytes: u64,
    /// The data-loss window (RPO achieved): the recovery's start minus the
    /// snapshot's time.
    pub data_loss_seconds: f64,
    pub databases: Vec<DatabaseCheck>,
}

impl SourceReport {
    pub fn new(outcome: SourceOutcome, recovery_start: DateTime<Utc>) -> SourceReport {
        let loss = seconds_between(outcome.snapshot_time, recovery_start);
        SourceReport {
            source: outcome.source,
            snapshot_id: outcome.snapshot_id,
            snapshot_time: outcome.snapshot_time,
            verdict: outcome.verdict,
            bytes: outcome.bytes,
            data_loss_seconds: loss,
            databases: outcome.databases,
        }
    }

    fn verified(&self) -> bool {
        self.databases.iter().all(|d| d.verification.verified())
    }
}

/// One service in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub name: String,
    pub public_name: String,
    pub priority: u32,
    pub depends_on: Vec<String>,
    pub status: Status,
    pub sources: Vec<SourceReport>,
    /// How long its restore took (none when it was not restored).
    pub restore_seconds: Option<f64>,
    /// How long its health checks took to pass after the restore.
    pub health_seconds: Option<f64>,
    /// Since the recovery's start, when it was up.
    pub up_after_seconds: Option<f64>,
    /// Its recovery time objective.
    pub target_seconds: Option<f64>,
    /// Whether it was up within its target (none without a target).
    pub target_met: Option<bool>,
    pub health: Vec<HealthResult>,
}

impl ServiceReport {
    /// Every restored database matched its backup.
    pub fn verified(&self) -> bool {
        self.sources.iter().all(SourceReport::verified)
    }

    fn weight(&self) -> f64 {
        self.restore_seconds.unwrap_or(0.0) + self.health_seconds.unwrap_or(0.0)
    }
}

/// A service and the time it was up after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub service: String,
    pub seconds: f64,
}

/// The figures of the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// The first service up, and when.
    pub first_up: Option<Milestone>,
    /// The most urgent service (lowest priority number) and when it was
    /// up (none if it never was).
    pub highest_priority: Option<Milestone>,
    /// When every service was up (none if one was not).
    pub all_up_seconds: Option<f64>,
    /// The longest chain of dependencies, weighted by each service's
    /// measured restore and health time: no order could do better.
    pub critical_path_seconds: f64,
    pub critical_path: Vec<String>,
}

/// The whole record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    pub kind: RunKind,
    /// The recovery's start (the first run's when it was resumed).
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    /// When this run resumed an interrupted one.
    #[serde(with = "rfc3339::option", default)]
    pub resumed_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub finished_at: DateTime<Utc>,
    /// By priority, then name.
    pub services: Vec<ServiceReport>,
    pub totals: Totals,
    /// False if a service failed or was not started, a target was missed,
    /// or a restored database did not match its backup.
    pub ok: bool,
    /// What went wrong beside the services (a journal that could not be
    /// written), one sentence each.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl RecoveryReport {
    /// The report of `services`, with its totals and verdict computed.
    pub fn assemble(
        kind: RunKind,
        started_at: DateTime<Utc>,
        resumed_at: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
        mut services: Vec<ServiceReport>,
    ) -> RecoveryReport {
        services.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        let totals = totals(&services);
        let ok = services
            .iter()
            .all(|s| s.status.is_up() && s.target_met != Some(false) && s.verified());
        RecoveryReport {
            kind,
            started_at,
            resumed_at,
            finished_at,
            services,
            totals,
            ok,
            notes: Vec::new(),
        }
    }

    /// The RTO table for a terminal.
    pub fn to_text(&self) -> String {
        let header = [
            "service",
            "public name",
            "snapshot",
            "verdict",
            "RPO",
            "up after",
            "target",
            "met",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = vec![header];
        rows.extend(self.services.iter().map(table_row));
        let mut out = render_columns(&rows);
        for s in &self.services {
            if !matches!(s.status, Status::Up) {
                let _ = writeln!(out, "{}: {}", s.name, s.status.label());
            }
            for line in mismatch_lines(s) {
                let _ = writeln!(out, "{}: {line}", s.name);
            }
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// One paragraph of figures and the verdict.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let mut parts = Vec::new();
        if let Some(m) = &t.first_up {
            parts.push(format!(
                "first service up ({}) after {}",
                m.service,
                human_duration(m.seconds)
            ));
        }
        if let Some(m) = &t.highest_priority {
            parts.push(format!(
                "most urgent ({}) after {}",
                m.service,
                human_duration(m.seconds)
            ));
        }
        match t.all_up_seconds {
            Some(s) => parts.push(format!("all up after {}", human_duration(s))),
            None => parts.push("not all services are up".into()),
        }
        parts.push(format!(
            "critical path {} ({})",
            human_duration(t.critical_path_seconds),
            t.critical_path.join(" -> ")
        ));
        let verdict = if self.ok { "OK" } else { "NOT OK" };
        format!("{verdict}: {}", parts.join("; "))
    }

    /// One self-contained page: inline style, no script, every name escaped.
    pub fn to_html(&self) -> String {
        let kind = match self.kind {
            RunKind::Recover => "Recovery",
            RunKind::Drill => "Drill",
        };
        let mut page = String::new();
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{kind} report {}</title><style>{STYLE}</style></head><body>\n\
             <h1>{kind} report</h1>\n<p>Started {}, finished {}{}.</p>\n<p class=\"{}\">{}</p>\n",
            escape(&rfc3339::format(self.started_at)),
            escape(&rfc3339::format(self.started_at)),
            escape(&rfc3339::format(self.finished_at)),
            match self.resumed_at {
                Some(t) => format!(" (resumed {})", escape(&rfc3339::format(t))),
                None => String::new(),
            },
            if self.ok { "ok" } else { "bad" },
            escape(&self.summary()),
        );
        page.push_str("<table>\n<tr>");
        for h in [
            "Service",
            "Public name",
            "Status",
            "Snapshot",
            "Verdict",
            "RPO",
            "Up after",
            "Target",
            "Met",
        ] {
            let _ = write!(page, "<th>{h}</th>");
        }
        page.push_str("</tr>\n");
        for s in &self.services {
            html_row(&mut page, s);
        }
        page.push_str("</table>\n");
        for s in &self.services {
            html_details(&mut page, s);
        }
        page.push_str("</body></html>\n");
        page
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}\
th{background:#eee}.ok{color:#060;font-weight:bold}.bad{color:#a00;font-weight:bold}\
li.fail{color:#a00}";

fn html_row(page: &mut String, s: &ServiceReport) {
    let cells = table_row(s);
    let class = if s.status.is_up() && s.target_met != Some(false) && s.verified() {
        "ok"
    } else {
        "bad"
    };
    page.push_str("<tr>");
    for (i, cell) in cells.iter().enumerate() {
        if i == 2 {
            let _ = write!(
                page,
                "<td class=\"{class}\">{}</td>",
                escape(&s.status.label())
            );
        }
        let _ = write!(page, "<td>{}</td>", escape(cell));
    }
    page.push_str("</tr>\n");
}

fn html_details(page: &mut String, s: &ServiceReport) {
    let _ = writeln!(
        page,
        "<h2>{} ({})</h2>\n<ul>",
        escape(&s.public_name),
        escape(&s.name)
    );
    if s.health.is_empty() {
        page.push_str("<li>No health check: up, unchecked.</li>\n");
    }
    for h in &s.health {
        let _ = writeln!(
            page,
            "<li class=\"{}\">{}: {}</li>",
            if h.passed { "pass" } else { "fail" },
            escape(&h.check),
            escape(&h.observed)
        );
    }
    for src in &s.sources {
        let _ = writeln!(
            page,
            "<li>{}: snapshot {} of {} ({}), {} bytes</li>",
            escape(&src.source),
            escape(&src.snapshot_id),
            escape(&rfc3339::format(src.snapshot_time)),
            escape(&src.verdict),
            src.bytes
        );
        for db in &src.databases {
            let _ = writeln!(
                page,
                "<li class=\"{}\">database {} restored as {}: {} tables match{}</li>",
                if db.verification.verified() {
                    "pass"
                } else {
                    "fail"
                },
                escape(&db.database),
                escape(&db.restored_as),
                db.verification.matching.len(),
                escape(&mismatch_suffix(&db.verification))
            );
        }
    }
    page.push_str("</ul>\n");
}

fn mismatch_suffix(v: &Verification) -> String {
    if v.mismatches.is_empty() {
        String::new()
    } else {
        format!(", mismatches: {}", v.mismatches.join("; "))
    }
}

fn mismatch_lines(s: &ServiceReport) -> Vec<String> {
    s.sources
        .iter()
        .flat_map(|src| &src.databases)
        .filter(|db| !db.verification.verified())
        .map(|db| {
            format!(
                "database {} does not match its backup{}",
                db.database,
                mismatch_suffix(&db.verification)
            )
        })
        .collect()
}

/// The table's cells for one service.
fn table_row(s: &ServiceReport) -> Vec<String> {
    let snapshots: Vec<String> = s
        .sources
        .iter()
        .map(|src| src.snapshot_id.chars().take(8).collect())
        .collect();
    let mut verdicts: Vec<&str> = s.sources.iter().map(|src| src.verdict.as_str()).collect();
    verdicts.dedup();
    let worst_loss = s
        .sources
        .iter()
        .map(|src| src.data_loss_seconds)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    vec![
        s.name.clone(),
        s.public_name.clone(),
        or_dash(snapshots.join(",")),
        or_dash(verdicts.join(",")),
        worst_loss.map_or("-".into(), human_duration),
        match (&s.status, s.up_after_seconds) {
            (Status::UpUnchecked | Status::Resumed { checked: false }, Some(t)) => {
                format!("{} (unchecked)", human_duration(t))
            }
            (_, Some(t)) => human_duration(t),
            (_, None) => "-".into(),
        },
        s.target_seconds.map_or("-".into(), human_duration),
        match s.target_met {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        },
    ]
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text
    }
}

fn render_columns(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn totals(services: &[ServiceReport]) -> Totals {
    let first_up = services
        .iter()
        .filter_map(|s| s.up_after_seconds.map(|t| (t, &s.name)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(seconds, name)| Milestone {
            service: name.clone(),
            seconds,
        });
    // `services` is sorted by priority, then name.
    let highest_priority = services.first().and_then(|s| {
        s.up_after_seconds.map(|seconds| Milestone {
            service: s.name.clone(),
            seconds,
        })
    });
    let all_up_seconds = if services.iter().all(|s| s.status.is_up()) {
        Some(
            services
                .iter()
                .filter_map(|s| s.up_after_seconds)
                .fold(0.0, f64::max),
        )
    } else {
        None
    };
    let (critical_path_seconds, critical_path) = critical_path(services);
    Totals {
        first_up,
        highest_priority,
        all_up_seconds,
        critical_path_seconds,
        critical_path,
    }
}

/// The heaviest chain of dependencies, each service weighing its measured
/// restore and health time; returned from the first service to come back.
fn critical_path(services: &[ServiceReport]) -> (f64, Vec<String>) {
    let by_name: BTreeMap<&str, &ServiceReport> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut memo: BTreeMap<String, (f64, Vec<String>)> = BTreeMap::new();
    let mut best = (0.0, Vec::new());
    for s in services {
        let path = heaviest_chain(&s.name, &by_name, &mut memo, 0);
        if path.0 > best.0 {
            best = path;
        }
    }
    best
}

fn heaviest_chain(
    name: &str,
    by_name: &BTreeMap<&str, &ServiceReport>,
    memo: &mut BTreeMap<String, (f64, Vec<String>)>,
    depth: usize,
) -> (f64, Vec<String>) {
    if let Some(known) = memo.get(name) {
        return known.clone();
    }
    let Some(service) = by_name.get(name) else {
        return (0.0, Vec::new());
    };
    let mut below = (0.0, Vec::new());
    // The graph has no cycle (checked when it was built); the depth bound
    // only keeps a hand-edited report from recursing without end.
    if depth < by_name.len() {
        for dep in &service.depends_on {
            let chain = heaviest_chain(dep, by_name, memo, depth + 1);
            if chain.0 > below.0 || below.1.is_empty() && !chain.1.is_empty() {
                below = chain;
            }
        }
    }
    let mut path = below.1;
    path.push(name.to_owned());
    let result = (below.0 + service.weight(), path);
    memo.insert(name.to_owned(), result.clone());
    result
}

/// Seconds from `from` to `to` (negative when `to` is earlier).
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .to_std()
        .map(|d| d.as_secs_f64())
        .unwrap_or_else(|_| -((from - to).to_std().map_or(0.0, |d| d.as_secs_f64())))
}

/// "45s", "3m20s", "1h02m", "2d03h": short, for tables and messages.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "-".into();
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs().round() as u64;
    let (d, h, m, s) = (
        total / 86400,
        total % 86400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let text = if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    };
    format!("{sign}{text}")
}

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Times as RFC 3339 in UTC, always with `Z`, the fraction of a second
/// kept exactly (so a report read back compares equal).
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(time: DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
    }

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            time: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match time {
                Some(t) => s.serialize_some(&format(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let text = Option::<String>::deserialize(d)?;
            text.map(|t| parse(&t).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
