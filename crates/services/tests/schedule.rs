//! The scheduler with a runner that records what it was asked, in order:
//! dependencies respected, the order among ready services (urgent first,
//! then the critical path, by the runner's estimates), the bound on
//! parallel restores, failures and the dependents they stop, health checks
//! that never pass, and resuming through the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reprise_databases::Engine;
use reprise_services::config::HealthCheck;
use reprise_services::health::HealthContext;
use reprise_services::journal::{Journal, JournalError, FILE_NAME};
use reprise_services::report::{RecoveryReport, RestoreOutcome, RunKind, SourceOutcome, Status};
use reprise_services::schedule::{
    run, Event, Plan, PlannedService, RunOptions, ServiceProgress, ServiceRunner,
};

/// A service: name, priority, dependencies, health checks.
fn service(name: &str, priority: u32, deps: &[&str], health: Vec<HealthCheck>) -> PlannedService {
    PlannedService {
        name: name.into(),
        public_name: format!("The {name} service"),
        priority,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        health,
        target: Some(Duration::from_secs(3600)),
    }
}

fn options(parallel: usize) -> RunOptions {
    RunOptions {
        kind: RunKind::Drill,
        parallel,
        health_timeout: Duration::from_secs(5),
        health_interval: Duration::from_millis(50),
        progress_interval: Duration::from_millis(50),
        journal: None,
    }
}

/// What the runner saw, in one global order shared with the observer.
#[derive(Default)]
struct Recorder {
    sequence: AtomicUsize,
    /// (service, sequence number at its start, at its end)
    restores: Mutex<Vec<(String, usize, usize)>>,
    active: AtomicUsize,
    most_active: AtomicUsize,
    up: Mutex<BTreeMap<String, usize>>,
    /// Services in the order the scheduler started them.
    starts: Mutex<Vec<String>>,
}

impl Recorder {
    fn tick(&self) -> usize {
        self.sequence.fetch_add(1, Ordering::SeqCst)
    }

    fn started(&self) -> Vec<String> {
        let mut restores = self.restores.lock().unwrap().clone();
        restores.sort_by_key(|r| r.1);
        restores.into_iter().map(|r| r.0).collect()
    }

    fn observer(&self) -> impl FnMut(&Event) + '_ {
        move |event| match event {
            Event::Healthy { service, .. } => {
                let at = self.tick();
                self.up.lock().unwrap().insert(service.clone(), at);
            }
            Event::Started { service, .. } => self.starts.lock().unwrap().push(service.clone()),
            _ => {}
        }
    }
}

/// Restores by recording; fails the services in `failing`; a restore waits
/// (bounded) for `overlap` restores to run at once, then a moment more, so
/// overlaps happen whenever the scheduler allows them.
struct Runner<'a> {
    record: &'a Recorder,
    failing: BTreeSet<String>,
    /// Services whose restore panics (a bug in the caller's glue).
    panicking: BTreeSet<String>,
    overlap: usize,
    /// Each restored service writes its marker file here.
    markers: Option<PathBuf>,
    /// Restores that take `unit` times their size (and say so in their
    /// estimate); the others take no time and give no estimate.
    sizes: BTreeMap<String, u32>,
    unit: Duration,
}

impl<'a> Runner<'a> {
    fn new(record: &'a Recorder) -> Runner<'a> {
        Runner {
            record,
            failing: BTreeSet::new(),
            panicking: BTreeSet::new(),
            overlap: 1,
            markers: None,
            sizes: BTreeMap::new(),
            unit: Duration::from_millis(100),
        }
    }
}

impl HealthContext for Runner<'_> {
    fn sql_target(
        &self,
        source: &str,
        _: Option<&str>,
    ) -> Result<(Arc<dyn Engine>, String), String> {
        Err(format!("no database for {source}"))
    }
}

