//! `reprise init`: creates a repository with a first password.

use crate::cli::{GlobalOptions, InitArgs, KdfArgs};
use crate::{exit, output, password, repo_open};
use anyhow::{Context, Result};
use reprise_crypto::KdfParams;
use reprise_repo::{InitOptions, Repository};

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
    // init takes the password like every other command; on a terminal it is asked twice.
    let pw = if g.password_command.is_some()
        || g.password_file.is_some()
        || std::env::var_os("REPRISE_PASSWORD").is_some()
    {
        password::current(g)?
    } else {
        password::new(None)?
    };
    let options = InitOptions {
        kdf: kdf_params(&args.kdf),
        zstd_level: args.compression_level,
        ..InitOptions::default()
    };
    let repo = Repository::init(backend, pw.as_bytes(), &options)
        .with_context(|| format!("cannot create a repository at {location}"))?;
    if g.json {
        output::json(&serde_json::json!({ "location": location, "id": repo.config().id }))?;
    } else if !g.quiet {
        println!("created repository {} at {location}", repo.config().id);
        println!("Keep the password safe: without it the data cannot be recovered.");
    }
    Ok(exit::OK)
}
