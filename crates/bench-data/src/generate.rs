//! `generate`: the town hall's share from `reprise-sample` for most of the bytes (scans,
//! photos, spreadsheets, mailboxes, logs and the SQL dump, about 13% of the total), the bulk
//! of small office files in a deep tree for most of the files, a few special entries
//! (scripts, symlinks, empty files and folders), the marker file, then reproducible
//! metadata. The share and the bulk are written on all cores at once.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::{bail, Context};
use reprise_sample::{document, generate_share, ShareSpec};

use crate::layout::{self, Folder, BULK_ROOT};
use crate::metadata;
use crate::tree::{walk, MARKER};

/// Part of the total size given to the town hall's share (the rest goes to the bulk).
const SHARE_PER_MILLE: u64 = 600;
/// Files the share holds per MiB of its budget (measured on `generate_share`: its files
/// average about 165 KiB), used to leave the rest of the file count to the bulk.
const SHARE_FILES_PER_MIB: f64 = 6.2;

/// What to generate.
pub struct DatasetSpec {
    pub size: u64,
    pub files: u64,
    pub seed: u64,
}

/// What `generate` wrote (counted on disk afterwards).
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub seconds: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files, {} directories, {} symlinks, {} bytes ({:.1} MiB) in {:.1} s",
            self.files,
            self.dirs,
            self.symlinks,
            self.bytes,
            self.bytes as f64 / 1048576.0,
            self.seconds
        )
    }
}

/// Writes the dataset of `spec` into `out`, which must be missing or empty.
pub fn generate(out: &Path, spec: &DatasetSpec) -> anyhow::Result<Summary> {
    let started = Instant::now();
    prepare_empty_dir(out)?;
    let share = ShareSpec {
        seed: spec.seed,
        total_bytes: spec.size / 1000 * SHARE_PER_MILLE,
    };
    let bulk_bytes = spec.size - share.total_bytes;
    let share_files = (share.total_bytes as f64 / 1048576.0 * SHARE_FILES_PER_MIB) as u64;
    let bulk_files = spec
        .files
        .saturating_sub(share_files + SPECIAL_FILES + 1)
        .max(1);
    let folders = layout::plan(spec.seed, bulk_files, bulk_bytes);
    write_share_and_bulk(out, &share, &folders).context("writing the share")?;
    write_specials(out, &folders).context("writing scripts, links and empty entries")?;
    fs::write(out.join(MARKER), marker_text(spec)).context("writing the marker")?;
    metadata::finish(out, spec.seed).context("setting modes and times")?;
    summarize(out, started)
}

fn prepare_empty_dir(out: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} is not empty: generate writes into an empty directory",
            out.display()
        );
    }
    Ok(())
}

/// One thread writes the town hall's share, then joins the others on the bulk folders.
fn write_share_and_bulk(out: &Path, share: &ShareSpec, folders: &[Folder]) -> io::Result<()> {
    let next = AtomicUsize::new(0);
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    thread::scope(|scope| {
        let mut handles = vec![scope.spawn(|| {
            generate_share(out, share)?;
            write_folders(out, folders, &next)
        })];
        for _ in 1..workers {
            handles.push(scope.spawn(|| write_folders(out, folders, &next)));
        }
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a writer panicked")))
            })
            .collect::<io::Result<Vec<()>>>()
    })?;
    Ok(())
}

/// Takes folders one at a time until none is left.
fn write_folders(out: &Path, folders: &[Folder], next: &AtomicUsize) -> io::Result<()> {
    while let Some(folder) = folders.get(next.fetch_add(1, Ordering::Relaxed)) {
        let dir = out.join(&folder.path);
        fs::create_dir_all(&dir)?;
        for file in &folder.files {
            fs::write(
                dir.join(&file.name),
                document(file.kind, file.seed, file.size)?,
            )?;
        }
    }
    Ok(())
}

/// Regular files `write_specials` adds (scripts and empty files).
const SPECIAL_FILES: u64 = 5;
const SPECIALS_DIR: &str = "partage/informatique";
const SHORTCUTS_DIR: &str = "partage/raccourcis";

/// Entries backup tools must keep exactly: executable scripts, empty files and folders,
/// relative symlinks to files and to a folder, and a dangling absolute symlink.
fn write_specials(out: &Path, folders: &[Folder]) -> io::Result<()> {
    let scripts = out.join(SPECIALS_DIR).join("scripts");
    fs::create_dir_all(&scripts)?;
    for (name, action) in [
        (
            "sauvegarde-nocturne.sh",
            "reprise backup --tag quotidien /srv/partage",
        ),
        (
            "purge-corbeille.sh",
            "find /srv/partage -name '*.tmp' -mtime +30 -delete",
        ),
        (
            "inventaire-postes.sh",
            "ip neigh show > /srv/partage/informatique/postes.txt",
        ),
    ] {
        fs::write(
            scripts.join(name),
            format!("#!/bin/sh\nset -eu\n{action}\n"),
        )?;
    }
    fs::write(out.join(SPECIALS_DIR).join("a-lire.txt"), b"")?;
    fs::write(out.join(SPECIALS_DIR).join(".~lock.inventaire.ods#"), b"")?;
    fs::create_dir_all(out.join(SPECIALS_DIR).join("a-trier"))?;
    fs::create_dir_all(out.join(BULK_ROOT).join("corbeille"))?;
    write_shortcuts(out, folders)
}

/// A shortcut per 5000 bulk files (at least 3), spread over the tree.
fn write_shortcuts(out: &Path, folders: &[Folder]) -> io::Result<()> {
    let dir = out.join(SHORTCUTS_DIR);
    fs::create_dir_all(&dir)?;
    let files: usize = folders.iter().map(|folder| folder.files.len()).sum();
    let wanted = (files / 5000).max(3);
    let stride = (folders.len() / wanted).max(1);
    for (number, folder) in folders.iter().step_by(stride).take(wanted).enumerate() {
        if let Some(file) = folder.files.first() {
            let target =
                Path::new("..").join(folder.path.strip_prefix("partage").unwrap_or(&folder.path));
            symlink(
                target.join(&file.name),
                dir.join(format!("raccourci-{number:03}")),
            )?;
        }
    }
    symlink("../dossiers", dir.join("tous-les-dossiers"))?;
    symlink("/mnt/ancien-serveur/partage", dir.join("ancien-serveur"))
}

fn marker_text(spec: &DatasetSpec) -> String {
    format!(
        "reprise benchmark dataset (reprise-bench-data generate)\nseed = {}\nsize = {}\nfiles = {}\n",
        spec.seed, spec.size, spec.files
    )
}

fn summarize(out: &Path, started: Instant) -> anyhow::Result<Summary> {
    let mut summary = Summary {
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        seconds: 0.0,
    };
    for entry in walk(out)?.iter().skip(1) {
        let kind = entry.metadata.file_type();
        if kind.is_file() {
            summary.files += 1;
            summary.bytes += entry.metadata.len();
        } else if kind.is_dir() {
            summary.dirs += 1;
        } else if kind.is_symlink() {
            summary.symlinks += 1;
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
