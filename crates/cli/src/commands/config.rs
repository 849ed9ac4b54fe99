//! `reprise config check`, and finding the configuration file (`--config`,
//! `REPRISE_CONFIG`, `/etc/reprise/reprise.toml`) for every command that
//! reads it.

use crate::cli::{ConfigCheckArgs, ConfigCommand, GlobalOptions};
use crate::{exit, output, repo_open};
use anyhow::{bail, Result};
use reprise_services::config::reach::CONNECT_TIMEOUT;
use reprise_services::config::{ConfigErrors, LoadedConfig, Problem, Severity};
use std::path::{Path, PathBuf};

/// Where the configuration is when neither `--config` nor
/// `REPRISE_CONFIG` says.
pub const DEFAULT_CONFIG: &str = "/etc/reprise/reprise.toml";

/// The configuration file's path, and whether the user named it (a file
/// named must exist; the default may be missing).
pub fn config_path(global: &GlobalOptions) -> (PathBuf, bool) {
    if let Some(path) = &global.config {
        return (path.clone(), true);
    }
    match std::env::var_os("REPRISE_CONFIG").filter(|v| !v.is_empty()) {
        Some(path) => (PathBuf::from(path), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    }
}

/// The configuration, or `None` when the default file does not exist and
/// none was named.
pub fn load(global: &GlobalOptions) -> Result<Option<LoadedConfig>> {
    let (path, named) = config_path(global);
    if !named && !path.exists() {
        return Ok(None);
    }
    match LoadedConfig::load(&path) {
        Ok(loaded) => Ok(Some(loaded)),
        Err(ConfigErrors::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "the configuration file {} does not exist: correct --config or REPRISE_CONFIG, or write it (docs/CONFIG.md)",
                path.display()
            )
        }
        Err(e @ ConfigErrors::Invalid { .. }) => Err(anyhow::Error::new(e).context(format!(
            "the configuration file {} has errors: run `reprise config check`",
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

pub fn run(g: &GlobalOptions, command: &ConfigCommand) -> Result<u8> {
    match command {
        ConfigCommand::Check(args) => check(g, args),
    }
}

fn check(g: &GlobalOptions, args: &ConfigCheckArgs) -> Result<u8> {
    let (path, named) = config_path(g);
    if !named && !path.exists() {
        bail!(
            "no configuration file at {}: write one (docs/CONFIG.md), or name it with --config FILE or REPRISE_CONFIG",
            path.display()
        );
    }
    let (counts, problems) = match LoadedConfig::load(&path) {
        Ok(loaded) => {
            let mut problems = loaded.check();
            if !args.offline {
                problems.extend(loaded.unreachable_servers(CONNECT_TIMEOUT, true));
                problems.extend(unreachable_repositories(g, &loaded));
                problems.extend(loaded.silent_health_hosts(CONNECT_TIMEOUT));
            }
            (Some(Counts::of(&loaded)), problems)
        }
        Err(ConfigErrors::Invalid { problems, .. }) => (None, problems),
        Err(ConfigErrors::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "the configuration file {} does not exist: correct --config or REPRISE_CONFIG",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    let mut problems = problems;
    problems.sort_by_key(|p| (p.line, p.column, p.severity));
    let errors = count(&problems, Severity::Error);
    if g.json {
        print_json(&path, counts.as_ref(), &problems)?;
    } else {
        print_text(g, &path, counts.as_ref(), &problems)?;
    }
    Ok(if errors > 0 { exit::FATAL } else { exit::OK })
}

/// How many entries of each kind the file has.
struct Counts {
    services: usize,
    sources: usize,
    repositories: usize,
}

impl Counts {
    fn of(loaded: &LoadedConfig) -> Counts {
        Counts {
            services: loaded.config.services.len(),
            sources: loaded.config.sources.len(),
            repositories: loaded.config.repositories.len(),
        }
    }
}

fn count(problems: &[Problem], severity: Severity) -> usize {
    problems.iter().filter(|p| p.severity == severity).count()
}

fn print_text(
    g: &GlobalOptions,
    path: &Path,
    counts: Option<&Counts>,
    problems: &[Problem],
) -> Result<()> {
    for p in problems {
        output::line(&format!(
            "{}:{}: {}: {}",
            path.display(),
            p.line,
            p.severity,
            p.message
        ))?;
    }
    if g.quiet {
        return Ok(());
    }
    let (errors, warnings) = (
        count(problems, Severity::Error),
        count(problems, Severity::Warning),
    );
    let verdict = if errors + warnings == 0 {
        "OK".to_string()
    } else {
        format!(
            "{}, {}",
            output::count(errors as u64, "error", "errors"),
            output::count(warnings as u64, "warning", "warnings")
        )
    };
    let summary = match counts {
        Some(c) => format!(
            "{}, {}, {}: {verdict}",
            output::count(c.services as u64, "service", "services"),
            output::count(c.sources as u64, "source", "sources"),
            output::count(c.repositories as u64, "repository", "repositories"),
        ),
        None => format!("{}: {verdict}", path.display()),
    };
    output::line(&summary)
}

fn print_json(path: &Path, counts: Option<&Counts>, problems: &[Problem]) -> Result<()> {
    let listed: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "line": p.line,
                "column": p.column,
                "severity": p.severity.to_string(),
                "message": p.message,
            })
        })
        .collect();
    output::json(&serde_json::json!({
        "file": path.display().to_string(),
        "services": counts.map(|c| c.services),
        "sources": counts.map(|c| c.sources),
        "repositories": counts.map(|c| c.repositories),
        "errors": count(problems, Severity::Error),
        "warnings": count(problems, Severity::Warning),
        "problems": listed,
    }))
}

/// The configured repositories that cannot be reached now: a directory
/// that holds no repository, a server or S3 endpoint that does not accept
/// a connection. Credentials are not tried: the password may come from a
/// command meant for the nightly job.
fn unreachable_repositories(g: &GlobalOptions, loaded: &LoadedConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, entry) in &loaded.config.repositories {
        if let Err(why) = repo_open::reachable(g, &entry.location, CONNECT_TIMEOUT) {
            problems.push(Problem::error(
                loaded.positions.of(&["repositories", name, "location"]),
                format!("[repositories.{name}] cannot be reached: {why:#}"),
            ));
        }
    }
    problems
}