impl ServiceRunner for Runner<'_> {
    fn estimate(&self, service: &str) -> Option<Duration> {
        self.sizes.get(service).map(|size| self.unit * *size)
    }

    fn restore(&self, service: &str, progress: &ServiceProgress) -> Result<RestoreOutcome, String> {
        let start = self.record.tick();
        if let Some(duration) = self.estimate(service) {
            std::thread::sleep(duration);
        }
        let active = self.record.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.record.most_active.fetch_max(active, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.record.active.load(Ordering::SeqCst) < self.overlap && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.overlap > 1 {
            // Time for a scheduler that breaks its bound to start one more:
            // only the bound, never this pause, keeps `most_active` at it.
            std::thread::sleep(Duration::from_millis(100));
        }
        progress.set_total(100);
        progress.add(100);
        if let Some(dir) = &self.markers {
            std::fs::write(dir.join(service), b"up").unwrap();
        }
        self.record.active.fetch_sub(1, Ordering::SeqCst);
        let end = self.record.tick();
        self.record
            .restores
            .lock()
            .unwrap()
            .push((service.to_owned(), start, end));
        if self.panicking.contains(service) {
            panic!("a bug in the runner");
        }
        if self.failing.contains(service) {
            return Err(format!("the snapshot of {service} is unreadable"));
        }
        Ok(RestoreOutcome {
            sources: vec![SourceOutcome {
                source: format!("{service}-files"),
                snapshot_id: format!("{service}0123456789"),
                snapshot_time: Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap(),
                verdict: "clean".into(),
                bytes: 100,
                databases: Vec::new(),
            }],
        })
    }
}

fn status<'r>(report: &'r RecoveryReport, name: &str) -> &'r Status {
    &report
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .status
}

/// net <- db <- web; files; mail; report <- (web, files)
fn town() -> Plan {
    Plan::new(vec![
        service("net", 1, &[], Vec::new()),
        service("db", 2, &["net"], Vec::new()),
        service("web", 1, &["db"], Vec::new()),
        service("files", 2, &[], Vec::new()),
        service("mail", 3, &[], Vec::new()),
        service("report", 5, &["web", "files"], Vec::new()),
    ])
}

#[test]
fn a_service_starts_only_after_all_its_dependencies_are_up() {
    let plan = town();
    let record = Recorder::default();
    let runner = Runner::new(&record);
    let report = run(&plan, &runner, options(2), &mut record.observer());
    assert!(report.ok, "{}", report.to_text());
    let restores = record.restores.lock().unwrap().clone();
    let up = record.up.lock().unwrap().clone();
    assert_eq!(restores.len(), 6);
    for (name, start, _) in &restores {
        for dep in &plan.get(name).unwrap().depends_on {
            assert!(up[dep] < *start, "{name} started before {dep} was up");
        }
    }
}

#[test]
fn among_ready_services_the_most_urgent_starts_first_ties_by_name() {
    let plan = Plan::new(vec![
        service("alpha", 3, &[], Vec::new()),
        service("bravo", 1, &[], Vec::new()),
        service("charlie", 2, &[], Vec::new()),
        service("delta", 1, &[], Vec::new()),
    ]);
    let record = Recorder::default();
    let report = run(
        &plan,
        &Runner::new(&record),
        options(1),
        &mut record.observer(),
    );
    assert!(report.ok);
    assert_eq!(record.started(), ["bravo", "delta", "charlie", "alpha"]);
    // The report lists services by priority, then name.
    let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["bravo", "delta", "charlie", "alpha"]);
}

/// The reference town's shape, sizes in tenths of a second: `dir` gates
/// `civil` (the most urgent) and `pay` (the longest chain); `water` is long
/// and as urgent as `pay`; `canteen` is short and the least urgent.
fn reference_town() -> (Plan, BTreeMap<String, u32>) {
    let plan = Plan::new(vec![
        service("dir", 2, &[], Vec::new()),
        service("civil", 1, &["dir"], Vec::new()),
        service("water", 2, &[], Vec::new()),
        service("pay", 2, &["dir"], Vec::new()),
        service("portal", 2, &["civil", "water"], Vec::new()),
        service("canteen", 3, &[], Vec::new()),
        service("shares", 3, &["dir"], Vec::new()),
    ]);
    let sizes = [
        ("dir", 1),
        ("civil", 4),
        ("water", 6),
        ("pay", 10),
        ("portal", 1),
        ("canteen", 3),
        ("shares", 2),
    ];
    let sizes = sizes.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    (plan, sizes)
}

#[test]
fn the_critical_path_starts_as_soon_as_it_can_and_the_urgent_service_still_first() {
    // By priority alone, water (priority 2) takes the second slot beside
    // dir; civil then takes dir's slot, and pay, the longest chain, waits
    // for one of them: 4 + 10 tenths after the start instead of 2 + 10.
    let (plan, sizes) = reference_town();
    let record = Recorder::default();
    let mut runner = Runner::new(&record);
    runner.sizes = sizes;
    let report = run(&plan, &runner, options(2), &mut record.observer());
    assert!(report.ok, "{}", report.to_text());
    let starts = record.starts.lock().unwrap().clone();
    assert_eq!(
        starts[..4],
        ["dir", "canteen", "civil", "pay"],
        "{starts:?}"
    );
}

