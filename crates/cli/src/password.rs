//! Where the password comes from, in this order: `--password-command`,
//! `--password-file` / `REPRISE_PASSWORD_FILE`, `REPRISE_PASSWORD`, and
//! last a prompt without echo when a terminal is attached.

use crate::cli::GlobalOptions;
use anyhow::{bail, Context, Result};
use std::borrow::Cow;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

pub fn from_command(cmd: &str) -> Result<String> {
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

/// The most a password file is read: a password is one short line.
const PASSWORD_FILE_MAX: u64 = 4096;

/// The first line of a password file. The file must be a regular file or a
/// pipe (as `--password-file <(command)` gives); a device such as
/// `/dev/zero` or a socket is refused, a FIFO without a writer is not
/// waited for, and at most 4 KiB are read, so nothing makes this hang or
/// fill memory.
pub fn from_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read the password file {shown}"))?;
    let kind = file
        .metadata()
        .with_context(|| format!("cannot read the password file {shown}"))?
        .file_type();
    if !(kind.is_file() || kind.is_fifo()) {
        bail!("the password file {shown} is not a regular file or a pipe: give a file whose first line is the password");
    }
    // Blocking again, so that a pipe's writer is waited for; a FIFO that
    // had no writer when opened reads as empty instead.
    set_blocking(&file).with_context(|| format!("cannot read the password file {shown}"))?;
    let mut bytes = Vec::new();
    file.take(PASSWORD_FILE_MAX)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the password file {shown}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if bytes.len() as u64 == PASSWORD_FILE_MAX && !text.contains('\n') {
        bail!("the password file {shown} has no line end in its first {PASSWORD_FILE_MAX} bytes: its first line must be the password");
    }
    Ok(first_line(&text))
}

fn set_blocking(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain fcntl calls on a descriptor this function borrows.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn prompt(question: &str) -> Result<String> {
    rpassword::prompt_password(question).context("cannot read the password from the terminal")
}

/// Where a password came from, as an error message names it: a wrong
/// password is fixed where it was given.
#[derive(Debug, Clone)]
pub enum Source {
    /// The command, and the option, variable or configuration entry that gave it.
    Command(String, Cow<'static, str>),
    /// The file, and the option, variable or configuration entry that gave it.
    File(PathBuf, Cow<'static, str>),
    Variable(Cow<'static, str>),
    Prompt,
}

/// How the repository's password command and file are given.
const COMMAND_OPTION: &str = "--password-command or REPRISE_PASSWORD_COMMAND";
const FILE_OPTION: &str = "--password-file or REPRISE_PASSWORD_FILE";

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Command(cmd, how) => write!(f, "the password command {cmd:?} ({how})"),
            Source::File(path, how) => {
                write!(f, "the password file {} ({how})", path.display())
            }
            Source::Variable(name) => write!(f, "the variable {name}"),
            Source::Prompt => write!(f, "the terminal"),
        }
    }
}

/// The password that opens the repository, and where it came from. A
/// repository of the configuration file (`--repository`) has set the
/// options, or `password_env`, and `password_origin` names its entry.
pub fn current(global: &GlobalOptions) -> Result<(String, Source)> {
    let origin = |option: &'static str| -> Cow<'static, str> {
        match &global.password_origin {
            Some(entry) => Cow::Owned(entry.clone()),
            None => Cow::Borrowed(option),
        }
    };
    let (password, source) = if let Some(cmd) = &global.password_command {
        (
            from_command(cmd)?,
            Source::Command(cmd.clone(), origin(COMMAND_OPTION)),
        )
    } else if let Some(file) = &global.password_file {
        (
            from_file(file)?,
            Source::File(file.clone(), origin(FILE_OPTION)),
        )
    } else if let Some(variable) = &global.password_env {
        let Ok(p) = std::env::var(variable) else {
            let entry = global
                .password_origin
                .as_deref()
                .unwrap_or("the configuration");
            bail!("the variable {variable} is not set: {entry} takes the password from it (password_env)");
        };
        (p, Source::Variable(Cow::Owned(variable.clone())))
    } else if let Ok(p) = std::env::var("REPRISE_PASSWORD") {
        (p, Source::Variable(Cow::Borrowed("REPRISE_PASSWORD")))
    } else if std::io::stdin().is_terminal() {
        (prompt("Repository password: ")?, Source::Prompt)
    } else {
        bail!("no password given: set REPRISE_PASSWORD_FILE or REPRISE_PASSWORD, or use --password-command / --password-file");
    };
    if password.is_empty() {
        bail!("the password from {source} is empty: an empty password would protect nothing");
    }
    Ok((password, source))
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
