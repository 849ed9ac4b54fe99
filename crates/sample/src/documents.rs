//! Single documents of a chosen kind and size, and growth of the database dump: the building
//! blocks the benchmark data tool (`reprise-bench-data`) uses to fill a share with tens of
//! thousands of ordinary office files around the town hall's generated share. Same kind, seed
//! and size => same bytes; the formats are the genuine ones `generate_share` writes.

use std::io;
use std::path::Path;

use fastrand::Rng;

use crate::calendar::Date;
use crate::formats::jpeg::photo_jpeg;
use crate::formats::odf::odt;
use crate::formats::ooxml::docx;
use crate::formats::pdf::scanned_pdf;
use crate::formats::zipper::ZipBuilder;
use crate::rng::{derived_rng, pick};
use crate::sections::database::{append_births, DUMP_PATH};
use crate::sections::finances::{budget_workbook, invoice_csv};
use crate::sections::mail::push_message;
use crate::sections::office_paragraphs;
use crate::words::{first_name, paragraph, prose, surname};

/// Where `generate_share` puts the database dump, relative to the share's root.
pub const DATABASE_DUMP_PATH: &str = DUMP_PATH;

/// The kinds of file found in a town hall's working folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Plain-text note (`.txt`): compresses 3-4x.
    Note,
    /// Semicolon-separated invoice register (`.csv`): compresses well.
    Table,
    /// Word-processing letter (`.docx`): already deflated.
    Letter,
    /// OpenDocument minutes (`.odt`): already deflated.
    Minutes,
    /// One-page scanned record (`.pdf`): a deflated grayscale image.
    Scan,
    /// Camera photo (`.jpg`): incompressible.
    Photo,
    /// Single e-mail message (`.eml`): plain text.
    Mail,
    /// Zip of old notes and registers (`.zip`): incompressible.
    Archive,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 8] = [
        DocumentKind::Note,
        DocumentKind::Table,
        DocumentKind::Letter,
        DocumentKind::Minutes,
        DocumentKind::Scan,
        DocumentKind::Photo,
        DocumentKind::Mail,
        DocumentKind::Archive,
    ];

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            DocumentKind::Note => "txt",
            DocumentKind::Table => "csv",
            DocumentKind::Letter => "docx",
            DocumentKind::Minutes => "odt",
            DocumentKind::Scan => "pdf",
            DocumentKind::Photo => "jpg",
            DocumentKind::Mail => "eml",
            DocumentKind::Archive => "zip",
        }
    }

    /// The kind a file name's extension belongs to (case-insensitive), if any.
    pub fn from_extension(extension: &str) -> Option<DocumentKind> {
        let extension = extension.to_ascii_lowercase();
        DocumentKind::ALL
            .into_iter()
            .find(|kind| kind.extension() == extension)
    }

    /// True for plain text, which is edited in place rather than saved anew.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            DocumentKind::Note | DocumentKind::Table | DocumentKind::Mail
        )
    }
}

/// One document of `kind` of about `approx_bytes` (text kinds exactly; encoded formats within
/// about 30%, and never below their format's minimum of a few KiB).
pub fn document(kind: DocumentKind, seed: u64, approx_bytes: u64) -> io::Result<Vec<u8>> {
    let mut rng = derived_rng(seed, kind.extension());
    let year = rng.u16(2015..=2025);
    let date = Date::random_in(&mut rng, year);
    match kind {
        DocumentKind::Note => Ok(exact_size(prose(&mut rng, approx_bytes), approx_bytes)),
        DocumentKind::Table => {
            let csv = invoice_csv(&mut rng, date.year, date.month, approx_bytes);
            Ok(exact_size(csv, approx_bytes))
        }
        DocumentKind::Letter => {
            let body = office_paragraphs(&mut rng, approx_bytes);
            docx(&title(&mut rng, "Courrier", date), &body, date)
        }
        DocumentKind::Minutes => {
            let body = office_paragraphs(&mut rng, approx_bytes);
            odt(&title(&mut rng, "Compte rendu", date), &body, date)
        }
        DocumentKind::Scan => {
            let heading = title(&mut rng, "Pièce numérisée", date);
            scanned_pdf(&mut rng, &heading, date, approx_bytes)
        }
        DocumentKind::Photo => photo_jpeg(&mut rng, approx_bytes),
        DocumentKind::Mail => Ok(exact_size(mail(&mut rng, date, approx_bytes), approx_bytes)),
        DocumentKind::Archive => archive(&mut rng, date, approx_bytes),
    }
}

