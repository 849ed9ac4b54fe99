//! The recovery engine: services brought back in dependency order.
//!
//! [`run`] restores the services of a [`Plan`] through a [`ServiceRunner`]
//! the caller implements (it knows which snapshot to restore and where),
//! and owns everything else: a service starts only when every service it
//! depends on is up (restored and healthy); at most `parallel` restores
//! run at once (a service's health checks do not hold a slot); which ready
//! service takes a free slot is [`crate::order`]'s choice: the most urgent
//! services (the lowest priority number, and what they depend on) first,
//! then whatever lets the whole recovery end soonest by the runner's
//! estimates ([`ServiceRunner::estimate`]); a service that fails takes its
//! dependents down with it ("not started") while independent branches go
//! on. With a [`Journal`], services an interrupted run brought up are
//! checked again and kept. The result is a [`RecoveryReport`].

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reprise_restore::RestoreProgress;

use crate::config::{Config, HealthCheck, RecoveryConfig};
use crate::graph::{Graph, GraphError};
use crate::health::{wait_healthy, HealthContext, HealthOutcome, HealthResult};
use crate::journal::{Journal, JournaledService};
use crate::order::{Now, Order};
use crate::report::{
    seconds_between, RecoveryReport, RestoreOutcome, RunKind, ServiceReport, SourceReport, Status,
};

/// One service to bring back.
#[derive(Debug, Clone)]
pub struct PlannedService {
    pub name: String,
    pub public_name: String,
    pub priority: u32,
    /// Services of the plan it waits for.
    pub depends_on: Vec<String>,
    pub health: Vec<HealthCheck>,
    pub target: Option<Duration>,
}

