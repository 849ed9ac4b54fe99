//! Office Open XML documents (`.docx`, `.xlsx`): genuine zip packages with the content types,
//! relationships and parts an office suite needs to open them.

use std::io;

use super::xml_escape;
use super::zipper::ZipBuilder;
use crate::calendar::Date;

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
const PACKAGE_RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const OFFICE_RELS: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument";

/// A word-processing document: a bold title followed by plain paragraphs.
pub(crate) fn docx(title: &str, paragraphs: &[String], modified: Date) -> io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(modified)?;
    zip.deflated("[Content_Types].xml", docx_content_types().as_bytes())?;
    zip.deflated("_rels/.rels", package_rels("word/document.xml").as_bytes())?;
    zip.deflated(
        "word/document.xml",
        document_xml(title, paragraphs).as_bytes(),
    )?;
    zip.finish()
}

fn docx_content_types() -> String {
    format!(
        concat!(
            "{}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
            "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>",
            "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
            "<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>",
            "</Types>"
        ),
        XML_DECLARATION
    )
}

fn package_rels(main_part: &str) -> String {
    format!(
        "{XML_DECLARATION}<Relationships xmlns=\"{PACKAGE_RELS}\">\
         <Relationship Id=\"rId1\" Type=\"{OFFICE_RELS}\" Target=\"{main_part}\"/></Relationships>"
    )
}

fn document_xml(title: &str, paragraphs: &[String]) -> String {
    let mut xml =
        String::with_capacity(paragraphs.iter().map(|p| p.len() + 60).sum::<usize>() + 512);
    xml.push_str(XML_DECLARATION);
    xml.push_str(
        "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>",
    );
    xml.push_str("<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>");
    xml.push_str(&xml_escape(title));
    xml.push_str("</w:t></w:r></w:p>");
    for paragraph in paragraphs {
        xml.push_str("<w:p><w:r><w:t xml:space=\"preserve\">");
        xml.push_str(&xml_escape(paragraph));
        xml.push_str("</w:t></w:r></w:p>");
    }
    xml.push_str("<w:sectPr/></w:body></w:document>");
    xml
}

/// One spreadsheet cell: text is written inline (no shared-strings part to keep in sync).
pub(crate) enum Cell {
    Text(String),
    /// A number already spelled the XML way (`1234.56`).
    Number(String),
}

/// A workbook with a single sheet of `rows`.
pub(crate) fn xlsx(sheet_name: &str, rows: &[Vec<Cell>], modified: Date) -> io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(modified)?;
    zip.deflated("[Content_Types].xml", xlsx_content_types().as_bytes())?;
    zip.deflated("_rels/.rels", package_rels("xl/workbook.xml").as_bytes())?;
    zip.deflated("xl/workbook.xml", workbook_xml(sheet_name).as_bytes())?;
    zip.deflated("xl/_rels/workbook.xml.rels", workbook_rels().as_bytes())?;
    zip.deflated("xl/worksheets/sheet1.xml", sheet_xml(rows).as_bytes())?;
    zip.finish()
}

fn xlsx_content_types() -> String {
    format!(
        concat!(
            "{}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
            "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>",
            "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
            "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>",
            "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>",
            "</Types>"
        ),
        XML_DECLARATION
    )
}

fn workbook_xml(sheet_name: &str) -> String {
    format!(
        "{XML_DECLARATION}<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
         xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
         <sheets><sheet name=\"{}\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
        xml_escape(sheet_name)
    )
}

fn workbook_rels() -> String {
    format!(
        "{XML_DECLARATION}<Relationships xmlns=\"{PACKAGE_RELS}\"><Relationship Id=\"rId1\" \
         Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" \
         Target=\"worksheets/sheet1.xml\"/></Relationships>"
    )
}

fn sheet_xml(rows: &[Vec<Cell>]) -> String {
    let mut xml = String::with_capacity(rows.len() * 200 + 512);
    xml.push_str(XML_DECLARATION);
    xml.push_str("<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>");
    for (row_index, row) in rows.iter().enumerate() {
        let row_number = row_index + 1;
        xml.push_str(&format!("<row r=\"{row_number}\">"));
        for (column, cell) in row.iter().enumerate() {
            push_cell(&mut xml, &cell_reference(column, row_number), cell);
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

fn push_cell(xml: &mut String, reference: &str, cell: &Cell) {
    match cell {
        Cell::Text(text) => xml.push_str(&format!(
            "<c r=\"{reference}\" t=\"inlineStr\"><is><t>{}</t></is></c>",
            xml_escape(text)
        )),
        Cell::Number(number) => xml.push_str(&format!("<c r=\"{reference}\"><v>{number}</v></c>")),
    }
}

/// `A1`-style reference; sheets here never exceed 26 columns.
fn cell_reference(column: usize, row_number: usize) -> String {
    let letter = char::from(b'A' + (column % 26) as u8);
    format!("{letter}{row_number}")
}
