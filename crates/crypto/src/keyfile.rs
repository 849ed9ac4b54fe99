//! Key files: the master key wrapped under a password-derived key.
//!
//! A key file is plain JSON (its KDF parameters must be readable before any
//! key is known). The wrapped key is the 64-byte master key sealed with the
//! Argon2id output as XChaCha20-Poly1305 key and `b"reprise key"` as AAD.

use crate::{fill_random, CryptoError, MasterKey, KEY_LEN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const KEY_AAD: &[u8] = b"reprise key";
/// Argon2's shortest salt.
const SALT_MIN: usize = 8;
/// Nonce, the 64-byte master key, tag.
const WRAPPED_KEY_LEN: usize = 24 + 2 * KEY_LEN + 16;

/// Argon2id cost parameters, stored in each key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes: about a quarter second on a server core, costly to brute-force.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Upper bounds that keep a forged key file from exhausting memory or time.
    const MEMORY_KIB_MAX: u32 = 4 * 1024 * 1024;
    const ITERATIONS_MAX: u32 = 100;
    const PARALLELISM_MAX: u32 = 64;

    fn validate(&self) -> Result<(), CryptoError> {
        if self.memory_kib < 8 * self.parallelism.max(1)
            || self.memory_kib > Self::MEMORY_KIB_MAX
            || self.iterations == 0
            || self.iterations > Self::ITERATIONS_MAX
            || self.parallelism == 0
            || self.parallelism > Self::PARALLELISM_MAX
        {
            return Err(CryptoError::MalformedKeyFile(format!(
                "KDF parameters out of range: {self:?}"
            )));
        }
        Ok(())
    }
}

/// A password slot of a repository, as stored under `keys/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub version: u32,
    /// RFC 3339 time of creation.
    pub created: String,
    pub hostname: String,
    pub username: String,
    pub kdf: String,
    pub kdf_params: KdfParams,
    /// Base64 of the 32-byte Argon2 salt.
    pub salt: String,
    /// Base64 of the sealed 64-byte master key.
    pub wrapped_key: String,
}

impl KeyFile {
    /// Wraps `master` under `password`.
    pub fn create(
        password: &[u8],
        master: &MasterKey,
        params: KdfParams,
        created: String,
        hostname: String,
        username: String,
    ) -> Result<Self, CryptoError> {
        params.validate()?;
        let mut salt = [0u8; 32];
        fill_random(&mut salt)?;
        let wrapping = derive(password, &salt, params)?;
        let plain = Zeroizing::new(master.to_bytes());
        let sealed = wrapping.seal(KEY_AAD, plain.as_slice())?;
        Ok(KeyFile {
            version: 1,
            created,
            hostname,
            username,
            kdf: "argon2id".into(),
            kdf_params: params,
            salt: B64.encode(salt),
            wrapped_key: B64.encode(sealed),
        })
    }

    /// Checks everything that can be checked without the password: the
    /// version, the KDF and its bounds, and the lengths of the salt and of
    /// the wrapped key. A key file that fails is damaged (or forged), and no
    /// password can open it.
    pub fn check_structure(&self) -> Result<(), CryptoError> {
        self.check_kdf()?;
        let salt = decode_b64(&self.salt, "salt")?;
        if salt.len() < SALT_MIN {
            return Err(CryptoError::MalformedKeyFile(format!(
                "salt of {} bytes, less than {SALT_MIN}",
                salt.len()
            )));
        }
        let sealed = decode_b64(&self.wrapped_key, "wrapped_key")?;
        if sealed.len() != WRAPPED_KEY_LEN {
            return Err(CryptoError::MalformedKeyFile(format!(
                "wrapped_key of {} bytes, not {WRAPPED_KEY_LEN}",
                sealed.len()
            )));
        }
        Ok(())
    }

