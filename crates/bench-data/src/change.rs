//! `change`: a busy working day on a generated share, the same for the same seed and tree.
//! About 2% of the files change: text files get a passage corrected in place or lines
//! appended, office documents, scans and photos are saved anew, other binaries get a block
//! rewritten; a few files are added and a few deleted; the database dump grows by 1.5%.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use fastrand::Rng;
use reprise_sample::{append, document, grow_dump, DocumentKind, DATABASE_DUMP_PATH};

use crate::layout::request_for;
use crate::tree::{derived_rng, regular_files, MARKER};

/// Per mille of the files modified, added and deleted.
const MODIFIED_PER_MILLE: usize = 20;
const ADDED_PER_MILLE: usize = 2;
const DELETED_PER_MILLE: usize = 1;
/// Per mille of its size appended to the dump.
const DUMP_GROWTH_PER_MILLE: u64 = 15;

/// What `change` did.
#[derive(Default)]
pub struct ChangeSummary {
    pub modified: usize,
    pub added: usize,
    pub deleted: usize,
    pub bytes_written: u64,
    pub dump_appended: u64,
}

impl fmt::Display for ChangeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files modified, {} added, {} deleted, {} bytes written, dump +{} bytes",
            self.modified, self.added, self.deleted, self.bytes_written, self.dump_appended
        )
    }
}

/// Changes the share at `dir` (a tree made by `generate`).
pub fn change(dir: &Path, seed: u64) -> anyhow::Result<ChangeSummary> {
    if !dir.join(MARKER).is_file() {
        bail!("{} is not a generated share (no {MARKER})", dir.display());
    }
    let mut files = regular_files(dir).context("listing the share")?;
    files.retain(|path| path != Path::new(MARKER) && path != Path::new(DATABASE_DUMP_PATH));
    let mut rng = derived_rng(seed, "change");
    rng.shuffle(&mut files);
    let count = |per_mille: usize, minimum: usize| (files.len() * per_mille / 1000).max(minimum);
    let (modified, deleted) = (count(MODIFIED_PER_MILLE, 3), count(DELETED_PER_MILLE, 1));
    let mut summary = ChangeSummary::default();
    for relative in files.iter().take(modified) {
        summary.bytes_written += modify(&dir.join(relative), &mut rng)
            .with_context(|| format!("modifying {}", relative.display()))?;
        summary.modified += 1;
    }
    for relative in files.iter().skip(modified).take(deleted) {
        fs::remove_file(dir.join(relative))
            .with_context(|| format!("deleting {}", relative.display()))?;
        summary.deleted += 1;
    }
    let beside: Vec<&PathBuf> = files.iter().skip(modified + deleted).collect();
    for number in 0..count(ADDED_PER_MILLE, 2) {
        summary.bytes_written += add(dir, &beside, seed, number, &mut rng)?;
        summary.added += 1;
    }
    summary.dump_appended = grow(dir, seed)?;
    Ok(summary)
}

/// Edits one file the way its kind is edited; returns the bytes written.
fn modify(path: &Path, rng: &mut Rng) -> io::Result<u64> {
    let len = fs::metadata(path)?.len();
    let extension = path
        .extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match DocumentKind::from_extension(&extension) {
        _ if len == 0 => append(path, b"mis a jour\n"),
        Some(kind) if !kind.is_text() => {
            let saved = document(kind, rng.u64(..), request_for(kind, len))?;
            fs::write(path, &saved)?;
            Ok(saved.len() as u64)
        }
        _ if is_text(&extension) && rng.bool() => {
            let addition = document(
                DocumentKind::Note,
                rng.u64(..),
                (len / 20).clamp(100, 64 * 1024),
            )?;
            append(path, &addition)
        }
        _ if is_text(&extension) => rewrite_text(path, len, rng),
        _ => rewrite_block(path, len, rng),
    }
}

fn is_text(extension: &str) -> bool {
    matches!(
        extension,
        "txt" | "csv" | "eml" | "mbox" | "log" | "sql" | "sh" | "xml" | "html"
    ) || DocumentKind::from_extension(extension).is_some_and(DocumentKind::is_text)
}

/// Corrects a passage in place, same length: its ASCII letters and digits change, so the
/// text stays valid UTF-8 (someone fixed names and figures).
fn rewrite_text(path: &Path, len: u64, rng: &mut Rng) -> io::Result<u64> {
    let (offset, length) = region(len, rng);
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut passage = vec![0; length as usize];
    file.read_exact_at(&mut passage, offset)?;
    for byte in &mut passage {
        if byte.is_ascii_lowercase() {
            *byte = rng.u8(b'a'..=b'z');
        } else if byte.is_ascii_digit() {
            *byte = rng.u8(b'0'..=b'9');
        }
    }
    file.write_all_at(&passage, offset)?;
    Ok(length)
}

/// Overwrites a block in place with new bytes, as a program updating its own file would.
fn rewrite_block(path: &Path, len: u64, rng: &mut Rng) -> io::Result<u64> {
    let (offset, length) = region(len, rng);
    let block: Vec<u8> = (0..length).map(|_| rng.u8(..)).collect();
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all_at(&block, offset)?;
    Ok(length)
}

/// A twentieth of the file (256 bytes to 64 KiB, never more than the file) at a random place.
fn region(len: u64, rng: &mut Rng) -> (u64, u64) {
    let length = (len / 20).clamp(256, 64 * 1024).min(len);
    (rng.u64(..=len - length), length)
}

/// A new document next to a file that was kept.
fn add(
    dir: &Path,
    beside: &[&PathBuf],
    seed: u64,
    number: usize,
    rng: &mut Rng,
) -> anyhow::Result<u64> {
    let folder = beside
        .get(rng.usize(..beside.len().max(1)))
        .and_then(|path| path.parent())
        .unwrap_or(Path::new("partage"));
    let kind = DocumentKind::ALL[rng.usize(..DocumentKind::ALL.len())];
    let content = document(kind, rng.u64(..), rng.u64(2_000..40_000))?;
    let name = format!("nouveau-{seed}-{number:04}.{}", kind.extension());
    let path = dir.join(folder).join(name);
    fs::create_dir_all(dir.join(folder))?;
    fs::write(&path, &content).with_context(|| format!("adding {}", path.display()))?;
    Ok(content.len() as u64)
}

/// The day's registrations in the database dump: 1.5% of its size.
fn grow(dir: &Path, seed: u64) -> anyhow::Result<u64> {
    let dump = dir.join(DATABASE_DUMP_PATH);
    let len = fs::metadata(&dump).map(|meta| meta.len()).unwrap_or(0);
    grow_dump(dir, seed, len / 1000 * DUMP_GROWTH_PER_MILLE).context("appending to the dump")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_fit_in_the_file() {
        let mut rng = Rng::with_seed(1);
        for len in [1, 255, 256, 10_000, 10_000_000] {
            let (offset, length) = region(len, &mut rng);
            assert!(
                length > 0 && offset + length <= len,
                "{len}: {offset}+{length}"
            );
        }
    }

    #[test]
    fn text_rewrites_keep_the_length_and_change_the_content() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("note.txt");
        let text = "les comptes de l'année 2024 sont validés\n".repeat(100);
        fs::write(&path, &text)?;
        let written = rewrite_text(&path, text.len() as u64, &mut Rng::with_seed(2))?;
        let after = fs::read_to_string(&path).map_err(io::Error::other)?;
        assert_eq!(written, 256);
        assert_eq!(after.len(), text.len());
        assert_ne!(after, text);
        Ok(())
    }
}
