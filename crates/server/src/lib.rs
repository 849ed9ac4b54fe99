//! The append-only repository server behind `reprise serve`.
//!
//! A backup machine that ransomware has taken over holds whatever
//! credentials its backups use. This server makes those credentials harmless
//! to the backups already made: a client token may read and add objects, and
//! nothing else. Objects are written once and never replaced, every name is
//! checked against the BLAKE3 of the bytes uploaded under it, and deletion
//! needs an `admin` token *and* an object older than the retention period,
//! which only the server's configuration file sets. Every request, refused
//! or not, is recorded in an append-only audit log.
//!
//! The protocol is documented in docs/SERVER.md. Module map:
//! - [`config`]: the TOML configuration, its validation, and the edits that
//!   `reprise serve init-config` and `reprise serve token …` make to it;
//! - [`token`]: token generation and hashing, and authentication;
//! - [`route`]: what a request path designates, refusing anything that is not
//!   a well-formed repository, kind and object name; [`range`]: which bytes
//!   a `Range` header asks for (both public for the fuzz targets);
//! - `http`: the request handler (roles, write-once, retention, quotas);
//! - `body`: an object sent from its open file as the client takes it;
//! - `quota`, `audit`, `store`, `tls`: persistent usage per token, the
//!   audit log, repositories on disk, certificates;
//! - `serve`, `admission`: the listener, TLS handshakes and connections,
//!   and which connections are taken when they are many; `send_deadline`
//!   drops a client that stops taking what it is sent.
pub mod admission;
pub mod audit;
mod body;
pub mod config;
mod http;
mod quota;
pub mod range;
pub mod route;
pub mod send_deadline;
mod serve;
mod store;
pub mod tls;
pub mod token;

pub use config::{Config, Role, TokenEntry};
pub use route::valid_repo_name;
pub use serve::{Server, ServerHandle};

use std::path::PathBuf;

/// What can go wrong starting the server or editing its configuration.
/// Requests never produce these: they are answered with an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid configuration {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists: choose another file or edit it")]
    AlreadyExists { path: PathBuf },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("a token named {0:?} already exists: choose another name or revoke that one")]
    TokenExists(String),
    #[error("no token named {0:?} in the configuration (see `reprise serve token list`)")]
    NoSuchToken(String),
    #[error("invalid token setting: {0}")]
    InvalidToken(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("the server's runtime failed: {0}")]
    Runtime(String),
}

impl ServerError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }
}
