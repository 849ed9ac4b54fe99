//! Quotas: how many bytes each token has added, kept across restarts.
//!
//! Usage counts what a token's creations cost the server's disk: each
//! object's bytes plus [`OBJECT_CHARGE`], each repository [`REPO_CHARGE`]
//! (an upload refused as already present costs nothing). Uploads in flight
//! hold a reservation, so two parallel uploads cannot both squeeze under
//! the quota. The counts are rewritten atomically to `data_dir/usage.json`
//! before a creation becomes visible, and a creation whose cost cannot be
//! recorded is refused, so neither a restart nor a full disk resets a
//! quota.

use crate::ServerError;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What an object costs beyond its bytes: a file-system block for its
/// inode and directory entry, so that many tiny objects are not free.
pub(crate) const OBJECT_CHARGE: u64 = 4096;
/// What a new repository costs: a block for each of the 263 directories
/// of its layout (the root, six kinds and `tmp`, and 256 pack directories).
pub(crate) const REPO_CHARGE: u64 = 263 * 4096;

/// The refusal of an upload that would pass the quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverQuota {
    pub used: u64,
    pub quota: u64,
    pub wanted: u64,
}

impl std::fmt::Display for OverQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "quota exceeded: this token has added {} of its {} bytes and the upload is {} bytes; \
             ask the server's administrator for a larger quota",
            self.used, self.quota, self.wanted
        )
    }
}

/// Bytes held for an upload until it is committed or released.
#[derive(Debug)]
#[must_use]
pub(crate) struct Reservation {
    token: String,
    bytes: u64,
}

/// Bytes recorded as used, which [`Usage::refund`] gives back when the
/// creation they paid for does not happen after all.
#[derive(Debug)]
#[must_use]
pub(crate) struct Charged {
    token: String,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Counts {
    used: BTreeMap<String, u64>,
    reserved: BTreeMap<String, u64>,
}

impl Counts {
    fn taken(&self, token: &str) -> u64 {
        let used = self.used.get(token).copied().unwrap_or(0);
        used.saturating_add(self.reserved.get(token).copied().unwrap_or(0))
    }
}

/// Usage of every token.
#[derive(Debug)]
pub(crate) struct Usage {
    path: PathBuf,
    counts: Mutex<Counts>,
    writing: Mutex<()>,
}

impl Usage {
    /// Loads the usage file (absent: nothing used yet).
    pub fn open(path: &Path) -> Result<Usage, ServerError> {
        Ok(Usage {
            path: path.to_path_buf(),
            counts: Mutex::new(Counts {
                used: Usage::read_file(path)?,
                reserved: BTreeMap::new(),
            }),
            writing: Mutex::new(()),
        })
    }