/// The services to recover: those asked for and all they depend on.
#[derive(Debug, Clone)]
pub struct Plan {
    services: BTreeMap<String, PlannedService>,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("there is no service {name} in the configuration (its services: {})", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

impl Plan {
    /// The plan for `requested` (every service when empty) and their
    /// dependencies, from the configuration.
    pub fn from_config(config: &Config, requested: &[String]) -> Result<Plan, PlanError> {
        let graph = Graph::new(&config.services)?;
        if let Some(name) = requested
            .iter()
            .find(|name| !config.services.contains_key(*name))
        {
            return Err(PlanError::Unknown {
                name: name.clone(),
                known: config.services.keys().cloned().collect(),
            });
        }
        let names = if requested.is_empty() {
            graph.services().cloned().collect()
        } else {
            graph.closure(requested.iter().map(String::as_str))
        };
        let services = names
            .into_iter()
            .filter_map(|name| {
                let service = config.services.get(&name)?;
                Some(PlannedService {
                    name: name.clone(),
                    public_name: service.public_name.clone(),
                    priority: service.priority,
                    depends_on: graph.dependencies(&name).cloned().collect(),
                    health: service.health.clone(),
                    target: service.target,
                })
            })
            .collect();
        Ok(Plan::new(services))
    }

    /// A plan of exactly these services. Dependencies on services outside
    /// the list are dropped: build plans with [`Plan::from_config`], which
    /// includes them.
    pub fn new(services: Vec<PlannedService>) -> Plan {
        let names: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
        let services = services
            .into_iter()
            .map(|mut s| {
                s.depends_on.retain(|d| names.contains(d));
                (s.name.clone(), s)
            })
            .collect();
        Plan { services }
    }

    pub fn services(&self) -> impl Iterator<Item = &PlannedService> {
        self.services.values()
    }

    /// Keeps only the health checks `keep` accepts: a drill keeps those
    /// that reach the restored copy (SQL), not those that would reach the
    /// live service (TCP, HTTP, commands).
    pub fn retain_checks(&mut self, keep: impl Fn(&HealthCheck) -> bool) {
        for service in self.services.values_mut() {
            service.health.retain(&keep);
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&PlannedService> {
        self.services.get(name)
    }

    /// Services that depend on `name`, directly or not.
    fn dependents_of(&self, name: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(current) = stack.pop() {
            for s in self.services.values() {
                if s.depends_on.contains(&current) && found.insert(s.name.clone()) {
                    stack.push(s.name.clone());
                }
            }
        }
        found
    }
}

/// How a service is restored; the caller's part of a recovery.
///
/// SQL health checks reach their database through the runner's
/// [`HealthContext`] side (in a drill, the scratch copy).
pub trait ServiceRunner: HealthContext {
    /// Restores every source of `service`, reporting bytes to `progress`.
    /// An error says why, for the report and the dependents' "not started".
    fn restore(&self, service: &str, progress: &ServiceProgress) -> Result<RestoreOutcome, String>;

    /// How long restoring `service` should take, judged before restoring
    /// it (from what it will restore, never by reading it), for the order
    /// services start in; none when the runner cannot tell (it then weighs
    /// one second). Their proportions matter most; a restore running past
    /// its estimate is expected to end at any moment.
    fn estimate(&self, _service: &str) -> Option<Duration> {
        None
    }
}

/// A service's restore progress, updated by the runner and readable from
/// any thread at any time.
#[derive(Debug)]
pub struct ServiceProgress {
    started: Instant,
    done: AtomicU64,
    total: AtomicU64,
    /// What the restore of files or of a database's dump counts as it
    /// goes, so the service's progress moves within each source.
    restoring: RestoreProgress,
}

/// A reading of [`ServiceProgress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressView {
    /// Never more than `bytes_total` once that is known.
    pub bytes_done: u64,
    /// Files written so far (databases count none).
    pub files_done: u64,
    /// Zero while unknown.
    pub bytes_total: u64,
    pub elapsed: Duration,
    /// From the rate so far; none before the first byte or without a total.
    pub eta: Option<Duration>,
}

impl ServiceProgress {
    pub fn new() -> ServiceProgress {
        ServiceProgress {
            started: Instant::now(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            restoring: RestoreProgress::default(),
        }
    }

    /// The counters a restore updates as it writes; they add to [`add`].
    ///
    /// [`add`]: ServiceProgress::add
    pub fn restoring(&self) -> &RestoreProgress {
        &self.restoring
    }

    /// Sets how many bytes the restore will write in all.
    pub fn set_total(&self, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
    }

    /// The restore is over: all of the total is done, whatever was counted
    /// (a database's manifest is read, not restored).
    pub fn finish(&self) {
        self.done
            .store(self.total.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Counts `bytes` more as written.
    pub fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn view(&self) -> ProgressView {
        let bytes_total = self.total.load(Ordering::Relaxed);
        let counted =
            self.done.load(Ordering::Relaxed) + self.restoring.bytes_done.load(Ordering::Relaxed);
        // The total is the snapshots' size, and a database restore also
        // reads its manifest: never show more than all of it.
        let bytes_done = if bytes_total > 0 {
            counted.min(bytes_total)
        } else {
            counted
        };
        let elapsed = self.started.elapsed();
        let eta = (bytes_done > 0 && bytes_total > 0).then(|| {
            let left = bytes_total.saturating_sub(bytes_done) as f64;
            let rate = bytes_done as f64 / elapsed.as_secs_f64().max(1e-3);
            Duration::from_secs_f64(left / rate)
        });
        ProgressView {
            bytes_done,
            files_done: self.restoring.files_done.load(Ordering::Relaxed),
            bytes_total,
            elapsed,
            eta,
        }
    }
}

impl Default for ServiceProgress {
    fn default() -> Self {
        ServiceProgress::new()
    }
}

/// What happens during a run, for a live display.
#[derive(Debug, Clone)]
pub enum Event {
    /// The service's restore started (or, `resuming`, its check after an
    /// interrupted run); `progress` can be read at any time.
    Started {
        service: String,
        resuming: bool,
        progress: Arc<ServiceProgress>,
    },
    /// Every `progress_interval`, for each service being restored.
    Progress {
        service: String,
        view: ProgressView,
    },
    /// A service kept from an interrupted run no longer passes its checks:
    /// it is restored again.
    Rechecked {
        service: String,
        reason: String,
    },
    Restored {
        service: String,
        seconds: f64,
    },
    /// The service is up: `checked` when it had health checks (all passed).
    Healthy {
        service: String,
        checked: bool,
        resumed: bool,
    },
    Failed {
        service: String,
        reason: String,
    },
    NotStarted {
        service: String,
        because: String,
    },
    /// The journal could not be written: a later run cannot resume this one.
    JournalFailed {
        reason: String,
    },
}

impl Event {
    /// One line for a live display ("billing: restored in 1m20s").
    pub fn describe(&self) -> String {
        use crate::report::human_duration;
        match self {
            Event::Started {
                service,
                resuming: true,
                ..
            } => format!("{service}: up in an interrupted run, checking it again"),
            Event::Started { service, .. } => format!("{service}: restoring"),
            Event::Progress { service, view } => {
                let percent = (view.bytes_total > 0)
                    .then(|| format!(" ({}%)", view.bytes_done * 100 / view.bytes_total.max(1)));
                let eta = view
                    .eta
                    .map(|e| format!(", about {} left", human_duration(e.as_secs_f64())));
                let files = (view.files_done > 0).then(|| format!(" in {} files", view.files_done));
                format!(
                    "{service}: {} bytes restored{}{}{}",
                    view.bytes_done,
                    files.unwrap_or_default(),
                    percent.unwrap_or_default(),
                    eta.unwrap_or_default()
                )
            }
            Event::Rechecked { service, reason } => {
                format!("{service}: no longer healthy ({reason}), restoring it again")
            }
            Event::Restored { service, seconds } => format!(
                "{service}: restored in {}, checking its health",
                human_duration(*seconds)
            ),
            Event::Healthy {
                service,
                checked,
                resumed,
            } => match (checked, resumed) {
                (true, false) => format!("{service}: up, health checks passed"),
                (false, false) => format!("{service}: up, unchecked (it has no health check)"),
                (true, true) => format!("{service}: kept from the interrupted run, still healthy"),
                (false, true) => format!("{service}: kept from the interrupted run, unchecked"),
            },
            Event::Failed { service, reason } => format!("{service}: FAILED: {reason}"),
            Event::NotStarted { service, because } => {
                format!("{service}: not started: {because}")
            }
            Event::JournalFailed { reason } => {
                format!("warning: {reason}; an interruption from now on cannot be resumed")
            }
        }
    }
}

/// Receives the run's events, on the thread that called [`run`].
pub trait Observer {
    fn event(&mut self, event: &Event);
}

impl<F: FnMut(&Event)> Observer for F {
    fn event(&mut self, event: &Event) {
        self(event)
    }
}

/// How to run.
#[derive(Debug)]
pub struct RunOptions {
    pub kind: RunKind,
    /// At most this many restores at once (at least one).
    pub parallel: usize,
    /// How long a service's health checks may take to pass.
    pub health_timeout: Duration,
    /// The pause between two rounds of health checks.
    pub health_interval: Duration,
    /// How often [`Event::Progress`] is sent.
    pub progress_interval: Duration,
    /// Where services that came up are recorded, and read from to resume.
    pub journal: Option<Journal>,
}

impl RunOptions {
    /// Options from the configuration's `[recovery]` section.
    pub fn new(kind: RunKind, recovery: &RecoveryConfig) -> RunOptions {
        RunOptions {
            kind,
            parallel: recovery.parallel,
            health_timeout: recovery.health_timeout,
            health_interval: Duration::from_secs(2),
            progress_interval: Duration::from_secs(1),
            journal: None,
        }
    }
}

/// What a worker thread tells the coordinator.
enum Message {
    /// A service kept from an earlier run passed (or not) its checks again.
    Rechecked {
        service: String,
        outcome: HealthOutcome,
    },
    Restored {
        service: String,
        result: Result<RestoreOutcome, String>,
        seconds: f64,
    },
    Checked {
        service: String,
        outcome: HealthOutcome,
        seconds: f64,
    },
    /// The worker ended: always its last message, so a worker that ends
    /// without its outcome cannot leave the run waiting for it forever.
    Ended { service: String },
}

/// Sends [`Message::Ended`] when the worker ends, whichever way.
struct EndGuard<'a> {
    service: String,
    send: &'a mpsc::Sender<Message>,
}

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        let _ = self.send.send(Message::Ended {
            service: std::mem::take(&mut self.service),
        });
    }
}

/// Where a service is.
#[derive(Debug)]
enum Phase {
    Waiting,
    Restoring(Arc<ServiceProgress>),
    Checking,
    Done(Status),
}

/// What is known of a service so far.
#[derive(Debug)]
struct Track {
    phase: Phase,
    outcome: Option<RestoreOutcome>,
    restore_seconds: Option<f64>,
    health_seconds: Option<f64>,
    up_at: Option<DateTime<Utc>>,
    health: Vec<HealthResult>,
}

/// Runs `plan`: see the module's documentation.
pub fn run(
    plan: &Plan,
    runner: &dyn ServiceRunner,
    options: RunOptions,
    observer: &mut dyn Observer,
) -> RecoveryReport {
    let order = Order::new(plan, |name| runner.estimate(name));
    let mut run = Coordinator::new(plan, order, options);
    let (send, receive) = mpsc::channel();
    std::thread::scope(|scope| loop {
        while let Some(name) = run.next_ready() {
            let worker = run.start(&name, observer);
            let send = send.clone();
            let service = plan.get(&name).cloned();
            let (timeout, interval) = (run.options.health_timeout, run.options.health_interval);
            scope.spawn(move || {
                if let Some(service) = service {
                    work(&service, runner, worker, timeout, interval, &send);
                }
            });
        }
        if run.busy() == 0 {
            break;
        }
        match receive.recv_timeout(run.options.progress_interval) {
            Ok(message) => run.handle(message, observer),
            Err(mpsc::RecvTimeoutError::Timeout) => run.tick(observer),
            // Unreachable while `send` lives; ends the loop rather than spin.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    });
    run.finish(observer)
}

/// What a worker starts with.
struct Worker {
    progress: Arc<ServiceProgress>,
    /// Kept from an interrupted run: check it before restoring again.
    recheck: bool,
}

/// One service's work, on its own thread: check again what an earlier
/// run brought up, else restore it and wait until it is healthy.
fn work(
    service: &PlannedService,
    runner: &dyn ServiceRunner,
    worker: Worker,
    timeout: Duration,
    interval: Duration,
    send: &mpsc::Sender<Message>,
) {
    let name = service.name.clone();
    let _ended = EndGuard {
        service: name.clone(),
        send,
    };
    if worker.recheck {
        let outcome = checked_health(service, runner, timeout.min(RECHECK_LIMIT), interval);
        let passed = outcome.passed();
        let _ = send.send(Message::Rechecked {
            service: name.clone(),
            outcome,
        });
        if passed {
            return;
        }
    }
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| runner.restore(&name, &worker.progress)))
        .unwrap_or_else(|_| Err("the restore stopped on an internal error".into()));
    let failed = result.is_err();
    let _ = send.send(Message::Restored {
        service: name.clone(),
        result,
        seconds: started.elapsed().as_secs_f64(),
    });
    if failed {
        return;
    }
    let started = Instant::now();
    let outcome = checked_health(service, runner, timeout, interval);
    let _ = send.send(Message::Checked {
        service: name,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
    });
}

/// How long a service kept from an interrupted run may take to pass its
/// checks again before it is restored again: it was up already.
const RECHECK_LIMIT: Duration = Duration::from_secs(30);

fn checked_health(
    service: &PlannedService,
    runner: &dyn ServiceRunner,
    timeout: Duration,
    interval: Duration,
) -> HealthOutcome {
    catch_unwind(AssertUnwindSafe(|| {
        wait_healthy(&service.name, &service.health, runner, timeout, interval)
    }))
    .unwrap_or_else(|_| HealthOutcome {
        results: Vec::new(),
        rounds: 0,
        failure: Some(format!(
            "service {}: the health checks stopped on an internal error",
            service.name
        )),
    })
}

/// Where a service is, for [`Order::next`].
fn now_of(track: &Track) -> Now {
    match &track.phase {
        Phase::Waiting => Now::Waiting,
        Phase::Restoring(progress) => Now::Restoring {
            elapsed: progress.started.elapsed(),
        },
        Phase::Checking => Now::Checking,
        Phase::Done(status) if status.is_up() => Now::Up,
        Phase::Done(_) => Now::Out,
    }
}

/// The scheduler's state, on the thread that called [`run`].
struct Coordinator<'a> {
    plan: &'a Plan,
    order: Order,
    options: RunOptions,
    tracks: BTreeMap<String, Track>,
    clock: Instant,
    run_started_at: DateTime<Utc>,
    /// The recovery's start: this run's, or the interrupted one's.
    started_at: DateTime<Utc>,
    restoring: usize,
    checking: usize,
    notes: Vec<String>,
}

impl<'a> Coordinator<'a> {
    fn new(plan: &'a Plan, order: Order, options: RunOptions) -> Coordinator<'a> {
        let run_started_at = Utc::now();
        let started_at = options
            .journal
            .as_ref()
            .filter(|j| j.is_resume())
            .map_or(run_started_at, Journal::started_at);
        let tracks = plan
            .services()
            .map(|s| {
                let track = Track {
                    phase: Phase::Waiting,
                    outcome: None,
                    restore_seconds: None,
                    health_seconds: None,
                    up_at: None,
                    health: Vec::new(),
                };
                (s.name.clone(), track)
            })
            .collect();
        Coordinator {
            plan,
            order,
            options,
            tracks,
            clock: Instant::now(),
            run_started_at,
            started_at,
            restoring: 0,
            checking: 0,
            notes: Vec::new(),
        }
    }

    fn busy(&self) -> usize {
        self.restoring + self.checking
    }

    /// The service to start now, if any: see [`crate::order`].
    fn next_ready(&self) -> Option<String> {
        if self.restoring >= self.options.parallel.max(1) {
            return None;
        }
        let now: Vec<Now> = self
            .order
            .names()
            .iter()
            .map(|name| self.tracks.get(name).map_or(Now::Out, now_of))
            .collect();
        let next = self.order.next(&now, self.options.parallel)?;
        self.order.names().get(next).cloned()
    }

    fn start(&mut self, name: &str, observer: &mut dyn Observer) -> Worker {
        let progress = Arc::new(ServiceProgress::new());
        let recheck = self
            .options
            .journal
            .as_ref()
            .is_some_and(|j| j.recovered(name).is_some());
        if let Some(track) = self.tracks.get_mut(name) {
            track.phase = Phase::Restoring(progress.clone());
        }
        self.restoring += 1;
        observer.event(&Event::Started {
            service: name.to_owned(),
            resuming: recheck,
            progress: progress.clone(),
        });
        Worker { progress, recheck }
    }

    fn tick(&self, observer: &mut dyn Observer) {
        for (name, track) in &self.tracks {
            if let Phase::Restoring(progress) = &track.phase {
                observer.event(&Event::Progress {
                    service: name.clone(),
                    view: progress.view(),
                });
            }
        }
    }

    fn handle(&mut self, message: Message, observer: &mut dyn Observer) {
        match message {
            Message::Rechecked { service, outcome } => self.rechecked(&service, outcome, observer),
            Message::Restored {
                service,
                result,
                seconds,
            } => self.restored(&service, result, seconds, observer),
            Message::Checked {
                service,
                outcome,
                seconds,
            } => self.checked(&service, outcome, seconds, observer),
            Message::Ended { service } => self.ended(&service, observer),
        }
    }

    fn rechecked(&mut self, name: &str, outcome: HealthOutcome, observer: &mut dyn Observer) {
        let kept = self
            .options
            .journal
            .as_ref()
            .and_then(|j| j.recovered(name))
            .cloned();
        let (Some(kept), None) = (kept, &outcome.failure) else {
            observer.event(&Event::Rechecked {
                service: name.to_owned(),
                reason: outcome.failure.unwrap_or_default(),
            });
            return;
        };
        self.restoring = self.restoring.saturating_sub(1);
        let checked = !outcome.results.is_empty();
        if let Some(track) = self.tracks.get_mut(name) {
            track.phase = Phase::Done(Status::Resumed { checked });
            track.outcome = Some(kept.outcome);
            track.restore_seconds = Some(kept.restore_seconds);
            track.health_seconds = Some(kept.health_seconds);
            track.up_at = Some(kept.up_at);
            track.health = outcome.results;
        }
        observer.event(&Event::Healthy {
            service: name.to_owned(),
            checked,
            resumed: true,
        });
    }

    fn restored(
        &mut self,
        name: &str,
        result: Result<RestoreOutcome, String>,
        seconds: f64,
        observer: &mut dyn Observer,
    ) {
        self.restoring = self.restoring.saturating_sub(1);
        let Some(track) = self.tracks.get_mut(name) else {
            return;
        };
        track.restore_seconds = Some(seconds);
        match result {
            Ok(outcome) => {
                track.outcome = Some(outcome);
                track.phase = Phase::Checking;
                self.checking += 1;
                observer.event(&Event::Restored {
                    service: name.to_owned(),
                    seconds,
                });
            }
            Err(reason) => {
                let reason = format!("its restore failed: {reason}");
                self.fail(name, reason, observer);
            }
        }
    }

    fn checked(
        &mut self,
        name: &str,
        outcome: HealthOutcome,
        seconds: f64,
        observer: &mut dyn Observer,
    ) {
        self.checking = self.checking.saturating_sub(1);
        let now = self.now();
        let Some(track) = self.tracks.get_mut(name) else {
            return;
        };
        track.health_seconds = Some(seconds);
        track.health = outcome.results.clone();
        if let Some(reason) = outcome.failure {
            self.fail(name, reason, observer);
            return;
        }
        let checked = !outcome.results.is_empty();
        track.phase = Phase::Done(if checked {
            Status::Up
        } else {
            Status::UpUnchecked
        });
        track.up_at = Some(now);
        let entry = JournaledService {
            outcome: track.outcome.clone().unwrap_or_default(),
            up_at: now,
            restore_seconds: track.restore_seconds.unwrap_or(0.0),
            health_seconds: seconds,
            health: outcome.results,
        };
        observer.event(&Event::Healthy {
            service: name.to_owned(),
            checked,
            resumed: false,
        });
        if let Some(journal) = self.options.journal.as_mut() {
            if let Err(e) = journal.record_up(name, entry) {
                let reason = e.to_string();
                self.notes.push(reason.clone());
                observer.event(&Event::JournalFailed { reason });
            }
        }
    }

    /// A worker ended: if its service is still in progress, it ended
    /// without saying how, which counts as a failure.
    fn ended(&mut self, name: &str, observer: &mut dyn Observer) {
        match self.tracks.get(name).map(|t| &t.phase) {
            Some(Phase::Restoring(_)) => self.restoring = self.restoring.saturating_sub(1),
            Some(Phase::Checking) => self.checking = self.checking.saturating_sub(1),
            _ => return,
        }
        self.fail(
            name,
            "its restore ended without an outcome".into(),
            observer,
        );
    }

    /// Marks `name` failed and everything that depends on it not started.
    fn fail(&mut self, name: &str, reason: String, observer: &mut dyn Observer) {
        if let Some(track) = self.tracks.get_mut(name) {
            track.phase = Phase::Done(Status::Failed {
                reason: reason.clone(),
            });
        }
        observer.event(&Event::Failed {
            service: name.to_owned(),
            reason,
        });
        for dependent in self.plan.dependents_of(name) {
            let Some(track) = self.tracks.get_mut(&dependent) else {
                continue;
            };
            if matches!(track.phase, Phase::Waiting) {
                let because = format!("depends on {name}, which failed");
                track.phase = Phase::Done(Status::NotStarted {
                    because: because.clone(),
                });
                observer.event(&Event::NotStarted {
                    service: dependent,
                    because,
                });
            }
        }
    }

    /// The wall-clock time now, from the monotonic clock (immune to the
    /// system clock being set during a recovery).
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.clock.elapsed()).unwrap_or_default();
        self.run_started_at + elapsed
    }

    fn finish(mut self, observer: &mut dyn Observer) -> RecoveryReport {
        let finished_at = self.now();
        let leftovers: Vec<String> = self
            .tracks
            .iter()
            .filter(|(_, t)| !matches!(t.phase, Phase::Done(_)))
            .map(|(name, _)| name.clone())
            .collect();
        for name in leftovers {
            // Only reachable if a dependency never settled; said, not hidden.
            self.fail(&name, "its dependencies never came up".into(), observer);
        }
        let services = self
            .plan
            .services()
            .filter_map(|s| Some(self.service_report(s, self.tracks.get(&s.name)?)))
            .collect();
        let resumed_at = (self.started_at != self.run_started_at).then_some(self.run_started_at);
        let mut report = RecoveryReport::assemble(
            self.options.kind,
            self.started_at,
            resumed_at,
            finished_at,
            services,
        );
        report.notes = self.notes;
        report
    }

    fn service_report(&self, service: &PlannedService, track: &Track) -> ServiceReport {
        let status = match &track.phase {
            Phase::Done(status) => status.clone(),
            _ => Status::Failed {
                reason: "it did not finish".into(),
            },
        };
        let up_after_seconds = track
            .up_at
            .filter(|_| status.is_up())
            .map(|t| seconds_between(self.started_at, t));
        let target_seconds = service.target.map(|t| t.as_secs_f64());
        let target_met = target_seconds.map(|t| up_after_seconds.is_some_and(|up| up <= t));
        let sources = track
            .outcome
            .iter()
            .flat_map(|o| o.sources.iter().cloned())
            .map(|s| SourceReport::new(s, self.started_at))
            .collect();
        ServiceReport {
            name: service.name.clone(),
            public_name: service.public_name.clone(),
            priority: service.priority,
            depends_on: service.depends_on.clone(),
            status,
            sources,
            restore_seconds: track.restore_seconds,
            health_seconds: track.health_seconds,
            up_after_seconds,
            target_seconds,
            target_met,
            health: track.health.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::ServiceConfig;

    fn config(edges: &[(&str, u32, &[&str])]) -> Config {
        let services = edges
            .iter()
            .map(|(name, priority, deps)| {
                let service = ServiceConfig {
                    public_name: format!("The {name}"),
                    priority: *priority,
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    sources: Vec::new(),
                    health: Vec::new(),
                    target: None,
                    public: true,
                };
                (name.to_string(), service)
            })
            .collect();
        Config {
            services,
            ..Config::default()
        }
    }

    #[test]
    fn a_plan_holds_the_services_asked_for_and_their_dependencies() {
        let c = config(&[
            ("web", 1, &["db"]),
            ("db", 2, &["net"]),
            ("net", 3, &[]),
            ("mail", 4, &[]),
        ]);
        let plan = Plan::from_config(&c, &["web".into()]).unwrap();
        assert_eq!(plan.names(), ["db", "net", "web"]);
        assert_eq!(plan.get("web").unwrap().depends_on, ["db"]);
        assert_eq!(
            plan.dependents_of("net"),
            BTreeSet::from(["db".into(), "web".into()])
        );
        let all = Plan::from_config(&c, &[]).unwrap();
        assert_eq!(all.names().len(), 4);
    }

    #[test]
    fn a_plan_refuses_an_unknown_service_and_a_cycle() {
        let c = config(&[("web", 1, &[])]);
        let err = Plan::from_config(&c, &["ghost".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no service ghost in the configuration (its services: web)"
        );
        let c = config(&[("a", 1, &["b"]), ("b", 1, &["a"])]);
        assert!(matches!(
            Plan::from_config(&c, &[]),
            Err(PlanError::Graph(GraphError::Cycle(_)))
        ));
    }

    #[test]
    fn events_read_as_one_line_each() {
        let progress = Arc::new(ServiceProgress::new());
        progress.set_total(200);
        progress.add(50);
        let line = Event::Progress {
            service: "billing".into(),
            view: progress.view(),
        }
        .describe();
        assert!(
            line.starts_with("billing: 50 bytes restored (25%), about "),
            "{line}"
        );
        let line = Event::Healthy {
            service: "print".into(),
            checked: false,
            resumed: false,
        }
        .describe();
        assert_eq!(line, "print: up, unchecked (it has no health check)");
    }

    #[test]
    fn progress_has_an_eta_only_once_bytes_and_a_total_are_known() {
        let progress = ServiceProgress::new();
        assert_eq!(progress.view().eta, None);
        progress.set_total(1000);
        assert_eq!(progress.view().eta, None);
        progress.add(250);
        let view = progress.view();
        assert_eq!((view.bytes_done, view.bytes_total), (250, 1000));
        assert!(view.eta.is_some());
        progress.add(750);
        assert_eq!(progress.view().eta, Some(Duration::ZERO));
    }

    #[test]
    fn a_restore_moves_its_service_progress_as_it_writes_never_past_the_total() {
        let progress = ServiceProgress::new();
        progress.set_total(1000);
        progress.add(100);
        progress
            .restoring()
            .bytes_done
            .fetch_add(400, Ordering::Relaxed);
        progress
            .restoring()
            .files_done
            .fetch_add(3, Ordering::Relaxed);
        let view = progress.view();
        assert_eq!((view.bytes_done, view.files_done), (500, 3));
        progress
            .restoring()
            .bytes_done
            .fetch_add(900, Ordering::Relaxed);
        assert_eq!(progress.view().bytes_done, 1000);
    }
}
