//! File types from magic bytes at the head and trailers at the tail, and the
//! types a file name's extension promises.
//!
//! A short table of the formats a town hall's share holds, written here
//! because the file-type crates (infer, tree_magic) identify heads only,
//! and the tail is what shows that a header was overwritten.

/// Formats that are encrypted by design: finding one is not an attack, but
/// one replacing a document is.
pub const ENCRYPTED_BY_DESIGN: &[&str] = &["pgp", "age", "kdbx"];

/// Whether a content type (`ContentStats::kind`) is a recognised format,
/// rather than `text`, `random`, `data` or `empty`.
pub fn is_format(kind: &str) -> bool {
    !matches!(kind, "text" | "random" | "data" | "empty")
}

/// The type announced by the first bytes, if any format matches.
pub fn head_kind(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"%PDF-", "pdf"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"\x1f\x8b", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"BZh", "bzip2"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"Rar!\x1a\x07", "rar"),
        (b"\x04\x22\x4d\x18", "lz4"),
        (b"SQLite format 3\x00", "sqlite"),
        (b"\x7fELF", "elf"),
        (b"MZ", "pe"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
        (b"PGDMP", "pgdump"),
        (b"-----BEGIN PGP MESSAGE", "pgp"),
        (b"age-encryption.org/v1", "age"),
        (b"-----BEGIN AGE ENCRYPTED FILE", "age"),
        (b"\x03\xd9\xa2\x9a", "kdbx"),
        (b"ID3", "mp3"),
        (b"OggS", "ogg"),
        (b"fLaC", "flac"),
        (b"!BDN", "pst"),
        (b"%!PS", "postscript"),
        (b"{\\rtf", "rtf"),
        (b"MSCF", "cab"),
        (b"\x1a\x45\xdf\xa3", "matroska"),
        (b"wOFF", "woff"),
        (b"\x00\x01\x00\x00\x00", "ttf"),
        (b"BM", "bmp"),
    ];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(zip_flavour(head));
    }
    if head.len() >= 12 && head.get(4..8) == Some(b"ftyp".as_slice()) {
        return Some("mp4");
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") {
        return Some(match head.get(8..12) {
            Some(b"WEBP") => "webp",
            Some(b"WAVE") => "wav",
            Some(b"AVI ") => "avi",
            _ => "riff",
        });
    }
    if head.get(257..262) == Some(b"ustar".as_slice()) {
        return Some("tar");
    }
    if is_openpgp_binary(head) {
        return Some("pgp");
    }
    SIGNATURES
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|&(_, kind)| kind)
}

/// Office Open XML and OpenDocument files are zip archives whose first
/// member names them.
fn zip_flavour(head: &[u8]) -> &'static str {
    let first_member = head.get(..512).unwrap_or(head);
    let has = |needle: &[u8]| first_member.windows(needle.len()).any(|w| w == needle);
    if has(b"mimetypeapplication/vnd.oasis.opendocument") {
        "odf"
    } else if has(b"[Content_Types].xml") || has(b"_rels/.rels") || has(b"docProps/") {
        "ooxml"
    } else {
        "zip"
    }
}

/// An OpenPGP message in binary form: a public-key or symmetric-key
/// encrypted session key packet, in old or new packet format.
fn is_openpgp_binary(head: &[u8]) -> bool {
    match head {
        // Old format: tag 1 (PKESK) or 3 (SKESK), one- or two-byte length, version 3 or 4.
        [first @ (0x84 | 0x85 | 0x8c | 0x8d), ..] => {
            let len_bytes = if first & 1 == 0 { 1 } else { 2 };
            matches!(head.get(1 + len_bytes), Some(3 | 4))
        }
        // New format: tag 1 (0xc1) or 3 (0xc3), then a length and version 3, 4, 5 or 6.
        [0xc1 | 0xc3, len, version, ..] => *len < 224 && matches!(version, 3..=6),
        _ => false,
    }
}

/// The format whose trailer ends `tail` (the last bytes of the file), for
/// the formats that have one.
pub fn tail_kind(tail: &[u8]) -> Option<&'static str> {
    let end = trim_trailing_padding(tail);
    if end.ends_with(&[0xff, 0xd9]) {
        return Some("jpeg");
    }
    if end.ends_with(b"IEND\xae\x42\x60\x82") {
        return Some("png");
    }
    let last_kib = end.get(end.len().saturating_sub(1024)..).unwrap_or(end);
    if memchr::memmem::rfind(last_kib, b"%%EOF").is_some() {
        return Some("pdf");
    }
    // End of central directory: 22 bytes plus a comment, usually empty.
    if memchr::memmem::rfind(tail, b"PK\x05\x06").is_some() {
        return Some("zip");
    }
    None
}

