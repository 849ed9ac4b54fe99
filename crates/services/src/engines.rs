//! From the configuration to what dumps and restores a source: which
//! engine, on which server, which databases.

use std::sync::Arc;

use reprise_databases::{CommandSource, DbError, Dump, DumpOptions, Engine, MariaDb, Postgres};

use crate::config::{Config, Databases, ServerEngine, SourceConfig};
use crate::ServiceError;

/// A database or command source, ready to dump and restore.
#[derive(Clone)]
pub enum SourceEngine {
    /// A database server or SQLite: one snapshot per database.
    Database {
        engine: Arc<dyn Engine>,
        databases: Databases,
    },
    /// Any program: one snapshot holding its output as `filename`.
    Command {
        command: CommandSource,
        filename: String,
    },
}

impl SourceEngine {
    /// What each snapshot of the source is named by (its `database=` tag):
    /// the databases to back up now (`"all"` asks the server), or a
    /// command's file name.
    pub fn databases(&self) -> Result<Vec<String>, ServiceError> {
        match self {
            SourceEngine::Database {
                databases: Databases::List(list),
                ..
            } => Ok(list.clone()),
            SourceEngine::Database { engine, .. } => Ok(engine.list_databases()?),
            SourceEngine::Command { filename, .. } => Ok(vec![filename.clone()]),
        }
    }
}

impl SourceEngine {
    /// Starts the dump of `database` (a command's file name for a command).
    pub fn dump(&self, database: &str, options: &DumpOptions) -> Result<Dump, DbError> {
        match self {
            SourceEngine::Database { engine, .. } => engine.dump(database, options),
            SourceEngine::Command { command, .. } => command.dump(options),
        }
    }

    /// The file a database's dump has in its snapshot.
    pub fn dump_file(&self, database: &str) -> String {
        match self {
            SourceEngine::Database { .. } => crate::backup::dump_file(database),
            SourceEngine::Command { filename, .. } => filename.clone(),
        }
    }

    /// The database engine, for a database source.
    pub fn engine(&self) -> Option<Arc<dyn Engine>> {
        match self {
            SourceEngine::Database { engine, .. } => Some(Arc::clone(engine)),
            SourceEngine::Command { .. } => None,
        }
    }
}

/// The engine of a database or command source, on its own server.
pub fn for_source(config: &Config, source: &str) -> Result<SourceEngine, ServiceError> {
    for_source_on(config, source, None)
}

/// The engine of a database or command source, on `server` when given (a
/// drill's server) instead of the source's own, if that server runs the
/// source's engine.
pub fn for_source_on(
    config: &Config,
    source: &str,
    server: Option<&str>,
) -> Result<SourceEngine, ServiceError> {
    let Some(source_config) = config.sources.get(source) else {
        return Err(ServiceError::UnknownSource(source.to_owned()));
    };
    let database = |own: &str, databases: &Databases| -> Result<SourceEngine, ServiceError> {
        Ok(SourceEngine::Database {
            engine: server_engine(config, source, same_engine(config, server, own))?,
            databases: databases.clone(),
        })
    };
    match source_config {
        SourceConfig::Files { .. } => Err(ServiceError::Config(format!(
            "source {source} holds files, not databases"
        ))),
        SourceConfig::Postgres {
            server: own,
            databases,
            ..
        }
        | SourceConfig::Mariadb {
            server: own,
            databases,
            ..
        } => database(own, databases),
        SourceConfig::Sqlite { path, .. } => Ok(SourceEngine::Database {
            engine: Arc::new(reprise_databases::Sqlite::new()),
            databases: Databases::List(vec![path.display().to_string()]),
        }),
        SourceConfig::Command {
            dump,
            restore,
            filename,
            ..
        } => Ok(SourceEngine::Command {
            command: CommandSource {
                dump: dump.clone(),
                restore: restore.clone(),
            },
            filename: filename.clone(),
        }),
    }
}

/// `other` (a drill's server) when it runs the same engine as the
/// source's own server `own`, else `own`: a drill server of one engine
/// cannot take the other's dumps, so those are drilled on their own
/// server (under their scratch names all the same).
fn same_engine<'a>(config: &Config, other: Option<&'a str>, own: &'a str) -> &'a str {
    let engine_of = |name: &str| config.servers.get(name).map(|s| s.engine);
    match other {
        Some(other) if engine_of(other) == engine_of(own) => other,
        _ => own,
    }
}

/// The engine reaching database server `name`.
fn server_engine(
    config: &Config,
    source: &str,
    name: &str,
) -> Result<Arc<dyn Engine>, ServiceError> {
    let Some(server) = config.servers.get(name) else {
        return Err(ServiceError::Config(format!(
            "source {source} names server {name}, which is not in [servers]"
        )));
    };
    Ok(match server.engine {
        ServerEngine::Postgres => Arc::new(Postgres::new(server.connection())),
        ServerEngine::Mariadb => Arc::new(MariaDb::new(server.connection())),
    })
}

/// The source's shrink threshold, if it sets one.
pub fn min_fraction(config: &Config, source: &str) -> Option<f64> {
    match config.sources.get(source)? {
        SourceConfig::Files { .. } => None,
        SourceConfig::Postgres { min_fraction, .. }
        | SourceConfig::Mariadb { min_fraction, .. }
        | SourceConfig::Sqlite { min_fraction, .. }
        | SourceConfig::Command { min_fraction, .. } => *min_fraction,
    }
}