#[test]
fn a_dependency_of_the_most_urgent_service_is_as_urgent_as_it() {
    // chart heads the longest chain and is more urgent than dir by its own
    // priority, but civil (priority 1) needs dir: dir goes first.
    let plan = Plan::new(vec![
        service("chart", 2, &[], Vec::new()),
        service("ledger", 2, &["chart"], Vec::new()),
        service("dir", 3, &[], Vec::new()),
        service("civil", 1, &["dir"], Vec::new()),
    ]);
    let record = Recorder::default();
    let mut runner = Runner::new(&record);
    runner.unit = Duration::from_millis(10);
    runner.sizes = [("chart", 5), ("ledger", 5), ("dir", 1), ("civil", 1)]
        .iter()
        .map(|(n, s)| (n.to_string(), *s))
        .collect();
    let report = run(&plan, &runner, options(1), &mut record.observer());
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(record.started(), ["dir", "civil", "chart", "ledger"]);
}

#[test]
fn a_slot_freed_during_a_health_check_is_kept_for_the_urgent_service_behind_it() {
    // dir's restore ends, its check takes a moment: canteen, ready, must
    // not take the slot civil (priority 1) needs as soon as dir is up.
    let plan = Plan::new(vec![
        service("dir", 2, &[], vec![command(&["sleep", "0.3"])]),
        service("civil", 1, &["dir"], Vec::new()),
        service("canteen", 3, &[], Vec::new()),
    ]);
    let record = Recorder::default();
    let report = run(
        &plan,
        &Runner::new(&record),
        options(1),
        &mut record.observer(),
    );
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(record.started(), ["dir", "civil", "canteen"]);
}

#[test]
fn no_more_than_parallel_restores_run_at_once_and_that_many_do() {
    let plan = Plan::new(
        ["a", "b", "c", "d"]
            .iter()
            .map(|n| service(n, 1, &[], Vec::new()))
            .collect(),
    );
    let record = Recorder::default();
    let mut runner = Runner::new(&record);
    runner.overlap = 2;
    let report = run(&plan, &runner, options(2), &mut record.observer());
    assert!(report.ok);
    assert_eq!(record.most_active.load(Ordering::SeqCst), 2);
    // The recorded intervals agree: at no start were more than two open.
    let restores = record.restores.lock().unwrap().clone();
    for (_, start, _) in &restores {
        let open = restores
            .iter()
            .filter(|(_, s, e)| s <= start && start < e)
            .count();
        assert!(open <= 2, "{open} restores overlapped: {restores:?}");
    }
}

#[test]
fn a_failed_restore_stops_its_dependents_and_not_the_other_branches() {
    let plan = town();
    let record = Recorder::default();
    let mut runner = Runner::new(&record);
    runner.failing.insert("db".into());
    let report = run(&plan, &runner, options(2), &mut record.observer());
    assert!(!report.ok);
    assert!(
        matches!(status(&report, "db"), Status::Failed { reason } if reason.contains("the snapshot of db is unreadable"))
    );
    for dependent in ["web", "report"] {
        assert_eq!(
            status(&report, dependent),
            &Status::NotStarted {
                because: "depends on db, which failed".into()
            }
        );
    }
    for independent in ["net", "files", "mail"] {
        assert_eq!(status(&report, independent), &Status::UpUnchecked);
    }
    let started: BTreeSet<String> = record.started().into_iter().collect();
    assert!(!started.contains("web") && !started.contains("report"));
    assert_eq!(report.totals.all_up_seconds, None);
    let text = report.to_text();
    assert!(
        text.contains("web: not started: depends on db, which failed"),
        "{text}"
    );
}

fn closed_port_check() -> HealthCheck {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    HealthCheck::Tcp {
        host: "127.0.0.1".into(),
        port,
    }
}

fn command(args: &[&str]) -> HealthCheck {
    HealthCheck::Command {
        run: args.iter().map(|a| a.to_string()).collect(),
    }
}

