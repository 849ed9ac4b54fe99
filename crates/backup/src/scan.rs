//! A quick count of what a backup will cover (metadata only, no reads), run
//! beside the backup when a progress bar is shown, so the bar has a total
//! and an ETA even on a first backup.

use crate::{BackupProgress, PathPatterns};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Walks `paths` and adds every regular file's size to `progress.bytes_expected`.
/// Stops early if `progress.finished` is set.
pub fn scan_totals(
    paths: &[PathBuf],
    excludes: &PathPatterns,
    one_file_system: bool,
    progress: &BackupProgress,
) {
    let mut total = 0u64;
    for path in paths {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            let device = one_file_system.then(|| meta.dev());
            scan(path, &meta, excludes, device, progress, &mut total);
        }
    }
}

fn scan(
    path: &Path,
    meta: &std::fs::Metadata,
    excludes: &PathPatterns,
    device: Option<u64>,
    progress: &BackupProgress,
    total: &mut u64,
) {
    if progress.finished.load(Ordering::Relaxed) {
        return;
    }
    if meta.is_file() {
        *total += meta.len();
        progress.bytes_expected.fetch_max(*total, Ordering::Relaxed);
        return;
    }
    if !meta.is_dir() || device.is_some_and(|d| d != meta.dev()) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let child = entry.path();
        if excludes.matches(&child) {
            continue;
        }
        if let Ok(m) = std::fs::symlink_metadata(&child) {
            scan(&child, &m, excludes, device, progress, total);
        }
    }
}
