//! Pack files: many sealed blobs followed by a sealed header that describes
//! them, so a pack is self-describing and an index can be rebuilt from packs alone.
//!
//! ```text
//! sealed blob 0 | sealed blob 1 | ... | sealed header | header_len: u32 LE | "RPK1"
//! ```
//! Header plaintext: `count: u32 LE`, then `count` entries of 45 bytes:
//! `type: u8 (0 data, 1 tree, 2 data stored as a delta) | blob id: 32 | offset: u32 LE | sealed_len: u32 LE | raw_len: u32 LE`.
//! The header is sealed with AAD `b"reprise pack header"`.

use crate::sealed::{self, SealedObject};
use crate::{BlobId, BlobType, FormatError, Reader};
use reprise_crypto::MasterKey;

pub const PACK_MAGIC: &[u8; 4] = b"RPK1";
pub const TRAILER_LEN: usize = 8;
const ENTRY_LEN: usize = 45;
/// No pack may describe more blobs than this (bounds what a forged header costs).
pub const PACK_ENTRIES_MAX: usize = 1 << 20;

/// Where one blob lies in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub blob_type: BlobType,
    pub id: BlobId,
    pub offset: u32,
    pub sealed_len: u32,
    pub raw_len: u32,
    /// A data blob stored as a delta against a base blob (its frame names
    /// the base). Written as type byte 2.
    pub delta: bool,
}

/// The type byte of a data blob stored as a delta, in pack headers and
/// index files.
pub const DELTA_DATA_TYPE_BYTE: u8 = 2;

impl PackEntry {
    /// The type byte of the entry: the blob's type, or `2` for a data blob
    /// stored as a delta (format version 2), so that prune and check know
    /// which blobs need a base without opening them.
    fn type_byte(&self) -> u8 {
        match (self.blob_type, self.delta) {
            (BlobType::Data, true) => DELTA_DATA_TYPE_BYTE,
            (blob_type, _) => blob_type.to_byte(),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.type_byte());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.sealed_len.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let type_byte = r.u8()?;
        let delta = type_byte == DELTA_DATA_TYPE_BYTE;
        let blob_type = if delta {
            BlobType::Data
        } else {
            BlobType::from_byte(type_byte)?
        };
        Ok(PackEntry {
            blob_type,
            id: BlobId::from_bytes(r.id()?),
            offset: r.u32()?,
            sealed_len: r.u32()?,
            raw_len: r.u32()?,
            delta,
        })
    }

    pub(crate) const ENCODED_LEN: usize = ENTRY_LEN;
}

/// The list of blobs in a pack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackHeader {
    pub entries: Vec<PackEntry>,
}

impl PackHeader {
    /// Seals the header and appends it and the trailer to `pack`.
    pub fn append_to(&self, key: &MasterKey, pack: &mut Vec<u8>) -> Result<(), FormatError> {
        let start = pack.len();
        sealed::seal_into(self, key, &[], pack)?;
        let sealed_len = (pack.len() - start) as u32;
        pack.extend_from_slice(&sealed_len.to_le_bytes());
        pack.extend_from_slice(PACK_MAGIC);
        Ok(())
    }

    /// Reads the trailer (the last [`TRAILER_LEN`] bytes of a pack of `pack_len`
    /// bytes) and returns where the sealed header starts and how long it is.
    pub fn locate(trailer: &[u8], pack_len: u64) -> Result<(u64, usize), FormatError> {
        if trailer.len() != TRAILER_LEN {
            return Err(FormatError::malformed("pack trailer", "wrong length"));
        }
        let (len, magic) = trailer.split_at(4);
        if magic != PACK_MAGIC {
            return Err(FormatError::malformed(
                "pack trailer",
                "bad magic (not a pack, or truncated)",
            ));
        }
        let mut b = [0u8; 4];
        b.copy_from_slice(len);
        let header_len = u32::from_le_bytes(b) as u64;
        let end = pack_len
            .checked_sub(TRAILER_LEN as u64)
            .ok_or_else(|| FormatError::malformed("pack", "shorter than its trailer"))?;
        let start = end
            .checked_sub(header_len)
            .ok_or_else(|| FormatError::malformed("pack trailer", "header longer than the pack"))?;
        Ok((start, header_len as usize))
    }

