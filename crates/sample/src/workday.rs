//! A simulated day of ordinary work on a generated share: the database dump grows, a few
//! spreadsheets, logs and mailboxes are edited or appended to, new documents appear and one or
//! two old ones are deleted. This is the "normal" activity a ransomware detector must not flag.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fastrand::Rng;

use crate::calendar::Date;
use crate::formats::odf::odt;
use crate::formats::ooxml::docx;
use crate::rng::{chance, derived_rng};
use crate::sections::childhood::DELIBERATION_PATH;
use crate::sections::database::{append_births, DUMP_PATH};
use crate::sections::finances::invoice_csv;
use crate::sections::mail::push_message;
use crate::sections::office_paragraphs;

/// What a simulated workday changed. `files_modified` counts distinct pre-existing files whose
/// content changed (appended to, rewritten in place, or both); `bytes_appended` is how much
/// those files grew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeSummary {
    pub files_modified: u64,
    pub files_added: u64,
    pub files_deleted: u64,
    pub bytes_appended: u64,
}

/// Roughly one file in fifty is edited on an ordinary day.
const EDITED_PER_HUNDRED_FILES: usize = 2;
const MIN_EDITED_FILES: usize = 3;

/// Simulates a day of ordinary work on a share made by generate_share: edits ~2% of the files
/// (rewrite part of some text/CSV files, append rows to CSVs, append to the database dump),
/// adds a few new documents, deletes one or two. Deterministic from `seed`.
pub fn simulate_workday(root: &Path, seed: u64) -> io::Result<ChangeSummary> {
    let files = list_files(root)?;
    let mut day = Workday {
        root,
        rng: derived_rng(seed, "journee-de-travail"),
        date: Date::from_ordinal(2025, (seed % 365) as u32),
        touched: BTreeSet::new(),
        summary: ChangeSummary::default(),
    };
    day.register_births()?;
    day.edit_text_files(&files)?;
    day.add_documents()?;
    day.delete_documents(&files)?;
    Ok(day.summary)
}

struct Workday<'a> {
    root: &'a Path,
    rng: Rng,
    date: Date,
    /// Pre-existing files changed today (relative paths); never deleted the same day.
    touched: BTreeSet<PathBuf>,
    summary: ChangeSummary,
}

