//! Turning `--repo` into a backend, and opening or creating the repository.

use crate::cli::GlobalOptions;
use crate::password;
use anyhow::{bail, Context, Result};
use reprise_repo::{RepoError, Repository};
use reprise_storage::{Backend, LocalBackend, ObjectKind, StorageError, CONFIG_COPY_NAME};
use std::sync::Arc;

pub fn backend(global: &GlobalOptions) -> Result<Arc<dyn Backend>> {
    let Some(location) = global.repo.as_deref() else {
        bail!("no repository given: use --repo PATH or set REPRISE_REPOSITORY");
    };
    if location.starts_with("s3:") {
        return s3_backend(location);
    }
    if let Some(url) = location.strip_prefix("rest:") {
        return rest_backend(url, global);
    }
    for scheme in ["rest:", "s3:"] {
        if location.starts_with(scheme) {
            bail!("{scheme} repositories are not supported by this version yet: use a local directory");
        }
    }
    let path = location.strip_prefix("local:").unwrap_or(location);
    Ok(Arc::new(LocalBackend::new(path)))
}

/// A `rest:` location: a reprise server, with the token from
/// `REPRISE_TOKEN` (never an option, which `ps` would show) and the
/// certificate to trust from `--cacert`.
fn rest_backend(url: &str, global: &GlobalOptions) -> Result<Arc<dyn Backend>> {
    let token = std::env::var("REPRISE_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let backend = reprise_storage_rest::RestBackend::new(url, token, global.cacert.as_deref())?;
    Ok(Arc::new(backend))
}

/// An `s3:` location, with credentials and settings from the environment.
fn s3_backend(location: &str) -> Result<Arc<dyn Backend>> {
    let backend = reprise_storage_s3::S3Backend::from_env(location)
        .with_context(|| format!("cannot use the S3 repository {location}"))?;
    Ok(Arc::new(backend))
}

/// Opens the repository at `--repo`. Whether there is one is asked before
/// the password, so that a wrong path says so (exit 10) even where no
/// password is set; a wrong password names where it came from.
pub fn open(global: &GlobalOptions) -> Result<Repository> {
    Ok(open_with_source(global)?.0)
}

/// [`open`], also telling where the password came from.
pub fn open_with_source(global: &GlobalOptions) -> Result<(Repository, password::Source)> {
    let backend = backend(global)?;
    let location = backend.location();
    ensure_repository(backend.as_ref())
        .with_context(|| format!("cannot open the repository at {location}"))?;
    let (password, source) = password::current(global)?;
    let repo = Repository::open(backend, password.as_bytes())
        .map_err(|e| name_password_source(e, &source))
        .with_context(|| format!("cannot open the repository at {location}"))?;
    Ok((repo, source))
}

/// Fails with [`RepoError::NotARepository`] when `backend` holds neither
/// copy of a repository's config; any other storage error (no token, wrong
/// S3 keys) is reported as it is. One listing, not a size request: S3
/// answers a HEAD with wrong keys with a bare 403, which would read as a
/// refusal (13) instead of wrong credentials (14).
pub fn ensure_repository(backend: &dyn Backend) -> Result<(), RepoError> {
    let listed = match backend.list(ObjectKind::Config) {
        Ok(listed) => listed,
        Err(StorageError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    if listed
        .iter()
        .any(|o| o.name == "config" || o.name == CONFIG_COPY_NAME)
    {
        return Ok(());
    }
    // A local listing names `config` only: the copy may still be there.
    match backend.size(ObjectKind::Config, CONFIG_COPY_NAME) {
        Ok(_) => Ok(()),
        Err(StorageError::NotFound { .. }) => Err(RepoError::NotARepository {
            location: backend.location(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// A wrong password gains where it came from; other errors pass unchanged.
pub fn name_password_source(err: RepoError, source: &password::Source) -> anyhow::Error {
    match err {
        RepoError::WrongPassword { .. } => {
            anyhow::Error::new(err).context(format!("the password from {source} is wrong"))
        }
        other => other.into(),
    }
}
