//! Blobs: the unit of deduplication (a chunk of file data, or a tree), and how
//! one is framed, compressed and sealed before it goes into a pack.
//!
//! Plaintext frame: one byte of [`Compression`], then the payload. The frame
//! is sealed with AAD = `[blob type byte] || blob id`, so a blob cannot be
//! passed off as another one or as another type.
//!
//! A data blob may also be stored as a **delta** (format version 2): zstd
//! with another data blob's plaintext, its *base*, as a prefix dictionary,
//! so a chunk that differs from last night's by a few rows costs those rows
//! and not the whole chunk. The frame then names the base, and reading it
//! needs the base first ([`open_frame`], [`apply_delta`]); the repository
//! crate resolves the chain.

use crate::{BlobId, FormatError};
use reprise_crypto::MasterKey;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlobType {
    Data,
    Tree,
}

impl BlobType {
    pub fn to_byte(self) -> u8 {
        match self {
            BlobType::Data => 0,
            BlobType::Tree => 1,
        }
    }

    /// The id of `data` stored as a blob of this type.
    pub fn id_of(self, key: &MasterKey, data: &[u8]) -> BlobId {
        BlobId::from_bytes(key.content_id(self.to_byte(), data))
    }

    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            0 => Ok(BlobType::Data),
            1 => Ok(BlobType::Tree),
            other => Err(FormatError::malformed(
                "blob type",
                format!("unknown blob type {other}"),
            )),
        }
    }
}

/// How a blob's payload is stored inside its sealed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Zstd = 1,
    /// A 32-byte base blob id, then zstd with the base as a prefix.
    ZstdDelta = 2,
}

/// The longest chain of deltas a reader follows (a delta of a delta of …
/// a stored blob): bounds what a forged or looping chain can cost.
pub const DELTA_DEPTH_MAX: u32 = 64;

/// The longest chain a writer makes: beyond it the chunk is stored whole,
/// so restoring never decompresses more than this many frames per chunk.
pub const DELTA_DEPTH_WRITTEN_MAX: u32 = 40;

/// Largest zstd window (2^26 = 64 MiB) a delta may use: a base and a blob
/// of at most 16 MiB each (the largest chunks a config allows) fit with
/// room, and a forged frame cannot make a reader allocate more.
const DELTA_WINDOW_LOG_MAX: u32 = 26;

/// A payload is stored compressed only if that saves at least 1/32 of it:
/// below that, the cost of decompressing on every restore is not worth it.
fn compression_pays(raw_len: usize, compressed_len: usize) -> bool {
    compressed_len + raw_len / 32 < raw_len
}

/// Largest plaintext a blob may have (a tree of a huge directory included).
pub const BLOB_RAW_LEN_MAX: usize = 1 << 30;

/// Payloads up to this size are always tried with zstd; larger ones are
/// first measured on samples (see [`samples_compress`]).
const SAMPLE_FREE_LEN: usize = 64 * 1024;
const SAMPLE_LEN: usize = 16 * 1024;
/// Largest compression buffer a thread keeps between blobs.
const RETAINED_BUFFER_MAX: usize = 1024 * 1024;

fn aad(blob_type: BlobType, id: &BlobId) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = blob_type.to_byte();
    aad[1..].copy_from_slice(id.as_bytes());
    aad
}

thread_local! {
    /// One zstd context per thread and level: creating a context costs more
    /// than compressing a small file.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static COMPRESSED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decompresses with this thread's context, into at most `capacity` bytes.
fn decompress(payload: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(payload, capacity),
            None => zstd::bulk::decompress(payload, capacity),
        }
    })
}

/// Compresses `data` into `out` (cleared first) with this thread's context.
fn compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> bool {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = zstd::bulk::Compressor::new(level).ok().map(|c| (level, c));
        }
        let Some((_, compressor)) = slot.as_mut() else {
            return false;
        };
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(data.len()));
        compressor.compress_to_buffer(data, out).is_ok()
    })
}

/// Whether a large payload is worth compressing, measured on three samples
/// (start, middle, end) at the fastest level: photos, archives and
/// encrypted files are recognised by their bytes, not their names, without
/// spending a full compression pass on them.
fn samples_compress(data: &[u8]) -> bool {
    let mut sample = Vec::with_capacity(3 * SAMPLE_LEN);
    for start in [0, data.len() / 2 - SAMPLE_LEN / 2, data.len() - SAMPLE_LEN] {
        sample.extend_from_slice(data.get(start..start + SAMPLE_LEN).unwrap_or_default());
    }
    let mut out = Vec::new();
    compress_into(&sample, 1, &mut out) && compression_pays(sample.len(), out.len())
}

