//! Sealing: how every object stored encrypted under the master key (config,
//! snapshot, mark, index file, pack header) becomes bytes and back.
//!
//! An object says what it is ([`SealedObject`]: its name in errors, its
//! associated data, its plaintext encoding); [`seal`], [`seal_into`] and
//! [`open`] are the one place that encrypts, decrypts and maps failures to
//! [`FormatError`]. Objects encoded as JSON with a `version` field
//! implement [`JsonObject`] instead and get the encoding, and the refusal
//! of a version newer than [`FORMAT_VERSION`], from it. Blobs are sealed
//! in `crate::blob`, since their associated data is per blob.

use crate::{FormatError, FORMAT_VERSION};
use reprise_crypto::MasterKey;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An object stored sealed under the master key.
pub trait SealedObject: Sized {
    /// What the object is, in error messages.
    const WHAT: &'static str;
    /// The associated data: binds the sealed bytes to their kind, so that one
    /// kind of object cannot be passed off as another.
    const AAD: &'static [u8];
    /// The plaintext that is sealed.
    fn encode(&self) -> Result<Vec<u8>, FormatError>;
    /// Decodes an opened plaintext; untrusted (a key holder can seal anything).
    fn decode(plain: &[u8]) -> Result<Self, FormatError>;
}

/// An object sealed as JSON that records the format version it was written
/// in.
pub trait JsonObject: Serialize + DeserializeOwned {
    const WHAT: &'static str;
    const AAD: &'static [u8];
    fn version(&self) -> u32;
}

impl<T: JsonObject> SealedObject for T {
    const WHAT: &'static str = <T as JsonObject>::WHAT;
    const AAD: &'static [u8] = <T as JsonObject>::AAD;

    fn encode(&self) -> Result<Vec<u8>, FormatError> {
        serde_json::to_vec(self).map_err(|e| FormatError::Encode {
            what: <T as JsonObject>::WHAT,
            detail: e.to_string(),
        })
    }

    fn decode(plain: &[u8]) -> Result<Self, FormatError> {
        let object: T = serde_json::from_slice(plain)
            .map_err(|e| FormatError::malformed(<T as JsonObject>::WHAT, e.to_string()))?;
        if object.version() > FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                found: object.version(),
                supported: FORMAT_VERSION,
            });
        }
        Ok(object)
    }
}

/// Seals `object` on its own.
pub fn seal<T: SealedObject>(object: &T, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    seal_into(object, key, &[], &mut out)?;
    Ok(out)
}

/// Appends the sealed `object` to `out`. `bound` is stored in the clear
/// elsewhere (the config's magic and version) and authenticated with the
/// object: it is appended to the associated data.
pub fn seal_into<T: SealedObject>(
    object: &T,
    key: &MasterKey,
    bound: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let plain = object.encode()?;
    key.seal_into(&associated_data::<T>(bound), &plain, out)
        .map_err(|source| FormatError::Sealed {
            what: T::WHAT,
            source,
        })
}

/// Authenticates, decrypts and decodes what [`seal_into`] produced with the
/// same `bound`.
pub fn open<T: SealedObject>(
    key: &MasterKey,
    bound: &[u8],
    sealed: &[u8],
) -> Result<T, FormatError> {
    let plain = key
        .open(&associated_data::<T>(bound), sealed)
        .map_err(|source| FormatError::Sealed {
            what: T::WHAT,
            source,
        })?;
    T::decode(&plain)
}

fn associated_data<T: SealedObject>(bound: &[u8]) -> Vec<u8> {
    [T::AAD, bound].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IndexFile, Mark, PackHeader, RepoConfig, Snapshot};

    /// The associated data is part of the format (FORMAT.md): changing one
    /// would make every existing repository unreadable.
    #[test]
    fn associated_data_is_the_documented_one() {
        assert_eq!(<Snapshot as SealedObject>::AAD, b"reprise snapshot");
        assert_eq!(<Mark as SealedObject>::AAD, b"reprise mark");
        assert_eq!(<IndexFile as SealedObject>::AAD, b"reprise index");
        assert_eq!(<PackHeader as SealedObject>::AAD, b"reprise pack header");
        assert_eq!(<RepoConfig as SealedObject>::AAD, b"reprise config");
    }

    /// What is sealed is the documented plaintext under the documented
    /// associated data: opening with the bare cipher gives it back.
    #[test]
    fn sealed_bytes_are_the_documented_layout() {
        let key = MasterKey::generate().unwrap();
        let header = PackHeader {
            entries: vec![crate::PackEntry {
                blob_type: crate::BlobType::Tree,
                id: crate::BlobId::from_bytes([7; 32]),
                offset: 1,
                sealed_len: 2,
                raw_len: 3,
                delta: false,
            }],
        };
        let mut expected = 1u32.to_le_bytes().to_vec();
        expected.push(1);
        expected.extend_from_slice(&[7; 32]);
        for n in [1u32, 2, 3] {
            expected.extend_from_slice(&n.to_le_bytes());
        }
        let sealed = seal(&header, &key).unwrap();
        assert_eq!(key.open(b"reprise pack header", &sealed).unwrap(), expected);

        let index = IndexFile::default();
        let sealed = seal(&index, &key).unwrap();
        assert_eq!(
            key.open(b"reprise index", &sealed).unwrap(),
            b"RPI1\0\0\0\0"
        );
    }

    #[test]
    fn an_object_sealed_as_one_kind_does_not_open_as_another() {
        let key = MasterKey::generate().unwrap();
        let sealed = seal(&IndexFile::default(), &key).unwrap();
        assert!(matches!(
            open::<IndexFile>(&key, &[], &sealed),
            Ok(IndexFile { packs }) if packs.is_empty()
        ));
        assert!(matches!(
            open::<PackHeader>(&key, &[], &sealed),
            Err(FormatError::Sealed {
                what: "pack header",
                ..
            })
        ));
        assert!(matches!(
            open::<IndexFile>(&key, b"bound", &sealed),
            Err(FormatError::Sealed { .. })
        ));
    }
}