/// Zero bytes and line breaks some writers add after a trailer.
fn trim_trailing_padding(tail: &[u8]) -> &[u8] {
    let keep = tail
        .iter()
        .rposition(|&b| !matches!(b, 0 | b'\n' | b'\r' | b' '))
        .map_or(0, |i| i + 1);
    tail.get(..keep).unwrap_or(tail)
}

/// Whether a head type and a tail type describe the same format (an Office
/// document is a zip at both ends).
pub fn same_format(head: &str, tail: &str) -> bool {
    head == tail || (tail == "zip" && matches!(head, "ooxml" | "odf"))
}

/// The types a file name's last extension promises, if it is one this
/// table knows. `text` means any text.
pub fn expected_kinds(name: &[u8]) -> Option<&'static [&'static str]> {
    let ext = extension(name)?;
    let kinds: &'static [&'static str] = match ext.as_str() {
        "pdf" => &["pdf"],
        "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm" | "dotx" | "xltx" => &["ooxml", "zip"],
        "odt" | "ods" | "odp" | "odg" | "ott" | "ots" => &["odf", "zip"],
        "zip" | "jar" | "epub" | "apk" => &["zip", "ooxml", "odf"],
        "jpg" | "jpeg" | "jfif" => &["jpeg"],
        "png" => &["png"],
        "gif" => &["gif"],
        "tif" | "tiff" => &["tiff"],
        "bmp" => &["bmp"],
        "webp" => &["webp"],
        "gz" | "tgz" => &["gzip"],
        "zst" => &["zstd"],
        "xz" | "txz" => &["xz"],
        "bz2" | "tbz2" => &["bzip2"],
        "7z" => &["7z"],
        "rar" => &["rar"],
        "tar" => &["tar"],
        "sqlite" | "sqlite3" | "db3" => &["sqlite"],
        "doc" | "xls" | "ppt" | "msg" | "msi" | "pub" => &["ole"],
        "exe" | "dll" | "sys" => &["pe"],
        "mp3" => &["mp3"],
        "mp4" | "m4a" | "mov" => &["mp4"],
        "wav" => &["wav"],
        "rtf" => &["rtf", "text"],
        "gpg" | "pgp" => &["pgp"],
        "asc" => &["pgp", "text"],
        "age" => &["age"],
        "kdbx" => &["kdbx"],
        "txt" | "csv" | "tsv" | "sql" | "log" | "md" | "xml" | "html" | "htm" | "json" | "ini"
        | "conf" | "cfg" | "eml" | "vcf" | "ics" | "yaml" | "yml" | "sh" | "py" | "js" | "css"
        | "tex" | "svg" | "php" | "java" | "c" | "h" | "rs" | "bat" | "ps1" | "toml" => &["text"],
        _ => return None,
    };
    Some(kinds)
}

/// The last extension of a file name, lowercased, if it has a plausible one.
pub fn extension(name: &[u8]) -> Option<String> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    let ext = name.get(dot + 1..).unwrap_or_default();
    if dot == 0 || ext.is_empty() || ext.len() > 16 || !ext.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(String::from_utf8_lossy(ext).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_name_their_format() {
        assert_eq!(head_kind(b"%PDF-1.7\n"), Some("pdf"));
        assert_eq!(
            head_kind(b"PK\x03\x04\x14\x00\x00\x00\x08\x00xxxxxxxxxxxxxxxxxx[Content_Types].xml"),
            Some("ooxml")
        );
        assert_eq!(
            head_kind(b"PK\x03\x04\x14\x00\x00\x00\x00\x00xxxxxxxxxxxxxxxxxxmimetypeapplication/vnd.oasis.opendocument.text"),
            Some("odf")
        );
        assert_eq!(head_kind(b"\x85\x01\x0c\x03abcdefgh"), Some("pgp"));
        assert_eq!(head_kind(b"\xc1\x0c\x03abcdefgh"), Some("pgp"));
        assert_eq!(head_kind(b"hello"), None);
        assert_eq!(head_kind(b""), None);
    }

    #[test]
    fn tails_show_trailers() {
        assert_eq!(tail_kind(b"...stream\nendobj\n%%EOF\n"), Some("pdf"));
        assert_eq!(tail_kind(b"\x00\x00\xff\xd9"), Some("jpeg"));
        assert_eq!(
            tail_kind(b"xxPK\x05\x06\x00\x00\x00\x00\x01\x00"),
            Some("zip")
        );
        assert_eq!(tail_kind(b"random bytes"), None);
        assert_eq!(tail_kind(b""), None);
    }

    #[test]
    fn extensions_promise_types() {
        assert_eq!(expected_kinds(b"budget.XLSX"), Some(&["ooxml", "zip"][..]));
        assert_eq!(expected_kinds(b"notes.txt"), Some(&["text"][..]));
        assert_eq!(expected_kinds(b"report.docx.pysa"), None);
        assert_eq!(expected_kinds(b".bashrc"), None);
        assert_eq!(extension(b"a.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension(b"noext"), None);
    }
}
