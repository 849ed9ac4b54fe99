//! The ransomware detection evaluation (bench/detection): a municipal
//! share in real formats, attack families and benign churn applied to it
//! with their ground truth, and the scoring of reprise's verdicts, flagged
//! files and last-clean restores against that truth.
//!
//! - [`share`] generates the share (office documents, scans, photos,
//!   archives, databases, logs, mail, programs) in a deep tree;
//! - [`formats`] and [`sqlite`] write the formats `reprise-sample` lacks;
//! - [`attack`] encrypts files as ransomware families do, [`churn`] changes
//!   them as a town hall's staff do, [`lookalike`] as its sysadmin does
//!   in ways that resemble an attack, and [`scenario`] names the cases;
//! - [`notes`] writes ransom notes in varied wording, English and French;
//! - [`truth`] is what a scenario did, [`evaluate`] compares it with what
//!   reprise reported and restored.
pub mod attack;
pub mod churn;
pub mod error;
pub mod evaluate;
pub mod formats;
pub mod lookalike;
pub mod notes;
pub mod rng;
pub mod scenario;
pub mod share;
pub mod sqlite;
pub mod truth;
