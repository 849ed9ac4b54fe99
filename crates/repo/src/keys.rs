//! Key files: adding, listing, removing and changing the passwords that open
//! a repository. Each key file wraps the same master key.

use crate::{RepoError, Repository, Result};
use rayon::prelude::*;
use reprise_crypto::{KdfParams, KeyFile, MasterKey};
use reprise_format::{FormatError, KeyId};
use reprise_storage::{Backend, ObjectKind};

/// A key file as `key list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// The key file's name (its id in hex).
    pub id: String,
    pub current: bool,
    pub created: String,
    pub hostname: String,
    pub username: String,
    /// Why the key file cannot be used, when it is damaged: no password
    /// opens it, though other key files may still open the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// A key file that no password can open, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedKey {
    pub name: String,
    pub reason: String,
}

/// Reads a key file and checks what can be checked without a password:
/// its name against its bytes, its JSON, and its structure.
fn read_key_file(backend: &dyn Backend, name: &str) -> std::result::Result<KeyFile, String> {
    let bytes = backend
        .read(ObjectKind::Key, name)
        .map_err(|e| e.to_string())?;
    // A key file is named by its hash like every object; one that is not was damaged.
    crate::index::verify_name(name, &bytes)?;
    let file = KeyFile::from_json(&bytes).map_err(|e| e.to_string())?;
    file.check_structure().map_err(|e| e.to_string())?;
    Ok(file)
}

/// Every key file that no password can open.
pub(crate) fn damaged_keys(backend: &dyn Backend) -> Result<Vec<DamagedKey>> {
    let names = backend.list(ObjectKind::Key)?;
    let mut damaged: Vec<DamagedKey> = names
        .par_iter()
        .filter_map(|o| {
            read_key_file(backend, &o.name)
                .err()
                .map(|reason| DamagedKey {
                    name: o.name.clone(),
                    reason,
                })
        })
        .collect();
    damaged.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(damaged)
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
    )?;
    let bytes = file.to_json()?;
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
        let key = read_key_file(backend, &o.name)
            .ok()?
            .unlock(password)
            .ok()?;
        Some((o.name.parse::<KeyId>().ok()?, key))
    });
    if let Some(found) = found {
        return Ok(found);
    }
    // No key opened: a wrong password, unless some key files are damaged,
    // in which case the password may well be theirs.
    let damaged = damaged_keys(backend)?;
    if damaged.is_empty() {
        Err(RepoError::WrongPassword { keys: names.len() })
    } else {
        Err(RepoError::DamagedKeys {
            intact: names.len().saturating_sub(damaged.len()),
            damaged,
        })
    }
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

    /// Every key file, damaged ones included (with the reason).
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let current = self.key_id().to_hex();
        let mut out: Vec<KeyInfo> = self
            .backend()
            .list(ObjectKind::Key)?
            .into_iter()
            .map(|o| match read_key_file(self.backend(), &o.name) {
                Ok(file) => KeyInfo {
                    current: o.name == current,
                    id: o.name,
                    created: file.created,
                    hostname: file.hostname,
                    username: file.username,
                    damaged: None,
                },
                Err(reason) => KeyInfo {
                    current: false,
                    id: o.name,
                    created: String::new(),
                    hostname: String::new(),
                    username: String::new(),
                    damaged: Some(reason),
                },
            })
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Every key file no password can open (what `check` reports).
    pub fn damaged_keys(&self) -> Result<Vec<DamagedKey>> {
        damaged_keys(self.backend())
    }

    /// Removes a key file; refuses the key in use and the last key.
    pub fn remove_key(&self, id: &KeyId) -> Result<()> {
        if *id == self.key_id() {
            return Err(RepoError::KeyInUse);
        }
        let keys = self.backend().list(ObjectKind::Key)?;
        if !keys.iter().any(|k| k.name == id.to_hex()) {
            return Err(RepoError::KeyNotFound(*id));
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
            [one] => one.parse().map_err(|detail| {
                RepoError::format(
                    format!("keys/{one}"),
                    FormatError::Malformed {
                        what: "key file name",
                        detail,
                    },
                )
            }),
            [] => Err(RepoError::NoKeyMatches(prefix.to_string())),
            _ => Err(RepoError::AmbiguousKey(prefix.to_string())),
        }
    }
}
