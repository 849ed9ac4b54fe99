//! Scanned-document PDFs: one A4 page showing a grayscale "scan" (paper grain, lines of dark
//! word-like strokes) stored as a FlateDecode image XObject, with a real xref table and trailer.

use std::io::{self, Write};

use fastrand::Rng;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::calendar::Date;

/// Deflate stores the scan's 4-bit paper grain in about half a byte per pixel.
const COMPRESSED_BYTES_PER_PIXEL: f64 = 0.59;
/// A4 portrait, height over width.
const A4_ASPECT: f64 = 842.0 / 595.0;

/// A one-page scanned record of roughly `target_bytes`.
pub(crate) fn scanned_pdf(
    rng: &mut Rng,
    title: &str,
    scanned: Date,
    target_bytes: u64,
) -> io::Result<Vec<u8>> {
    let (width, height) = scan_dimensions(target_bytes);
    let image = zlib(&scanned_page(rng, width, height))?;
    Ok(assemble_pdf(title, scanned, width, height, &image))
}

fn scan_dimensions(target_bytes: u64) -> (usize, usize) {
    let pixels = target_bytes as f64 / COMPRESSED_BYTES_PER_PIXEL;
    let width = (pixels / A4_ASPECT).sqrt().max(64.0);
    (width as usize, (width * A4_ASPECT) as usize)
}

/// Grayscale pixels, row by row: light noisy paper crossed by bands of dark strokes.
fn scanned_page(rng: &mut Rng, width: usize, height: usize) -> Vec<u8> {
    let line_pitch = (height / 48).max(4);
    let ink_rows = line_pitch / 2;
    let margin = width / 10;
    let mut pixels = Vec::with_capacity(width * height);
    let mut ink_mask = vec![false; width];
    for y in 0..height {
        let in_text_area = y > height / 12 && y < height - height / 10;
        let row_in_line = y % line_pitch;
        if row_in_line == 0 {
            fill_text_line_mask(rng, &mut ink_mask, margin, line_pitch / 2);
        }
        let inked = in_text_area && row_in_line < ink_rows;
        push_scan_row(rng, &mut pixels, &ink_mask, inked);
    }
    pixels
}

/// Marks the columns of one written line: words made of thin vertical strokes, ragged end.
fn fill_text_line_mask(rng: &mut Rng, mask: &mut [bool], margin: usize, char_width: usize) {
    mask.fill(false);
    let char_width = char_width.max(2);
    let line_end = mask.len() - margin - rng.usize(0..=mask.len() / 3);
    let mut x = margin;
    while x < line_end {
        let word_end = (x + char_width * rng.usize(2..=10)).min(line_end);
        for column in &mut mask[x..word_end] {
            *column = rng.u8(..3) != 0;
        }
        x = word_end + char_width;
    }
}

/// One row; 16 pixels of grain per random word keeps generation fast.
fn push_scan_row(rng: &mut Rng, pixels: &mut Vec<u8>, ink_mask: &[bool], inked: bool) {
    let mut grain = 0u64;
    for (x, &ink_column) in ink_mask.iter().enumerate() {
        if x % 16 == 0 {
            grain = rng.u64(..);
        }
        let noise = (grain & 15) as u8;
        grain >>= 4;
        pixels.push(if inked && ink_column {
            40 + noise * 3
        } else {
            224 + noise
        });
    }
}

fn zlib(data: &[u8]) -> io::Result<Vec<u8>> {
    // Scanners favour speed; the fast level is also what keeps generation under budget.
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2), Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