/// A budget workbook (`.xlsx`, a genuine one-sheet OOXML package) of about `approx_bytes`
/// once deflated (within about 30%). Not a [`DocumentKind`], so that the benchmark data,
/// which draws from every kind, keeps its bytes; the ransomware evaluation uses it.
pub fn workbook(seed: u64, approx_bytes: u64) -> io::Result<Vec<u8>> {
    budget_workbook(&mut derived_rng(seed, "xlsx"), approx_bytes)
}

/// Appends about `approx_bytes` of new rows to the database dump under `root` (the day's
/// registrations of a busy period). Returns the bytes appended; 0 if there is no dump.
pub fn grow_dump(root: &Path, seed: u64, approx_bytes: u64) -> io::Result<u64> {
    let dump = root.join(DUMP_PATH);
    if !dump.is_file() {
        return Ok(0);
    }
    let mut rng = derived_rng(seed, "croissance-base");
    let mut appended = 0;
    while appended < approx_bytes {
        // A birth row is about 300 bytes; overshooting by one batch is harmless.
        let rows = ((approx_bytes - appended) / 300).clamp(1, 10_000);
        appended += append_births(&dump, &mut rng, rows)?;
    }
    Ok(appended)
}

/// `Courrier du 3 mars 2021 - DUPONT Marie`
fn title(rng: &mut Rng, what: &str, date: Date) -> String {
    format!(
        "{what} du {} - {} {}",
        date.french_long(),
        surname(rng),
        first_name(rng)
    )
}

/// Cuts or pads (with newlines) generated text to exactly `len` bytes; a multi-byte character
/// cut in half is replaced by padding so the text stays valid UTF-8.
fn exact_size(text: String, len: u64) -> Vec<u8> {
    let len = len as usize;
    let mut end = text.len().min(len);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut bytes = text.into_bytes();
    bytes.truncate(end);
    bytes.resize(len, b'\n');
    bytes
}

/// One message with its headers, then as many quoted earlier paragraphs as the size asks.
fn mail(rng: &mut Rng, date: Date, approx_bytes: u64) -> String {
    let mut mbox = String::new();
    push_message(rng, &mut mbox, "accueil", date);
    // An .eml file is the message alone, without the mbox separator line.
    let mut message = match mbox.split_once('\n') {
        Some((_, rest)) => rest.to_string(),
        None => mbox,
    };
    while (message.len() as u64) < approx_bytes {
        message.push_str("> ");
        message.push_str(&paragraph(rng));
        message.push_str("\n>\n");
    }
    message
}

/// A zip of deflated notes and registers: deflate halves the generated text.
fn archive(rng: &mut Rng, date: Date, approx_bytes: u64) -> io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(date)?;
    let text_bytes = approx_bytes * 2;
    let members = (text_bytes / (32 * 1024)).max(1);
    for index in 0..members {
        let size = text_bytes / members;
        if index % 2 == 0 {
            let name = format!("{}/note-{index:03}.txt", date.year);
            zip.deflated(&name, prose(rng, size).as_bytes())?;
        } else {
            let name = format!(
                "{}/{}-{index:03}.csv",
                date.year,
                pick(rng, &["factures", "mandats", "titres"])
            );
            zip.deflated(
                &name,
                invoice_csv(rng, date.year, date.month, size).as_bytes(),
            )?;
        }
    }
    zip.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_reproducible_and_about_the_requested_size() -> io::Result<()> {
        for kind in DocumentKind::ALL {
            let first = document(kind, 7, 40_000)?;
            assert_eq!(first, document(kind, 7, 40_000)?, "{kind:?}");
            assert_ne!(first, document(kind, 8, 40_000)?, "{kind:?}");
            let size = first.len() as u64;
            assert!((26_000..54_000).contains(&size), "{kind:?}: {size}");
            assert_eq!(DocumentKind::from_extension(kind.extension()), Some(kind));
        }
        Ok(())
    }

    #[test]
    fn workbooks_are_reproducible_ooxml_of_about_the_requested_size() -> io::Result<()> {
        let first = workbook(7, 40_000)?;
        assert_eq!(first, workbook(7, 40_000)?);
        assert_ne!(first, workbook(8, 40_000)?);
        assert!(first.starts_with(b"PK\x03\x04"));
        assert!(first.windows(19).any(|w| w == b"[Content_Types].xml"));
        let size = first.len() as u64;
        assert!((26_000..54_000).contains(&size), "{size}");
        Ok(())
    }

    #[test]
    fn text_documents_have_the_exact_size() -> io::Result<()> {
        for kind in DocumentKind::ALL.into_iter().filter(|kind| kind.is_text()) {
            for size in [0, 1, 100, 5_000] {
                let text = document(kind, 3, size)?;
                assert_eq!(text.len() as u64, size, "{kind:?}");
                assert!(std::str::from_utf8(&text).is_ok(), "{kind:?}");
            }
        }
        Ok(())
    }
}
