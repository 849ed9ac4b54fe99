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
    for scheme in ["rest:", "s3:"] {
        if location.starts_with(scheme) {
            bail!("{scheme} repositories are not supported by this version yet: use a local directory");
        }
    }
    let path = location.strip_prefix("local:").unwrap_or(location);
    Ok(Arc::new(LocalBackend::new(path)))
}

pub fn open(global: &GlobalOptions) -> Result<Repository> {
    let backend = backend(global)?;
    let location = backend.location();
    let password = password::current(global)?;
    Repository::open(backend, password.as_bytes())
        .with_context(|| format!("cannot open the repository at {location}"))
}
