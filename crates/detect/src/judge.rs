//! The verdict on one file: does its new content look like the work of
//! ransomware, given what it was before and what its name promises?
//!
//! Every rule rests on a change of nature: structured content (a format, or
//! text) that became ciphertext-like, or lost its magic bytes, or gained
//! random windows. Content that is random by nature (archives, JPEG) is
//! recognised by its format first, so a photo import or a zipped folder
//! never looks encrypted.

use crate::magic::{self, ENCRYPTED_BY_DESIGN};
use reprise_format::ContentStats;
use serde::Serialize;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Counts towards the verdict: this file looks encrypted by an attack.
    Strong,
    /// Worth a line in the report; raises nothing on its own.
    Weak,
}

/// Why a file was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Was a known format or text, is now ciphertext-like.
    BecameRandom { was: String },
    /// Its name promises a format, its content is ciphertext-like.
    NotWhatItsNameSays { expected: String },
    /// The trailer of a format is intact but its header is not.
    HeaderOverwritten { format: String },
    /// Text with some ciphertext-like windows, or a format that lost its
    /// magic bytes but is not wholly random (intermittent encryption).
    PartlyEncrypted { was: String },
    /// Became ciphertext written as base64, base32 or hex text.
    Armoured { was: String },
    /// A document replaced by an OpenPGP, age or KeePass file.
    ReplacedByEncryptedFile { kind: String, was: String },
    /// An encrypted-by-design file (OpenPGP, age, KeePass).
    EncryptedFile { kind: String },
    /// Ciphertext-like content of no known type, with nothing to compare to.
    RandomContent,
    /// A ransom note.
    RansomNote,
    /// Ciphertext-like files appeared where files were deleted.
    ReplacedDeletedFiles,
    /// Renamed to the new extension of the files found encrypted, its
    /// content too small or too plain to tell on its own.
    RenamedLikeEncrypted { extension: String },
    /// In a snapshot that is an attack, changed towards ciphertext (more
    /// random windows than before, entropy risen, head or trailer lost)
    /// without enough sampled windows to tell on its own: encrypted with
    /// its head and tail kept, most likely.
    ChangedDuringAttack { was: String },
}

impl Reason {
    /// A short phrase for reports ("replaced by random-looking content").
    pub fn phrase(&self) -> String {
        match self {
            Reason::BecameRandom { was } => format!("was {was}, now random-looking (encrypted)"),
            Reason::NotWhatItsNameSays { expected } => {
                format!("named as {expected} but holds random-looking (encrypted) content")
            }
            Reason::HeaderOverwritten { format } => {
                format!("{format} whose first bytes were encrypted")
            }
            Reason::PartlyEncrypted { was } => format!("was {was}, now partly encrypted"),
            Reason::Armoured { was } => {
                format!("was {was}, now ciphertext written as text (base64, base32 or hex)")
            }
            Reason::ReplacedByEncryptedFile { kind, was } => {
                format!("was {was}, replaced by an {kind}-encrypted file")
            }
            Reason::EncryptedFile { kind } => format!("{kind}-encrypted file"),
            Reason::RandomContent => "random-looking content of unknown type".into(),
            Reason::RansomNote => "ransom note".into(),
            Reason::ReplacedDeletedFiles => {
                "random-looking file that appeared where files were deleted".into()
            }
            Reason::RenamedLikeEncrypted { extension } => {
                format!("renamed *.{extension} like the files found encrypted")
            }
            Reason::ChangedDuringAttack { was } => {
                format!("was {was}, changed towards random-looking content during the attack")
            }
        }
    }
}

/// A finding on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgment {
    pub strength: Strength,
    pub reason: Reason,
}

/// A file as the judge sees it: its name and content statistics.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub name: &'a [u8],
    pub stats: Option<&'a ContentStats>,
}

fn strong(reason: Reason) -> Option<Judgment> {
    Some(Judgment {
        strength: Strength::Strong,
        reason,
    })
}

fn weak(reason: Reason) -> Option<Judgment> {
    Some(Judgment {
        strength: Strength::Weak,
        reason,
    })
}

/// Wholly ciphertext-like: random from the first window, or mostly random
/// windows with no recognisable format.
fn ciphertext_like(s: &ContentStats) -> bool {
    s.kind == "random" || (s.kind == "data" && s.windows > 0 && s.random * 2 >= s.windows)
}

/// At least 90 % of windows are base64 of ciphertext.
fn armoured(s: &ContentStats) -> bool {
    s.windows > 0 && s.armoured * 10 >= s.windows * 9
}

