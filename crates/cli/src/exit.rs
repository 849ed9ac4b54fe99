//! Exit codes, as documented in docs/CLI.md, and how errors map to them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0  | success |
//! | 1  | fatal error, `check` found damage, or `config check` found errors |
//! | 2  | wrong usage (unknown option, missing argument) |
//! | 3  | done, but incomplete: a backup skipped unreadable files (its snapshot is written), a restore could not restore some files, or `locks extend` could not renew some locks |
//! | 4  | ransomware: a backup's detection (or `reprise detect`) concluded `attack`; the snapshot is written |
//! | 10 | the repository does not exist |
//! | 12 | wrong password |
//! | 13 | the storage refused: an append-only token asked to delete, or an object is under a retention lock |
//! | 14 | the storage did not accept the credentials (token, S3 keys) |

use reprise_repo::RepoError;
use reprise_storage::StorageError;

pub const OK: u8 = 0;
pub const FATAL: u8 = 1;
pub const INCOMPLETE: u8 = 3;
pub const ATTACK: u8 = 4;
pub const NO_REPOSITORY: u8 = 10;
pub const WRONG_PASSWORD: u8 = 12;
pub const REFUSED: u8 = 13;
pub const UNAUTHORIZED: u8 = 14;

/// A refusal decided before asking the storage, because it has already
/// said it would refuse: exit code 13, as if it had.
#[derive(Debug)]
pub struct RefusedUpFront(pub String);

impl std::fmt::Display for RefusedUpFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedUpFront {}

/// Prints an error with its causes and returns its exit code.
pub fn report(err: &anyhow::Error) -> u8 {
    eprintln!("reprise: error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    code_of(err)
}

fn code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<RefusedUpFront>() {
            return REFUSED;
        }
        if let Some(repo) = cause.downcast_ref::<RepoError>() {
            return match repo {
                RepoError::NotARepository { .. } => NO_REPOSITORY,
                RepoError::WrongPassword { .. } => WRONG_PASSWORD,
                _ => repo.storage().map_or(FATAL, code_of_storage),
            };
        }
        if let Some(storage) = cause.downcast_ref::<StorageError>() {
            return code_of_storage(storage);
        }
    }
    FATAL
}

fn code_of_storage(err: &StorageError) -> u8 {
    match err {
        StorageError::Refused { .. } | StorageError::Locked { .. } => REFUSED,
        StorageError::Unauthorized { .. } => UNAUTHORIZED,
        _ => FATAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_storage::ObjectKind;
    use std::sync::Arc;

    fn refusal() -> StorageError {
        StorageError::Refused {
            action: "write",
            kind: ObjectKind::Pack,
            name: "00".into(),
            location: "rest:https://127.0.0.1/m".into(),
            reason: "append-only".into(),
        }
    }

    /// A refusal is exit 13 however it reaches the CLI: bare, in a
    /// `RepoError`, or as the shared error of a failed parallel upload.
    #[test]
    fn a_refusal_is_exit_13_however_it_is_wrapped() {
        let upload = RepoError::Upload(Arc::new(refusal()));
        for err in [
            anyhow::Error::new(refusal()),
            anyhow::Error::new(RepoError::Storage(refusal())),
            anyhow::Error::new(upload).context("backup failed"),
        ] {
            assert_eq!(code_of(&err), REFUSED, "{err:#}");
        }
    }
}
