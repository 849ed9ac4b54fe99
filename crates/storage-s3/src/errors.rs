//! Turning what S3 answered into `StorageError`s that name the object and
//! say what to do. The SDK has already retried transient failures when an
//! error reaches here, so whatever is left is reported, not retried.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use reprise_storage::{ObjectKind, StorageError};

/// Attempts the SDK makes for a request before an error reaches us.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// The request an error concerns, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'a> {
    /// A verb phrase: "read", "write", "delete", "list", "lock"…
    pub action: &'static str,
    pub kind: ObjectKind,
    pub name: &'a str,
}

/// What a failed request amounts to, independent of the SDK's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// S3's error code (`NoSuchKey`, `AccessDenied`…), when the response had one.
    pub code: Option<String>,
    /// S3's message, or the transport error's chain when no response arrived.
    pub message: String,
}

impl Failure {
    pub fn of<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let message = match err {
            SdkError::ServiceError(_) => err.message().map(str::to_string),
            _ => None,
        }
        .unwrap_or_else(|| causes(err));
        Failure {
            status,
            code: err.code().map(str::to_string),
            message,
        }
    }

    pub fn is_status(&self, status: u16) -> bool {
        self.status == Some(status)
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    fn describe(&self) -> String {
        match (&self.code, self.status) {
            (Some(code), Some(status)) => format!("HTTP {status} {code}: {}", self.message),
            (None, Some(status)) => format!("HTTP {status}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// An error and its causes, each once: "dispatch failure: io error: tcp
/// connect error: Connection refused (os error 111)".
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Codes S3 (and radosgw) give when the credentials themselves are wrong,
/// as opposed to lacking a permission.
const CREDENTIAL_CODES: [&str; 6] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "RequestTimeTooSkewed",
];

/// The `StorageError` for a failed request on one object.
pub(crate) fn storage_error(location: &str, op: Op<'_>, f: &Failure) -> StorageError {
    let what = match op.kind {
        ObjectKind::Config => format!("{} the config", op.action),
        _ => format!("{} {} {}", op.action, op.kind, op.name),
    };
    if f.is_code("NoSuchBucket") {
        return StorageError::Remote {
            location: location.to_string(),
            detail: format!(
                "the bucket does not exist (while trying to {what}): create it, with Object Lock enabled if the repository needs locks (see docs/S3.md), or correct the location"
            ),
        };
    }
    if CREDENTIAL_CODES.iter().any(|c| f.is_code(c)) {
        return StorageError::Unauthorized {
            location: location.to_string(),
            detail: format!(
                "{} (while trying to {what}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and this machine's clock",
                f.describe()
            ),
        };
    }
    match f.status {
        Some(404) => StorageError::NotFound {
            kind: op.kind,
            name: op.name.to_string(),
            location: location.to_string(),
        },
        Some(416) => StorageError::ShortRead {
            kind: op.kind,
            name: op.name.to_string(),
            offset: 0,
            len: 0,
        },
        Some(401) => StorageError::Unauthorized {
            location: location.to_string(),
            detail: format!("{} (while trying to {what}): check the credentials", f.describe()),
        },
        Some(403) => StorageError::Refused {
            action: op.action,
            kind: op.kind,
            name: op.name.to_string(),
            location: location.to_string(),
            reason: format!(
                "{}; these credentials lack the permission, or the object is protected (see docs/S3.md for the policies of backup clients and admins)",
                f.describe()
            ),
        },
        Some(_) => StorageError::Remote {
            location: location.to_string(),
            detail: format!(
                "could not {what}: {} (after {MAX_ATTEMPTS} attempts where retrying made sense); check the server's state and run the command again",
                f.describe()
            ),
        },
        None => StorageError::Remote {
            location: location.to_string(),
            detail: format!(
                "could not {what}: no answer from the server after {MAX_ATTEMPTS} attempts ({}); check the endpoint URL, the network and that the server is up, then run the command again",
                f.message
            ),
        },
    }
}

/// A failure of the bucket itself (no object concerned), e.g. on `create`.
pub(crate) fn bucket_error(location: &str, action: &'static str, f: &Failure) -> StorageError {
    storage_error(
        location,
        Op {
            action,
            kind: ObjectKind::Config,
            name: "config",
        },
        f,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOC: &str = "s3:http://127.0.0.1:9000/bucket/p";

    fn failure(status: Option<u16>, code: Option<&str>, message: &str) -> Failure {
        Failure {
            status,
            code: code.map(str::to_string),
            message: message.to_string(),
        }
    }

    fn op() -> Op<'static> {
        Op {
            action: "read",
            kind: ObjectKind::Pack,
            name: "ab12",
        }
    }

    #[test]
    fn missing_objects_are_not_found_and_missing_buckets_say_so() {
        let e = storage_error(LOC, op(), &failure(Some(404), Some("NoSuchKey"), "gone"));
        assert!(
            matches!(e, StorageError::NotFound { kind: ObjectKind::Pack, ref name, .. } if name == "ab12")
        );
        let e = storage_error(LOC, op(), &failure(Some(404), None, "HEAD"));
        assert!(matches!(e, StorageError::NotFound { .. }));
        let e = storage_error(
            LOC,
            op(),
            &failure(Some(404), Some("NoSuchBucket"), "no bucket"),
        );
        let text = e.to_string();
        assert!(matches!(e, StorageError::Remote { .. }));
        assert!(
            text.contains("bucket does not exist") && text.contains("create it"),
            "{text}"
        );
    }

    #[test]
    fn bad_credentials_are_unauthorized_and_missing_permissions_refused() {
        for code in [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "RequestTimeTooSkewed",
        ] {
            let e = storage_error(LOC, op(), &failure(Some(403), Some(code), "no"));
            assert!(
                matches!(e, StorageError::Unauthorized { .. }),
                "{code}: {e}"
            );
            assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
        }
        let e = storage_error(
            LOC,
            op(),
            &failure(Some(403), Some("AccessDenied"), "Access Denied"),
        );
        let text = e.to_string();
        assert!(
            matches!(e, StorageError::Refused { action: "read", .. }),
            "{e}"
        );
        assert!(
            text.contains("pack ab12") && text.contains("docs/S3.md"),
            "{text}"
        );
    }

    #[test]
    fn server_and_network_failures_are_remote_and_name_the_object() {
        let e = storage_error(
            LOC,
            op(),
            &failure(Some(503), Some("SlowDown"), "slow down"),
        );
        let text = e.to_string();
        assert!(matches!(e, StorageError::Remote { .. }));
        assert!(
            text.contains("read pack ab12") && text.contains("HTTP 503 SlowDown"),
            "{text}"
        );
        assert!(text.contains("5 attempts"), "{text}");
        let e = storage_error(LOC, op(), &failure(None, None, "connection refused"));
        let text = e.to_string();
        assert!(
            text.contains("no answer") && text.contains("connection refused"),
            "{text}"
        );
        assert!(text.contains("endpoint URL"), "{text}");
    }

    #[test]
    fn a_range_beyond_the_end_is_a_short_read() {
        let e = storage_error(
            LOC,
            op(),
            &failure(Some(416), Some("InvalidRange"), "range"),
        );
        assert!(matches!(e, StorageError::ShortRead { .. }));
    }
}
