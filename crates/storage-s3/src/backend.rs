//! `S3Backend`: the client, its private runtime, and the object operations
//! of the `Backend` trait (listing, reads, write-once puts). Locks and
//! deletion, which depend on versions and retention, are in `locks.rs`.
//!
//! The trait is synchronous and called from many threads at once; each call
//! blocks its thread on the backend's own tokio runtime, which multiplexes
//! every request over one connection pool.

use crate::errors::{bucket_error, storage_error, Failure, Op, MAX_ATTEMPTS};
use crate::location::{S3ConfigError, S3Location, S3Settings};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use base64::Engine;
use md5::{Digest, Md5};
use reprise_storage::{
    validate_name, LockPolicy, ObjectInfo, ObjectKind, Result, StorageError, WriteOutcome,
};
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// Concurrent puts of one name: how often to try again when the server says
/// another conditional write of it is in progress (409).
const CONFLICT_ATTEMPTS: u32 = 5;
/// Reads whose body broke off mid-stream (the SDK retries only up to the
/// response headers).
const BODY_ATTEMPTS: u32 = 3;

/// A repository in an S3 bucket (under a prefix).
pub struct S3Backend {
    pub(crate) location: S3Location,
    pub(crate) client: aws_sdk_s3::Client,
    /// Owned only to be shut down on drop; requests go through `handle`.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// Set once the repository's config is read (or at `init`).
    pub(crate) policy: RwLock<Option<LockPolicy>>,
    /// Whether the bucket was found to have Object Lock (asked once).
    pub(crate) bucket_locks: AtomicBool,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// A backend for `location` with credentials from the environment
    /// (see [`S3Settings::from_env`]).
    pub fn from_env(location: &str) -> std::result::Result<S3Backend, S3ConfigError> {
        S3Backend::new(S3Location::parse(location)?, S3Settings::from_env()?)
    }

