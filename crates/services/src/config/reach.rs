//! Whether the database servers and health-check hosts a configuration
//! names answer now (`reprise config check` without `--offline`). A server
//! that does not answer is an error: backups and recoveries need it. A
//! health check's host that does not answer is only a note: the service
//! may well be down now, which is why it would be recovered.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use reprise_databases::{Engine, MariaDb, Postgres};

use super::load::{LoadedConfig, Problem};
use super::model::{HealthCheck, ServerConfig, ServerEngine};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a database server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Socket(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Socket(path) => write!(f, "the socket {}", path.display()),
        }
    }
}

/// Where `server` listens, as its engine's client tools would connect:
/// no host (and for MariaDB `localhost`) means the local socket, a host
/// that is a directory means PostgreSQL's socket in it.
pub fn endpoint(server: &ServerConfig) -> Endpoint {
    let host = server.host.as_deref();
    match server.engine {
        ServerEngine::Postgres => {
            let port = server.port.unwrap_or(5432);
            match host {
                Some(h) if !h.starts_with('/') => Endpoint::Tcp {
                    host: h.to_string(),
                    port,
                },
                dir => Endpoint::Socket(
                    PathBuf::from(dir.unwrap_or("/var/run/postgresql"))
                        .join(format!(".s.PGSQL.{port}")),
                ),
            }
        }
        ServerEngine::Mariadb => match host {
            None | Some("localhost") => Endpoint::Socket(PathBuf::from("/run/mysqld/mysqld.sock")),
            Some(h) => Endpoint::Tcp {
                host: h.to_string(),
                port: server.port.unwrap_or(3306),
            },
        },
    }
}

/// Connects to `endpoint` and hangs up; the error says why it failed.
pub fn answers(endpoint: &Endpoint, timeout: Duration) -> Result<(), String> {
    match endpoint {
        Endpoint::Socket(path) => UnixStream::connect(path)
            .map(drop)
            .map_err(|e| e.to_string()),
        Endpoint::Tcp { host, port } => tcp_answers(host, *port, timeout),
    }
}

/// Whether some address of `host` accepts a TCP connection on `port`.
pub fn tcp_answers(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

impl LoadedConfig {
    /// The database servers that do not answer, as errors on their
    /// entries: first a TCP or socket connection within `timeout`, then,
    /// when `log_in`, the engine's own check (`Engine::ping`: its client
    /// tools log in and run `SELECT 1`), which also catches a wrong user,
    /// password or `bin_dir`.
    pub fn unreachable_servers(&self, timeout: Duration, log_in: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, server) in &self.config.servers {
            let at = self.positions.of(&["servers", name]);
            let endpoint = endpoint(server);
            if let Err(why) = answers(&endpoint, timeout) {
                problems.push(Problem::error(
                    at,
                    format!("[servers.{name}] does not answer at {endpoint} ({why}): start the server, or correct host and port"),
                ));
            } else if log_in {
                if let Err(why) = ping(server) {
                    problems.push(Problem::error(
                        at,
                        format!("[servers.{name}] answers at {endpoint} but its client tools cannot log in: {why}"),
                    ));
                }
            }
        }
        problems
    }

    /// The health checks' hosts that do not answer now, as notes.
    pub fn silent_health_hosts(&self, timeout: Duration) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, service) in &self.config.services {
            for (i, check) in service.health.iter().enumerate() {
                let Some((host, port)) = health_address(check) else {
                    continue;
                };
                if let Err(why) = tcp_answers(&host, port, timeout) {
                    let index = i.to_string();
                    problems.push(Problem::note(
                        self.positions.of(&["services", name, "health", &index]),
                        format!("[services.{name}] health check {i}: {host}:{port} does not answer now ({why}); fine if the service is down, the check is what a recovery waits for"),
                    ));
                }
            }
        }
        problems
    }
}

/// Logs in to `server` with its engine's client tools.
fn ping(server: &ServerConfig) -> Result<(), String> {
    let connection = server.connection();
    let engine: Box<dyn Engine> = match server.engine {
        ServerEngine::Postgres => Box::new(Postgres::new(connection)),
        ServerEngine::Mariadb => Box::new(MariaDb::new(connection)),
    };
    engine.ping().map_err(|e| e.to_string())
}

