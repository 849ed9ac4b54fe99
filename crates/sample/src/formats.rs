//! Encoders for the real file formats found on the share (PDF, JPEG, OOXML, ODF, zip, tar.gz).
//! They produce genuine structures, because the ransomware detector looks at magic bytes and
//! compressibility, and because restored files should open in ordinary software.

pub(crate) mod jpeg;
pub(crate) mod odf;
pub(crate) mod ooxml;
pub(crate) mod pdf;
pub(crate) mod targz;
pub(crate) mod zipper;

/// Escapes text for XML character data and attribute values.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_escape_escapes_markup() {
        assert_eq!(
            super::xml_escape("l'<a> & \"b\""),
            "l&apos;&lt;a&gt; &amp; &quot;b&quot;"
        );
    }
}
