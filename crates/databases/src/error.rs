//! The errors of database sources: each names the database or tool and
//! says what to do.

/// Why a dump, restore or check of a database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{tool} was not found ({hint})")]
    ToolMissing { tool: String, hint: String },
    #[error("{tool} failed ({status}) for {database}: {stderr}")]
    ToolFailed {
        tool: String,
        database: String,
        status: String,
        stderr: String,
    },
    #[error("the dump of {database} is empty: the tool wrote nothing; check the server and the credentials")]
    EmptyDump { database: String },
    #[error("the dump of {database} is {bytes} bytes, less than {percent}% of the previous one ({previous} bytes): check the database before trusting this dump")]
    Shrunk {
        database: String,
        bytes: u64,
        previous: u64,
        percent: u32,
    },
    #[error("database {database} already exists on the target server; choose another name, drop it, or pass --replace")]
    Exists { database: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A SQLite database file that could not be read or written; the
    /// message says why and what to do.
    #[error("SQLite database {path}: {message}")]
    Sqlite { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}
