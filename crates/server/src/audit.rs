//! The audit log: one JSON line per request, refused ones included, each
//! chained to the line before it by a hash, and its verification.
//!
//! The file is opened with O_APPEND and mode 600, so lines are only ever
//! added, and each line goes out in a single write. Writes, deletions and
//! refusals are followed by fdatasync: those are the lines an investigation
//! after an attack needs, and they must survive the server's crash. A line
//! that cannot be written is an error the handler turns into a refusal of
//! the request: nothing happens without its line.
//!
//! Every line starts with `"prev"`, the BLAKE3 (hex) of the bytes of the
//! line before it (without its newline); the first line's `prev` is 64
//! zeros. Editing, deleting, inserting or reordering lines breaks the chain
//! at the first line after the change, which [`verify`] reports.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The `prev` of the first line of a log.
pub const FIRST_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longer lines are not the server's: verification stops there.
const MAX_LINE: u64 = 1 << 20;

/// One request, as recorded.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditEntry {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The token's name, or `unknown`.
    pub token: String,
    pub remote: String,
    pub method: String,
    /// `create`, `list`, `read`, `size`, `write`, `delete`, or `refused`
    /// when the request designates no operation.
    pub action: &'static str,
    pub repo: Option<String>,
    pub kind: Option<String>,
    pub object: Option<String>,
    /// The path as sent, when it designates nothing valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub status: u16,
    pub result: String,
    /// Bytes received (writes) or sent (reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// A line as written: the chain link first, then the entry (a request of
/// the repository server, or an operator's action on the dashboard).
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    prev: &'a str,
    #[serde(flatten)]
    entry: &'a T,
}

#[derive(Debug)]
struct Tail {
    file: File,
    /// BLAKE3 (hex) of the last line in the file.
    last: String,
}

#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    tail: Mutex<Tail>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let last = last_line_hash(&mut file)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            tail: Mutex::new(Tail { file, last }),
        })
    }

    /// Appends a line, then syncs it to disk when `sync`. Blocking. On
    /// error the chain stays where it was: the next line links to the last
    /// one written whole.
    pub fn append<T: Serialize>(&self, entry: &T, sync: bool) -> std::io::Result<()> {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let line = serde_json::to_vec(&Line {
            prev: &tail.last,
            entry,
        })
        .map_err(std::io::Error::other)?;
        let hash = blake3::hash(&line).to_hex().to_string();
        let mut bytes = line;
        bytes.push(b'\n');
        let before = tail.file.metadata()?.len();
        let written = tail.file.write_all(&bytes);
        let synced = match written {
            Ok(()) if sync => tail.file.sync_data(),
            other => other,
        };
        if let Err(e) = synced {
            // The request is refused, so its line must go: a partial line,
            // or a whole one that may not be on disk, would otherwise stay
            // in the file while the next line links to the one before it,
            // breaking the chain.
            take_back(&mut tail, before);
            return Err(e);
        }
        tail.last = hash;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Cuts the file back to `len` bytes after a failed append; if that fails
/// too, chains on from whatever the file now ends with (a partial line is
/// ended, so that verification names it).
fn take_back(tail: &mut Tail, len: u64) {
    if tail.file.set_len(len).is_ok() {
        return;
    }
    match last_line_hash(&mut tail.file) {
        Ok(last) => tail.last = last,
        Err(e) => eprintln!(
            "reprise serve: cannot restore the audit log's chain after a failed write: {e}"
        ),
    }
}

/// The hash that the next line's `prev` must carry: that of the file's
/// last line, or [`FIRST_PREV`] for an empty file.
fn last_line_hash(file: &mut File) -> std::io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(FIRST_PREV.to_string());
    }
    let start = len.saturating_sub(MAX_LINE + 1);
    file.seek(SeekFrom::Start(start))?;
    let mut end = Vec::new();
    file.read_to_end(&mut end)?;
    if end.last() != Some(&b'\n') {
        // A line cut short by a crash: end it, so that it stands alone and
        // verification names it, and chain on from it.
        file.write_all(b"\n")?;
        end.push(b'\n');
    }
    let body = &end[..end.len() - 1];
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None => body,
    };
    Ok(blake3::hash(line).to_hex().to_string())
}

