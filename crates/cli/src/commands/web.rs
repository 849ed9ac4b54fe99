//! `reprise web`: the operator's dashboard and the public status page
//! (reprise_web::server), and the hash of an account's password.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};
use reprise_web::server::auth::hash_password;
use reprise_web::server::WebServer;

use crate::cli::{GlobalOptions, WebArgs, WebCommand};
use crate::commands::services::required_config;
use crate::{exit, output, password, repo_open};

pub fn run(g: &GlobalOptions, args: &WebArgs) -> Result<u8> {
    if let Some(WebCommand::HashPassword) = args.command {
        return print_hash();
    }
    let config = required_config(g, "web")?;
    if config.web.accounts.is_empty() {
        eprintln!(
            "warning: no [[web.accounts]] in the configuration: nobody can log in, only the \
             public status page is served (add one with `reprise web hash-password`)"
        );
    }
    let repo = repo_open::open(g)?;
    let server = WebServer::bind(config, repo, args.listen)?;
    eprintln!("reprise web: listening on https://{}", server.local_addr());
    if let Some(cert) = server.generated_cert() {
        eprintln!(
            "reprise web: self-signed certificate {} (browsers ask once to accept it; give \
             [web] tls_cert and tls_key for a certificate of the town's)",
            cert.display()
        );
    }
    server.run()?;
    Ok(exit::OK)
}

fn print_hash() -> Result<u8> {
    let password = if std::io::stdin().is_terminal() {
        let first = password::prompt("password for the account: ")?;
        let again = password::prompt("the same password again: ")?;
        if first != again {
            bail!("the two passwords differ: run it again");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    if password.chars().count() < 12 {
        bail!("the password is shorter than 12 characters: choose a longer one");
    }
    let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
    output::line(&hash)?;
    Ok(exit::OK)
}
