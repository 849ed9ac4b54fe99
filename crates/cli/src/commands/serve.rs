//! `reprise serve`: runs the append-only repository server, edits its
//! configuration (`init-config`, `token add|list|revoke`), and checks its
//! audit log (`audit verify`). The server, the edits and the check live in
//! reprise-server; this module parses and prints.

use crate::cli::{
    AuditCommand, AuditVerifyArgs, GlobalOptions, ServeArgs, ServeCommand, ServeInitArgs,
    TokenAddArgs, TokenCommand,
};
use crate::{exit, output};
use anyhow::{bail, Context, Result};
use reprise_server::config::{self, NewToken};
use reprise_server::{Config, Role, Server};
use std::path::Path;

pub fn run(g: &GlobalOptions, args: &ServeArgs) -> Result<u8> {
    keep_new_files_private();
    match &args.command {
        None => serve(args.config.as_deref()),
        Some(ServeCommand::InitConfig(a)) => init_config(g, a),
        Some(ServeCommand::Token(TokenCommand::Add(a))) => token_add(g, a),
        Some(ServeCommand::Token(TokenCommand::List(a))) => token_list(g, &a.config),
        Some(ServeCommand::Audit(AuditCommand::Verify(a))) => audit_verify(g, a),
        Some(ServeCommand::Token(TokenCommand::Revoke(a))) => {
            config::revoke_token(&a.config.config, &a.name)?;
            if g.json {
                output::json(&serde_json::json!({ "action": "revoked", "token": a.name }))?;
            } else if !g.quiet {
                println!(
                    "revoked token {:?}: the server refuses it from now on",
                    a.name
                );
            }
            Ok(exit::OK)
        }
    }
}

/// The server's files hold the clients' wrapped keys, its tokens' hashes
/// and its audit log: whatever the code below forgets to restrict, the
/// umask keeps from other local users.
fn keep_new_files_private() {
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

fn audit_verify(g: &GlobalOptions, a: &AuditVerifyArgs) -> Result<u8> {
    let log = match (&a.file, &a.config) {
        (Some(file), _) => file.clone(),
        (None, Some(config)) => Config::load(config)?.audit_log(),
        (None, None) => {
            bail!("give the audit log, or the server's configuration with --config FILE")
        }
    };
    let lines = reprise_server::audit::verify(&log)?;
    if g.json {
        output::json(&serde_json::json!({ "log": log, "lines": lines, "intact": true }))?;
    } else if !g.quiet {
        output::line(&format!(
            "{}: {lines} lines, the hash chain is intact",
            log.display()
        ))?;
    }
    Ok(exit::OK)
}

fn serve(config_path: Option<&Path>) -> Result<u8> {
    let Some(path) = config_path else {
        bail!("give the configuration file with --config FILE (write one with `reprise serve init-config`)");
    };
    let config = Config::load(path)?;
    let server = Server::bind(&config, Some(path))
        .with_context(|| format!("cannot start the server of {}", path.display()))?;
    println!(
        "reprise serve: listening on https://{}",
        server.local_addr()
    );
    println!(
        "  repositories in {}, retention {} days, audit log {}",
        server.data_dir().display(),
        config.retention_days,
        server.audit_log().display()
    );
    if let Some(cert) = server.generated_cert() {
        println!(
            "  self-signed certificate {}: copy it to each client, which trusts it with --cacert",
            cert.display()
        );
    }
    if config.tokens.is_empty() {
        eprintln!(
            "reprise serve: no token yet: add one with `reprise serve token add NAME --role append --config {}`",
            path.display()
        );
    }
    server.run()?;
    Ok(exit::OK)
}

fn init_config(g: &GlobalOptions, a: &ServeInitArgs) -> Result<u8> {
    config::init_config(&a.file, &a.data, a.listen, a.retention_days)?;
    if g.json {
        output::json(&serde_json::json!({ "action": "written", "config": a.file }))?;
    } else if !g.quiet {
        println!("wrote {}: review it, add tokens with", a.file.display());
        println!(
            "  reprise serve token add NAME --role append --config {}",
            a.file.display()
        );
        println!(
            "then start the server with `reprise serve --config {}`",
            a.file.display()
        );
    }
    Ok(exit::OK)
}

fn token_add(g: &GlobalOptions, a: &TokenAddArgs) -> Result<u8> {
    let role: Role = a.role.parse().map_err(anyhow::Error::msg)?;
    let new = NewToken {
        name: a.name.clone(),
        role,
        quota_bytes: a.quota,
        expires: a.expires.clone(),
        repos: repos_given(&a.repos),
    };
    let secret = config::add_token(&a.config.config, &new)?;
    if let Some(e) = &new.expires {
        if chrono::DateTime::parse_from_rfc3339(e).is_ok_and(|t| t <= chrono::Utc::now()) {
            eprintln!(
                "reprise: warning: token {:?} has already expired ({e})",
                a.name
            );
        }
    }
    if g.json {
        output::json(&serde_json::json!({ "name": a.name, "role": role, "token": secret }))?;
    } else if g.quiet {
        println!("{secret}");
    } else {
        println!("token {:?} (role {role}), shown this once:", a.name);
        println!("{secret}");
        println!("Give it to the client as REPRISE_TOKEN; the server keeps only its hash.");
    }
    Ok(exit::OK)
}

/// The `--repo` values of `token add`. That option shares its id with the
/// global `--repo`, so clap fills it from `REPRISE_REPOSITORY` when it is
/// not on the command line: only values actually typed count.
fn repos_given(repos: &[String]) -> Vec<String> {
    let typed =
        std::env::args_os().any(|a| a == "--repo" || a.to_string_lossy().starts_with("--repo="));
    if typed {
        repos.to_vec()
    } else {
        Vec::new()
    }
}

fn token_list(g: &GlobalOptions, path: &Path) -> Result<u8> {
    let mut tokens = config::list_tokens(path)?;
    // The file may give any RFC 3339 offset: shown in the one form of each output.
    for t in &mut tokens {
        let form = if g.json {
            output::json_time_str
        } else {
            output::text_time_str
        };
        t.created = t.created.as_deref().map(form);
        t.expires = t.expires.as_deref().map(form);
    }
    if g.json {
        output::json(&tokens)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<20} {:<7} {:<8} {:>10} {:>10}  {:<23}  repositories",
        "NAME", "ROLE", "STATE", "ADDED", "QUOTA", "EXPIRES"
    );
    for t in tokens {
        println!(
            "{:<20} {:<7} {:<8} {:>10} {:>10}  {:<23}  {}",
            t.name,
            t.role,
            t.state,
            output::bytes(t.used_bytes),
            t.quota_bytes.map_or("-".into(), output::bytes),
            t.expires.as_deref().unwrap_or("-"),
            t.repos.map_or("all".into(), |r| r.join(", "))
        );
    }
    Ok(exit::OK)
}
