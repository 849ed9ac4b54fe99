//! The server's configuration file (TOML): what it holds, how it is read and
//! checked, and where the server keeps its own files under `data_dir`.
//!
//! The file is the only place that sets the retention period and the
//! tokens: nothing a client sends can change them. Edits made by the
//! `reprise serve` subcommands live in [`edit`]; they keep the file's
//! comments and are checked by the same parser before being written.

mod edit;

pub use edit::{add_token, init_config, list_tokens, revoke_token, NewToken, TokenStatus};

use crate::route;
use crate::ServerError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Retention when the file does not say: long enough to notice an attack
/// that waited weeks before striking, short enough to be affordable.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The largest upload when the file does not say (a pack is about 8 MiB).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 256 << 20;
/// Connections when the file does not say.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Connections from one client address when the file does not say: a
/// backup client uses a few; an address behind which a whole office sits
/// (NAT) may need more.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// A bound on the object size, against typos (an upload streams to disk).
const MAX_OBJECT_BYTES_LIMIT: u64 = 4 << 30;
/// A century: anything longer is a typo.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read, and create objects and repositories: what a backup client needs.
    Append,
    /// Read only: restores, checks, audits.
    Read,
    /// Read, create, and delete objects older than the retention period.
    Admin,
}

impl Role {
    pub fn may_write(self) -> bool {
        matches!(self, Role::Append | Role::Admin)
    }

    pub fn may_delete(self) -> bool {
        self == Role::Admin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Append => "append",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "append" => Ok(Role::Append),
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: use append, read or admin")),
        }
    }
}

/// The configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Repositories, audit log, quota usage and generated certificate.
    /// This and the TLS paths are relative to the configuration file's
    /// directory when not absolute.
    pub data_dir: PathBuf,
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: u64,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the generated certificate.
    #[serde(default)]
    pub tls_names: Vec<String>,
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenEntry>,
}

fn default_retention() -> u32 {
    DEFAULT_RETENTION_DAYS
}

fn default_max_object_bytes() -> u64 {
    DEFAULT_MAX_OBJECT_BYTES
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

fn default_max_connections_per_address() -> usize {
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
}

/// One `[[token]]` of the file. The token itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// Hex BLAKE3 of the token text (see [`crate::token::hash`]).
    pub hash: String,
    #[serde(default)]
    pub created: Option<String>,
    /// Total bytes this token may add, over its whole life.
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// RFC 3339 time after which the token is refused.
    #[serde(default)]
    pub expires: Option<String>,
    /// The repositories this token may use; all when absent.
    #[serde(default)]
    pub repos: Option<Vec<String>>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

impl TokenEntry {
    /// A token with no limits, for configurations built in code.
    pub fn new(name: &str, role: Role, hash: String) -> TokenEntry {
        TokenEntry {
            name: name.to_string(),
            role,
            hash,
            created: None,
            quota_bytes: None,
            expires: None,
            repos: None,
            revoked: false,
            revoked_at: None,
        }
    }

    /// The expiry time, if any (the file was validated on load).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires.as_deref().and_then(|e| parse_time(e).ok())
    }
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2030-01-31T00:00:00Z ({e})"))
}

