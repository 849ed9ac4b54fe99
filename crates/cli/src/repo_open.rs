//! Turning `--repo` (or `--repository NAME` of the configuration file)
//! into a backend, and opening or creating the repository.

use crate::cli::GlobalOptions;
use crate::password;
use anyhow::{anyhow, bail, Context, Result};
use reprise_repo::{RepoError, Repository};
use reprise_services::config::reach::{host_and_port, tcp_answers};
use reprise_services::config::{LoadedConfig, RepositoryConfig};
use reprise_storage::{Backend, LocalBackend, ObjectKind, StorageError, CONFIG_COPY_NAME};
use std::sync::Arc;
use std::time::Duration;

/// The global options with the repository the configuration file names
/// filled in: `--repository NAME`'s, or, when no repository is given at
/// all (`--repo`, `REPRISE_REPOSITORY`), the one marked `default = true`.
/// Without a configuration file, the options are returned as they are.
pub fn with_configured_repository(global: &GlobalOptions) -> Result<GlobalOptions> {
    let mut resolved = global.clone();
    if global.repository.is_none() && global.repo.is_some() {
        return Ok(resolved);
    }
    let Some(loaded) = crate::commands::config::load(global)? else {
        if let Some(name) = &global.repository {
            let (path, _) = crate::commands::config::config_path(global);
            bail!(
                "--repository {name}: there is no configuration file at {}: write one (docs/CONFIG.md), or name it with --config FILE",
                path.display()
            );
        }
        return Ok(resolved);
    };
    let Some((name, entry)) = configured_repository(global, &loaded)? else {
        return Ok(resolved);
    };
    let origin = format!("[repositories.{name}] in {}", loaded.path.display());
    resolved.repo = Some(entry.location.clone());
    // The entry's password source replaces the options': they may be set
    // in the environment for another repository.
    if entry.password_command.is_some()
        || entry.password_file.is_some()
        || entry.password_env.is_some()
    {
        resolved.password_command = entry.password_command.clone();
        resolved.password_file = entry.password_file.clone();
        resolved.password_env = entry.password_env.clone();
        resolved.password_origin = Some(origin);
    }
    Ok(resolved)
}

/// `--repository NAME`'s entry, or the default one when no repository is
/// given; an unknown name lists the configured ones.
fn configured_repository<'a>(
    global: &GlobalOptions,
    loaded: &'a LoadedConfig,
) -> Result<Option<(&'a str, &'a RepositoryConfig)>> {
    let repositories = &loaded.config.repositories;
    match &global.repository {
        Some(name) => match repositories.get_key_value(name) {
            Some((name, entry)) => Ok(Some((name.as_str(), entry))),
            None => {
                let known: Vec<&str> = repositories.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "it names none".to_string()
                } else {
                    format!("it names {}", known.join(", "))
                };
                bail!(
                    "--repository {name}: no [repositories.{name}] in {} ({known})",
                    loaded.path.display()
                )
            }
        },
        None => Ok(repositories
            .iter()
            .find(|(_, entry)| entry.default)
            .map(|(name, entry)| (name.as_str(), entry))),
    }
}

/// Whether the repository at `location` can be reached now: a directory
/// must hold a repository, a `rest:` server or `s3:` endpoint must accept
/// a connection. Credentials are not tried, nor required: an `s3:`
/// location is only parsed, since its keys may be set for the nightly job
/// alone.
pub fn reachable(global: &GlobalOptions, location: &str, timeout: Duration) -> Result<()> {
    let mut options = global.clone();
    options.repo = Some(location.to_string());
    let Some((host, port)) = network_address(location)? else {
        return Ok(ensure_repository(backend(&options)?.as_ref())?);
    };
    if location.starts_with("rest:") {
        // The URL and --cacert checked as every command would check them.
        backend(&options)?;
    }
    tcp_answers(&host, port, timeout)
        .map_err(|why| anyhow!("{host}:{port} does not accept connections ({why})"))
}

/// The host and port a `rest:` or `s3:` location connects to, or `None`
/// for a directory.
fn network_address(location: &str) -> Result<Option<(String, u16)>> {
    let endpoint = if location.starts_with("s3:") {
        reprise_storage_s3::S3Location::parse(location)?.endpoint
    } else if let Some(url) = location.strip_prefix("rest:") {
        url.to_string()
    } else {
        return Ok(None);
    };
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| anyhow!("{location}: no scheme in {endpoint}"))?;
    let default_port = if scheme == "http" { 80 } else { 443 };
    let authority = rest.split('/').next().unwrap_or_default();
    host_and_port(authority, default_port)
        .map(Some)
        .ok_or_else(|| anyhow!("{location}: no host in {endpoint}"))
}

pub fn backend(global: &GlobalOptions) -> Result<Arc<dyn Backend>> {
    let Some(location) = global.repo.as_deref() else {
        bail!("no repository given: use --repo PATH, set REPRISE_REPOSITORY, or name one of the configuration file with --repository NAME (or mark one `default = true`)");
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
