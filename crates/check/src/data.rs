//! Reading every pack (or a random share of them) and verifying each blob.
//!
//! The pack's own header is authoritative (it is sealed, and it travels with
//! the data), so blobs are verified where the header places them, and index
//! entries that disagree with it are reported as `index_mismatch`. A blob is
//! damaged only if no copy of it verifies: a bad copy beside a good one is a
//! warning, because every read falls back to the good copy.

use crate::{pack_finding, CheckOptions, CheckProgress, CheckReport, Damage, Finding, Severity};
use rayon::prelude::*;
use reprise_format::pack::TRAILER_LEN;
use reprise_format::{BlobId, PackEntry, PackHeader, PackId};
use reprise_repo::{BlobLocation, Repository};
use reprise_storage::ObjectKind;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

/// What reading one pack found.
#[derive(Default)]
struct PackResult {
    findings: Vec<Finding>,
    good: Vec<BlobId>,
    bad: Vec<(BlobId, String)>,
}

fn chosen(percent: Option<f64>) -> bool {
    match percent {
        None => true,
        Some(p) => {
            let r = reprise_crypto::random_u64().unwrap_or(0) as f64 / u64::MAX as f64;
            r * 100.0 < p
        }
    }
}

pub(crate) fn read_packs(
    repo: &Repository,
    options: &CheckOptions,
    progress: &CheckProgress,
    report: &mut CheckReport,
    damage: &mut Damage,
) {
    let index = repo.index();
    let mut expected: HashMap<PackId, Vec<(BlobId, BlobLocation)>> = HashMap::new();
    for (id, loc) in index.all_locations() {
        if let Some(pack) = index.pack_id(loc.pack) {
            expected.entry(pack).or_default().push((*id, *loc));
        }
    }
    let packs: Vec<PackId> = index
        .packs()
        .iter()
        .copied()
        .filter(|_| chosen(options.read_data_percent))
        .collect();
    drop(index);
    progress
        .packs_total
        .store(packs.len() as u64, Ordering::Relaxed);
    let results: Vec<(PackId, PackResult)> = packs
        .par_iter()
        .map(|pack| {
            let r = check_pack(
                repo,
                pack,
                expected.get(pack).map(Vec::as_slice).unwrap_or_default(),
            );
            progress.packs_done.fetch_add(1, Ordering::Relaxed);
            (*pack, r)
        })
        .collect();
    report.packs_read = results.len() as u64;
    let good: HashSet<BlobId> = results
        .iter()
        .flat_map(|(_, r)| r.good.iter().copied())
        .collect();
    report.blobs_verified = good.len() as u64;
    for (pack, r) in results {
        report.findings.extend(r.findings);
        for (blob, reason) in r.bad {
            report.damaged_copies.push(reprise_format::DamagedCopy {
                blob,
                pack,
                reason: reason.clone(),
            });
            let intact_elsewhere = good.contains(&blob);
            if !intact_elsewhere && damage.blobs.contains_key(&blob) {
                continue;
            }
            if !intact_elsewhere {
                damage.blobs.insert(blob, report.findings.len());
            }
            report.findings.push(Finding {
                severity: if intact_elsewhere { Severity::Warning } else { Severity::Error },
                code: if intact_elsewhere { "blob_damaged_copy" } else { "blob_damaged" },
                object: format!("blob {blob}"),
                message: if intact_elsewhere {
                    format!("the copy in pack {pack} is damaged ({reason}); another copy is intact and is used instead")
                } else {
                    format!("in pack {pack}: {reason}")
                },
                affected: vec![],
            });
        }
    }
}

