//! The share as a whole: its specification, how its size budget is divided between the town
//! hall's services, and the summary of what was written.

use std::io;
use std::path::Path;

use crate::sections::{
    archives, childhood, civil_status, database, finances, human_resources, logs, mail, photos,
    water,
};
use crate::writer::ShareWriter;

const MIB: u64 = 1024 * 1024;

/// What to generate: the seed makes the tree reproducible, `total_bytes` sets its approximate
/// size (the result typically lands within 10% of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareSpec {
    pub seed: u64,
    pub total_bytes: u64,
}

impl ShareSpec {
    /// The share shown by `reprise demo`: about 40 MiB in a couple of hundred files.
    pub fn demo() -> Self {
        ShareSpec {
            seed: 2026,
            total_bytes: 40 * MIB,
        }
    }

    /// A share small enough for unit and integration tests: about 2 MiB.
    pub fn tiny() -> Self {
        ShareSpec {
            seed: 2026,
            total_bytes: 2 * MIB,
        }
    }
}

/// What `generate_share` wrote: regular files (empty ones included), directories below the
/// root (empty ones included, the root itself excluded) and the files' total size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShareSummary {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

/// Share of `total_bytes` given to each part, in per mille. The database dump is the largest
/// single file; scans and photos are the incompressible bulk, as on a real town hall share.
const DATABASE_DUMP: u64 = 220;
const BIRTH_RECORD_SCANS: u64 = 190;
const PHOTOS: u64 = 180;
const FINANCES: u64 = 110;
const WATER_BILLING: u64 = 80;
const ARCHIVES: u64 = 60;
const MAILBOXES: u64 = 60;
const LOGS: u64 = 40;
const HUMAN_RESOURCES: u64 = 30;
const CHILDHOOD: u64 = 30;

/// Writes the share under `root` (created if missing). Same spec => byte-identical tree.
/// Files already there are overwritten where names collide and left alone otherwise; the
/// summary counts only what this call wrote.
pub fn generate_share(root: &Path, spec: &ShareSpec) -> io::Result<ShareSummary> {
    let mut share = ShareWriter::create(root)?;
    let seed = spec.seed;
    let budget = |per_mille: u64| spec.total_bytes / 1000 * per_mille;
    civil_status::write_birth_records(&mut share, seed, budget(BIRTH_RECORD_SCANS))?;
    finances::write_finances(&mut share, seed, budget(FINANCES))?;
    water::write_water_bills(&mut share, seed, budget(WATER_BILLING))?;
    human_resources::write_hr_documents(&mut share, seed, budget(HUMAN_RESOURCES))?;
    childhood::write_childhood_documents(&mut share, seed, budget(CHILDHOOD))?;
    photos::write_photos(&mut share, seed, budget(PHOTOS))?;
    archives::write_archives(&mut share, seed, budget(ARCHIVES))?;
    mail::write_mailboxes(&mut share, seed, budget(MAILBOXES))?;
    logs::write_logs(&mut share, seed, budget(LOGS))?;
    database::write_dump(&mut share, seed, budget(DATABASE_DUMP))?;
    Ok(share.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_shares_add_up_to_the_whole() {
        let parts = [
            DATABASE_DUMP,
            BIRTH_RECORD_SCANS,
            PHOTOS,
            FINANCES,
            WATER_BILLING,
            ARCHIVES,
            MAILBOXES,
            LOGS,
            HUMAN_RESOURCES,
            CHILDHOOD,
        ];
        assert_eq!(parts.iter().sum::<u64>(), 1000);
    }
}