#[test]
fn a_health_check_that_never_passes_fails_the_service_and_its_dependents() {
    let plan = Plan::new(vec![
        service("db", 1, &[], vec![closed_port_check()]),
        service("web", 1, &["db"], vec![command(&["true"])]),
        service("wiki", 2, &[], vec![command(&["true"])]),
        service("print", 3, &[], Vec::new()),
    ]);
    let record = Recorder::default();
    let mut opts = options(2);
    opts.health_timeout = Duration::from_millis(300);
    let report = run(&plan, &Runner::new(&record), opts, &mut record.observer());
    assert!(!report.ok);
    let Status::Failed { reason } = status(&report, "db") else {
        panic!("db should have failed: {:?}", status(&report, "db"));
    };
    assert!(
        reason.contains("service db") && reason.contains("tcp 127.0.0.1:"),
        "{reason}"
    );
    assert!(reason.contains("cannot connect"), "{reason}");
    assert!(
        matches!(status(&report, "web"), Status::NotStarted { because } if because.contains("db"))
    );
    assert_eq!(status(&report, "wiki"), &Status::Up);
    // No check: up, and said to be unchecked, never verified.
    assert_eq!(status(&report, "print"), &Status::UpUnchecked);
    let text = report.to_text();
    assert!(text.contains("print: up, unchecked"), "{text}");
    assert!(report.to_html().contains("up, unchecked"));
    let wiki = report.services.iter().find(|s| s.name == "wiki").unwrap();
    assert_eq!(wiki.health.len(), 1);
    assert!(wiki.health[0].passed);
}

/// a <- b <- c <- d, each checked by its marker file existing.
fn chain(markers: &std::path::Path) -> Plan {
    let check = |name: &str| {
        vec![command(&[
            "test",
            "-e",
            markers.join(name).to_str().unwrap(),
        ])]
    };
    Plan::new(vec![
        service("a", 1, &[], check("a")),
        service("b", 1, &["a"], check("b")),
        service("c", 1, &["b"], check("c")),
        service("d", 1, &["c"], check("d")),
    ])
}

fn journaled(dir: &std::path::Path, plan: &Plan) -> RunOptions {
    let mut opts = options(1);
    opts.journal = Some(Journal::open(dir, "plan-hash-1", &plan.names()).unwrap());
    opts
}

#[test]
fn a_run_again_resumes_the_services_already_up_and_restores_the_rest() {
    let work = tempfile::tempdir().unwrap();
    let markers = tempfile::tempdir().unwrap();
    let plan = chain(markers.path());
    let first = Recorder::default();
    let mut runner = Runner::new(&first);
    runner.markers = Some(markers.path().to_owned());
    runner.failing.insert("c".into());
    let report = run(
        &plan,
        &runner,
        journaled(work.path(), &plan),
        &mut first.observer(),
    );
    assert!(!report.ok);
    assert_eq!(first.started(), ["a", "b", "c"]);

    let second = Recorder::default();
    let mut runner = Runner::new(&second);
    runner.markers = Some(markers.path().to_owned());
    let report = run(
        &plan,
        &runner,
        journaled(work.path(), &plan),
        &mut second.observer(),
    );
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(
        second.started(),
        ["c", "d"],
        "a and b are not restored again"
    );
    assert_eq!(status(&report, "a"), &Status::Resumed { checked: true });
    assert_eq!(status(&report, "b"), &Status::Resumed { checked: true });
    assert_eq!(status(&report, "c"), &Status::Up);
    assert!(report.resumed_at.is_some());
    // The resumed services keep what their restore did.
    let a = report.services.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a.sources[0].snapshot_id, "a0123456789");
}

#[test]
fn a_resumed_service_that_no_longer_passes_its_checks_is_restored_again() {
    let work = tempfile::tempdir().unwrap();
    let markers = tempfile::tempdir().unwrap();
    let plan = chain(markers.path());
    let first = Recorder::default();
    let mut runner = Runner::new(&first);
    runner.markers = Some(markers.path().to_owned());
    runner.failing.insert("c".into());
    run(
        &plan,
        &runner,
        journaled(work.path(), &plan),
        &mut first.observer(),
    );

    std::fs::remove_file(markers.path().join("b")).unwrap();
    let second = Recorder::default();
    let mut runner = Runner::new(&second);
    runner.markers = Some(markers.path().to_owned());
    let mut opts = journaled(work.path(), &plan);
    opts.health_timeout = Duration::from_millis(200);
    let report = run(&plan, &runner, opts, &mut second.observer());
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(second.started(), ["b", "c", "d"]);
    assert_eq!(status(&report, "a"), &Status::Resumed { checked: true });
    assert_eq!(status(&report, "b"), &Status::Up);
}