impl Config {
    /// A configuration with the defaults and no token, for servers started
    /// in code (the demo, tests).
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Config {
        Config {
            listen,
            data_dir,
            retention_days: DEFAULT_RETENTION_DAYS,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// Reads and checks a configuration file; a relative `data_dir` is
    /// taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        let base = dir_of(path);
        Config::parse(&text, base).map_err(|detail| ServerError::Config {
            path: path.to_path_buf(),
            detail,
        })
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        for path in [
            Some(&mut config.data_dir),
            config.tls_cert.as_mut(),
            config.tls_key.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base_dir.join(&*path);
            }
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.retention_days > MAX_RETENTION_DAYS {
            return Err(format!(
                "retention_days = {} is more than a century",
                self.retention_days
            ));
        }
        if self.max_object_bytes == 0 || self.max_object_bytes > MAX_OBJECT_BYTES_LIMIT {
            return Err(format!(
                "max_object_bytes must be between 1 and {MAX_OBJECT_BYTES_LIMIT}"
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            return Err(
                "max_connections and max_connections_per_address must be at least 1".into(),
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("give both tls_cert and tls_key, or neither".into());
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.tokens {
            validate_token(t)?;
            if !names.insert(t.name.as_str()) {
                return Err(format!("two tokens are named {:?}", t.name));
            }
        }
        Ok(())
    }

    /// The audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.data_dir.join("audit.log")
    }

    /// Bytes added per token, kept across restarts.
    pub fn usage_file(&self) -> PathBuf {
        self.data_dir.join("usage.json")
    }

    /// Where a self-signed certificate is generated.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }
}

/// The directory holding `path` (`.` for a bare file name, whose parent
/// is the empty path).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Token names appear in the audit log and on command lines: keep them plain.
pub fn valid_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn validate_token(t: &TokenEntry) -> Result<(), String> {
    if !valid_token_name(&t.name) {
        return Err(format!(
            "token name {:?}: use 1 to 64 letters, digits, '.', '_' or '-'",
            t.name
        ));
    }
    if t.hash.len() != 64 || !t.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "token {:?}: hash must be 64 hex digits (the BLAKE3 of the token)",
            t.name
        ));
    }
    if let Some(e) = &t.expires {
        parse_time(e).map_err(|e| format!("token {:?}: expires: {e}", t.name))?;
    }
    for repo in t.repos.iter().flatten() {
        if !route::valid_repo_name(repo) {
            return Err(format!(
                "token {:?}: {repo:?} is not a repository name",
                t.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/reprise"))
    }

    #[test]
    fn a_minimal_file_gets_the_defaults_and_a_relative_data_dir() {
        let c = parse("listen = \"127.0.0.1:8443\"\ndata_dir = \"data\"\n").unwrap();
        assert_eq!(c.retention_days, DEFAULT_RETENTION_DAYS);
        assert_eq!(c.max_object_bytes, 256 << 20);
        assert_eq!(c.data_dir, Path::new("/etc/reprise/data"));
        assert!(c.tokens.is_empty() && c.tls_cert.is_none());
    }

    #[test]
    fn tokens_are_read_with_their_limits() {
        let c = parse(&format!(
            "listen = \"[::1]:1\"\ndata_dir = \"/d\"\nretention_days = 7\n\
             [[token]]\nname = \"mairie\"\nrole = \"append\"\nhash = \"{HASH}\"\n\
             quota_bytes = 1000\nexpires = \"2030-01-01T00:00:00+01:00\"\nrepos = [\"compta\"]\n"
        ))
        .unwrap();
        let t = &c.tokens[0];
        assert_eq!(
            (t.role, t.quota_bytes, t.revoked),
            (Role::Append, Some(1000), false)
        );
        assert_eq!(
            t.expires_at().unwrap().to_rfc3339(),
            "2029-12-31T23:00:00+00:00"
        );
        assert_eq!(t.repos.as_deref(), Some(&["compta".to_string()][..]));
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        let base = "listen = \"127.0.0.1:1\"\ndata_dir = \"/d\"\n";
        let token = |extra: &str| {
            format!("{base}[[token]]\nname = \"a\"\nrole = \"append\"\nhash = \"{HASH}\"\n{extra}")
        };
        for (text, wanted) in [
            (format!("{base}retention = 3\n"), "unknown field"),
            (format!("{base}retention_days = -1\n"), "retention_days"),
            (format!("{base}max_object_bytes = 0\n"), "max_object_bytes"),
            (format!("{base}tls_cert = \"c.pem\"\n"), "tls_key"),
            ("listen = \"nowhere\"\ndata_dir = \"/d\"\n".into(), "listen"),
            (token("expires = \"tomorrow\"\n"), "RFC 3339"),
            (token("repos = [\"../etc\"]\n"), "not a repository name"),
            (token("role = \"root\"\n"), "role"),
            (
                format!("{}{}", token(""), token("").replace(base, "")),
                "two tokens",
            ),
            (token("").replace(HASH, "abc"), "64 hex"),
            (token("").replace("\"a\"", "\"a b\""), "token name"),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(wanted), "{text}\n=> {err} (wanted {wanted})");
        }
    }

    #[test]
    fn roles_parse_and_know_their_rights() {
        assert_eq!("append".parse::<Role>(), Ok(Role::Append));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Append.may_write() && !Role::Append.may_delete());
        assert!(!Role::Read.may_write() && !Role::Read.may_delete());
        assert!(Role::Admin.may_write() && Role::Admin.may_delete());
    }
}
