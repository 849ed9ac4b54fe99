//! From the configuration to the engines that dump and restore a source:
//! which tool, which server, which databases.

use std::sync::Arc;

use reprise_databases::Engine;

use crate::config::{Config, Databases, SourceConfig};
use crate::ServiceError;

/// A database or command source, ready to dump and restore.
pub struct SourceEngine {
    engine: Arc<dyn Engine>,
    databases: Databases,
}

impl SourceEngine {
    /// The engine that dumps and restores the source's databases.
    pub fn engine(&self) -> Arc<dyn Engine> {
        Arc::clone(&self.engine)
    }

    /// The databases to back up now (`"all"` asks the server).
    pub fn databases(&self) -> Result<Vec<String>, ServiceError> {
        match &self.databases {
            Databases::List(list) => Ok(list.clone()),
            Databases::All(_) => Ok(self.engine.list_databases()?),
        }
    }
}

/// The engine of a database or command source.
pub fn for_source(config: &Config, source: &str) -> Result<SourceEngine, ServiceError> {
    let Some(source_config) = config.sources.get(source) else {
        return Err(ServiceError::UnknownSource(source.to_owned()));
    };
    let unsupported = || ServiceError::Config(format!("source {source}: no engine yet"));
    match source_config {
        SourceConfig::Files { .. } => Err(ServiceError::Config(format!(
            "source {source} holds files, not databases"
        ))),
        _ => Err(unsupported()),
    }
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
