//! Running the engines' client tools under supervision: the one place that
//! spawns them, hands them a password, reads their standard error and
//! judges how they ended.
//!
//! - [`start_dump`] turns a dump tool into a [`Dump`]: its output passes
//!   through unchanged while being counted and parsed for per-table
//!   statistics; at the tool's end, a non-zero exit, a signal, anything on
//!   standard error, an empty output, one cut short (no closing line from
//!   the tool, or a row block left open) or one shrunken against the
//!   previous night's turns the last read into an error, and only a good end stores
//!   the manifest. Dropping the reader early kills and reaps the tool.
//! - [`feed_tool`] runs a restore tool with a dump on its standard input,
//!   and kills it (so that it does not commit half a dump) if the dump
//!   cannot be read to its end.
//! - [`run_tool`] runs a short command (a query) and returns its output.
//!
//! Passwords reach the tools through their environment (`PGPASSWORD`,
//! `MYSQL_PWD`), never their command line (which `ps` shows to every user)
//! and never an error message.

use crate::stats::StatsCollector;
use crate::{Connection, DbError, Dump, DumpManifest, DumpOptions, ManifestHandle, TableStats};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

/// How much of a tool's standard error is kept for its error message.
const STDERR_CAP: usize = 64 * 1024;
/// How much output a query may return ([`run_tool`]).
const QUERY_OUTPUT_CAP: usize = 16 * 1024 * 1024;
/// The default of [`DumpOptions::min_fraction`].
const DEFAULT_MIN_FRACTION: f64 = 0.5;

/// One run of a client tool.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    /// The name messages show (`pg_dump`).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Extra environment (passwords among them: never shown).
    pub env: Vec<(String, String)>,
    /// What the tool works on, for messages (a database name).
    pub target: String,
    /// What to do when the program is missing (the package to install).
    pub missing_hint: String,
}

impl Tool {
    pub fn arg(mut self, arg: impl Into<OsString>) -> Tool {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Tool {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn spawn(&self, stdin: Stdio, stdout: Stdio) -> Result<Child, DbError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        spawn_retrying_busy(&mut command).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => DbError::ToolMissing {
                tool: self.program.display().to_string(),
                hint: self.missing_hint.clone(),
            },
            _ => DbError::Io {
                context: format!("cannot start {}", self.program.display()),
                source,
            },
        })
    }

    fn failed(&self, status: String, stderr: String) -> DbError {
        DbError::ToolFailed {
            tool: self.name.clone(),
            database: self.target.clone(),
            status,
            stderr: if stderr.is_empty() {
                "(nothing on standard error)".into()
            } else {
                stderr
            },
        }
    }
}

/// Spawns `command`, trying again a few times while its program is "text
/// file busy": another thread of this process may be between its own fork
/// and exec with the program's file still open for writing (a tool being
/// installed or, in tests, a script just written).
fn spawn_retrying_busy(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 5 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
            }
            result => return result,
        }
    }
}

/// The first of `candidates` found in `bin_dir`, or on `PATH` when there
/// is none; a candidate with a slash is taken as it is.
pub(crate) fn locate(
    candidates: &[&str],
    bin_dir: Option<&Path>,
    package: &str,
) -> Result<PathBuf, DbError> {
    let dirs: Vec<PathBuf> = match bin_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default(),
    };
    for candidate in candidates {
        if candidate.contains('/') {
            return Ok(PathBuf::from(candidate));
        }
        if let Some(found) = dirs.iter().map(|d| d.join(candidate)).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    let names = candidates.join(" or ");
    let hint = match bin_dir {
        Some(dir) => format!(
            "not in bin_dir {}: set bin_dir to the directory holding {names}, or install \
             the Debian package {package}",
            dir.display()
        ),
        None => format!(
            "not on PATH: install the Debian package {package}, or set bin_dir to the \
             directory holding {names}"
        ),
    };
    Err(DbError::ToolMissing { tool: names, hint })
}

