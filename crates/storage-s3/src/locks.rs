//! Object Lock: checking that the bucket has it, reading and extending an
//! object's retention, and deleting every version of an object, which is
//! where the storage's refusal shows.
//!
//! In a bucket with Object Lock every put makes a new *version*; a plain
//! delete only adds a delete marker that hides the object. So `remove`
//! deletes each version by id, and a version still under retention makes
//! the server refuse: that refusal becomes `StorageError::Locked`.

use crate::backend::{system_time, S3Backend};
use crate::errors::{Failure, Op};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ObjectLockEnabled, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use reprise_storage::{LockMode, LockPolicy, ObjectKind, ObjectLock, Result, StorageError};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

pub(crate) fn put_mode(mode: LockMode) -> ObjectLockMode {
    match mode {
        LockMode::Governance => ObjectLockMode::Governance,
        LockMode::Compliance => ObjectLockMode::Compliance,
    }
}

fn retention_mode(mode: LockMode) -> ObjectLockRetentionMode {
    match mode {
        LockMode::Governance => ObjectLockRetentionMode::Governance,
        LockMode::Compliance => ObjectLockRetentionMode::Compliance,
    }
}

fn lock_mode(mode: &ObjectLockRetentionMode) -> Option<LockMode> {
    match mode {
        ObjectLockRetentionMode::Governance => Some(LockMode::Governance),
        ObjectLockRetentionMode::Compliance => Some(LockMode::Compliance),
        _ => None,
    }
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{t:?}"))
}

/// Whole seconds since the epoch: S3 keeps retain-until dates to the
/// second, so finer comparisons would see a lock as shorter than asked.
fn seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One stored version of a key (or a delete marker).
struct Version {
    id: Option<String>,
}

impl S3Backend {
    /// Accepts a lock policy only for a bucket created with Object Lock:
    /// elsewhere the retention headers would be refused, or worse, ignored.
    pub(crate) fn set_policy(&self, policy: Option<LockPolicy>) -> Result<()> {
        if policy.is_some() && !self.bucket_locks.load(Ordering::Relaxed) {
            self.check_bucket_has_object_lock()?;
            self.bucket_locks.store(true, Ordering::Relaxed);
        }
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        Ok(())
    }

