//! Every integration test of the `reprise` command, in one test binary: one
//! link instead of one per file, which on two cores saved minutes of CI. Each
//! file below is a module; `cargo test --test all server::` runs one of them.
//! A new test file must be listed here (autotests is off in Cargo.toml).
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/s3.rs"]
mod s3_common;

mod backup_dry_run;
mod backup_restore;
mod bench;
mod cli;
mod config;
mod crash;
mod damage;
mod detection;
mod detection_signals;
mod disk_full;
mod docs;
mod help;
mod hostile_backup;
mod hostile_repo;
mod hostile_trees;
mod incident_retention;
mod incidents;
mod json_and_time;
mod last_clean_cleanup;
mod maintenance;
mod manifests;
mod messages;
mod recover;
mod restore_attacks;
mod s3;
mod s3_maintenance;
mod server;