/// Compresses `data` when that pays and seals it, appending the sealed frame to `out`.
/// Returns the sealed length.
pub fn seal_blob(
    key: &MasterKey,
    blob_type: BlobType,
    id: &BlobId,
    data: &[u8],
    zstd_level: i32,
    out: &mut Vec<u8>,
) -> Result<usize, FormatError> {
    let start = out.len();
    let aad = aad(blob_type, id);
    let try_zstd = data.len() <= SAMPLE_FREE_LEN || samples_compress(data);
    let sealed = COMPRESSED.with(|cell| {
        let mut compressed = cell.borrow_mut();
        let result = if try_zstd
            && compress_into(data, zstd_level, &mut compressed)
            && compression_pays(data.len(), compressed.len())
        {
            key.seal_parts_into(&aad, &[&[Compression::Zstd as u8], &compressed], out)
        } else {
            key.seal_parts_into(&aad, &[&[Compression::None as u8], data], out)
        };
        // Keep only a small buffer: a rare large chunk should not pin memory.
        if compressed.capacity() > RETAINED_BUFFER_MAX {
            *compressed = Vec::new();
        }
        result
    });
    sealed.map_err(|source| FormatError::Sealed {
        what: "blob",
        source,
    })?;
    Ok(out.len() - start)
}

/// Compresses `data` against `base` (zstd with the base as a prefix) and
/// seals it as a delta frame, appending it to `out`. Returns the sealed
/// length, or `None` (nothing appended) when the delta would not save at
/// least 1/32 of the plaintext: the caller then stores the blob whole.
#[allow(clippy::too_many_arguments)]
pub fn seal_delta_blob(
    key: &MasterKey,
    id: &BlobId,
    data: &[u8],
    base_id: &BlobId,
    base: &[u8],
    zstd_level: i32,
    out: &mut Vec<u8>,
) -> Result<Option<usize>, FormatError> {
    let Some(compressed) = compress_against(data, base, zstd_level) else {
        return Ok(None);
    };
    if !compression_pays(data.len(), compressed.len() + base_id.as_bytes().len()) {
        return Ok(None);
    }
    let start = out.len();
    key.seal_parts_into(
        &aad(BlobType::Data, id),
        &[
            &[Compression::ZstdDelta as u8],
            base_id.as_bytes(),
            &compressed,
        ],
        out,
    )
    .map_err(|source| FormatError::Sealed {
        what: "blob",
        source,
    })?;
    Ok(Some(out.len() - start))
}

/// The zstd window a delta of `len` bytes against a base of `base_len`
/// bytes needs, or `None` if it would exceed [`DELTA_WINDOW_LOG_MAX`].
fn delta_window_log(base_len: usize, len: usize) -> Option<u32> {
    let span = base_len.checked_add(len)?.max(1 << 10);
    let log = usize::BITS - (span - 1).leading_zeros();
    (log <= DELTA_WINDOW_LOG_MAX).then_some(log)
}

/// zstd of `data` with `base` as a prefix, or `None` if zstd refuses.
fn compress_against(data: &[u8], base: &[u8], level: i32) -> Option<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let window_log = delta_window_log(base.len(), data.len())?;
    let mut cctx = CCtx::try_create()?;
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .ok()?;
    cctx.set_parameter(CParameter::WindowLog(window_log)).ok()?;
    // Long-distance matching finds the base's long runs even at the fast
    // levels, whose small hash tables forget most of a MiB-sized prefix:
    // measured on SQL rows, a 1 % change costs 0.5 % of a whole chunk with
    // it against several times that without it at level 1.
    cctx.set_parameter(CParameter::EnableLongDistanceMatching(true))
        .ok()?;
    cctx.ref_prefix(base).ok()?;
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
    cctx.compress2(&mut out, data).ok()?;
    Some(out)
}

/// An opened frame: the plaintext, or a delta still to apply to its base.
#[derive(Debug)]
pub enum Frame {
    Whole(Vec<u8>),
    Delta { base: BlobId, payload: Vec<u8> },
}

