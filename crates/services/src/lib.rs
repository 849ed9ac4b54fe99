//! A town's services and how they come back.
//!
//! One configuration file (`config`) names the repositories, the database
//! servers, the sources (files, databases, commands) and the services
//! built on them: who depends on whom, how to tell a service is up, and
//! how fast it must be back. From it this crate derives the recovery order
//! (`graph`) and runs recoveries and drills: `schedule` brings services
//! back in that order through a caller's `ServiceRunner`, `health` tells
//! when each is up, `journal` lets an interrupted run resume, and `report`
//! is what the run measured.

pub mod config;
pub mod graph;
pub mod health;
pub mod journal;
pub mod report;
pub mod schedule;
