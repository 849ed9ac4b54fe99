//! OpenDocument text (`.odt`): a zip whose first member is the uncompressed `mimetype`, as the
//! ODF specification requires so that the type can be sniffed at a fixed offset.

use std::io;

use super::xml_escape;
use super::zipper::ZipBuilder;
use crate::calendar::Date;

pub(crate) const ODT_MIMETYPE: &str = "application/vnd.oasis.opendocument.text";

/// A text document: a heading followed by plain paragraphs.
pub(crate) fn odt(title: &str, paragraphs: &[String], modified: Date) -> io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(modified)?;
    zip.stored("mimetype", ODT_MIMETYPE.as_bytes())?;
    zip.deflated("META-INF/manifest.xml", MANIFEST.as_bytes())?;
    zip.deflated("meta.xml", meta_xml(title, modified).as_bytes())?;
    zip.deflated("content.xml", content_xml(title, paragraphs).as_bytes())?;
    zip.finish()
}

const MANIFEST: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">"#,
    r#"<manifest:file-entry manifest:full-path="/" manifest:version="1.3" manifest:media-type="application/vnd.oasis.opendocument.text"/>"#,
    r#"<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>"#,
    r#"<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>"#,
    r#"</manifest:manifest>"#
);

fn meta_xml(title: &str, modified: Date) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
            r#"xmlns:dc="http://purl.org/dc/elements/1.1/" "#,
            r#"xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.3">"#,
            "<office:meta><dc:title>{}</dc:title><dc:creator>Mairie de Saint-Exemple</dc:creator>",
            "<dc:date>{}T09:30:00</dc:date></office:meta></office:document-meta>"
        ),
        xml_escape(title),
        modified.iso()
    )
}

fn content_xml(title: &str, paragraphs: &[String]) -> String {
    let mut xml =
        String::with_capacity(paragraphs.iter().map(|p| p.len() + 30).sum::<usize>() + 512);
    xml.push_str(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
        r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">"#,
        "<office:body><office:text>"
    ));
    xml.push_str("<text:h text:outline-level=\"1\">");
    xml.push_str(&xml_escape(title));
    xml.push_str("</text:h>");
    for paragraph in paragraphs {
        xml.push_str("<text:p>");
        xml.push_str(&xml_escape(paragraph));
        xml.push_str("</text:p>");
    }
    xml.push_str("</office:text></office:body></office:document-content>");
    xml
}
