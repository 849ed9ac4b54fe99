//! The S3 storage backend: a repository under a prefix of a bucket on any
//! S3-compatible object storage, with S3 Object Lock as storage-enforced
//! retention.
//!
//! What it promises on top of the `Backend` contract:
//! - **Write once**: every put is conditional (`If-None-Match: *`), so an
//!   existing object is never replaced by reprise; Content-MD5 makes the
//!   server reject a body damaged in transit; a put either creates the
//!   whole object or nothing (S3 puts are atomic), and a retried put that
//!   finds the object already there reports `AlreadyExisted`.
//! - **Locks**: once a lock policy is set (`init --object-lock`, or opening
//!   a repository whose config has one), every put carries the policy's
//!   mode and a retain-until date of now + retention, so even credentials
//!   stolen from a backup client cannot delete or overwrite what is stored.
//! - **Deletion** removes every version of a key, and reports a version the
//!   storage keeps under retention as `StorageError::Locked`.
//!
//! The async boundary: the SDK is async, the trait is not. The backend owns
//! a small tokio runtime and blocks the calling thread on it per request;
//! nothing above this crate sees a future.
mod backend;
mod errors;
mod location;
mod locks;

pub use aws_sdk_s3 as sdk;
pub use backend::S3Backend;
pub use location::{Addressing, S3ConfigError, S3Location, S3Settings};

use reprise_storage::{
    Backend, LockPolicy, ObjectInfo, ObjectKind, ObjectLock, Result, WriteOutcome,
};
use std::time::SystemTime;

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.location_text()
    }

    fn create(&self) -> Result<()> {
        self.check_create()
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        self.list_kind(kind)
    }

    fn read(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>> {
        let op = errors::Op {
            action: "read",
            kind,
            name,
        };
        self.get(op, None)
    }

    fn read_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.get_range(kind, name, offset, len)
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        self.object_size(kind, name)
    }

    fn write_once(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<WriteOutcome> {
        self.put_once(kind, name, data)
    }

    fn remove(&self, kind: ObjectKind, name: &str) -> Result<()> {
        self.remove_versions(kind, name)
    }

    fn set_lock_policy(&self, policy: Option<LockPolicy>) -> Result<()> {
        self.set_policy(policy)
    }

    fn lock_of(&self, kind: ObjectKind, name: &str) -> Result<Option<ObjectLock>> {
        self.retention_lock(kind, name)
    }

    fn extend_lock(&self, kind: ObjectKind, name: &str, until: SystemTime) -> Result<()> {
        self.extend_retention(kind, name, until)
    }
}
