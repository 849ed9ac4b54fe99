//! Cryptography of a reprise repository, and nothing else: no I/O, no format policy.
//!
//! It owns three things:
//! - the [`MasterKey`]: a random 256-bit encryption key and a 256-bit MAC key
//!   that together protect every object of one repository;
//! - sealing: XChaCha20-Poly1305 with a random 192-bit nonce per message, so
//!   nonces never need coordination between concurrent writers
//!   (`sealed = nonce(24) || ciphertext || tag(16)`);
//! - [`KeyFile`]: the master key wrapped by a key derived from a password with
//!   Argon2id, so a repository can have several passwords.
//!
//! Content ids of chunks are keyed BLAKE3 with the MAC key, so whoever stores
//! the repository cannot confirm a guess about its content.
mod keyfile;

pub use keyfile::{KdfParams, KeyFile};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes added by [`MasterKey::seal`] to every plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Errors of this crate. None carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "authentication failed: the data was modified, truncated, or sealed under another key"
    )]
    Authentication,
    #[error("sealed data of {0} bytes is shorter than the {SEAL_OVERHEAD}-byte nonce and tag")]
    TooShort(usize),
    #[error("wrong password for this key file")]
    WrongPassword,
    #[error("key file is malformed: {0}")]
    MalformedKeyFile(String),
    #[error("key file cannot be encoded: {0}")]
    Encode(String),
    #[error("key derivation failed: {0}")]
    Kdf(String),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// The secret that protects one repository. Zeroed when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    encrypt: [u8; KEY_LEN],
    mac: [u8; KEY_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = MasterKey {
            encrypt: [0; KEY_LEN],
            mac: [0; KEY_LEN],
        };
        fill_random(&mut key.encrypt)?;
        fill_random(&mut key.mac)?;
        Ok(key)
    }

    /// The 64-byte serialisation wrapped inside key files: encryption key, then MAC key.
    pub(crate) fn to_bytes(&self) -> [u8; 2 * KEY_LEN] {
        let mut out = [0u8; 2 * KEY_LEN];
        out[..KEY_LEN].copy_from_slice(&self.encrypt);
        out[KEY_LEN..].copy_from_slice(&self.mac);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 2 * KEY_LEN {
            return None;
        }
        let mut key = MasterKey {
            encrypt: [0; KEY_LEN],
            mac: [0; KEY_LEN],
        };
        key.encrypt.copy_from_slice(&bytes[..KEY_LEN]);
        key.mac.copy_from_slice(&bytes[KEY_LEN..]);
        Some(key)
    }

    /// Keyed BLAKE3 of `domain || data`: the id of a chunk (domain 0) or a
    /// tree (domain 1). The domain byte keeps a file chunk and a tree with
    /// the same bytes from sharing an id.
    pub fn content_id(&self, domain: u8, data: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.mac);
        hasher.update(&[domain]);
        hasher.update(data);
        *hasher.finalize().as_bytes()
    }

    /// Encrypts and authenticates `plaintext`, binding `aad` (not stored) to it.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        self.seal_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Like [`seal`](Self::seal), appending to `out` so pack writers avoid a copy.
    pub fn seal_into(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        self.seal_parts_into(aad, &[plaintext], out)
    }

    /// Seals the concatenation of `parts` as one plaintext, appending to
    /// `out`: each byte is copied once, straight into place, then encrypted there.
    pub fn seal_parts_into(
        &self,
        aad: &[u8],
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let start = out.len();
        out.reserve(NONCE_LEN + parts.iter().map(|p| p.len()).sum::<usize>() + TAG_LEN);
        out.extend_from_slice(&nonce);
        for part in parts {
            out.extend_from_slice(part);
        }
        let body = &mut out[start + NONCE_LEN..];
        let tag = self
            .cipher()
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, body)
            .map_err(|_| CryptoError::Authentication)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Verifies and decrypts what [`seal`](Self::seal) produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(CryptoError::TooShort(sealed.len()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = body.to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                aad,
                &mut plain,
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Authentication)?;
        Ok(plain)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.encrypt).into())
    }
}

/// Fills `buf` from the operating system's random number generator.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::getrandom(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

/// A random 64-bit value, e.g. for a chunker seed.
pub fn random_u64() -> Result<u64, CryptoError> {
    let mut b = [0u8; 8];
    fill_random(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Unkeyed BLAKE3: the name of a stored object, checkable by anyone holding its bytes.
pub fn storage_hash(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> MasterKey {
        MasterKey::generate().unwrap()
    }

    #[test]
    fn seal_then_open_returns_the_plaintext() {
        let k = key();
        let sealed = k.seal(b"aad", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(k.open(b"aad", &sealed).unwrap(), b"hello");
    }

    #[test]
    fn open_rejects_other_aad_and_other_key() {
        let k = key();
        let sealed = k.seal(b"aad", b"hello").unwrap();
        assert!(matches!(
            k.open(b"other", &sealed),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            key().open(b"aad", &sealed),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            k.open(b"aad", &sealed[..10]),
            Err(CryptoError::TooShort(10))
        ));
    }

    #[test]
    fn content_id_depends_on_the_key() {
        assert_ne!(key().content_id(0, b"x"), key().content_id(0, b"x"));
        let k = key();
        assert_eq!(k.content_id(0, b"x"), k.content_id(0, b"x"));
        assert_ne!(k.content_id(0, b"x"), k.content_id(1, b"x"));
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_rejected(data in proptest::collection::vec(any::<u8>(), 0..512), bit in any::<usize>()) {
            let k = key();
            let mut sealed = k.seal(b"", &data).unwrap();
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(k.open(b"", &sealed).is_err());
        }
    }
}
