//! Deterministic sample data for reprise: the file share of the town hall of Saint-Exemple
//! (civil-status scans, accounting spreadsheets, water bills, office documents, photos,
//! archives, mailboxes, logs and a database dump), generated from a seed in real file formats,
//! and a simulated day of ordinary work on it. Used by `reprise demo`, integration tests and
//! benchmarks; the formats are genuine because the ransomware detector inspects magic bytes
//! and compressibility.

mod calendar;
mod documents;
mod formats;
pub mod rng;
mod sections;
mod share;
mod words;
mod workday;
mod writer;

pub use documents::{document, grow_dump, workbook, DocumentKind, DATABASE_DUMP_PATH};
pub use share::{generate_share, ShareSpec, ShareSummary};
pub use workday::{append, simulate_workday, ChangeSummary};

/// `len` incompressible bytes, the same for the same `seed`: test data for
/// chunking, packs and damage, where only randomness matters.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rng::derived_rng(seed, "random_bytes");
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}
