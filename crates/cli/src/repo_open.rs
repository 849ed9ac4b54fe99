//! Turning `--repo` into a backend, and opening or creating the repository.

use crate::cli::GlobalOptions;
use crate::password;
use anyhow::{bail, Context, Result};
use reprise_repo::Repository;
use reprise_storage::{Backend, LocalBackend};
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

pub fn open(global: &GlobalOptions) -> Result<Repository> {
    let backend = backend(global)?;
    let location = backend.location();
    let password = password::current(global)?;
    Repository::open(backend, password.as_bytes())
        .with_context(|| format!("cannot open the repository at {location}"))
}