/// What the previous version was, if it had a nature an attack destroys: a
/// known format, text, or binary data that was not random.
pub fn structured_nature(s: &ContentStats) -> Option<String> {
    match s.kind.as_str() {
        "empty" | "random" => None,
        k if ENCRYPTED_BY_DESIGN.contains(&k) => None,
        "data" if s.windows == 0 || s.random * 2 >= s.windows => None,
        "data" => Some("binary data".into()),
        "text" if armoured(s) => None,
        k => Some(describe_kind(k)),
    }
}

/// A kind as a person says it.
pub fn describe_kind(kind: &str) -> String {
    match kind {
        "ooxml" => "an Office document".into(),
        "odf" => "an OpenDocument file".into(),
        "text" => "text".into(),
        "data" => "binary data".into(),
        "ole" => "an old Office document".into(),
        "pe" => "a Windows program".into(),
        "elf" => "a Linux program".into(),
        k => format!("a {} file", k.to_uppercase()),
    }
}

/// A format file, head and trailer intact, whose sampled windows went from
/// mostly structured (at most a quarter random: codecs rarely pass the
/// randomness test) to mostly ciphertext-like (three quarters or more):
/// encrypted but for its head and tail.
fn turned_mostly_random(c: &ContentStats, previous: Option<Version>) -> bool {
    let Some(b) = previous.and_then(|p| p.stats) else {
        return false;
    };
    const MIN_WINDOWS: u32 = 8;
    b.kind == c.kind
        && c.windows >= MIN_WINDOWS
        && b.windows >= MIN_WINDOWS
        && c.random * 4 >= c.windows * 3
        && b.random * 4 <= b.windows
}

/// The types a name promises, looking through one appended extension
/// (`budget.xlsx.locked` still promises a spreadsheet), but for a volume
/// number: `archive.7z.002` is the second part of a split archive, random
/// by nature, not a 7z file.
fn promised(name: &[u8]) -> Option<&'static [&'static str]> {
    magic::expected_kinds(name).or_else(|| {
        let dot = name.iter().rposition(|&b| b == b'.')?;
        let (stem, appended) = (name.get(..dot)?, name.get(dot + 1..)?);
        if !appended.is_empty() && appended.iter().all(u8::is_ascii_digit) {
            return None;
        }
        magic::expected_kinds(stem)
    })
}

