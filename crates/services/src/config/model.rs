//! The configuration's data: what the TOML file says, field by field
//! (docs/CONFIG.md documents each one). Only data here: parsing with line
//! numbers and the checks across sections live beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The whole file. Every map is keyed by the name the rest of the file
/// (and the command line) uses to refer to the entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryConfig>,
    /// Database servers, referred to by sources, restores and drills.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default)]
    pub recovery: RecoveryConfig,
    #[serde(default)]
    pub web: WebConfig,
}

/// A repository and how to unlock it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Any location `--repo` accepts (a path, `rest:https://…`, `s3:…`).
    pub location: String,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    pub password_env: Option<String>,
    /// The repository used when a command names none (at most one).
    #[serde(default)]
    pub default: bool,
}

/// The kinds of database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerEngine {
    Postgres,
    /// MariaDB, or MySQL (`engine = "mysql"` is the same).
    #[serde(alias = "mysql")]
    Mariadb,
}

/// A database server. (No `serde(flatten)` here or above: serde cannot
/// combine it with `deny_unknown_fields`, and unknown keys must be errors.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub engine: ServerEngine,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub bin_dir: Option<PathBuf>,
}

impl ServerConfig {
    /// The connection the database tools use.
    pub fn connection(&self) -> reprise_databases::Connection {
        reprise_databases::Connection {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password_file: self.password_file.clone(),
            password_env: self.password_env.clone(),
            bin_dir: self.bin_dir.clone(),
        }
    }
}

/// Which databases of a server a source covers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Databases {
    /// `databases = "all"`: every user database found at backup time.
    All(String),
    List(Vec<String>),
}

/// Something backed up as one snapshot per run.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    Files {
        paths: Vec<PathBuf>,
        #[serde(default)]
        excludes: Vec<String>,
        #[serde(default)]
        one_file_system: bool,
    },
    Postgres {
        /// A `[servers.NAME]` with `engine = "postgres"`.
        server: String,
        databases: Databases,
        /// An output below this fraction of the previous dump fails.
        min_fraction: Option<f64>,
    },
    /// MariaDB or MySQL (`type = "mysql"` is the same).
    #[serde(alias = "mysql")]
    Mariadb {
        server: String,
        databases: Databases,
        min_fraction: Option<f64>,
    },
    Sqlite {
        /// The database file, read consistently while in use.
        path: PathBuf,
        min_fraction: Option<f64>,
    },
    /// Any program whose standard output is the backup.
    Command {
        /// The program and its arguments (no shell).
        dump: Vec<String>,
        /// The program that reads the backup on its standard input.
        restore: Vec<String>,
        /// The file name the output gets in the snapshot.
        filename: String,
        min_fraction: Option<f64>,
    },
}

/// A service the town runs, as citizens and staff see it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The name shown to citizens (status page, reports).
    pub public_name: String,
    /// 1 is the most urgent; among services ready to start, the most
    /// urgent goes first.
    #[serde(default = "default_priority")]
    pub priority: u32,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Names of `[sources.NAME]`.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub health: Vec<HealthCheck>,
    /// The recovery time objective ("30m", "4h").
    #[serde(default, deserialize_with = "duration::optional")]
    pub target: Option<Duration>,
    /// Listed on the public status page (by its public name only).
    #[serde(default = "default_public")]
    pub public: bool,
}

fn default_public() -> bool {
    true
}

fn default_priority() -> u32 {
    100
}

/// How to tell that a restored service works.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum HealthCheck {
    /// A query whose first column of the first row must equal `expect`.
    Sql {
        /// A database source of this service (`[sources.NAME]`).
        source: String,
        /// Which of the source's databases (optional when it has one).
        database: Option<String>,
        query: String,
        expect: String,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        url: String,
        #[serde(default = "default_http_status")]
        status: u16,
    },
    /// A program that must exit 0.
    Command {
        run: Vec<String>,
    },
}

fn default_http_status() -> u16 {
    200
}

/// Settings of `recover` and `drill`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConfig {
    /// How many services are restored at once.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    /// How long a service's health checks may take to pass.
    #[serde(
        default = "default_health_timeout",
        deserialize_with = "duration::required"
    )]
    pub health_timeout: Duration,
    /// The database server drills restore into (default: each source's own).
    pub drill_server: Option<String>,
    /// Where drills restore files (default: a directory under the system's
    /// temporary directory).
    pub drill_dir: Option<PathBuf>,
    /// Where `recover` keeps its journal and its live state, which the
    /// status page follows (default: [`RecoveryConfig::state_dir`]).
    pub state_dir: Option<PathBuf>,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            parallel: default_parallel(),
            health_timeout: default_health_timeout(),
            drill_server: None,
            drill_dir: None,
            state_dir: None,
        }
    }
}

impl RecoveryConfig {
    /// `state_dir`, or `$XDG_STATE_HOME/reprise/recover`,
    /// `~/.local/state/reprise/recover`, `/var/lib/reprise/recover` (the
    /// first whose variable is set).
    pub fn state_dir(&self) -> PathBuf {
        if let Some(dir) = &self.state_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
        base.map_or_else(
            || PathBuf::from("/var/lib/reprise/recover"),
            |b| b.join("reprise/recover"),
        )
    }
}

/// Settings of the public status page and the operator's dashboard.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The town's name, the status page's title ("Saint-Exemple").
    pub town: Option<String>,
    /// Where the dashboard keeps what the operator publishes (service
    /// states, incident messages), its certificate and its audit log
    /// (default `/var/lib/reprise/web`).
    pub data_dir: Option<PathBuf>,
    /// The address `reprise web` listens on (default `0.0.0.0:8443`).
    pub listen: Option<std::net::SocketAddr>,
    /// The administrator's certificate chain and key (PEM); without them a
    /// self-signed pair is generated into `data_dir/tls`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra DNS names or addresses for a generated certificate.
    #[serde(default)]
    pub tls_names: Vec<String>,
    /// Who may log in to the dashboard.
    #[serde(default)]
    pub accounts: Vec<WebAccount>,
    /// A file holding the bearer token Prometheus sends for `/metrics`.
    pub metrics_token_file: Option<PathBuf>,
    /// A session ends after this long without a request (default "1h").
    #[serde(default, deserialize_with = "duration::optional")]
    pub session_idle: Option<Duration>,
}

/// An operator's account on the dashboard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebAccount {
    pub name: String,
    /// An Argon2id hash in the PHC format, as `reprise web hash-password`
    /// prints it: never the password itself.
    pub password_hash: String,
}

impl WebConfig {
    pub fn listen(&self) -> std::net::SocketAddr {
        self.listen
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 8443)))
    }

    pub fn session_idle(&self) -> Duration {
        self.session_idle.unwrap_or(Duration::from_secs(3600))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/reprise/web"))
    }
}

fn default_parallel() -> usize {
    2
}

fn default_health_timeout() -> Duration {
    Duration::from_secs(300)
}

/// Durations written as "90s", "30m", "4h", "1d".
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Parses "90s", "30m", "4h" or "1d".
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let seconds = match unit.trim() {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return None,
        };
        number.checked_mul(seconds).map(Duration::from_secs)
    }

    fn from_text<'de, D: Deserializer<'de>>(text: &str) -> Result<Duration, D::Error> {
        parse(text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration: write a number and a unit, as \"90s\", \"30m\", \"4h\" or \"1d\""
            ))
        })
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| from_text::<D>(&t)).transpose()
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        from_text::<D>(&text)
    }
}
