//! Index files: which blobs each pack holds, so a repository can be opened
//! without reading every pack header. An index is a cache: everything in it
//! can be rebuilt from the packs' own headers.
//!
//! Plaintext: `"RPI1"`, `pack_count: u32 LE`, then per pack: `pack id: 32`,
//! `entry_count: u32 LE`, and that many 45-byte pack entries (as in pack
//! headers). Sealed with AAD `b"reprise index"`; stored under its BLAKE3.

use crate::pack::PackEntry;
use crate::sealed::{self, SealedObject};
use crate::{FormatError, PackId, Reader};
use reprise_crypto::MasterKey;

const INDEX_MAGIC: &[u8; 4] = b"RPI1";

/// The blobs of one pack, as an index file lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPack {
    pub id: PackId,
    pub entries: Vec<PackEntry>,
}

/// One index file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    pub fn seal(&self, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
        sealed::seal(self, key)
    }

    pub fn open(key: &MasterKey, sealed: &[u8]) -> Result<Self, FormatError> {
        sealed::open(key, &[], sealed)
    }
}

impl SealedObject for IndexFile {
    const WHAT: &'static str = "index file";
    const AAD: &'static [u8] = b"reprise index";

    fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let entries: usize = self.packs.iter().map(|p| p.entries.len()).sum();
        let mut plain =
            Vec::with_capacity(8 + self.packs.len() * 36 + entries * PackEntry::ENCODED_LEN);
        plain.extend_from_slice(INDEX_MAGIC);
        plain.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for p in &self.packs {
            plain.extend_from_slice(p.id.as_bytes());
            plain.extend_from_slice(&(p.entries.len() as u32).to_le_bytes());
            for e in &p.entries {
                e.encode(&mut plain);
            }
        }
        Ok(plain)
    }

    fn decode(plain: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(plain, "index file");
        if r.take(4)? != INDEX_MAGIC {
            return Err(FormatError::malformed("index file", "bad magic"));
        }
        let pack_count = r.u32()? as usize;
        // Each pack takes at least 36 bytes: refuse counts the data cannot hold.
        if pack_count > r.remaining() / 36 {
            return Err(FormatError::malformed(
                "index file",
                "pack count exceeds its size",
            ));
        }
        let mut packs = Vec::with_capacity(pack_count);
        for _ in 0..pack_count {
            let id = PackId::from_bytes(r.id()?);
            let n = r.u32()? as usize;
            if n > r.remaining() / PackEntry::ENCODED_LEN {
                return Err(FormatError::malformed(
                    "index file",
                    "entry count exceeds its size",
                ));
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(PackEntry::decode(&mut r)?);
            }
            packs.push(IndexPack { id, entries });
        }
        if !r.is_empty() {
            return Err(FormatError::malformed("index file", "trailing bytes"));
        }
        Ok(IndexFile { packs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobId, BlobType};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn index_files_round_trip(packs in proptest::collection::vec((any::<[u8; 32]>(), proptest::collection::vec((0u8..3, any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u32>()), 0..20)), 0..10)) {
            let key = MasterKey::generate().unwrap();
            let index = IndexFile { packs: packs.into_iter().map(|(id, es)| IndexPack {
                id: PackId::from_bytes(id),
                entries: es.into_iter().map(|(t, b, o, s, r)| PackEntry {
                    blob_type: if t == 1 { BlobType::Tree } else { BlobType::Data },
                    id: BlobId::from_bytes(b), offset: o, sealed_len: s, raw_len: r, delta: t == 2,
                }).collect(),
            }).collect() };
            let sealed = index.seal(&key).unwrap();
            prop_assert_eq!(IndexFile::open(&key, &sealed).unwrap(), index);
        }
    }
}