    /// Opens and decodes a sealed header; every entry must lie before `header_start`.
    pub fn open(key: &MasterKey, sealed: &[u8], header_start: u64) -> Result<Self, FormatError> {
        let header: PackHeader = sealed::open(key, &[], sealed)?;
        match header
            .entries
            .iter()
            .find(|e| e.offset as u64 + e.sealed_len as u64 > header_start)
        {
            Some(e) => Err(FormatError::malformed(
                "pack header",
                format!("blob {} lies outside the pack's data", e.id),
            )),
            None => Ok(header),
        }
    }

    /// Parses a whole pack's bytes: its header and the range of each blob.
    pub fn from_pack_bytes(key: &MasterKey, pack: &[u8]) -> Result<Self, FormatError> {
        let tail = pack
            .len()
            .checked_sub(TRAILER_LEN)
            .and_then(|s| pack.get(s..))
            .ok_or_else(|| FormatError::malformed("pack", "shorter than its trailer"))?;
        let (start, len) = Self::locate(tail, pack.len() as u64)?;
        let sealed = pack
            .get(start as usize..start as usize + len)
            .ok_or_else(|| FormatError::malformed("pack", "header out of range"))?;
        Self::open(key, sealed, start)
    }
}

impl SealedObject for PackHeader {
    const WHAT: &'static str = "pack header";
    const AAD: &'static [u8] = b"reprise pack header";

    fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let mut plain = Vec::with_capacity(4 + self.entries.len() * ENTRY_LEN);
        plain.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            e.encode(&mut plain);
        }
        Ok(plain)
    }

    /// The entries alone: whether they lie inside the pack is checked by
    /// [`PackHeader::open`], which knows where the header starts.
    fn decode(plain: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(plain, "pack header");
        let count = r.u32()? as usize;
        if count > PACK_ENTRIES_MAX || r.remaining() != count * ENTRY_LEN {
            return Err(FormatError::malformed(
                "pack header",
                format!("bad entry count {count}"),
            ));
        }
        let entries = (0..count)
            .map(|_| PackEntry::decode(&mut r))
            .collect::<Result<_, _>>()?;
        Ok(PackHeader { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{open_blob, seal_blob};

    #[test]
    fn a_pack_describes_its_blobs() {
        let key = MasterKey::generate().unwrap();
        let mut pack = Vec::new();
        let mut header = PackHeader::default();
        for data in [&b"one"[..], b"two two", b""] {
            let id = BlobType::Data.id_of(&key, data);
            let offset = pack.len() as u32;
            let n = seal_blob(&key, BlobType::Data, &id, data, 3, &mut pack).unwrap();
            header.entries.push(PackEntry {
                blob_type: BlobType::Data,
                id,
                offset,
                sealed_len: n as u32,
                raw_len: data.len() as u32,
                delta: false,
            });
        }
        header.append_to(&key, &mut pack).unwrap();
        let back = PackHeader::from_pack_bytes(&key, &pack).unwrap();
        assert_eq!(back, header);
        let e = back.entries[1];
        let sealed = &pack[e.offset as usize..(e.offset + e.sealed_len) as usize];
        assert_eq!(
            open_blob(&key, e.blob_type, &e.id, sealed, 7).unwrap(),
            b"two two"
        );
    }

    #[test]
    fn truncated_or_garbage_packs_are_errors_not_panics() {
        let key = MasterKey::generate().unwrap();
        for bytes in [&b""[..], b"RPK1", b"\xff\xff\xff\xffRPK1", b"abcdefghijkl"] {
            assert!(PackHeader::from_pack_bytes(&key, bytes).is_err());
        }
    }
}
