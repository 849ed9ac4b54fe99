//! Health checks against real things on 127.0.0.1: a TCP listener and a
//! closed port, a tiny HTTP server, real programs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use reprise_databases::{DbError, Dump, DumpManifest, DumpOptions, Engine, Replace, Verification};
use reprise_services::config::HealthCheck;
use reprise_services::health::{run_check, wait_healthy, HealthContext};

const TIMEOUT: Duration = Duration::from_secs(5);

/// No database: these checks do not need one.
struct NoDatabase;

impl HealthContext for NoDatabase {
    fn sql_target(
        &self,
        source: &str,
        _: Option<&str>,
    ) -> Result<(Arc<dyn Engine>, String), String> {
        Err(format!("no database for {source}"))
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A server answering every request with `status_line`, on its own thread.
fn http_server(status_line: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status_line}\r\nLocation: http://127.0.0.1:{port}/elsewhere\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    port
}

fn http(port: u16, status: u16) -> HealthCheck {
    HealthCheck::Http {
        url: format!("http://127.0.0.1:{port}/status"),
        status,
    }
}

fn command(args: &[&str]) -> HealthCheck {
    HealthCheck::Command {
        run: args.iter().map(|a| a.to_string()).collect(),
    }
}

#[test]
fn tcp_passes_on_a_listener_and_fails_on_a_closed_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = HealthCheck::Tcp {
        host: "127.0.0.1".into(),
        port: listener.local_addr().unwrap().port(),
    };
    assert!(run_check(&open, &NoDatabase, TIMEOUT).is_ok());
    let closed = HealthCheck::Tcp {
        host: "127.0.0.1".into(),
        port: closed_port(),
    };
    let seen = run_check(&closed, &NoDatabase, TIMEOUT).unwrap_err();
    assert!(seen.contains("cannot connect"), "{seen}");
}

#[test]
fn http_compares_the_status_and_follows_no_redirect() {
    let ok = http_server("200 OK");
    assert_eq!(
        run_check(&http(ok, 200), &NoDatabase, TIMEOUT).unwrap(),
        "status 200"
    );
    let down = http_server("503 Service Unavailable");
    let seen = run_check(&http(down, 200), &NoDatabase, TIMEOUT).unwrap_err();
    assert_eq!(seen, "got status 503");
    assert!(run_check(&http(down, 503), &NoDatabase, TIMEOUT).is_ok());
    let moved = http_server("302 Found");
    let seen = run_check(&http(moved, 200), &NoDatabase, TIMEOUT).unwrap_err();
    assert_eq!(seen, "got status 302");
    let seen = run_check(&http(closed_port(), 200), &NoDatabase, TIMEOUT).unwrap_err();
    assert!(!seen.is_empty());
}

#[test]
fn a_command_passes_on_exit_zero_fails_otherwise_and_is_killed_on_timeout() {
    assert!(run_check(&command(&["true"]), &NoDatabase, TIMEOUT).is_ok());
    let seen = run_check(&command(&["false"]), &NoDatabase, TIMEOUT).unwrap_err();
    assert!(seen.contains("exit status: 1"), "{seen}");
    let script = command(&["sh", "-c", "echo database is down >&2; exit 3"]);
    let seen = run_check(&script, &NoDatabase, TIMEOUT).unwrap_err();
    assert!(
        seen.contains("exit status: 3") && seen.contains("database is down"),
        "{seen}"
    );
    let hangs = command(&["sleep", "30"]);
    let seen = run_check(&hangs, &NoDatabase, Duration::from_millis(300)).unwrap_err();
    assert!(seen.contains("killed"), "{seen}");
    let seen = run_check(&command(&["/nonexistent/check"]), &NoDatabase, TIMEOUT).unwrap_err();
    assert!(seen.contains("cannot run /nonexistent/check"), "{seen}");
    assert!(run_check(&command(&[]), &NoDatabase, TIMEOUT).is_err());
}

#[test]
fn a_check_that_never_passes_names_the_service_the_check_and_what_it_saw() {
    let port = http_server("503 Service Unavailable");
    let checks = [command(&["true"]), http(port, 200)];
    let outcome = wait_healthy(
        "billing",
        &checks,
        &NoDatabase,
        Duration::from_millis(400),
        Duration::from_millis(100),
    );
    let failure = outcome.failure.clone().unwrap();
    assert!(failure.contains("billing"), "{failure}");
    assert!(
        failure.contains(&format!("http://127.0.0.1:{port}/status")),
        "{failure}"
    );
    assert!(failure.contains("got status 503"), "{failure}");
    assert!(outcome.rounds >= 1);
    assert_eq!(outcome.results.len(), 2);
    assert!(outcome.results[0].passed && !outcome.results[1].passed);
}

#[test]
fn checks_that_pass_in_one_round_end_the_wait() {
    let port = http_server("200 OK");
    let checks = [command(&["true"]), http(port, 200)];
    let outcome = wait_healthy(
        "web",
        &checks,
        &NoDatabase,
        TIMEOUT,
        Duration::from_millis(50),
    );
    assert!(outcome.passed(), "{:?}", outcome.failure);
    assert_eq!(outcome.rounds, 1);
}

/// An engine whose only working call is the query, answering `answer`.
struct Answers(&'static str);

impl Engine for Answers {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn ping(&self) -> Result<(), DbError> {
        Ok(())
    }
    fn list_databases(&self) -> Result<Vec<String>, DbError> {
        Ok(Vec::new())
    }
    fn dump(&self, _: &str, _: &DumpOptions) -> Result<Dump, DbError> {
        unimplemented!("not used by health checks")
    }
    fn exists(&self, _: &str) -> Result<bool, DbError> {
        Ok(true)
    }
    fn restore(
        &self,
        _: &str,
        _: &mut (dyn std::io::Read + Send),
        _: Replace,
    ) -> Result<(), DbError> {
        unimplemented!("not used by health checks")
    }
    fn verify(&self, _: &str, _: &DumpManifest) -> Result<Verification, DbError> {
        unimplemented!("not used by health checks")
    }
    fn drop_database(&self, _: &str) -> Result<(), DbError> {
        Ok(())
    }
    fn query_scalar(&self, database: &str, _: &str) -> Result<String, DbError> {
        assert_eq!(
            database, "drill_1_billing",
            "the check queries the name the context gives"
        );
        Ok(self.0.to_owned())
    }
}

/// Maps every source to a scratch copy, as a drill does.
struct Scratch(&'static str);

impl HealthContext for Scratch {
    fn sql_target(
        &self,
        source: &str,
        database: Option<&str>,
    ) -> Result<(Arc<dyn Engine>, String), String> {
        assert_eq!((source, database), ("billing-db", Some("billing")));
        Ok((Arc::new(Answers(self.0)), "drill_1_billing".into()))
    }
}

#[test]
fn sql_compares_the_trimmed_first_column_in_the_database_the_context_names() {
    let check = HealthCheck::Sql {
        source: "billing-db".into(),
        database: Some("billing".into()),
        query: "SELECT count(*) FROM invoices".into(),
        expect: "42".into(),
    };
    assert_eq!(run_check(&check, &Scratch(" 42\n"), TIMEOUT).unwrap(), "42");
    let seen = run_check(&check, &Scratch("41"), TIMEOUT).unwrap_err();
    assert_eq!(seen, "got \"41\"");
}
