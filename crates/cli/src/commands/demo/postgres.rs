//! A throw-away PostgreSQL cluster for the demo's service catalogue, when
//! the server's programs are installed (`/usr/lib/postgresql/*/bin`):
//! `initdb` and `pg_ctl start` on a free loopback port, every local
//! connection trusted, and `pg_ctl stop` when the demo is done — also when
//! it fails, since [`Cluster`] stops the server when dropped.
//!
//! The cluster lives in a directory of its own under the system's
//! temporary directory, not in the demo's: as root the server runs as the
//! `postgres` user (PostgreSQL refuses root), which must reach its data
//! and socket directories, and a `--dir` below a private home would be out
//! of its reach (a short path also keeps the socket within the 107 bytes a
//! Unix socket name may have). The directory is removed with the cluster.

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The user PostgreSQL's Debian packages run the server as.
const SERVER_USER: &str = "postgres";

/// A running private cluster; stopped when dropped.
pub(super) struct Cluster {
    bin: PathBuf,
    /// Data, socket and log; removed after the server is stopped (fields
    /// drop after [`Drop::drop`] ran).
    dir: tempfile::TempDir,
    pub(super) port: u16,
    as_server_user: bool,
    running: bool,
}

/// The newest installed PostgreSQL's program directory, if any.
pub(super) fn installed_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Cluster {
    /// Creates and starts a cluster with the programs of `bin`.
    pub(super) fn start(bin: &Path) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("reprise-demo-pg-")
            .tempdir()
            .context("cannot create the cluster's directory")?;
        let as_server_user = running_as_root();
        if as_server_user {
            give_to_server_user(dir.path())?;
        }
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            port: 0,
            as_server_user,
            running: false,
        };
        cluster.init()?;
        cluster.port = free_loopback_port()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The data directory, as `pg_ctl -D` takes it.
    pub(super) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` of the cluster's version, run as the server's user.
    fn tool(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_server_user {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The server's user may not enter the caller's working directory.
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        command
    }

    fn init(&self) -> Result<()> {
        let mut initdb = self.tool("initdb");
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .args(["-A", "trust", "-U", SERVER_USER, "--no-sync"])
            .args(["-E", "UTF8", "--locale=C.UTF-8"]);
        run(&mut initdb, "initdb")
    }

    fn start_server(&mut self) -> Result<()> {
        let socket_dir = self.dir.path().display().to_string();
        if socket_dir.contains(['\'', '"', '\\', '$', '`']) {
            bail!("the temporary directory {socket_dir} has a quote in its name, which pg_ctl's -o cannot carry");
        }
        // fsync and friends off: a throw-away cluster need not survive a
        // power cut, and the demo stays quick.
        let options = format!(
            "-p {} -k '{socket_dir}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        let mut start = self.tool("pg_ctl");
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]);
        // Marked running before the outcome is known: a start that timed
        // out may still bring the server up, and the drop must stop it.
        self.running = true;
        run(&mut start, "pg_ctl start").with_context(|| self.log_tail())
    }

    /// Stops the server (fast shutdown: sessions are ended).
    pub(super) fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        let mut stop = self.tool("pg_ctl");
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        run(&mut stop, "pg_ctl stop")?;
        self.running = false;
        Ok(())
    }

    /// The last lines of the server's log, to say why it did not start.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(3)..)
            .unwrap_or_default();
        format!("the server's log ends with: {}", tail.join(" / "))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!(
                "reprise demo: could not stop the throw-away PostgreSQL ({e:#}); stop it with: {} -D {} stop",
                self.bin.join("pg_ctl").display(),
                self.data_dir().display()
            );
        }
    }
}

/// Makes `dir` the server user's, so that initdb can write in it.
fn give_to_server_user(dir: &Path) -> Result<()> {
    let mut chown = Command::new("chown");
    chown.arg(format!("{SERVER_USER}:")).arg(dir);
    run(&mut chown, "chown")
        .with_context(|| format!("the user {SERVER_USER} cannot be given the cluster's directory"))
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
fn free_loopback_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `command`, failing with the last line it wrote when it fails.
fn run(command: &mut Command, name: &str) -> Result<()> {
    let output: Output = command
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    bail!(
        "{name} failed ({}): {}",
        output.status,
        last.unwrap_or("no message")
    )
}