/// Judges a new or changed file against its previous version (same path,
/// or the file it replaced when renamed), if any.
pub fn judge(current: Version, previous: Option<Version>) -> Option<Judgment> {
    let c = current.stats?;
    if c.kind == "empty" {
        return None;
    }
    let before = previous.and_then(|p| p.stats).and_then(structured_nature);
    let promise = promised(current.name).or_else(|| previous.and_then(|p| promised(p.name)));
    let promised_format = promise
        .and_then(|kinds| kinds.first())
        .map(|k| describe_kind(k));

    if ENCRYPTED_BY_DESIGN.contains(&c.kind.as_str()) {
        let kind = c.kind.to_uppercase();
        return match (before, promise.zip(promised_format)) {
            (Some(was), _) => strong(Reason::ReplacedByEncryptedFile { kind, was }),
            (None, Some((kinds, was))) if !kinds.contains(&c.kind.as_str()) => {
                strong(Reason::ReplacedByEncryptedFile { kind, was })
            }
            _ => weak(Reason::EncryptedFile { kind }),
        };
    }
    if let Some(tail) = &c.tail {
        if !magic::same_format(&c.kind, tail)
            && (c.kind == "random" || c.kind == "data" && c.random > 0)
        {
            return strong(Reason::HeaderOverwritten {
                format: describe_kind(tail),
            });
        }
    }
    if armoured(c) && c.kind == "text" {
        return match before.or(promised_format.filter(|f| f != "text")) {
            Some(was) => strong(Reason::Armoured { was }),
            None => weak(Reason::RandomContent),
        };
    }
    if ciphertext_like(c) {
        return match (before, promised_format) {
            (Some(was), _) => strong(Reason::BecameRandom { was }),
            (None, Some(expected)) => strong(Reason::NotWhatItsNameSays { expected }),
            (None, None) => weak(Reason::RandomContent),
        };
    }
    if let Some(was) = before
        .as_deref()
        .filter(|_| turned_mostly_random(c, previous))
    {
        return strong(Reason::PartlyEncrypted {
            was: was.to_string(),
        });
    }
    if c.kind == "text" && c.random > 0 {
        return strong(Reason::PartlyEncrypted {
            was: before.unwrap_or_else(|| "text".into()),
        });
    }
    if c.kind == "data" {
        // Lost its magic bytes or its text nature without becoming wholly random:
        // what intermittent encryption (every other 16 bytes, say) leaves.
        if let Some(was) = before.filter(|w| w != "binary data") {
            return strong(Reason::PartlyEncrypted { was });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(kind: &str, windows: u32, random: u32, text: u32) -> ContentStats {
        ContentStats {
            kind: kind.into(),
            windows,
            random,
            text,
            ..Default::default()
        }
    }

    fn v<'a>(name: &'a str, s: &'a ContentStats) -> Version<'a> {
        Version {
            name: name.as_bytes(),
            stats: Some(s),
        }
    }

    fn strength(current: Version, previous: Option<Version>) -> Option<Strength> {
        judge(current, previous).map(|j| j.strength)
    }

    #[test]
    fn a_document_that_turned_random_is_strong() {
        let before = stats("ooxml", 4, 3, 0);
        let after = stats("random", 4, 4, 0);
        let j = judge(v("budget.xlsx", &after), Some(v("budget.xlsx", &before))).unwrap();
        assert_eq!(j.strength, Strength::Strong);
        assert!(matches!(j.reason, Reason::BecameRandom { .. }));
        // Renamed with an appended extension: same finding.
        assert_eq!(
            strength(
                v("budget.xlsx.pysa", &after),
                Some(v("budget.xlsx", &before))
            ),
            Some(Strength::Strong)
        );
        // New, but its name promises a spreadsheet.
        assert_eq!(
            strength(v("new.xlsx", &after), None),
            Some(Strength::Strong)
        );
        // New, unknown name, nothing to compare: weak.
        assert_eq!(strength(v("blob.bin", &after), None), Some(Strength::Weak));
    }

    #[test]
    fn formats_that_are_random_by_nature_are_not_flagged() {
        let jpeg = stats("jpeg", 16, 0, 0);
        let zip = stats("zip", 16, 16, 0);
        assert_eq!(strength(v("photo.jpg", &jpeg), None), None);
        assert_eq!(strength(v("archive.zip", &zip), None), None);
        let log = stats("text", 3, 0, 3);
        let gz = stats("gzip", 2, 2, 0);
        assert_eq!(
            strength(v("app.log.1.gz", &gz), Some(v("app.log", &log))),
            None
        );
    }

    #[test]
    fn partial_and_header_encryption_are_strong() {
        let mut head_only = stats("random", 16, 1, 0);
        head_only.tail = Some("zip".into());
        let j = judge(v("plan.docx", &head_only), None).unwrap();
        assert_eq!(
            j.reason,
            Reason::HeaderOverwritten {
                format: "a ZIP file".into()
            }
        );
        let text = stats("text", 16, 0, 16);
        let striped = stats("data", 16, 0, 0);
        assert_eq!(
            strength(v("a.sql", &striped), Some(v("a.sql", &text))),
            Some(Strength::Strong)
        );
        let dump_with_random_blocks = stats("text", 16, 3, 13);
        assert_eq!(
            strength(
                v("dump.sql", &dump_with_random_blocks),
                Some(v("dump.sql", &text))
            ),
            Some(Strength::Strong)
        );
    }

    #[test]
    fn a_document_whose_windows_turned_random_is_strong() {
        let before = stats("ooxml", 16, 1, 0);
        let after = stats("ooxml", 16, 14, 0);
        let j = judge(v("plan.xlsx", &after), Some(v("plan.xlsx", &before))).unwrap();
        assert!(matches!(j.reason, Reason::PartlyEncrypted { .. }));
        // Already random inside before (encrypted members): nothing new.
        let before = stats("zip", 16, 10, 0);
        assert_eq!(
            strength(v("a.zip", &after), Some(v("a.zip", &before))),
            None
        );
        // No previous version: a document random inside may be normal.
        assert_eq!(strength(v("plan.xlsx", &after), None), None);
    }

    #[test]
    fn a_lone_gpg_file_is_weak_but_a_document_replaced_by_one_is_strong() {
        let pgp = stats("pgp", 4, 4, 0);
        assert_eq!(strength(v("secret.gpg", &pgp), None), Some(Strength::Weak));
        let doc = stats("ooxml", 4, 3, 0);
        assert_eq!(
            strength(v("memo.docx.gpg", &pgp), Some(v("memo.docx", &doc))),
            Some(Strength::Strong)
        );
    }

    #[test]
    fn files_without_stats_or_empty_are_not_judged() {
        let empty = stats("empty", 0, 0, 0);
        assert_eq!(strength(v("a.docx", &empty), None), None);
        let no_stats = Version {
            name: b"a.docx",
            stats: None,
        };
        assert_eq!(strength(no_stats, None), None);
    }
}
