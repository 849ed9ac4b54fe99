//! Where the password comes from, in this order: `--password-command`,
//! `--password-file` / `REPRISE_PASSWORD_FILE`, `REPRISE_PASSWORD`, and
//! last a prompt without echo when a terminal is attached.

use crate::cli::GlobalOptions;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::Path;

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn from_command(cmd: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run the password command {cmd:?}"))?;
    if !out.status.success() {
        bail!("the password command {cmd:?} failed ({})", out.status);
    }
    Ok(first_line(&String::from_utf8_lossy(&out.stdout)))
}

pub fn from_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file {}", path.display()))?;
    Ok(first_line(&text))
}

fn prompt(question: &str) -> Result<String> {
    rpassword::prompt_password(question).context("cannot read the password from the terminal")
}

/// The password that opens the repository.
pub fn current(global: &GlobalOptions) -> Result<String> {
    let password = if let Some(cmd) = &global.password_command {
        from_command(cmd)?
    } else if let Some(file) = &global.password_file {
        from_file(file)?
    } else if let Ok(p) = std::env::var("REPRISE_PASSWORD") {
        p
    } else if std::io::stdin().is_terminal() {
        prompt("Repository password: ")?
    } else {
        bail!("no password given: set REPRISE_PASSWORD_FILE or REPRISE_PASSWORD, or use --password-command / --password-file");
    };
    if password.is_empty() {
        bail!("the password is empty: an empty password would protect nothing");
    }
    Ok(password)
}

/// A new password (init, key add, key passwd): from `file`, else
/// `REPRISE_NEW_PASSWORD`, else asked twice on the terminal.
pub fn new(file: Option<&Path>) -> Result<String> {
    let password = if let Some(f) = file {
        from_file(f)?
    } else if let Ok(p) = std::env::var("REPRISE_NEW_PASSWORD") {
        p
    } else if std::io::stdin().is_terminal() {
        let a = prompt("New password: ")?;
        let b = prompt("Repeat the new password: ")?;
        if a != b {
            bail!("the two passwords differ");
        }
        a
    } else {
        bail!("no new password given: use --new-password-file or REPRISE_NEW_PASSWORD");
    };
    if password.is_empty() {
        bail!("the new password is empty");
    }
    Ok(password)
}