/// The password a connection names, from its file (first line) or its
/// environment variable; `None` when it names none.
pub(crate) fn read_password(connection: &Connection) -> Result<Option<String>, DbError> {
    if let Some(file) = &connection.password_file {
        let text = std::fs::read_to_string(file).map_err(|source| DbError::Io {
            context: format!(
                "cannot read the password file {} (password_file)",
                file.display()
            ),
            source,
        })?;
        let first = text.lines().next().unwrap_or_default();
        return Ok(Some(first.to_owned()));
    }
    if let Some(var) = &connection.password_env {
        return match std::env::var(var) {
            Ok(password) => Ok(Some(password)),
            Err(_) => Err(DbError::Invalid(format!(
                "the environment variable {var} (password_env) is not set or not UTF-8: set it \
                 to the database password"
            ))),
        };
    }
    Ok(None)
}

/// Reads a child's standard error on a thread, keeping its first
/// [`STDERR_CAP`] bytes and draining the rest (so the child never blocks
/// on a full pipe).
fn collect_stderr(child: &mut Child) -> Option<JoinHandle<String>> {
    let mut stderr = child.stderr.take()?;
    Some(std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut cut = false;
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = STDERR_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                    cut |= n > room;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let mut text = String::from_utf8_lossy(&kept).trim().to_owned();
        if cut {
            text.push_str(" [standard error cut at 64 KiB]");
        }
        text
    }))
}

fn join_stderr(handle: Option<JoinHandle<String>>) -> String {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// How a process ended, when not well: `exit status N` or `killed by
/// signal N`.
fn failure(status: ExitStatus) -> Option<String> {
    if status.success() {
        return None;
    }
    Some(match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    })
}

