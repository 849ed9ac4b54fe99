//! Key files: adding, listing, removing and changing the passwords that open
//! a repository. Each key file wraps the same master key.

use crate::{RepoError, Repository, Result};
use rayon::prelude::*;
use reprise_crypto::{CryptoError, KdfParams, KeyFile, MasterKey};
use reprise_format::KeyId;
use reprise_storage::{Backend, ObjectKind};

/// A key file as `key list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub id: KeyId,
    pub current: bool,
    pub created: String,
    pub hostname: String,
    pub username: String,
}

pub(crate) fn write_key_file(
    backend: &dyn Backend,
    password: &[u8],
    key: &MasterKey,
    kdf: KdfParams,
) -> Result<KeyId> {
    let file = KeyFile::create(
        password,
        key,
        kdf,
        chrono::Utc::now().to_rfc3339(),
        hostname(),
        username(),
    )
    .map_err(|e| RepoError::Key(e.to_string()))?;
    let bytes = file.to_json();
    let id = KeyId::from_bytes(reprise_crypto::storage_hash(&bytes));
    backend.write_once(ObjectKind::Key, &id.to_hex(), &bytes)?;
    Ok(id)
}

/// Tries the password on every key file (in parallel: each try costs an Argon2 run).
pub(crate) fn unlock(backend: &dyn Backend, password: &[u8]) -> Result<(KeyId, MasterKey)> {
    let names = backend.list(ObjectKind::Key)?;
    if names.is_empty() {
        return Err(RepoError::NoKeys);
    }
    let found = names.par_iter().find_map_any(|o| {
        let bytes = backend.read(ObjectKind::Key, &o.name).ok()?;
        // A key file is named by its hash like every object; one that is not was tampered with.
        crate::index::verify_name(&o.name, &bytes).ok()?;
        let key = KeyFile::from_json(&bytes).ok()?.unlock(password).ok()?;
        Some((o.name.parse::<KeyId>().ok()?, key))
    });
    found.ok_or(RepoError::WrongPassword { keys: names.len() })
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

pub fn username() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

impl Repository {
    /// Adds a password that opens this repository.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<KeyId> {
        write_key_file(self.backend(), password, self.key(), kdf)
    }

    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for o in self.backend().list(ObjectKind::Key)? {
            let bytes = self.backend().read(ObjectKind::Key, &o.name)?;
            let file = KeyFile::from_json(&bytes)
                .map_err(|e| RepoError::Key(format!("key {}: {e}", o.name)))?;
            let id: KeyId = o.name.parse().map_err(RepoError::Key)?;
            out.push(KeyInfo {
                id,
                current: id == self.key_id(),
                created: file.created,
                hostname: file.hostname,
                username: file.username,
            });
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// Removes a key file; refuses the key in use and the last key.
    pub fn remove_key(&self, id: &KeyId) -> Result<()> {
        if *id == self.key_id() {
            return Err(RepoError::Key(
                "refusing to remove the key this command was opened with: open with another password first".into(),
            ));
        }
        let keys = self.backend().list(ObjectKind::Key)?;
        if !keys.iter().any(|k| k.name == id.to_hex()) {
            return Err(RepoError::Key(format!("no key {id} in this repository")));
        }
        self.backend().remove(ObjectKind::Key, &id.to_hex())?;
        Ok(())
    }

    /// Replaces the current key's password: adds the new key, then removes the old.
    pub fn change_password(&self, new_password: &[u8], kdf: KdfParams) -> Result<KeyId> {
        let new_id = self.add_key(new_password, kdf)?;
        self.backend()
            .remove(ObjectKind::Key, &self.key_id().to_hex())?;
        Ok(new_id)
    }

    /// Finds a key by a unique prefix of its id.
    pub fn find_key(&self, prefix: &str) -> Result<KeyId> {
        let matches: Vec<String> = self
            .backend()
            .list(ObjectKind::Key)?
            .into_iter()
            .map(|o| o.name)
            .filter(|n| n.starts_with(prefix))
            .collect();
        match matches.as_slice() {
            [one] => one.parse().map_err(RepoError::Key),
            [] => Err(RepoError::Key(format!(
                "no key matches {prefix:?}: see `reprise key list`"
            ))),
            _ => Err(RepoError::Key(format!(
                "{prefix:?} matches several keys: give more digits"
            ))),
        }
    }
}

impl From<CryptoError> for RepoError {
    fn from(e: CryptoError) -> Self {
        RepoError::Key(e.to_string())
    }
}