/// Serialises the object graph: catalog, pages, page, image, content stream, info.
fn assemble_pdf(title: &str, scanned: Date, width: usize, height: usize, image: &[u8]) -> Vec<u8> {
    let mut pdf = PdfWriter::new(image.len() + 2048);
    pdf.object(b"<< /Type /Catalog /Pages 2 0 R >>");
    pdf.object(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    pdf.object(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
          /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
    );
    let image_dictionary = format!(
        "<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray \
         /BitsPerComponent 8 /Filter /FlateDecode /Length {} >>",
        image.len()
    );
    pdf.stream_object(image_dictionary.as_bytes(), image);
    let content = b"q 595 0 0 842 0 0 cm /Im0 Do Q\n";
    pdf.stream_object(
        format!("<< /Length {} >>", content.len()).as_bytes(),
        content,
    );
    let info = format!(
        "<< /Title {} /Producer (Numeriseur Mairie de Saint-Exemple) \
         /CreationDate (D:{:04}{:02}{:02}093000+01'00') >>",
        utf16_hex_string(title),
        scanned.year,
        scanned.month,
        scanned.day
    );
    pdf.object(info.as_bytes());
    pdf.finish()
}

/// A PDF text string in UTF-16BE with BOM, so accented names survive.
fn utf16_hex_string(text: &str) -> String {
    let mut hex = String::from("<FEFF");
    for unit in text.encode_utf16() {
        hex.push_str(&format!("{unit:04X}"));
    }
    hex.push('>');
    hex
}

/// Appends numbered objects and remembers their offsets for the cross-reference table.
struct PdfWriter {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl PdfWriter {
    fn new(capacity: usize) -> PdfWriter {
        let mut bytes = Vec::with_capacity(capacity);
        // The binary comment tells transfer tools the file is not plain text.
        bytes.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        PdfWriter {
            bytes,
            offsets: Vec::new(),
        }
    }

    fn object(&mut self, body: &[u8]) {
        self.begin_object();
        self.bytes.extend_from_slice(body);
        self.bytes.extend_from_slice(b"\nendobj\n");
    }

    fn stream_object(&mut self, dictionary: &[u8], data: &[u8]) {
        self.begin_object();
        self.bytes.extend_from_slice(dictionary);
        self.bytes.extend_from_slice(b"\nstream\n");
        self.bytes.extend_from_slice(data);
        self.bytes.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn begin_object(&mut self) {
        self.offsets.push(self.bytes.len());
        let header = format!("{} 0 obj\n", self.offsets.len());
        self.bytes.extend_from_slice(header.as_bytes());
    }

    /// Writes the xref table (20-byte entries), the trailer and `%%EOF`; object 1 is the
    /// catalog and the last object is the document information dictionary.
    fn finish(mut self) -> Vec<u8> {
        let xref_offset = self.bytes.len();
        let size = self.offsets.len() + 1;
        let mut tail = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for offset in &self.offsets {
            tail.push_str(&format!("{offset:010} 00000 n \n"));
        }
        tail.push_str(&format!(
            "trailer\n<< /Size {size} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n",
            self.offsets.len()
        ));
        self.bytes.extend_from_slice(tail.as_bytes());
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pdf_has_header_xref_and_eof() {
        let date = Date {
            year: 2024,
            month: 3,
            day: 5,
        };
        let pdf = scanned_pdf(&mut Rng::with_seed(1), "Acte n°1 GUÉRIN", date, 50_000)
            .unwrap_or_default();
        assert!(pdf.starts_with(b"%PDF-1.7\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        let startxref = text.rfind("startxref\n").unwrap_or(0) + "startxref\n".len();
        let xref_offset: usize = text[startxref..]
            .lines()
            .next()
            .and_then(|line| line.parse().ok())
            .unwrap_or(0);
        assert!(pdf[xref_offset..].starts_with(b"xref\n0 7\n"));
        assert!((35_000..65_000).contains(&pdf.len()), "{}", pdf.len());
    }

    #[test]
    fn image_stream_inflates_to_the_declared_size() -> io::Result<()> {
        let date = Date {
            year: 2024,
            month: 3,
            day: 5,
        };
        let (width, height) = scan_dimensions(30_000);
        let pdf = scanned_pdf(&mut Rng::with_seed(3), "Acte", date, 30_000)?;
        let start = find(&pdf, b"stream\n").map(|at| at + 7).unwrap_or(0);
        let end = find(&pdf, b"\nendstream").unwrap_or(0);
        let mut pixels = Vec::new();
        flate2::read::ZlibDecoder::new(&pdf[start..end]).read_to_end(&mut pixels)?;
        assert_eq!(pixels.len(), width * height);
        Ok(())
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    #[test]
    fn every_xref_entry_points_at_its_object() {
        let date = Date {
            year: 2024,
            month: 3,
            day: 5,
        };
        let pdf = scanned_pdf(&mut Rng::with_seed(2), "Acte", date, 20_000).unwrap_or_default();
        let mut writer_offsets = Vec::new();
        let text = String::from_utf8_lossy(&pdf);
        let xref_start = text.rfind("xref\n0 7\n").unwrap_or(0);
        for line in text[xref_start..].lines().skip(3).take(6) {
            writer_offsets.push(line[..10].parse::<usize>().unwrap_or(0));
        }
        for (index, offset) in writer_offsets.iter().enumerate() {
            let expected = format!("{} 0 obj\n", index + 1);
            assert!(
                pdf[*offset..].starts_with(expected.as_bytes()),
                "object {}",
                index + 1
            );
        }
    }
}