#[test]
fn a_torn_last_journal_line_is_ignored_and_cut_off() {
    let work = tempfile::tempdir().unwrap();
    let markers = tempfile::tempdir().unwrap();
    let plan = chain(markers.path());
    let first = Recorder::default();
    let mut runner = Runner::new(&first);
    runner.markers = Some(markers.path().to_owned());
    runner.failing.insert("c".into());
    run(
        &plan,
        &runner,
        journaled(work.path(), &plan),
        &mut first.observer(),
    );

    // A kill -9 in the middle of writing c's line.
    let path = work.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"record":"up","service":"c","outcome":{"sour"#);
    std::fs::write(&path, &bytes).unwrap();

    let second = Recorder::default();
    let mut runner = Runner::new(&second);
    runner.markers = Some(markers.path().to_owned());
    let report = run(
        &plan,
        &runner,
        journaled(work.path(), &plan),
        &mut second.observer(),
    );
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(second.started(), ["c", "d"]);
    // The torn piece is gone: every line is whole, and a third run resumes all.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n') && !text.contains("\"sour\n"), "{text}");
    let journal = Journal::open(work.path(), "plan-hash-1", &plan.names()).unwrap();
    for name in ["a", "b", "c", "d"] {
        assert!(
            journal.recovered(name).is_some(),
            "{name} missing from {text}"
        );
    }
}

#[test]
fn a_damaged_line_before_the_last_is_refused() {
    let work = tempfile::tempdir().unwrap();
    Journal::open(work.path(), "plan-hash-1", &["a".into()]).unwrap();
    let path = work.path().join(FILE_NAME);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("garbage\n");
    text.push_str(&std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, text).unwrap();
    let err = Journal::open(work.path(), "plan-hash-1", &["a".into()]).unwrap_err();
    assert!(
        matches!(err, JournalError::Damaged { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_journal_of_another_plan_is_refused_until_discarded() {
    let work = tempfile::tempdir().unwrap();
    let services = vec!["billing".to_string(), "web".to_string()];
    Journal::open(work.path(), "plan-hash-1", &services).unwrap();
    let err = Journal::open(work.path(), "plan-hash-2", &services).unwrap_err();
    assert!(matches!(err, JournalError::DifferentPlan { .. }));
    let message = err.to_string();
    assert!(
        message.contains("billing, web") && message.contains("start over"),
        "{message}"
    );
    Journal::discard(work.path()).unwrap();
    let journal = Journal::open(work.path(), "plan-hash-2", &services).unwrap();
    assert!(!journal.is_resume());
}

#[test]
fn the_report_measures_each_service_against_its_target() {
    let mut web = service("web", 1, &[], Vec::new());
    web.target = Some(Duration::ZERO);
    let plan = Plan::new(vec![web, service("mail", 2, &[], Vec::new())]);
    let record = Recorder::default();
    let report = run(
        &plan,
        &Runner::new(&record),
        options(1),
        &mut record.observer(),
    );
    let web = &report.services[0];
    assert_eq!(
        web.target_met,
        Some(false),
        "nothing is up after zero seconds"
    );
    assert_eq!(report.services[1].target_met, Some(true));
    assert!(!report.ok);
    assert_eq!(
        report.totals.highest_priority.as_ref().unwrap().service,
        "web"
    );
    assert!(report.to_text().contains("NO"));
    // The data-loss window: from the snapshot (02:00) to the recovery's start.
    let loss = web.sources[0].data_loss_seconds;
    let expected = (report.started_at - web.sources[0].snapshot_time).num_seconds() as f64;
    assert!((loss - expected).abs() < 1.0, "{loss} vs {expected}");
}

#[test]
fn a_runner_that_panics_fails_its_service_and_the_run_still_ends() {
    let plan = town();
    let record = Recorder::default();
    let mut runner = Runner::new(&record);
    runner.panicking.insert("net".into());
    let report = run(&plan, &runner, options(2), &mut record.observer());
    assert!(
        matches!(status(&report, "net"), Status::Failed { reason } if reason.contains("internal error"))
    );
    assert!(
        matches!(status(&report, "report"), Status::NotStarted { because } if because.contains("net"))
    );
    assert_eq!(status(&report, "files"), &Status::UpUnchecked);
}