    /// Unwraps the master key; `WrongPassword` if `password` is not this slot's.
    pub fn unlock(&self, password: &[u8]) -> Result<MasterKey, CryptoError> {
        self.check_structure()?;
        let salt = decode_b64(&self.salt, "salt")?;
        let sealed = decode_b64(&self.wrapped_key, "wrapped_key")?;
        let wrapping = derive(password, &salt, self.kdf_params)?;
        let plain = Zeroizing::new(
            wrapping
                .open(KEY_AAD, &sealed)
                .map_err(|_| CryptoError::WrongPassword)?,
        );
        MasterKey::from_bytes(&plain)
            .ok_or_else(|| CryptoError::MalformedKeyFile("wrapped key has the wrong length".into()))
    }

    fn check_kdf(&self) -> Result<(), CryptoError> {
        if self.version != 1 {
            return Err(CryptoError::MalformedKeyFile(format!(
                "key file version {} is not supported (upgrade reprise)",
                self.version
            )));
        }
        if self.kdf != "argon2id" {
            return Err(CryptoError::MalformedKeyFile(format!(
                "unknown KDF {:?}",
                self.kdf
            )));
        }
        self.kdf_params.validate()
    }

    /// The bytes stored under `keys/`. An error (serde_json reports one
    /// only for maps with non-string keys, which a key file has none of) is
    /// returned rather than storing an empty key file.
    pub fn to_json(&self) -> Result<Vec<u8>, CryptoError> {
        serde_json::to_vec_pretty(self).map_err(|e| CryptoError::Encode(e.to_string()))
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, CryptoError> {
        serde_json::from_slice(bytes).map_err(|e| CryptoError::MalformedKeyFile(e.to_string()))
    }
}

fn decode_b64(s: &str, field: &str) -> Result<Vec<u8>, CryptoError> {
    B64.decode(s)
        .map_err(|e| CryptoError::MalformedKeyFile(format!("{field}: {e}")))
}

/// Argon2id(password, salt) used directly as a one-purpose key pair.
fn derive(password: &[u8], salt: &[u8], params: KdfParams) -> Result<MasterKey, CryptoError> {
    let argon_params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(2 * KEY_LEN),
    )
    .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut out = Zeroizing::new([0u8; 2 * KEY_LEN]);
    argon
        .hash_password_into(password, salt, out.as_mut_slice())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    MasterKey::from_bytes(out.as_slice()).ok_or_else(|| CryptoError::Kdf("short output".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn unlock_with_the_right_password_returns_the_same_key() {
        let master = MasterKey::generate().unwrap();
        let kf =
            KeyFile::create(b"pw", &master, cheap(), "t".into(), "h".into(), "u".into()).unwrap();
        let back = KeyFile::from_json(&kf.to_json().unwrap())
            .unwrap()
            .unlock(b"pw")
            .unwrap();
        assert_eq!(back.to_bytes(), master.to_bytes());
    }

    #[test]
    fn unlock_with_a_wrong_password_says_so() {
        let master = MasterKey::generate().unwrap();
        let kf =
            KeyFile::create(b"pw", &master, cheap(), "t".into(), "h".into(), "u".into()).unwrap();
        assert!(matches!(
            kf.unlock(b"nope"),
            Err(CryptoError::WrongPassword)
        ));
    }

    #[test]
    fn a_truncated_wrapped_key_is_damage_not_a_wrong_password() {
        let master = MasterKey::generate().unwrap();
        let mut kf =
            KeyFile::create(b"pw", &master, cheap(), "t".into(), "h".into(), "u".into()).unwrap();
        assert!(kf.check_structure().is_ok());
        kf.wrapped_key = B64.encode([0u8; 50]);
        assert!(matches!(
            kf.check_structure(),
            Err(CryptoError::MalformedKeyFile(_))
        ));
        assert!(matches!(
            kf.unlock(b"pw"),
            Err(CryptoError::MalformedKeyFile(_))
        ));
    }

    #[test]
    fn absurd_kdf_parameters_are_refused_before_deriving() {
        let master = MasterKey::generate().unwrap();
        let mut kf =
            KeyFile::create(b"pw", &master, cheap(), "t".into(), "h".into(), "u".into()).unwrap();
        kf.kdf_params.memory_kib = u32::MAX;
        assert!(matches!(
            kf.unlock(b"pw"),
            Err(CryptoError::MalformedKeyFile(_))
        ));
    }
}
