//! A town's services and how they come back.
//!
//! One configuration file (`config`) names the repositories, the database
//! servers, the sources (files, databases, commands) and the services
//! built on them: who depends on whom, how to tell a service is up, and
//! how fast it must be back. From it this crate derives the recovery order
//! (`graph`) and runs recoveries and drills: `schedule` brings services
//! back in that order through a caller's `ServiceRunner`, `health` tells
//! when each is up, `journal` lets an interrupted run resume, `live` lets another process
//! follow it, `operation` is a whole recovery or drill as every front end
//! runs it, and `report`
//! is what the run measured; `pace` learns from past drills how long each
//! service takes to restore, for the order.

pub mod backup;
pub mod config;
pub mod engines;
pub mod graph;
pub mod recover;
pub mod restore;

/// Why a service's backup or recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("source {0} is not in the configuration")]
    UnknownSource(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] reprise_databases::DbError),
    #[error(transparent)]
    Backup(#[from] reprise_backup::BackupError),
    #[error(transparent)]
    Repo(#[from] reprise_repo::RepoError),
    #[error(transparent)]
    Restore(#[from] reprise_restore::RestoreError),
    #[error("source {name} has no snapshot to recover from ({choice} was asked): back it up first, or choose another time")]
    NoSnapshot { name: String, choice: String },
    #[error("snapshot {snapshot} of source {name} cannot be restored: {what}; run reprise check, and recover from an older snapshot")]
    Damaged {
        snapshot: String,
        name: String,
        what: String,
    },
}
pub mod health;
pub mod journal;
pub mod live;
pub mod operation;
mod order;
pub mod pace;
pub mod report;
pub mod schedule;