/// Opens a sealed blob frame: decrypts it and, unless it is a delta,
/// decompresses it. `raw_len` (from the pack header or index) bounds the
/// decompressed size. The caller verifies the id (after [`apply_delta`]
/// for a delta).
pub fn open_frame(
    key: &MasterKey,
    blob_type: BlobType,
    id: &BlobId,
    sealed: &[u8],
    raw_len: usize,
) -> Result<Frame, FormatError> {
    if raw_len > BLOB_RAW_LEN_MAX {
        return Err(FormatError::malformed(
            "blob",
            format!("raw length {raw_len} too large"),
        ));
    }
    let mut frame =
        key.open(&aad(blob_type, id), sealed)
            .map_err(|source| FormatError::Sealed {
                what: "blob",
                source,
            })?;
    let (&kind, payload) = frame
        .split_first()
        .ok_or_else(|| FormatError::malformed("blob", "empty frame"))?;
    match kind {
        0 => {
            // The decrypted buffer becomes the blob: no second allocation.
            frame.drain(..1);
            Ok(Frame::Whole(frame))
        }
        1 => decompress(payload, raw_len)
            .map(Frame::Whole)
            .map_err(|e| FormatError::malformed("blob", format!("zstd: {e}"))),
        2 if blob_type == BlobType::Data => {
            let (base, rest) = payload
                .split_first_chunk::<32>()
                .ok_or_else(|| FormatError::malformed("blob", "delta frame without a base"))?;
            Ok(Frame::Delta {
                base: BlobId::from_bytes(*base),
                payload: rest.to_vec(),
            })
        }
        other => Err(FormatError::malformed(
            "blob",
            format!("unknown compression {other}"),
        )),
    }
}

/// Decompresses a delta's payload against its base's plaintext, into at
/// most `raw_len` bytes.
pub fn apply_delta(payload: &[u8], base: &[u8], raw_len: usize) -> Result<Vec<u8>, FormatError> {
    use zstd::zstd_safe::{DCtx, DParameter};
    let failed = |e: String| FormatError::malformed("blob", format!("zstd delta: {e}"));
    if raw_len > BLOB_RAW_LEN_MAX {
        return Err(failed(format!("raw length {raw_len} too large")));
    }
    let window_log = delta_window_log(base.len(), raw_len)
        .ok_or_else(|| failed("base and blob too large".into()))?;
    let mut dctx = DCtx::try_create().ok_or_else(|| failed("no context".into()))?;
    let name = |code| zstd::zstd_safe::get_error_name(code).to_string();
    dctx.set_parameter(DParameter::WindowLogMax(window_log.max(10)))
        .map_err(|c| failed(name(c)))?;
    dctx.ref_prefix(base).map_err(|c| failed(name(c)))?;
    let mut out = Vec::with_capacity(raw_len);
    dctx.decompress(&mut out, payload)
        .map_err(|c| failed(name(c)))?;
    Ok(out)
}

