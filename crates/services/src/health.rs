//! Health checks: how the engine decides that a restored service is up.
//!
//! One [`HealthCheck`] of the configuration is run once by [`run_check`];
//! [`wait_healthy`] repeats all of a service's checks until they pass in
//! one round or its time runs out. SQL checks reach their database through
//! a [`HealthContext`] the caller provides, because the database a check
//! names is not always the one queried (a drill restores into a scratch
//! copy under another name). A service without checks is never called
//! healthy: it is "up, unchecked".

use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use reprise_databases::Engine;
use serde::{Deserialize, Serialize};

use crate::config::HealthCheck;

/// The longest a single attempt of a check may take, so that one hanging
/// check cannot use the whole of a service's time in a single try.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// Where SQL checks run.
pub trait HealthContext: Sync {
    /// The engine and the database name to query for the database
    /// `database` of source `source` (in a drill, the scratch copy's name).
    fn sql_target(
        &self,
        source: &str,
        database: Option<&str>,
    ) -> Result<(Arc<dyn Engine>, String), String>;
}

/// One check's last result, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    /// What was checked, readable ("http http://… status 200").
    pub check: String,
    pub passed: bool,
    /// What was observed ("status 503", "exit status 1", "42").
    pub observed: String,
}

/// The outcome of waiting for a service's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthOutcome {
    /// Each check's result in the last round.
    pub results: Vec<HealthResult>,
    /// How many rounds ran.
    pub rounds: u32,
    /// `None` when every check passed in one round; else why the last
    /// failing check failed, naming the service, the check and what it saw.
    pub failure: Option<String>,
}

impl HealthOutcome {
    /// True when all checks passed in one round (also when there were none:
    /// the caller tells "unchecked" apart by `results` being empty).
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// A check in words, as reports and messages show it.
pub fn describe(check: &HealthCheck) -> String {
    match check {
        HealthCheck::Sql {
            source,
            database,
            query,
            expect,
        } => match database {
            Some(db) => format!("sql on {source}/{db}: {query} = {expect:?}"),
            None => format!("sql on {source}: {query} = {expect:?}"),
        },
        HealthCheck::Tcp { host, port } => format!("tcp {host}:{port}"),
        HealthCheck::Http { url, status } => format!("http {url} status {status}"),
        HealthCheck::Command { run } => format!("command {}", run.join(" ")),
    }
}

/// Runs `check` once, giving it at most `timeout`. `Ok` holds what was
/// observed on success, `Err` what was observed on failure.
pub fn run_check(
    check: &HealthCheck,
    ctx: &dyn HealthContext,
    timeout: Duration,
) -> Result<String, String> {
    let timeout = timeout.max(Duration::from_millis(10));
    match check {
        HealthCheck::Sql {
            source,
            database,
            query,
            expect,
        } => check_sql(ctx, source, database.as_deref(), query, expect),
        HealthCheck::Tcp { host, port } => check_tcp(host, *port, timeout),
        HealthCheck::Http { url, status } => check_http(url, *status, timeout),
        HealthCheck::Command { run } => check_command(run, timeout),
    }
}

fn check_sql(
    ctx: &dyn HealthContext,
    source: &str,
    database: Option<&str>,
    query: &str,
    expect: &str,
) -> Result<String, String> {
    let (engine, name) = ctx.sql_target(source, database)?;
    let value = engine
        .query_scalar(&name, query)
        .map_err(|e| e.to_string())?;
    let value = value.trim().to_owned();
    if value == expect.trim() {
        Ok(value)
    } else {
        Err(format!("got {value:?}"))
    }
}

fn check_tcp(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(format!("connected to {address}")),
            Err(e) => last = format!("cannot connect to {address}: {e}"),
        }
    }
    Err(last)
}

fn check_http(url: &str, expected: u16, timeout: Duration) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is an answer to compare, not a place to go.
        .max_redirects(0)
        // The services are on the town's network, never behind the proxy
        // the environment may name for the Internet.
        .proxy(None)
        .timeout_global(Some(timeout))
        .user_agent(format!(
            "reprise/{} health check",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    if status == expected {
        Ok(format!("status {status}"))
    } else {
        Err(format!("got status {status}"))
    }
}

fn check_command(run: &[String], timeout: Duration) -> Result<String, String> {
    let Some((program, args)) = run.split_first() else {
        return Err("the command is empty".into());
    };
    let mut child =
        spawn_in_own_group(program, args).map_err(|e| format!("cannot run {program}: {e}"))?;
    let stderr = read_stderr_aside(&mut child);
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok("exit status 0".into()),
            Ok(Some(status)) => return Err(format!("{status}{}", last_line(&stderr))),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(format!(
                    "still running after {}, killed",
                    crate::report::human_duration(timeout.as_secs_f64())
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("cannot wait for {program}: {e}"));
            }
        }
    }
}

/// Starts the command in a process group of its own, so a timeout kills
/// whatever it started too (a shell script's children).
fn spawn_in_own_group(program: &str, args: &[String]) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// Kills the command's process group; only called before the command is
/// reaped, so the group id cannot belong to anyone else yet.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (spawn_in_own_group made it one); no memory is shared.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads the command's standard error on a thread of its own (a program
/// it left running may hold the pipe open long after it exited).
fn read_stderr_aside(child: &mut Child) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.take(16 * 1024).read_to_end(&mut bytes);
            let _ = send.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receive
}

/// ": LAST LINE" of what the command wrote to standard error, if it came
/// within a moment of its exit.
fn last_line(stderr: &mpsc::Receiver<String>) -> String {
    let text = stderr
        .recv_timeout(Duration::from_millis(200))
        .unwrap_or_default();
    match text.trim().lines().last() {
        Some(line) => format!(": {line}"),
        None => String::new(),
    }
}

/// Runs all `checks` of `service` in rounds, `interval` apart, until every
/// check passes in the same round or `timeout` has passed since the start.
pub fn wait_healthy(
    service: &str,
    checks: &[HealthCheck],
    ctx: &dyn HealthContext,
    timeout: Duration,
    interval: Duration,
) -> HealthOutcome {
    let deadline = Instant::now() + timeout;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let results = run_round(checks, ctx, deadline);
        let failure = results.iter().find(|r| !r.passed).map(|r| {
            format!(
                "service {service}: health check {} failed after {rounds} round(s) in {}: {}",
                r.check,
                crate::report::human_duration(timeout.as_secs_f64()),
                r.observed
            )
        });
        if failure.is_none() || Instant::now() + interval >= deadline {
            return HealthOutcome {
                results,
                rounds,
                failure,
            };
        }
        std::thread::sleep(interval);
    }
}

fn run_round(
    checks: &[HealthCheck],
    ctx: &dyn HealthContext,
    deadline: Instant,
) -> Vec<HealthResult> {
    checks
        .iter()
        .map(|check| {
            let left = deadline.saturating_duration_since(Instant::now());
            let (passed, observed) = match run_check(check, ctx, left.min(ATTEMPT_LIMIT)) {
                Ok(seen) => (true, seen),
                Err(seen) => (false, seen),
            };
            HealthResult {
                check: describe(check),
                passed,
                observed,
            }
        })
        .collect()
}
