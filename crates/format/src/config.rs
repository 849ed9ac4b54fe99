//! The repository config: the one object not named by its content (`config`),
//! written once by `init`.
//!
//! Layout: magic `"REPRISE\0"`, `format_version: u32 LE`, then the sealed JSON
//! of [`RepoConfig`]. The version is outside the seal so that a newer
//! repository is recognised before any password is asked; it is still
//! authenticated, because the AAD is `b"reprise config"` followed by those
//! first 12 bytes, and it must equal the `version` inside the JSON.

use crate::sealed::{self, JsonObject};
use crate::{FormatError, Reader};
use reprise_crypto::MasterKey;
use serde::{Deserialize, Serialize};

/// The repository format `init` writes and the newest this code reads.
/// Version 2 adds data blobs stored as deltas (compression byte 2, pack
/// entry type 2); a version-1 repository is read and written as before,
/// without deltas, so older programs can still read it.
pub const FORMAT_VERSION: u32 = 2;

/// The `version` written in snapshots and marks: their layout has not
/// changed since version 1, so a version-1 repository stays readable by
/// programs that know only version 1.
pub const OBJECT_VERSION: u32 = 1;
const CONFIG_MAGIC: &[u8; 8] = b"REPRISE\0";

/// Content-defined chunking parameters, fixed for the life of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerConfig {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
    /// Secret seed of the gear table, so chunk boundaries do not leak content.
    pub seed: u64,
}

/// Settings shared by every client of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub version: u32,
    /// Random id of the repository, hex.
    pub id: String,
    pub chunker: ChunkerConfig,
    pub zstd_level: i32,
    pub pack_size_target: u32,
    /// The Object Lock retention every object must carry (revision 1.2);
    /// absent for repositories without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockConfig>,
}

/// The retention policy `init --object-lock` records: every object is
/// locked, in `mode`, for at least `retention_days` after it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    /// `governance` or `compliance`.
    pub mode: LockModeName,
    pub retention_days: u32,
}

/// The S3 Object Lock mode, as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockModeName {
    Governance,
    Compliance,
}

impl RepoConfig {
    pub fn seal(&self, key: &MasterKey) -> Result<Vec<u8>, FormatError> {
        let mut head = CONFIG_MAGIC.to_vec();
        head.extend_from_slice(&self.version.to_le_bytes());
        let mut out = head.clone();
        sealed::seal_into(self, key, &head, &mut out)?;
        Ok(out)
    }

    /// Checks the magic and version without a key.
    pub fn peek_version(bytes: &[u8]) -> Result<u32, FormatError> {
        let mut r = Reader::new(bytes, "config");
        if r.take(8)? != CONFIG_MAGIC {
            return Err(FormatError::malformed(
                "config",
                "not a reprise repository config",
            ));
        }
        let version = r.u32()?;
        if version > FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(version)
    }

    pub fn open(key: &MasterKey, bytes: &[u8]) -> Result<Self, FormatError> {
        let version = Self::peek_version(bytes)?;
        let (head, sealed) = bytes.split_at(12.min(bytes.len()));
        let config: RepoConfig = sealed::open(key, head, sealed)?;
        if config.version != version {
            return Err(FormatError::malformed(
                "config",
                format!("version {} inside, {version} outside", config.version),
            ));
        }
        config.chunker.validate()?;
        Ok(config)
    }
}

impl JsonObject for RepoConfig {
    const WHAT: &'static str = "config";
    const AAD: &'static [u8] = b"reprise config";

    fn version(&self) -> u32 {
        self.version
    }
}

impl ChunkerConfig {
    /// 512 KiB minimum, 1 MiB average, 8 MiB maximum.
    pub fn default_with_seed(seed: u64) -> Self {
        ChunkerConfig {
            min_size: 512 * 1024,
            avg_size: 1024 * 1024,
            max_size: 8 * 1024 * 1024,
            seed,
        }
    }

    /// The ranges FastCDC 2020 accepts (its MINIMUM/AVERAGE/MAXIMUM bounds);
    /// anything else in a config is refused rather than handed to it.
    pub fn validate(&self) -> Result<(), FormatError> {
        let ok = (64..=1 << 20).contains(&self.min_size)
            && (256..=1 << 22).contains(&self.avg_size)
            && (1024..=1 << 24).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size
            && self.min_size.is_multiple_of(2)
            && self.avg_size.is_multiple_of(2)
            && self.max_size.is_multiple_of(2);
        if ok {
            Ok(())
        } else {
            Err(FormatError::malformed(
                "config",
                format!("chunker parameters out of range: {self:?}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_newer_versions_are_recognised_without_a_key() {
        let key = MasterKey::generate().unwrap();
        let config = RepoConfig {
            version: FORMAT_VERSION,
            id: "ab".into(),
            chunker: ChunkerConfig::default_with_seed(42),
            zstd_level: 3,
            pack_size_target: 16 << 20,
            object_lock: Some(ObjectLockConfig {
                mode: LockModeName::Compliance,
                retention_days: 30,
            }),
        };
        let mut bytes = config.seal(&key).unwrap();
        assert_eq!(RepoConfig::open(&key, &bytes).unwrap(), config);
        // The layout of FORMAT.md: magic, version, then the JSON sealed
        // with `b"reprise config"` followed by those 12 bytes.
        let head = b"REPRISE\0\x02\0\0\0";
        assert_eq!(&bytes[..12], head);
        let aad = [&b"reprise config"[..], head].concat();
        let json = key.open(&aad, &bytes[12..]).unwrap();
        assert_eq!(json, serde_json::to_vec(&config).unwrap());
        bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(matches!(
            RepoConfig::peek_version(&bytes),
            Err(FormatError::NewerVersion { found: 99, .. })
        ));
    }
}
