//! The audit log: one JSON line per request, refused ones included.
//!
//! The file is opened with O_APPEND, so lines are only ever added, and each
//! line goes out in a single write. Writes, deletions and refusals are
//! followed by fdatasync: those are the lines an investigation after an
//! attack needs, and they must survive the server's crash.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

#[derive(Debug)]
pub(crate) struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends a line, then syncs it to disk when `sync`. Blocking.
    pub fn append(&self, entry: &AuditEntry, sync: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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

    #[test]
    fn lines_are_appended_to_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, b"{\"earlier\":true}\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(403), true).unwrap();
        log.append(&entry(200), false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["earlier"], true);
        assert_eq!(lines[1]["status"], 403);
        assert_eq!(lines[2]["token"], "pc");
        assert!(lines[2].get("path").is_none());
    }
}