/// The host and port a TCP or HTTP health check connects to.
fn health_address(check: &HealthCheck) -> Option<(String, u16)> {
    match check {
        HealthCheck::Tcp { host, port } => Some((host.clone(), *port)),
        HealthCheck::Http { url, .. } => {
            let (scheme, rest) = url.split_once("://")?;
            let default = if scheme == "https" { 443 } else { 80 };
            let authority = rest.split(['/', '?', '#']).next()?;
            host_and_port(authority, default)
        }
        _ => None,
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
pub fn host_and_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit('@').next()?;
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None if authority.is_empty() => None,
        None => Some((authority.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::Severity;
    use std::path::Path;

    /// A port nothing listens on: one the system just gave and took back.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn a_server_on_a_closed_port_is_an_error_and_an_open_one_is_not() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let text = format!(
            "[servers.down]\nengine = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\n\
             [servers.up]\nengine = \"mariadb\"\nhost = \"127.0.0.1\"\nport = {}\n",
            closed_port(),
            open.local_addr().unwrap().port()
        );
        let loaded = LoadedConfig::parse(&text, Path::new("t.toml")).unwrap();
        let p = loaded.unreachable_servers(CONNECT_TIMEOUT, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].severity), (1, Severity::Error));
        assert!(
            p[0].message
                .contains("[servers.down] does not answer at 127.0.0.1:"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn a_silent_health_check_host_is_only_a_note() {
        let text = format!(
            "[services.s]\npublic_name = \"S\"\n[[services.s.health]]\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/\"\n",
            closed_port()
        );
        let loaded = LoadedConfig::parse(&text, Path::new("t.toml")).unwrap();
        let p = loaded.silent_health_hosts(CONNECT_TIMEOUT);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].severity), (3, Severity::Note));
    }

    #[test]
    fn endpoints_follow_the_client_tools_defaults() {
        let server = |engine, host: Option<&str>| ServerConfig {
            engine,
            host: host.map(str::to_string),
            port: None,
            user: None,
            password_file: None,
            password_env: None,
            bin_dir: None,
        };
        assert_eq!(
            endpoint(&server(ServerEngine::Postgres, None)),
            Endpoint::Socket("/var/run/postgresql/.s.PGSQL.5432".into())
        );
        assert_eq!(
            endpoint(&server(ServerEngine::Postgres, Some("db"))),
            Endpoint::Tcp {
                host: "db".into(),
                port: 5432
            }
        );
        assert_eq!(
            endpoint(&server(ServerEngine::Mariadb, Some("localhost"))),
            Endpoint::Socket("/run/mysqld/mysqld.sock".into())
        );
        assert_eq!(host_and_port("[::1]:8443", 443), Some(("::1".into(), 8443)));
        assert_eq!(
            host_and_port("example.org", 443),
            Some(("example.org".into(), 443))
        );
    }

    /// The test servers of scripts/db-server, or `None` when told to skip
    /// database tests (`REPRISE_TEST_SKIP_DB=1`).
    fn test_pg() -> Option<(String, String, String)> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if var("REPRISE_TEST_SKIP_DB").as_deref() == Some("1") {
            eprintln!("skipped: needs a PostgreSQL server (REPRISE_TEST_SKIP_DB=1)");
            return None;
        }
        let (Some(host), Some(port)) = (var("REPRISE_TEST_PG_HOST"), var("REPRISE_TEST_PG_PORT"))
        else {
            panic!("this test needs a PostgreSQL server: `eval \"$(scripts/db-server)\"` first, or set REPRISE_TEST_SKIP_DB=1");
        };
        let bin = var("REPRISE_TEST_PG_BIN")
            .map(|b| format!("bin_dir = \"{b}\"\n"))
            .unwrap_or_default();
        let user = var("REPRISE_TEST_PG_USER").unwrap_or_else(|| "postgres".into());
        Some((
            format!("host = \"{host}\"\nport = {port}\n{bin}"),
            user,
            host,
        ))
    }

    #[test]
    fn a_server_that_answers_but_refuses_the_login_is_an_error() {
        let Some((address, user, _)) = test_pg() else {
            return;
        };
        let text = format!(
            "[servers.good]\nengine = \"postgres\"\nuser = \"{user}\"\n{address}\
             [servers.bad]\nengine = \"postgres\"\nuser = \"no_such_role_c\"\n{address}"
        );
        let loaded = LoadedConfig::parse(&text, Path::new("t.toml")).unwrap();
        assert!(loaded
            .unreachable_servers(CONNECT_TIMEOUT, false)
            .is_empty());
        let p = loaded.unreachable_servers(CONNECT_TIMEOUT, true);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message.starts_with("[servers.bad] answers at")
                && p[0].message.contains("cannot log in"),
            "{}",
            p[0].message
        );
    }
}
