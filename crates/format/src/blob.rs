//! Blobs: the unit of deduplication (a chunk of file data, or a tree), and how
//! one is framed, compressed and sealed before it goes into a pack.
//!
//! Plaintext frame: one byte of [`Compression`], then the payload. The frame
//! is sealed with AAD = `[blob type byte] || blob id`, so a blob cannot be
//! passed off as another one or as another type.

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
}

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

/// Opens a sealed blob frame and decompresses it. `raw_len` (from the pack
/// header or index) bounds the decompressed size. The caller verifies the id.
pub fn open_blob(
    key: &MasterKey,
    blob_type: BlobType,
    id: &BlobId,
    sealed: &[u8],
    raw_len: usize,
) -> Result<Vec<u8>, FormatError> {
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
            Ok(frame)
        }
        1 => decompress(payload, raw_len)
            .map_err(|e| FormatError::malformed("blob", format!("zstd: {e}"))),
        other => Err(FormatError::malformed(
            "blob",
            format!("unknown compression {other}"),
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
}