/// Kills and reaps a child (no zombie left behind).
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The [`DbError`] an I/O error carries (a failed [`Dump`] stream's), or a
/// new one with `context`.
pub(crate) fn into_db_error(error: io::Error, context: impl FnOnce() -> String) -> DbError {
    if !error.get_ref().is_some_and(|inner| inner.is::<DbError>()) {
        return DbError::Io {
            context: context(),
            source: error,
        };
    }
    match error.into_inner().map(|inner| inner.downcast::<DbError>()) {
        Some(Ok(db)) => *db,
        _ => DbError::Invalid(context()),
    }
}

/// What a dump's manifest says besides its tables.
pub(crate) struct ManifestBase {
    pub engine: &'static str,
    pub database: String,
}

/// Starts a dump tool and returns its supervised stream.
pub(crate) fn start_dump(
    tool: Tool,
    stats: Option<StatsCollector>,
    base: ManifestBase,
    options: &DumpOptions,
) -> Result<Dump, DbError> {
    let min_fraction = options.min_fraction.unwrap_or(DEFAULT_MIN_FRACTION);
    if !(0.0..=1.0).contains(&min_fraction) {
        return Err(DbError::Invalid(format!(
            "min_fraction must be between 0 and 1, not {min_fraction}"
        )));
    }
    let mut child = tool.spawn(Stdio::null(), Stdio::piped())?;
    let stderr = collect_stderr(&mut child);
    let Some(stdout) = child.stdout.take() else {
        kill_and_reap(&mut child);
        return Err(DbError::Invalid(format!(
            "{} has no output pipe",
            tool.name
        )));
    };
    let manifest = ManifestHandle::default();
    let stream = SupervisedDump {
        running: Some(Running {
            child,
            stdout,
            stderr,
        }),
        tool,
        stats,
        base,
        previous_bytes: options.previous_bytes,
        min_fraction,
        bytes: 0,
        ended: None,
        manifest: manifest.clone(),
    };
    Ok(Dump {
        reader: Box::new(stream),
        manifest,
    })
}

struct Running {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
}

struct SupervisedDump {
    running: Option<Running>,
    tool: Tool,
    stats: Option<StatsCollector>,
    base: ManifestBase,
    previous_bytes: Option<u64>,
    min_fraction: f64,
    bytes: u64,
    /// Once the tool has ended: whether the dump was good.
    ended: Option<bool>,
    manifest: ManifestHandle,
}

impl Read for SupervisedDump {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(running) = self.running.as_mut() else {
            return self.read_after_end();
        };
        if buf.is_empty() {
            return Ok(0);
        }
        match running.stdout.read(buf) {
            Ok(0) => self.finish().map(|()| 0).map_err(io::Error::other),
            Ok(n) => {
                let passed = buf.get(..n).unwrap_or_default();
                if let Some(stats) = self.stats.as_mut() {
                    stats.feed(passed);
                }
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(source) => {
                self.abort();
                Err(io::Error::other(DbError::Io {
                    context: format!("reading the output of {}", self.tool.name),
                    source,
                }))
            }
        }
    }
}

impl SupervisedDump {
    fn read_after_end(&self) -> io::Result<usize> {
        match self.ended {
            Some(true) => Ok(0),
            _ => Err(io::Error::other(DbError::Invalid(format!(
                "the dump of {} failed already; its first error said why",
                self.base.database
            )))),
        }
    }

    fn abort(&mut self) {
        if let Some(mut running) = self.running.take() {
            kill_and_reap(&mut running.child);
        }
        self.ended = Some(false);
    }

    /// The tool closed its output: waits for it and judges the dump.
    fn finish(&mut self) -> Result<(), DbError> {
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        self.ended = Some(false);
        let status = running.child.wait().map_err(|source| DbError::Io {
            context: format!("waiting for {}", self.tool.name),
            source,
        })?;
        let stderr = join_stderr(running.stderr.take());
        self.judge(status, stderr)?;
        let (tables, reported_tool) = match self.stats.take() {
            Some(stats) => {
                let tool = stats.tool().map(str::to_owned);
                (stats.finish(), tool)
            }
            None => (Vec::new(), None),
        };
        let manifest = DumpManifest {
            version: 1,
            engine: self.base.engine.to_owned(),
            database: self.base.database.clone(),
            tool: reported_tool.unwrap_or_else(|| self.tool.name.clone()),
            bytes: self.bytes,
            tables,
        };
        // A poisoned lock only means another holder panicked; the slot is
        // still this dump's to fill.
        let mut slot = match self.manifest.0.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Some(manifest);
        drop(slot);
        self.ended = Some(true);
        Ok(())
    }

    fn judge(&self, status: ExitStatus, stderr: String) -> Result<(), DbError> {
        if let Some(failure) = failure(status) {
            return Err(self.tool.failed(failure, stderr));
        }
        if !stderr.is_empty() {
            return Err(self.tool.failed(
                "exit status 0, but it wrote to standard error, taken as a failure: dump tools \
                 write there only about real problems"
                    .into(),
                stderr,
            ));
        }
        if self.bytes == 0 {
            return Err(DbError::EmptyDump {
                database: self.base.database.clone(),
            });
        }
        if let Some(problem) = self.stats.as_ref().and_then(StatsCollector::unfinished) {
            return Err(self.tool.failed(
                format!("exit status 0, but {problem}: the dump was cut short"),
                stderr,
            ));
        }
        if let Some(previous) = self.previous_bytes {
            if (self.bytes as f64) < self.min_fraction * previous as f64 {
                return Err(DbError::Shrunk {
                    database: self.base.database.clone(),
                    bytes: self.bytes,
                    previous,
                    percent: (self.min_fraction * 100.0).round() as u32,
                });
            }
        }
        Ok(())
    }
}

impl Drop for SupervisedDump {
    fn drop(&mut self) {
        // Dropped before its end: the tool must not outlive the stream. Its
        // standard error thread ends when the killed tool's pipe closes.
        if let Some(mut running) = self.running.take() {
            kill_and_reap(&mut running.child);
        }
    }
}

/// Reads a dump to its end and returns its tables (to verify a restore).
pub(crate) fn tables_of(dump: Dump, database: &str) -> Result<Vec<TableStats>, DbError> {
    let mut reader = dump.reader;
    io::copy(&mut reader, &mut io::sink())
        .map_err(|e| into_db_error(e, || format!("dumping {database} to verify it")))?;
    let manifest = dump.manifest.get().ok_or_else(|| {
        DbError::Invalid(format!(
            "the dump of {database} ended without its statistics"
        ))
    })?;
    Ok(manifest.tables)
}

/// Runs a restore tool with `input` on its standard input. Fails when the
/// tool exits non-zero (with its standard error), or stops reading before
/// the input's end; when the input itself fails, the tool is killed before
/// it sees an end of file, so it cannot commit a partial load.
pub(crate) fn feed_tool(tool: &Tool, input: &mut (dyn Read + Send)) -> Result<(), DbError> {
    let mut child = tool.spawn(Stdio::piped(), Stdio::null())?;
    let stderr = collect_stderr(&mut child);
    let fed = match copy_to_stdin(&mut child, input, tool) {
        Ok(fed) => fed,
        Err(error) => {
            kill_and_reap(&mut child);
            return Err(error);
        }
    };
    let status = child.wait().map_err(|source| DbError::Io {
        context: format!("waiting for {}", tool.name),
        source,
    });
    let stderr = join_stderr(stderr);
    if let Some(failure) = failure(status?) {
        return Err(tool.failed(failure, stderr));
    }
    match fed {
        Fed::All => Ok(()),
        Fed::StoppedEarly => Err(tool.failed(
            "exit status 0, but it stopped reading before the end of the dump".into(),
            stderr,
        )),
    }
}

/// How much of the input a restore tool took.
enum Fed {
    All,
    /// It closed its input first (broken pipe): its exit status says why.
    StoppedEarly,
}

/// Copies `input` into the child's standard input, then closes it.
fn copy_to_stdin(
    child: &mut Child,
    input: &mut (dyn Read + Send),
    tool: &Tool,
) -> Result<Fed, DbError> {
    let Some(mut stdin) = child.stdin.take() else {
        return Err(DbError::Invalid(format!("{} has no input pipe", tool.name)));
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(Fed::All),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(into_db_error(e, || {
                    format!("reading the dump to restore into {}", tool.target)
                }))
            }
        };
        match stdin.write_all(buf.get(..n).unwrap_or_default()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Fed::StoppedEarly),
            Err(source) => {
                return Err(DbError::Io {
                    context: format!("writing the dump to {}", tool.name),
                    source,
                })
            }
        }
    }
}

