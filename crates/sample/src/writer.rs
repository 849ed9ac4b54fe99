//! Writing the share to disk while keeping the tally returned by `generate_share`: only what
//! this run writes is counted, never whatever else may already live under the root.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ShareSummary;

pub(crate) struct ShareWriter {
    root: PathBuf,
    dirs: BTreeSet<PathBuf>,
    files: u64,
    bytes: u64,
}

impl ShareWriter {
    pub fn create(root: &Path) -> io::Result<ShareWriter> {
        fs::create_dir_all(root)?;
        Ok(ShareWriter {
            root: root.to_path_buf(),
            dirs: BTreeSet::new(),
            files: 0,
            bytes: 0,
        })
    }

    /// Writes `data` to `relative` (a `/`-separated path), creating parent directories.
    pub fn write(&mut self, relative: &str, data: &[u8]) -> io::Result<()> {
        let relative = Path::new(relative);
        if let Some(parent) = relative.parent() {
            self.dir(parent)?;
        }
        fs::write(self.root.join(relative), data)?;
        self.files += 1;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Creates a directory (and its parents) that may stay empty.
    pub fn empty_dir(&mut self, relative: &str) -> io::Result<()> {
        self.dir(Path::new(relative))
    }

    fn dir(&mut self, relative: &Path) -> io::Result<()> {
        if relative.as_os_str().is_empty() || self.dirs.contains(relative) {
            return Ok(());
        }
        fs::create_dir_all(self.root.join(relative))?;
        for ancestor in relative.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                self.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    pub fn summary(&self) -> ShareSummary {
        ShareSummary {
            files: self.files,
            dirs: self.dirs.len() as u64,
            bytes: self.bytes,
        }
    }
}
