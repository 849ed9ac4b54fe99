//! The parts of Saint-Exemple's share, one module per service of the town hall. Each part
//! gets a byte budget and its own derived random generator, and writes real file formats.

pub(crate) mod archives;
pub(crate) mod childhood;
pub(crate) mod civil_status;
pub(crate) mod database;
pub(crate) mod finances;
pub(crate) mod human_resources;
pub(crate) mod logs;
pub(crate) mod mail;
pub(crate) mod photos;
pub(crate) mod water;

/// How many bytes of generated text a zipped office document of one byte holds: deflate at
/// the fast level shrinks the vocabulary-based prose wrapped in XML about this much (measured).
pub(crate) const OFFICE_TEXT_PER_STORED_BYTE: u64 = 2;

/// Enough paragraphs for an office document of about `stored_bytes` once zipped.
pub(crate) fn office_paragraphs(rng: &mut fastrand::Rng, stored_bytes: u64) -> Vec<String> {
    crate::words::paragraphs(rng, stored_bytes * OFFICE_TEXT_PER_STORED_BYTE)
}