/// Runs a short command (a query), with `input` on its standard input if
/// any, and returns its standard output. Fails on a non-zero exit with the
/// tool's standard error.
pub(crate) fn run_tool(tool: &Tool, input: Option<&[u8]>) -> Result<Vec<u8>, DbError> {
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = tool.spawn(stdin, Stdio::piped())?;
    let stderr = collect_stderr(&mut child);
    let writer = child.stdin.take().zip(input).map(|(mut pipe, bytes)| {
        let bytes = bytes.to_vec();
        // A thread: the tool may fill its output before reading all input.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let output = read_bounded(&mut child, tool);
    if output.is_err() {
        kill_and_reap(&mut child);
    }
    let status = child.wait().map_err(|source| DbError::Io {
        context: format!("waiting for {}", tool.name),
        source,
    });
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let stderr = join_stderr(stderr);
    let output = output?;
    if let Some(failure) = failure(status?) {
        return Err(tool.failed(failure, stderr));
    }
    Ok(output)
}

fn read_bounded(child: &mut Child, tool: &Tool) -> Result<Vec<u8>, DbError> {
    let Some(stdout) = child.stdout.take() else {
        return Err(DbError::Invalid(format!(
            "{} has no output pipe",
            tool.name
        )));
    };
    let mut output = Vec::new();
    stdout
        .take(QUERY_OUTPUT_CAP as u64 + 1)
        .read_to_end(&mut output)
        .map_err(|source| DbError::Io {
            context: format!("reading the output of {}", tool.name),
            source,
        })?;
    if output.len() > QUERY_OUTPUT_CAP {
        return Err(DbError::Invalid(format!(
            "{} answered more than 16 MiB for {}; a health check's query should return one value",
            tool.name, tool.target
        )));
    }
    Ok(output)
}