/// Why an audit log does not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}, line {line}: {reason}: the log was edited, or lines were removed, inserted or \
         reordered, at or just before this line"
    )]
    Broken {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

/// Checks every line's link to the line before; returns how many lines the
/// log has. A log cut after its last line verifies: keep a copy elsewhere
/// (see docs/SERVER.md) to notice that.
pub fn verify(path: &Path) -> Result<u64, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut expected = FIRST_PREV.to_string();
    let mut number = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            return Ok(number);
        }
        number += 1;
        let broken = |reason: String| AuditError::Broken {
            path: path.to_path_buf(),
            line: number,
            reason,
        };
        if line.pop() != Some(b'\n') {
            return Err(broken("the line is cut short or too long".into()));
        }
        let prev = link_of(&line).map_err(broken)?;
        if prev != expected {
            return Err(broken(format!(
                "its prev is {prev}, but the line before hashes to {expected}"
            )));
        }
        expected = blake3::hash(&line).to_hex().to_string();
    }
}

/// The `prev` field of one line.
fn link_of(line: &[u8]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON line ({e})"))?;
    value
        .get("prev")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "no prev field: not a line of a chained log".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00.000Z".into(),
            token: "pc".into(),
            remote: "127.0.0.1:1".into(),
            method: "DELETE".into(),
            action: "delete",
            repo: Some("m".into()),
            kind: Some("snapshot".into()),
            object: Some("00".into()),
            path: None,
            status,
            result: "refused".into(),
            bytes: None,
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn lines_chain_on_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(403), true).unwrap();
        log.append(&entry(200), false).unwrap();
        drop(log);
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(201), true).unwrap();
        assert_eq!(verify(&path).unwrap(), 3);
        let text = lines(&path);
        let parsed: Vec<serde_json::Value> = text
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed[0]["prev"], FIRST_PREV);
        assert_eq!(parsed[1]["status"], 200);
        assert_eq!(parsed[2]["token"], "pc");
        assert!(parsed[2].get("path").is_none());
        assert!(text[0].starts_with("{\"prev\":"));
    }

    /// A line whose write or sync failed is taken back: the request it
    /// records is refused, and the chain goes on from the line before.
    #[test]
    fn a_failed_append_leaves_no_line_and_the_chain_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(201), true).unwrap();
        {
            let mut tail = log.tail.lock().unwrap();
            let before = tail.file.metadata().unwrap().len();
            tail.file.write_all(b"{\"prev\":\"half a li").unwrap();
            take_back(&mut tail, before);
        }
        log.append(&entry(403), true).unwrap();
        assert_eq!(verify(&path).unwrap(), 2);
        // Syncing /dev/null fails (EINVAL) after its write succeeded.
        let null = AuditLog::open(Path::new("/dev/null")).unwrap();
        assert!(null.append(&entry(201), true).is_err());
    }

    #[test]
    fn an_edit_a_deletion_or_a_swap_is_reported_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        for status in [201, 403, 204, 401] {
            log.append(&entry(status), true).unwrap();
        }
        let good = lines(&path);
        let broken_at = |text: Vec<String>| {
            std::fs::write(&path, text.join("\n") + "\n").unwrap();
            match verify(&path) {
                Err(AuditError::Broken { line, .. }) => line,
                other => panic!("{other:?}"),
            }
        };
        let mut edited = good.clone();
        edited[1] = edited[1].replace("403", "200");
        assert_eq!(broken_at(edited), 3);
        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(broken_at(deleted), 2);
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(broken_at(swapped), 2);
        let mut first = good.clone();
        first.remove(0);
        assert_eq!(broken_at(first), 1);
        std::fs::write(&path, good.join("\n") + "\n").unwrap();
        assert_eq!(verify(&path).unwrap(), 4);
    }
}