    fn check_bucket_has_object_lock(&self) -> Result<()> {
        let request = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.location.bucket)
            .send();
        let enabled = match self.block_on(request) {
            Ok(out) => {
                out.object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled)
            }
            Err(e) => {
                let f = Failure::of(&e);
                // "No configuration" is a 404 on AWS and radosgw alike,
                // as is a missing bucket, which is another matter.
                let no_configuration = f.is_status(404) && !f.is_code("NoSuchBucket");
                if !no_configuration {
                    return Err(crate::errors::bucket_error(
                        &self.location_text(),
                        "read the Object Lock configuration for",
                        &f,
                    ));
                }
                false
            }
        };
        if enabled {
            Ok(())
        } else {
            Err(StorageError::Unsupported {
                location: self.location_text(),
                what: "object locks: the bucket does not have Object Lock enabled; create a bucket with Object Lock enabled (see docs/S3.md) and put the repository there",
            })
        }
    }

    /// The retention of one version (the current one for `None`), or the
    /// failure when the request failed for another reason than "no retention".
    async fn retention_of(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> std::result::Result<Option<ObjectLock>, Failure> {
        let request = self
            .client
            .get_object_retention()
            .bucket(&self.location.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send();
        match request.await {
            Ok(out) => Ok(out.retention().and_then(|r| {
                Some(ObjectLock {
                    mode: lock_mode(r.mode()?)?,
                    until: system_time(r.retain_until_date()?)?,
                })
            })),
            Err(e) => {
                let f = Failure::of(&e);
                // An object without retention: AWS says
                // NoSuchObjectLockConfiguration, radosgw
                // ObjectLockConfigurationNotFoundError, both 404s that are
                // not a missing key. A bucket without Object Lock: 400
                // InvalidRequest on both.
                let no_retention = (f.is_status(404)
                    && !f.is_code("NoSuchKey")
                    && !f.is_code("NoSuchBucket")
                    && !f.is_code("NoSuchVersion"))
                    || (f.is_status(400) && f.is_code("InvalidRequest"));
                if no_retention {
                    Ok(None)
                } else {
                    Err(f)
                }
            }
        }
    }

    pub(crate) fn retention_lock(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Option<ObjectLock>> {
        let key = self.object_key(kind, name)?;
        let op = Op {
            action: "read the lock of",
            kind,
            name,
        };
        self.block_on(self.retention_of(&key, None))
            .map_err(|f| self.error(op, &f))
    }

    /// Extends the current version's retention to `until`; a lock already
    /// reaching that far is left alone (S3 refuses to shorten one anyway).
    pub(crate) fn extend_retention(
        &self,
        kind: ObjectKind,
        name: &str,
        until: SystemTime,
    ) -> Result<()> {
        let current = self.retention_lock(kind, name)?;
        if current.is_some_and(|l| seconds(l.until) >= seconds(until)) {
            return Ok(());
        }
        // Never weaken: compliance stays compliance.
        let mode = match (self.policy().map(|p| p.mode), current.map(|l| l.mode)) {
            (Some(LockMode::Compliance), _) | (_, Some(LockMode::Compliance)) => {
                LockMode::Compliance
            }
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) => {
                return Err(StorageError::Unsupported {
                    location: self.location_text(),
                    what: "locking an object without a lock policy (open the repository first)",
                })
            }
        };
        let key = self.object_key(kind, name)?;
        let retention = ObjectLockRetention::builder()
            .mode(retention_mode(mode))
            .retain_until_date(DateTime::from(until))
            .build();
        let request = self
            .client
            .put_object_retention()
            .bucket(&self.location.bucket)
            .key(&key)
            .retention(retention)
            .send();
        let op = Op {
            action: "extend the lock of",
            kind,
            name,
        };
        self.block_on(request)
            .map(|_| ())
            .map_err(|e| self.error(op, &Failure::of(&e)))
    }

    /// Every version and delete marker of exactly `key`, versions first.
    async fn versions_of(&self, key: &str) -> std::result::Result<Vec<Version>, Failure> {
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.location.bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| Failure::of(&e))?;
            let id = |v: Option<&str>| Version {
                id: v.map(str::to_string),
            };
            versions.extend(
                page.versions()
                    .iter()
                    .filter(|v| v.key() == Some(key))
                    .map(|v| id(v.version_id())),
            );
            markers.extend(
                page.delete_markers()
                    .iter()
                    .filter(|m| m.key() == Some(key))
                    .map(|m| id(m.version_id())),
            );
            match (page.is_truncated(), page.next_key_marker()) {
                (Some(true), Some(next)) => {
                    key_marker = Some(next.to_string());
                    version_marker = page.next_version_id_marker().map(str::to_string);
                }
                _ => break,
            }
        }
        // Delete markers last: removing them first would bring back a
        // version that may then turn out to be locked.
        versions.extend(markers);
        Ok(versions)
    }

    /// Deletes every version of the object, so its bytes really go.
    pub(crate) fn remove_versions(&self, kind: ObjectKind, name: &str) -> Result<()> {
        let key = self.object_key(kind, name)?;
        let op = Op {
            action: "delete",
            kind,
            name,
        };
        let versions = self
            .block_on(self.versions_of(&key))
            .map_err(|f| self.error(op, &f))?;
        if versions.is_empty() {
            return Err(StorageError::NotFound {
                kind,
                name: name.to_string(),
                location: self.location_text(),
            });
        }
        for version in versions {
            let request = self
                .client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(&key)
                .set_version_id(version.id.clone())
                .send();
            if let Err(e) = self.block_on(request) {
                let f = Failure::of(&e);
                return Err(self.refusal(op, &key, version.id.as_deref(), f));
            }
        }
        Ok(())
    }

    /// Why a delete failed: a retention still running makes it `Locked`.
    fn refusal(&self, op: Op<'_>, key: &str, version: Option<&str>, f: Failure) -> StorageError {
        if f.is_status(403) {
            let lock = self.block_on(self.retention_of(key, version));
            if let Ok(Some(lock)) = lock {
                if lock.until > SystemTime::now() {
                    return StorageError::Locked {
                        kind: op.kind,
                        name: op.name.to_string(),
                        location: self.location_text(),
                        until: format!("{} ({} mode)", rfc3339(lock.until), lock.mode),
                    };
                }
            }
        }
        self.error(op, &f)
    }
}