fn verify_entry(
    repo: &Repository,
    pack: &PackId,
    bytes: &[u8],
    e: &PackEntry,
) -> Result<(), String> {
    let start = e.offset as usize;
    let sealed = bytes
        .get(start..start + e.sealed_len as usize)
        .ok_or("lies beyond the end of the pack")?;
    repo.open_and_verify(e.blob_type, &e.id, pack, sealed, e.raw_len)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

fn as_entry(id: &BlobId, loc: &BlobLocation) -> PackEntry {
    PackEntry {
        blob_type: loc.blob_type,
        id: *id,
        offset: loc.offset,
        sealed_len: loc.sealed_len,
        raw_len: loc.raw_len,
        delta: loc.delta,
    }
}

thread_local! {
    /// One pack buffer per thread: packs are read one after another, and a
    /// fresh multi-MiB buffer each time would cost a page fault per 4 KiB.
    static PACK_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn check_pack(repo: &Repository, pack: &PackId, expected: &[(BlobId, BlobLocation)]) -> PackResult {
    let mut buffer = PACK_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let result = check_pack_in(repo, pack, expected, &mut buffer);
    PACK_BUFFER.with(|b| *b.borrow_mut() = buffer);
    result
}

fn check_pack_in(
    repo: &Repository,
    pack: &PackId,
    expected: &[(BlobId, BlobLocation)],
    buffer: &mut Vec<u8>,
) -> PackResult {
    let mut result = PackResult::default();
    let bytes: &[u8] = match repo
        .backend()
        .read_into(ObjectKind::Pack, &pack.to_hex(), buffer)
    {
        Ok(()) => buffer,
        Err(e) => {
            result.findings.push(pack_finding(
                Severity::Error,
                "pack_missing",
                pack,
                &format!("cannot be read: {e}"),
            ));
            result.bad = expected
                .iter()
                .map(|(id, _)| (*id, "its pack cannot be read".to_string()))
                .collect();
            return result;
        }
    };
    let mut header_ok = true;
    let entries: Vec<PackEntry> = match PackHeader::from_pack_bytes(repo.key(), bytes) {
        Ok(header) => {
            for (id, loc) in expected {
                if !header.entries.contains(&as_entry(id, loc)) {
                    header_ok = false;
                    result.findings.push(Finding {
                        severity: Severity::Warning,
                        code: "index_mismatch",
                        object: format!("blob {id}"),
                        message: format!(
                            "an index file places it in pack {pack} at offset {}, but the pack's header does not (a damaged or forged index entry; reads verify each copy and fall back to a good one)",
                            loc.offset
                        ),
                        affected: vec![],
                    });
                }
            }
            header.entries
        }
        Err(e) => {
            header_ok = false;
            result.findings.push(pack_finding(
                Severity::Error,
                "pack_damaged",
                pack,
                &format!("header unreadable ({e}); blobs checked where the index places them"),
            ));
            expected.iter().map(|(id, loc)| as_entry(id, loc)).collect()
        }
    };
    for e in &entries {
        match verify_entry(repo, pack, bytes, e) {
            Ok(()) => result.good.push(e.id),
            Err(reason) => result.bad.push((e.id, reason)),
        }
    }
    // When the authenticated header and blobs cover every byte before the
    // trailer, each byte has been checked by an AEAD tag already: hashing
    // the whole pack again (a sixth of check's CPU time) would add nothing.
    // Otherwise (a damaged blob, an unreadable header, or a header that does
    // not hold what the index expects here, as when a pack file was renamed)
    // the name must match the content.
    let covered = header_ok && result.bad.is_empty() && blobs_tile_pack(bytes, &entries);
    if !covered && reprise_crypto::storage_hash(bytes) != *pack.as_bytes() {
        result.findings.push(pack_finding(
            Severity::Error,
            "pack_damaged",
            pack,
            "content does not match its name: the pack was modified after it was written",
        ));
    }
    result
}

/// Whether the blobs, end to end from offset 0, reach exactly the sealed
/// header, which reaches exactly the trailer.
fn blobs_tile_pack(bytes: &[u8], entries: &[PackEntry]) -> bool {
    let Some(trailer) = bytes
        .len()
        .checked_sub(TRAILER_LEN)
        .and_then(|s| bytes.get(s..))
    else {
        return false;
    };
    let Ok((header_start, _)) = PackHeader::locate(trailer, bytes.len() as u64) else {
        return false;
    };
    let mut spans: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| (e.offset as u64, e.sealed_len as u64))
        .collect();
    spans.sort_unstable();
    let mut end = 0u64;
    for (offset, len) in spans {
        if offset != end {
            return false;
        }
        end += len;
    }
    end == header_start
}