impl Workday<'_> {
    /// The civil-status application records the day's births in its database.
    fn register_births(&mut self) -> io::Result<()> {
        let dump = self.root.join(DUMP_PATH);
        if !dump.is_file() {
            return Ok(());
        }
        let count = self.rng.u64(3..=12);
        let appended = append_births(&dump, &mut self.rng, count)?;
        self.record_change(Path::new(DUMP_PATH), appended);
        Ok(())
    }

    fn edit_text_files(&mut self, files: &[PathBuf]) -> io::Result<()> {
        let wanted = (files.len() * EDITED_PER_HUNDRED_FILES / 100).max(MIN_EDITED_FILES);
        let mut candidates: Vec<&PathBuf> = files
            .iter()
            .filter(|path| is_editable_text(path) && !self.touched.contains(*path))
            .filter(|path| fs::metadata(self.root.join(path)).is_ok_and(|meta| meta.len() > 0))
            .collect();
        self.rng.shuffle(&mut candidates);
        // The dump already counts as one of the day's edits.
        for relative in candidates.into_iter().take(wanted.saturating_sub(1)) {
            let appended = self.edit_text_file(relative)?;
            self.record_change(relative, appended);
        }
        Ok(())
    }

    /// Edits one file the way its owner would; returns the bytes appended (0 for a rewrite).
    fn edit_text_file(&mut self, relative: &Path) -> io::Result<u64> {
        let path = self.root.join(relative);
        match extension(relative).as_str() {
            "mbox" => self.receive_mail(&path),
            "log" => append_altered_lines(&path, &mut self.rng, 20..=200),
            "csv" if chance(&mut self.rng, 50) => {
                append_altered_lines(&path, &mut self.rng, 1..=25)
            }
            _ => {
                if rewrite_region(&path, &mut self.rng)? {
                    Ok(0)
                } else {
                    append_altered_lines(&path, &mut self.rng, 1..=5)
                }
            }
        }
    }

    fn receive_mail(&mut self, mbox: &Path) -> io::Result<u64> {
        let stem = mbox
            .file_stem()
            .map(|stem| stem.to_string_lossy())
            .unwrap_or_default();
        let mailbox = stem
            .split("-archive")
            .next()
            .unwrap_or("accueil")
            .to_string();
        let mut messages = String::new();
        for _ in 0..self.rng.usize(1..=3) {
            push_message(&mut self.rng, &mut messages, &mailbox, self.date);
        }
        append(mbox, messages.as_bytes())
    }

    /// A new note, a new menu, and sometimes a new invoice register.
    fn add_documents(&mut self) -> io::Result<()> {
        let date = self.date;
        let iso = date.iso();
        let size = self.rng.u64(8_000..30_000);
        let note = office_paragraphs(&mut self.rng, size);
        let note = docx(
            &format!("Note de service du {}", date.french_long()),
            &note,
            date,
        )?;
        self.add_file(
            &format!("partage/rh/notes-de-service/note-de-service-{iso}"),
            "docx",
            &note,
        )?;
        let size = self.rng.u64(8_000..30_000);
        let menu = office_paragraphs(&mut self.rng, size);
        let menu = odt(
            &format!("Menus de la semaine du {}", date.french_long()),
            &menu,
            date,
        )?;
        self.add_file(
            &format!("partage/enfance/cantine/menus-{iso}"),
            "odt",
            &menu,
        )?;
        if chance(&mut self.rng, 50) {
            let size = self.rng.u64(5_000..40_000);
            let invoices = invoice_csv(&mut self.rng, date.year, date.month, size);
            self.add_file(
                &format!("partage/finances/factures/saisie-{iso}"),
                "csv",
                invoices.as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Writes under a name not taken yet, so that repeated days never overwrite a document.
    fn add_file(&mut self, stem: &str, extension: &str, content: &[u8]) -> io::Result<()> {
        let mut relative = format!("{stem}.{extension}");
        let mut copy = 1;
        while self.root.join(&relative).exists() {
            copy += 1;
            relative = format!("{stem} ({copy}).{extension}");
        }
        let path = self.root.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, content)?;
        self.summary.files_added += 1;
        Ok(())
    }

    /// Someone tidies up one or two old documents.
    fn delete_documents(&mut self, files: &[PathBuf]) -> io::Result<()> {
        let mut candidates: Vec<&PathBuf> = files
            .iter()
            .filter(|path| is_deletable_document(path) && !self.touched.contains(*path))
            .collect();
        self.rng.shuffle(&mut candidates);
        for relative in candidates.into_iter().take(self.rng.usize(1..=2)) {
            fs::remove_file(self.root.join(relative))?;
            self.summary.files_deleted += 1;
        }
        Ok(())
    }

    fn record_change(&mut self, relative: &Path, appended: u64) {
        if self.touched.insert(relative.to_path_buf()) {
            self.summary.files_modified += 1;
        }
        self.summary.bytes_appended += appended;
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_editable_text(path: &Path) -> bool {
    matches!(extension(path).as_str(), "csv" | "log" | "mbox" | "txt")
}

/// Office documents, scans and photos of the working folders; the archives, the deliberation
/// (kept for UTF-8 path tests) and the text files (edited instead) stay.
fn is_deletable_document(path: &Path) -> bool {
    path.starts_with("partage")
        && !path.starts_with("partage/archives")
        && path != Path::new(DELIBERATION_PATH)
        && matches!(
            extension(path).as_str(),
            "pdf" | "docx" | "odt" | "xlsx" | "jpg"
        )
}

/// Appends copies of the file's last lines with their digits changed: new rows that look like
/// the existing ones (invoice numbers, amounts, timestamps). Returns the bytes appended.
fn append_altered_lines(
    path: &Path,
    rng: &mut Rng,
    count: std::ops::RangeInclusive<usize>,
) -> io::Result<u64> {
    let content = fs::read(path)?;
    let lines: Vec<&[u8]> = content
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    let wanted = rng.usize(count);
    let mut addition = Vec::new();
    if !content.is_empty() && !content.ends_with(b"\n") {
        addition.push(b'\n');
    }
    for line in &lines[lines.len().saturating_sub(wanted)..] {
        let mut line = line.to_vec();
        alter_digits(&mut line, rng);
        addition.extend_from_slice(&line);
        addition.push(b'\n');
    }
    if lines.is_empty() {
        addition.extend_from_slice(b"\n");
    }
    append(path, &addition)
}

/// Appends `bytes` to an existing file; returns how many were appended.
pub fn append(path: &Path, bytes: &[u8]) -> io::Result<u64> {
    OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(bytes)?;
    Ok(bytes.len() as u64)
}

/// Rewrites a block of whole lines in place, same length: someone corrected figures in a
/// spreadsheet export. Returns false if the block held nothing that could be changed.
fn rewrite_region(path: &Path, rng: &mut Rng) -> io::Result<bool> {
    let mut content = fs::read(path)?;
    let region = pick_line_region(&content, rng);
    let original = content[region.clone()].to_vec();
    alter_digits(&mut content[region.clone()], rng);
    if content[region.clone()] == original[..] && !alter_one_letter(&mut content[region]) {
        return Ok(false);
    }
    fs::write(path, &content)?;
    Ok(true)
}

/// About a twentieth of the file, from a line start to a line end, past the first line
/// (a CSV header is never edited) unless the file has a single line.
fn pick_line_region(content: &[u8], rng: &mut Rng) -> std::ops::Range<usize> {
    let second_line = line_start_at_or_after(content, 1);
    if second_line >= content.len() {
        return 0..content.len();
    }
    let mut start = line_start_at_or_after(content, rng.usize(second_line..content.len()));
    if start >= content.len() {
        // Landed in the last line: take the block from the top instead.
        start = second_line;
    }
    let length = (content.len() / 20).clamp(256, 64 * 1024);
    let end = line_start_at_or_after(content, (start + length).min(content.len()));
    start..end
}

fn line_start_at_or_after(content: &[u8], position: usize) -> usize {
    if position == 0 {
        return 0;
    }
    content[position - 1..]
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(content.len(), |offset| position + offset)
}

fn alter_digits(bytes: &mut [u8], rng: &mut Rng) {
    for byte in bytes.iter_mut().filter(|byte| byte.is_ascii_digit()) {
        *byte = rng.u8(b'0'..=b'9');
    }
}

/// Shifts the first ASCII lowercase letter to the next one; false if there is none.
fn alter_one_letter(bytes: &mut [u8]) -> bool {
    match bytes.iter_mut().find(|byte| byte.is_ascii_lowercase()) {
        Some(letter) => {
            *letter = if *letter == b'z' { b'a' } else { *letter + 1 };
            true
        }
        None => false,
    }
}

/// Regular files below `root` as relative paths, in a stable (sorted) order.
fn list_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let child = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(child);
            } else if kind.is_file() {
                files.push(child);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_regions_cover_whole_lines() {
        let content = b"a1\nb22\nc333\nd4444\n".repeat(100);
        let mut rng = Rng::with_seed(9);
        for _ in 0..50 {
            let region = pick_line_region(&content, &mut rng);
            assert!(region.start >= 3 && content[region.start - 1] == b'\n');
            assert!(region.end == content.len() || content[region.end - 1] == b'\n');
            assert!(region.start < region.end);
        }
    }

    #[test]
    fn single_line_files_can_still_be_rewritten() {
        assert_eq!(pick_line_region(b"abc", &mut Rng::with_seed(1)), 0..3);
        assert_eq!(pick_line_region(b"", &mut Rng::with_seed(1)), 0..0);
    }

    #[test]
    fn altering_a_letter_changes_the_bytes() {
        let mut bytes = *b"AB-z";
        assert!(alter_one_letter(&mut bytes));
        assert_eq!(&bytes, b"AB-a");
        assert!(!alter_one_letter(&mut [b'1', b';']));
    }
}