/// Opens a sealed blob frame and decompresses it. `raw_len` (from the pack
/// header or index) bounds the decompressed size. The caller verifies the id.
/// A delta frame is refused: its base must be read first ([`open_frame`]).
pub fn open_blob(
    key: &MasterKey,
    blob_type: BlobType,
    id: &BlobId,
    sealed: &[u8],
    raw_len: usize,
) -> Result<Vec<u8>, FormatError> {
    match open_frame(key, blob_type, id, sealed, raw_len)? {
        Frame::Whole(data) => Ok(data),
        Frame::Delta { .. } => Err(FormatError::malformed(
            "blob",
            "a delta frame needs its base: read it through open_frame",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_data_is_stored_compressed_and_random_data_is_not() {
        let key = MasterKey::generate().unwrap();
        let id = BlobType::Data.id_of(&key, b"x");
        let text = b"le conseil municipal ".repeat(1000);
        let mut out = Vec::new();
        let n = seal_blob(&key, BlobType::Data, &id, &text, 3, &mut out).unwrap();
        assert!(n < text.len() / 4);
        assert_eq!(
            open_blob(&key, BlobType::Data, &id, &out, text.len()).unwrap(),
            text
        );

        let mut random = vec![0u8; 100_000];
        reprise_crypto::fill_random(&mut random).unwrap();
        let mut out = Vec::new();
        let n = seal_blob(&key, BlobType::Data, &id, &random, 3, &mut out).unwrap();
        assert_eq!(n, random.len() + 1 + reprise_crypto::SEAL_OVERHEAD);
        assert_eq!(
            open_blob(&key, BlobType::Data, &id, &out, random.len()).unwrap(),
            random
        );
    }

    #[test]
    fn a_blob_cannot_be_opened_as_another_type_or_id() {
        let key = MasterKey::generate().unwrap();
        let id = BlobId::from_bytes([1; 32]);
        let mut out = Vec::new();
        seal_blob(&key, BlobType::Data, &id, b"abc", 3, &mut out).unwrap();
        assert!(open_blob(&key, BlobType::Tree, &id, &out, 3).is_err());
        assert!(open_blob(&key, BlobType::Data, &BlobId::from_bytes([2; 32]), &out, 3).is_err());
    }

    fn rows(n: usize, changed: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let mark = if changed.contains(&i) {
                "modifié"
            } else {
                "stable"
            };
            out.extend_from_slice(
                format!(
                    "{i}\tDupont {}\tRue des Lilas {}\t{mark}\n",
                    i * 7919 % 1000,
                    i % 97
                )
                .as_bytes(),
            );
        }
        out
    }

    #[test]
    fn a_delta_costs_the_changed_rows_and_opens_back_against_its_base() {
        let key = MasterKey::generate().unwrap();
        let base = rows(20_000, &[]);
        let data = rows(20_000, &[10, 5_000, 19_999]);
        let base_id = BlobType::Data.id_of(&key, &base);
        let id = BlobType::Data.id_of(&key, &data);
        let mut out = Vec::new();
        let n = seal_delta_blob(&key, &id, &data, &base_id, &base, 3, &mut out)
            .unwrap()
            .unwrap();
        let mut whole = Vec::new();
        let whole_len = seal_blob(&key, BlobType::Data, &id, &data, 3, &mut whole).unwrap();
        assert!(n * 20 < whole_len, "delta {n} bytes, whole {whole_len}");
        let Frame::Delta {
            base: named,
            payload,
        } = open_frame(&key, BlobType::Data, &id, &out, data.len()).unwrap()
        else {
            panic!("not a delta frame");
        };
        assert_eq!(named, base_id);
        assert_eq!(apply_delta(&payload, &base, data.len()).unwrap(), data);
        // Against another base the bytes come out wrong (the id check
        // catches it), or zstd fails: never the blob.
        let other = rows(20_000, &[1]);
        assert!(apply_delta(&payload, &other, data.len()).map_or(true, |d| d != data));
        // open_blob cannot read a delta on its own.
        assert!(open_blob(&key, BlobType::Data, &id, &out, data.len()).is_err());
    }

    #[test]
    fn a_delta_that_does_not_pay_is_not_written() {
        let key = MasterKey::generate().unwrap();
        let mut random = vec![0u8; 50_000];
        reprise_crypto::fill_random(&mut random).unwrap();
        let base = rows(100, &[]);
        let id = BlobType::Data.id_of(&key, &random);
        let mut out = Vec::new();
        let written = seal_delta_blob(&key, &id, &random, &id, &base, 3, &mut out).unwrap();
        assert!(written.is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn a_delta_is_bounded_by_its_raw_length_and_never_a_tree() {
        let key = MasterKey::generate().unwrap();
        let base = rows(1_000, &[]);
        let data = rows(1_000, &[3]);
        let base_id = BlobType::Data.id_of(&key, &base);
        let id = BlobType::Data.id_of(&key, &data);
        let mut out = Vec::new();
        seal_delta_blob(&key, &id, &data, &base_id, &base, 3, &mut out)
            .unwrap()
            .unwrap();
        let Frame::Delta { payload, .. } =
            open_frame(&key, BlobType::Data, &id, &out, data.len()).unwrap()
        else {
            panic!("not a delta frame");
        };
        assert!(apply_delta(&payload, &base, data.len() - 1).is_err());
        assert!(apply_delta(&payload, &base, BLOB_RAW_LEN_MAX + 1).is_err());
        // A frame of compression 2 sealed as a tree is refused.
        let mut tree = Vec::new();
        key.seal_parts_into(&aad(BlobType::Tree, &id), &[&[2], &[0; 40]], &mut tree)
            .unwrap();
        assert!(open_frame(&key, BlobType::Tree, &id, &tree, 8).is_err());
    }
}
