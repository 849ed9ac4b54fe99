//! `reprise init`: creates a repository with a first password.

use crate::cli::{GlobalOptions, InitArgs, KdfArgs};
use crate::{exit, output, password, repo_open};
use anyhow::{bail, Context, Result};
use reprise_crypto::KdfParams;
use reprise_format::{LockModeName, ObjectLockConfig};
use reprise_maintenance::forget::parse_duration;
use reprise_repo::{policy_of_lock, InitOptions, Repository};

/// The longest retention `--retention` accepts: a century.
const RETENTION_DAYS_MAX: u32 = 36_500;

/// Parses a retention such as `30d`, `4w` or `1y` (365 days) into days.
pub fn parse_retention_days(text: &str) -> Result<u32> {
    let usage = || {
        anyhow::anyhow!(
            "--retention {text:?}: expected a number of days, weeks or years such as 30d, 4w or 1y"
        )
    };
    // Locks are set in whole days: the config records `retention_days`.
    let days = parse_duration(text)
        .filter(|d| d.num_minutes() % 1440 == 0)
        .ok_or_else(usage)?
        .num_days();
    if days > i64::from(RETENTION_DAYS_MAX) {
        bail!("--retention {text:?}: must be between 1 day and {RETENTION_DAYS_MAX} days");
    }
    u32::try_from(days).map_err(|_| usage())
}

/// The `--object-lock` and `--retention` options as the config records them.
fn object_lock_of(args: &InitArgs) -> Result<Option<ObjectLockConfig>> {
    let (Some(mode), Some(retention)) = (&args.object_lock, &args.retention) else {
        return Ok(None);
    };
    let mode = match mode.as_str() {
        "governance" => LockModeName::Governance,
        "compliance" => LockModeName::Compliance,
        other => bail!("--object-lock {other:?}: expected governance or compliance"),
    };
    Ok(Some(ObjectLockConfig {
        mode,
        retention_days: parse_retention_days(retention)?,
    }))
}

pub fn kdf_params(args: &KdfArgs) -> KdfParams {
    KdfParams {
        memory_kib: args.kdf_memory_mib * 1024,
        iterations: args.kdf_iterations,
        parallelism: 1,
    }
}

pub fn run(g: &GlobalOptions, args: &InitArgs) -> Result<u8> {
    let backend = repo_open::backend(g)?;
    let location = backend.location();
    let object_lock = object_lock_of(args)?;
    // Before the password and before anything is created: a storage that
    // cannot lock (a directory, a bucket without Object Lock) is refused at once.
    if let Some(lock) = object_lock {
        backend
            .set_lock_policy(Some(policy_of_lock(lock)))
            .with_context(|| format!("--object-lock cannot be used at {location}"))?;
    }
    // init takes the password like every other command; on a terminal it is asked twice.
    let pw = if g.password_command.is_some()
        || g.password_file.is_some()
        || g.password_env.is_some()
        || std::env::var_os("REPRISE_PASSWORD").is_some()
    {
        password::current(g)?.0
    } else {
        password::new(None)?
    };
    let options = InitOptions {
        kdf: kdf_params(&args.kdf),
        zstd_level: args.compression_level,
        object_lock,
        format_version: args.format_version,
        ..InitOptions::default()
    };
    let repo = Repository::init(backend, pw.as_bytes(), &options)
        .with_context(|| format!("cannot create a repository at {location}"))?;
    if g.json {
        output::json(&serde_json::json!({
            "location": location,
            "id": repo.config().id,
            "format_version": repo.config().version,
            "object_lock": repo.config().object_lock,
        }))?;
    } else if !g.quiet {
        println!("created repository {} at {location}", repo.config().id);
        if let Some(lock) = object_lock {
            println!(
                "Every object is locked in the storage ({} mode) for {} days after it is written; run `reprise locks extend` regularly to keep the locks of what the snapshots need.",
                args.object_lock.as_deref().unwrap_or_default(),
                lock.retention_days
            );
        }
        println!("Keep the password safe: without it the data cannot be recovered.");
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::parse_retention_days;

    #[test]
    fn retentions_are_days_weeks_or_years() {
        assert_eq!(parse_retention_days("30d").unwrap(), 30);
        assert_eq!(parse_retention_days("4w").unwrap(), 28);
        assert_eq!(parse_retention_days("1y").unwrap(), 365);
        assert_eq!(parse_retention_days(" 7d ").unwrap(), 7);
        for bad in [
            "",
            "d",
            "30",
            "30m",
            "-1d",
            "0d",
            "1.5d",
            "101y",
            "99999999999999999999d",
            "é",
        ] {
            let err = parse_retention_days(bad).unwrap_err().to_string();
            assert!(err.contains("--retention"), "{bad:?}: {err}");
        }
    }
}