    pub fn new(
        location: S3Location,
        settings: S3Settings,
    ) -> std::result::Result<S3Backend, S3ConfigError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("reprise-s3")
            .enable_all()
            .build()
            .map_err(S3ConfigError::Runtime)?;
        let client = aws_sdk_s3::Client::from_conf(sdk_config(&location, &settings));
        Ok(S3Backend {
            location,
            client,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            policy: RwLock::new(None),
            bucket_locks: AtomicBool::new(false),
        })
    }

    pub fn location_parts(&self) -> &S3Location {
        &self.location
    }

    /// The SDK client, for administrative tools and tests that must talk
    /// to the bucket directly (versions, raw puts).
    pub fn sdk_client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The key of an object in the bucket.
    pub fn object_key(&self, kind: ObjectKind, name: &str) -> Result<String> {
        validate_name(kind, name)?;
        Ok(self.location.key_of(kind, name))
    }

    /// Runs a future on the backend's runtime and waits for it. From inside
    /// another runtime (where blocking would panic) it waits on a scoped thread.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.handle.block_on(future);
        }
        std::thread::scope(|s| {
            let handle = s.spawn(|| self.handle.block_on(future));
            match handle.join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Creates the bucket, with Object Lock (and so versioning) if asked.
    /// An administrative step that `reprise` itself never takes: tests and
    /// tools use it; see docs/S3.md for doing it by hand.
    pub fn create_bucket(&self, object_lock: bool) -> Result<()> {
        let mut request = self
            .client
            .create_bucket()
            .bucket(&self.location.bucket)
            .object_lock_enabled_for_bucket(object_lock);
        let region = self.client.config().region().map(|r| r.to_string());
        if let Some(region) = region.filter(|r| r != S3Settings::DEFAULT_REGION) {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        self.block_on(request.send()).map(|_| ()).map_err(|e| {
            bucket_error(
                &self.location_text(),
                "create the bucket for",
                &Failure::of(&e),
            )
        })
    }

    pub(crate) fn location_text(&self) -> String {
        self.location.to_string()
    }

    pub(crate) fn error(&self, op: Op<'_>, failure: &Failure) -> StorageError {
        storage_error(&self.location_text(), op, failure)
    }

    pub(crate) fn policy(&self) -> Option<LockPolicy> {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check_create(&self) -> Result<()> {
        let head = self
            .client
            .head_bucket()
            .bucket(&self.location.bucket)
            .send();
        self.block_on(head).map_err(|e| {
            let mut f = Failure::of(&e);
            // HEAD has no body, so no error code: a 404 here is the bucket.
            if f.is_status(404) {
                f.code = Some("NoSuchBucket".into());
            }
            bucket_error(&self.location_text(), "create a repository in", &f)
        })?;
        if !self.list_kind(ObjectKind::Config)?.is_empty() {
            return Err(StorageError::Io {
                path: self.location_text(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a repository already exists here",
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn list_kind(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>> {
        let prefix = self.location.kind_prefix(kind);
        let op = Op {
            action: "list",
            kind,
            name: "objects",
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send();
            let page = self
                .block_on(page)
                .map_err(|e| self.error(op, &Failure::of(&e)))?;
            for object in page.contents() {
                let Some(name) = object
                    .key()
                    .and_then(|k| self.location.name_of_key(kind, k))
                else {
                    continue;
                };
                out.push(ObjectInfo {
                    name,
                    size: object.size().map_or(0, |s| s.max(0) as u64),
                    stored: object.last_modified().and_then(system_time),
                });
            }
            // A truncated page without a token would loop forever: stop.
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// GETs an object or a range of it, retrying a body that breaks off.
    pub(crate) fn get(&self, op: Op<'_>, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        let key = self.object_key(op.kind, op.name)?;
        let range = range.map(|(offset, len)| format!("bytes={offset}-{}", offset + len - 1));
        let mut last = None;
        for _ in 0..BODY_ATTEMPTS {
            let request = self
                .client
                .get_object()
                .bucket(&self.location.bucket)
                .key(&key)
                .set_range(range.clone())
                .send();
            let response = self.block_on(async {
                let response = request.await.map_err(|e| Err(Failure::of(&e)))?;
                let expected = response.content_length();
                match response.body.collect().await {
                    Ok(bytes) => Ok((bytes.to_vec(), expected)),
                    Err(e) => Err(Ok(e.to_string())),
                }
            });
            match response {
                Ok((bytes, expected)) => {
                    if expected.is_some_and(|n| n != bytes.len() as i64) {
                        last = Some(format!(
                            "the body had {} bytes instead of {expected:?}",
                            bytes.len()
                        ));
                        continue;
                    }
                    return Ok(bytes);
                }
                Err(Err(failure)) => return Err(self.error(op, &failure)),
                Err(Ok(broken)) => last = Some(broken),
            }
        }
        Err(StorageError::Remote {
            location: self.location_text(),
            detail: format!(
                "could not {} {} {}: the download broke off {BODY_ATTEMPTS} times ({}); check the network and run the command again",
                op.action,
                op.kind,
                op.name,
                last.unwrap_or_default()
            ),
        })
    }

    pub(crate) fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        let short = || StorageError::ShortRead {
            kind,
            name: name.to_string(),
            offset,
            len,
        };
        if reprise_storage::http_range_end(kind, name, offset, len, || {
            self.object_size(kind, name)
        })?
        .is_none()
        {
            return Ok(Vec::new());
        }
        let op = Op {
            action: "read",
            kind,
            name,
        };
        match self.get(op, Some((offset, len))) {
            // S3 answers a range past the end with what there is.
            Ok(bytes) if bytes.len() as u64 == len => Ok(bytes),
            Ok(_) | Err(StorageError::ShortRead { .. }) => Err(short()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn object_size(&self, kind: ObjectKind, name: &str) -> Result<u64> {
        let key = self.object_key(kind, name)?;
        let op = Op {
            action: "read the size of",
            kind,
            name,
        };
        let head = self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .send();
        let head = self
            .block_on(head)
            .map_err(|e| self.error(op, &Failure::of(&e)))?;
        Ok(head.content_length().map_or(0, |n| n.max(0) as u64))
    }

    /// Whether the key has a current version: a HEAD, so 404 is "no".
    fn exists(&self, op: Op<'_>, key: &str) -> Result<bool> {
        let head = self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send();
        match self.block_on(head) {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = Failure::of(&e);
                if f.is_status(404) {
                    Ok(false)
                } else {
                    Err(self.error(op, &f))
                }
            }
        }
    }

    /// A conditional put: `If-None-Match: *` makes the server refuse (412)
    /// when the key exists, which is the write-once rule. radosgw ignores
    /// that condition in versioned buckets (every bucket with Object Lock
    /// is versioned), so a HEAD checks first; between the two, a concurrent
    /// writer of the same name can only add a second version with the same
    /// bytes, since names derive from content. Content-MD5 lets the server
    /// reject a body damaged on the way, and S3 requires it (or a checksum)
    /// on puts that carry a retention.
    pub(crate) fn put_once(
        &self,
        kind: ObjectKind,
        name: &str,
        data: &[u8],
    ) -> Result<WriteOutcome> {
        let key = self.object_key(kind, name)?;
        let op = Op {
            action: "write",
            kind,
            name,
        };
        if self.exists(op, &key)? {
            return Ok(WriteOutcome::AlreadyExisted);
        }
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(data));
        let mut last = None;
        for attempt in 0..CONFLICT_ATTEMPTS {
            let mut request = self
                .client
                .put_object()
                .bucket(&self.location.bucket)
                .key(&key)
                .if_none_match("*")
                .content_md5(&md5)
                .content_length(data.len() as i64)
                .body(ByteStream::from(data.to_vec()));
            if let Some(policy) = self.policy() {
                let until = policy.until_from(SystemTime::now());
                request = request
                    .object_lock_mode(crate::locks::put_mode(policy.mode))
                    .object_lock_retain_until_date(DateTime::from(until));
            }
            let failure = match self.block_on(request.send()) {
                Ok(_) => return Ok(WriteOutcome::Created),
                Err(e) => Failure::of(&e),
            };
            if failure.is_status(412) {
                return Ok(WriteOutcome::AlreadyExisted);
            }
            // 409: another conditional put of this name is in flight; its
            // outcome decides ours, so ask again shortly.
            if !failure.is_status(409) {
                return Err(self.error(op, &failure));
            }
            last = Some(failure);
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
        Err(self.error(
            op,
            &last.unwrap_or(Failure {
                status: Some(409),
                code: None,
                message: "conflicting writes".into(),
            }),
        ))
    }
}

impl Drop for S3Backend {
    /// Dropping a runtime the ordinary way blocks, which panics inside
    /// another runtime (a server holding a backend); no request is in
    /// flight once the backend goes, so nothing needs waiting for.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The client configuration: explicit credentials, no profile files or
/// instance metadata (reprise runs on servers where a stray AWS profile
/// must not decide where backups go).
fn sdk_config(location: &S3Location, settings: &S3Settings) -> aws_sdk_s3::Config {
    let credentials = Credentials::new(
        &settings.access_key_id,
        &settings.secret_access_key,
        settings.session_token.clone(),
        None,
        "environment",
    );
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .endpoint_url(&location.endpoint)
        .force_path_style(settings.path_style_for(location))
        .credentials_provider(credentials)
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                // A backstop for a server that accepts and never answers; an
                // 8 MiB pack over a slow town uplink still fits.
                .operation_attempt_timeout(Duration::from_secs(600))
                .build(),
        )
        // radosgw (and other S3 servers) refuse the SDK's default flexible
        // checksums (streamed trailers); Content-MD5 is set where it matters.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build()
}

pub(crate) fn system_time(t: &DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> S3Backend {
        let settings = S3Settings {
            access_key_id: "ak".into(),
            secret_access_key: "sk".into(),
            session_token: None,
            region: S3Settings::DEFAULT_REGION.into(),
            addressing: None,
        };
        let location = S3Location::parse("s3:http://127.0.0.1:9/bucket").unwrap();
        S3Backend::new(location, settings).unwrap()
    }

    /// A server holding a backend calls it, and drops it, from async code:
    /// neither may panic the way a nested `block_on` or a blocking runtime
    /// drop would.
    #[test]
    fn usable_and_droppable_inside_another_runtime() {
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let b = backend();
        let got = outer.block_on(async { b.block_on(async { 7 }) });
        assert_eq!(got, 7);
        outer.block_on(async move { drop(b) });
    }
}
