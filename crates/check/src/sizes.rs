//! Pack sizes, checked without reading the packs: the index says which
//! blobs each pack holds and where, which fixes the pack's exact length
//! (blobs, then the sealed header of that many entries, then the trailer).
//! A pack of another length was truncated, extended or replaced; only then
//! is its header read, to say which.

use crate::{pack_finding, CheckReport, Severity};
use rayon::prelude::*;
use reprise_format::pack::TRAILER_LEN;
use reprise_format::{PackEntry, PackId};
use reprise_repo::{IndexLoadReport, Repository};

/// Header plaintext: a u32 count, then 45 bytes an entry; sealing adds 40.
const HEADER_FIXED: u64 = 4 + 40;
const HEADER_ENTRY: u64 = 45;

/// The length a pack holding exactly these blobs has.
fn expected_size(entries: &[PackEntry]) -> u64 {
    let blobs_end = entries
        .iter()
        .map(|e| u64::from(e.offset) + u64::from(e.sealed_len))
        .max()
        .unwrap_or(0);
    blobs_end + HEADER_FIXED + HEADER_ENTRY * entries.len() as u64 + TRAILER_LEN as u64
}

pub(crate) fn check_pack_sizes(
    repo: &Repository,
    load: &IndexLoadReport,
    report: &mut CheckReport,
) {
    let by_pack = repo.index().entries_by_pack();
    let suspects: Vec<(PackId, u64, Vec<PackEntry>)> = by_pack
        .into_iter()
        .filter_map(|(pack, entries)| {
            let size = *load.pack_sizes.get(&pack)?;
            (size != expected_size(&entries)).then_some((pack, size, entries))
        })
        .collect();
    let findings: Vec<_> = suspects
        .par_iter()
        .filter_map(|(pack, size, entries)| explain(repo, pack, *size, entries))
        .collect();
    report.findings.extend(findings);
}

/// Reads the header of a pack whose size is not the expected one: a finding,
/// unless the header fits the pack's size and holds blobs the index places
/// there (an index listing extra or forged entries, which reads fall back
/// from).
fn explain(
    repo: &Repository,
    pack: &PackId,
    size: u64,
    indexed: &[PackEntry],
) -> Option<crate::Finding> {
    let expected = expected_size(indexed);
    let what =
        format!("is {size} bytes, but the blobs the index places in it need exactly {expected}");
    match reprise_repo::read_pack_header(repo.backend(), repo.key(), pack, size) {
        Err(e) => Some(pack_finding(
            Severity::Error,
            "pack_damaged",
            pack,
            &format!("{what}, and its header is unreadable ({e}): truncated or overwritten. Run `reprise check --read-data` for the affected files"),
        )),
        Ok(header) => {
            // Only packs of the wrong size get here: a linear search is fine.
            // A pack whose header fits its size and holds some of what the
            // index places in it is intact: the other index entries are
            // damaged or forged (`check --read-data` reports them as
            // `index_mismatch`; reads fall back from them). Another pack's
            // content under this name holds none of them.
            let some_held = indexed.iter().any(|e| header.entries.contains(e));
            if some_held && expected_size(&header.entries) == size {
                return None;
            }
            Some(pack_finding(
                Severity::Error,
                "pack_damaged",
                pack,
                &format!("{what}, and its header lists other blobs: another pack's content stands under this name. Run `reprise check --read-data` for the affected files"),
            ))
        }
    }
}