    pub fn read_file(path: &Path) -> Result<BTreeMap<String, u64>, ServerError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServerError::Config {
                path: path.to_path_buf(),
                detail: format!("unreadable usage file: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ServerError::io(path, e)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update
        // is a single insert.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes the token may still add (`None`: no quota).
    pub fn remaining(&self, token: &str, quota: Option<u64>) -> Option<u64> {
        quota.map(|q| q.saturating_sub(self.lock().taken(token)))
    }

    /// Checks `bytes` against the quota without holding them.
    pub fn check(&self, token: &str, quota: Option<u64>, bytes: u64) -> Result<(), OverQuota> {
        let Some(quota) = quota else { return Ok(()) };
        let used = self.lock().taken(token);
        if used.saturating_add(bytes) > quota {
            return Err(OverQuota {
                used,
                quota,
                wanted: bytes,
            });
        }
        Ok(())
    }

    /// Holds `bytes` for an upload, if the quota allows them.
    pub fn reserve(
        &self,
        token: &str,
        quota: Option<u64>,
        bytes: u64,
    ) -> Result<Reservation, OverQuota> {
        let mut counts = self.lock();
        let used = counts.taken(token);
        if let Some(quota) = quota {
            if used.saturating_add(bytes) > quota {
                return Err(OverQuota {
                    used,
                    quota,
                    wanted: bytes,
                });
            }
        }
        let held = counts.reserved.entry(token.to_string()).or_default();
        *held = held.saturating_add(bytes);
        Ok(Reservation {
            token: token.to_string(),
            bytes,
        })
    }

    /// Counts a reservation's bytes as used, and persists every count.
    /// When the counts cannot be persisted, the bytes are not counted and
    /// the creation must not happen. Blocking (it writes and syncs a file).
    pub fn commit(&self, r: Reservation) -> Result<Charged, ServerError> {
        {
            let mut counts = self.lock();
            unreserve(&mut counts, &r);
            let used = counts.used.entry(r.token.clone()).or_default();
            *used = used.saturating_add(r.bytes);
        }
        let charged = Charged {
            token: r.token,
            bytes: r.bytes,
        };
        if let Err(e) = self.persist() {
            self.uncount(&charged);
            return Err(e);
        }
        Ok(charged)
    }

    /// Gives back bytes charged for a creation that did not happen. If the
    /// file cannot be rewritten, the disk keeps the higher count: a quota
    /// errs on the side of the server. Blocking.
    pub fn refund(&self, c: Charged) -> Result<(), ServerError> {
        self.uncount(&c);
        self.persist()
    }

    fn uncount(&self, c: &Charged) {
        let mut counts = self.lock();
        if let Some(used) = counts.used.get_mut(&c.token) {
            *used = used.saturating_sub(c.bytes);
        }
    }

    /// Writes the latest counts. Writers take turns, each writing the
    /// counts as they are when its turn comes, so the file ends up with
    /// the newest.
    fn persist(&self) -> Result<(), ServerError> {
        let _turn = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let used = self.lock().used.clone();
        let json = serde_json::to_vec_pretty(&used).map_err(|e| ServerError::Config {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let temp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&temp, &self.path)?;
            fs::File::open(crate::config::dir_of(&self.path))?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| ServerError::io(&self.path, e))
    }
}

fn unreserve(counts: &mut Counts, r: &Reservation) {
    if let Some(held) = counts.reserved.get_mut(&r.token) {
        *held = held.saturating_sub(r.bytes);
        if *held == 0 {
            counts.reserved.remove(&r.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_and_charges_count_until_refunded() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Usage::open(&dir.path().join("usage.json")).unwrap();
        let q = Some(100);
        let a = usage.reserve("pc", q, 60).unwrap();
        assert_eq!(
            usage.reserve("pc", q, 50).unwrap_err(),
            OverQuota {
                used: 60,
                quota: 100,
                wanted: 50
            }
        );
        assert!(usage.check("pc", q, 41).is_err());
        assert!(usage.check("pc", q, 40).is_ok());
        assert!(
            usage.reserve("other", q, 100).is_ok(),
            "quotas are per token"
        );
        let charged = usage.commit(a).unwrap();
        assert_eq!(usage.remaining("pc", q), Some(40));
        usage.refund(charged).unwrap();
        assert_eq!(usage.remaining("pc", q), Some(100));
        assert_eq!(usage.remaining("pc", None), None);
        assert!(
            usage.reserve("pc", None, u64::MAX).is_ok(),
            "no quota, no limit"
        );
    }

    #[test]
    fn committed_usage_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let usage = Usage::open(&path).unwrap();
        let r = usage.reserve("pc", Some(100), 70).unwrap();
        let _ = usage.commit(r).unwrap();
        let r = usage.reserve("pc", Some(100), 20).unwrap();
        let _ = usage.commit(r).unwrap();
        drop(usage);
        let usage = Usage::open(&path).unwrap();
        assert_eq!(usage.remaining("pc", Some(100)), Some(10));
        assert!(usage.check("pc", Some(100), 11).is_err());
        assert_eq!(Usage::read_file(&path).unwrap()["pc"], 90);
    }

    #[test]
    fn a_damaged_usage_file_stops_the_server_rather_than_resetting_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Usage::open(&path),
            Err(ServerError::Config { .. })
        ));
    }

    #[test]
    fn a_creation_whose_cost_cannot_be_recorded_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let usage = Usage::open(&path).unwrap();
        // What a repository named after the temporary file did.
        fs::create_dir(path.with_extension("json.tmp")).unwrap();
        let r = usage.reserve("pc", Some(100), 70).unwrap();
        assert!(usage.commit(r).is_err());
        assert_eq!(usage.remaining("pc", Some(100)), Some(100));
        fs::remove_dir(path.with_extension("json.tmp")).unwrap();
        let r = usage.reserve("pc", Some(100), 70).unwrap();
        let charged = usage.commit(r).unwrap();
        usage.refund(charged).unwrap();
        assert_eq!(Usage::read_file(&path).unwrap()["pc"], 0);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
