//! Deterministic in-memory zip archives: fixed timestamps and permissions, so the same
//! content always yields the same bytes (the container for OOXML, ODF and plain archives).

use std::io::{self, Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::calendar::Date;

pub(crate) struct ZipBuilder {
    zip: ZipWriter<Cursor<Vec<u8>>>,
    options: SimpleFileOptions,
}

impl ZipBuilder {
    /// Every member is stamped `modified` at 09:30, the way an office suite saves a document.
    pub fn new(modified: Date) -> io::Result<ZipBuilder> {
        let time =
            DateTime::from_date_and_time(modified.year, modified.month, modified.day, 9, 30, 0)
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "date out of zip range")
                })?;
        let options = SimpleFileOptions::default()
            .last_modified_time(time)
            .unix_permissions(0o644);
        Ok(ZipBuilder {
            zip: ZipWriter::new(Cursor::new(Vec::new())),
            options,
        })
    }

    /// A deflated member, as office suites and archivers write most members.
    pub fn deflated(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        // The fastest level: the output is just as incompressible afterwards, and generation
        // of the demo share stays well under its time budget.
        let options = self
            .options
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1));
        self.member(name, data, options)
    }

    /// A member stored as is (ODF requires this for `mimetype`).
    pub fn stored(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let options = self.options.compression_method(CompressionMethod::Stored);
        self.member(name, data, options)
    }

    fn member(&mut self, name: &str, data: &[u8], options: SimpleFileOptions) -> io::Result<()> {
        self.zip.start_file(name, options)?;
        self.zip.write_all(data)
    }

    pub fn finish(self) -> io::Result<Vec<u8>> {
        Ok(self.zip.finish()?.into_inner())
    }
}
