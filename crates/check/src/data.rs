//! Reading every pack (or a random share of them) and verifying each blob.

use crate::{pack_finding, CheckOptions, CheckProgress, CheckReport, Damage, Finding, Severity};
use rayon::prelude::*;
use reprise_format::{BlobId, PackHeader, PackId};
use reprise_repo::Repository;
use reprise_storage::ObjectKind;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Problems found in one pack.
#[derive(Default)]
struct PackResult {
    pack_finding: Option<Finding>,
    damaged_blobs: Vec<(BlobId, String)>,
    verified: u64,
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
    let mut expected: HashMap<PackId, Vec<(BlobId, reprise_repo::BlobLocation)>> = HashMap::new();
    for (id, loc) in index.blobs() {
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
    for (pack, r) in results {
        report.blobs_verified += r.verified;
        if let Some(f) = r.pack_finding {
            report.findings.push(f);
        }
        for (blob, reason) in r.damaged_blobs {
            damage.blobs.insert(blob, report.findings.len());
            report.findings.push(Finding {
                severity: Severity::Error,
                code: "blob_damaged",
                object: format!("blob {blob}"),
                message: format!("in pack {pack}: {reason}"),
                affected: vec![],
            });
        }
    }
}

fn check_pack(
    repo: &Repository,
    pack: &PackId,
    expected: &[(BlobId, reprise_repo::BlobLocation)],
) -> PackResult {
    let mut result = PackResult::default();
    let bytes = match repo.backend().read(ObjectKind::Pack, &pack.to_hex()) {
        Ok(b) => b,
        Err(e) => {
            result.pack_finding = Some(pack_finding(
                Severity::Error,
                "pack_missing",
                pack,
                &format!("cannot be read: {e}"),
            ));
            result.damaged_blobs = expected
                .iter()
                .map(|(id, _)| (*id, "its pack cannot be read".to_string()))
                .collect();
            return result;
        }
    };
    if reprise_crypto::storage_hash(&bytes) != *pack.as_bytes() {
        result.pack_finding = Some(pack_finding(
            Severity::Error,
            "pack_damaged",
            pack,
            "content does not match its name: the pack was modified after it was written",
        ));
    }
    if let Err(e) = PackHeader::from_pack_bytes(repo.key(), &bytes) {
        result.pack_finding = Some(pack_finding(
            Severity::Error,
            "pack_damaged",
            pack,
            &format!("header unreadable: {e}"),
        ));
    }
    for (id, loc) in expected {
        let start = loc.offset as usize;
        let sealed = bytes.get(start..start + loc.sealed_len as usize);
        let outcome = match sealed {
            None => Err("lies beyond the end of the pack".to_string()),
            Some(s) => repo
                .open_and_verify(loc.blob_type, id, pack, s, loc.raw_len)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        match outcome {
            Ok(()) => result.verified += 1,
            Err(reason) => result.damaged_blobs.push((*id, reason)),
        }
    }
    result
}
