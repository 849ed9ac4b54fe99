//! `verify`: compares a restored tree with the original, entry by entry: the same names,
//! the same types, the same contents, the same symlink targets, the same permissions (and,
//! on request, the same modification times). Contents are compared on all cores.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use anyhow::Context;

use crate::tree::walk;

/// Differences shown; the count of the others is given.
const SHOWN: usize = 20;
const BUFFER: usize = 256 * 1024;

/// The outcome: what was compared and every difference found.
pub struct Report {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub differences: Vec<String>,
}

impl Report {
    pub fn is_identical(&self) -> bool {
        self.differences.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_identical() {
            return writeln!(
                f,
                "identical: {} files ({} bytes), {} directories, {} symlinks",
                self.files, self.bytes, self.dirs, self.symlinks
            );
        }
        writeln!(f, "{} difference(s):", self.differences.len())?;
        for difference in self.differences.iter().take(SHOWN) {
            writeln!(f, "  {difference}")?;
        }
        if self.differences.len() > SHOWN {
            writeln!(f, "  ... and {} more", self.differences.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Compares the tree at `actual` with the tree at `expected`.
pub fn verify(expected: &Path, actual: &Path, mtimes: bool) -> anyhow::Result<Report> {
    let listing = |root: &Path| -> anyhow::Result<BTreeMap<PathBuf, Metadata>> {
        let entries = walk(root).with_context(|| format!("reading {}", root.display()))?;
        Ok(entries
            .into_iter()
            .map(|e| (e.relative, e.metadata))
            .collect())
    };
    let (want, have) = (listing(expected)?, listing(actual)?);
    let mut report = Report {
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        differences: Vec::new(),
    };
    let mut same_size_files = Vec::new();
    for (path, wanted) in &want {
        let Some(found) = have.get(path) else {
            report.differences.push(format!("missing: {}", shown(path)));
            continue;
        };
        let before = report.differences.len();
        compare_metadata(expected, actual, path, wanted, found, mtimes, &mut report)?;
        if wanted.is_file() && report.differences.len() == before {
            same_size_files.push((path.clone(), wanted.len()));
        }
    }
    for path in have.keys().filter(|path| !want.contains_key(*path)) {
        report
            .differences
            .push(format!("unexpected: {}", shown(path)));
    }
    let mut content = compare_contents(expected, actual, &same_size_files)?;
    content.sort();
    report.differences.extend(content);
    Ok(report)
}

/// Type, permissions, symlink target, size and optionally times of one entry.
fn compare_metadata(
    expected: &Path,
    actual: &Path,
    path: &Path,
    wanted: &Metadata,
    found: &Metadata,
    mtimes: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let name = shown(path);
    let differences = &mut report.differences;
    if kind(wanted) != kind(found) {
        differences.push(format!("{name}: {} became {}", kind(wanted), kind(found)));
        return Ok(());
    }
    if wanted.is_symlink() {
        report.symlinks += 1;
        let target = |root: &Path| fs::read_link(root.join(path));
        if target(expected)? != target(actual)? {
            differences.push(format!("{name}: symlink target differs"));
        }
        return Ok(());
    }
    if wanted.mode() & 0o7777 != found.mode() & 0o7777 {
        differences.push(format!(
            "{name}: mode {:o} became {:o}",
            wanted.mode() & 0o7777,
            found.mode() & 0o7777
        ));
    }
    if mtimes && (wanted.mtime(), wanted.mtime_nsec()) != (found.mtime(), found.mtime_nsec()) {
        differences.push(format!("{name}: modification time differs"));
    }
    if wanted.is_dir() {
        report.dirs += 1;
    } else if wanted.is_file() {
        report.files += 1;
        report.bytes += wanted.len();
        if wanted.len() != found.len() {
            differences.push(format!(
                "{name}: size {} became {}",
                wanted.len(),
                found.len()
            ));
        }
    }
    Ok(())
}

fn kind(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_file() {
        "file"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

/// The root shows as `.`.
fn shown(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        ".".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads every pair of files of equal size, on several threads; returns the paths that differ.
fn compare_contents(
    expected: &Path,
    actual: &Path,
    files: &[(PathBuf, u64)],
) -> io::Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let differences = Mutex::new(Vec::new());
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> io::Result<()> {
                    while let Some((path, _)) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if !same_content(&expected.join(path), &actual.join(path))? {
                            let mut list = differences.lock().unwrap_or_else(|e| e.into_inner());
                            list.push(format!("{}: content differs", shown(path)));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a reader panicked")))
            })
            .collect::<io::Result<Vec<()>>>()
    })?;
    Ok(differences.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (mut buffer_a, mut buffer_b) = (vec![0; BUFFER], vec![0; BUFFER]);
    loop {
        let read = read_full(&mut a, &mut buffer_a)?;
        if read != read_full(&mut b, &mut buffer_b)? || buffer_a[..read] != buffer_b[..read] {
            return Ok(false);
        }
        if read == 0 {
            return Ok(true);
        }
    }
}

/// Fills `buffer` unless the file ends first; returns how much was read.
fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn tree(root: &Path) -> io::Result<()> {
        fs::create_dir_all(root.join("a/b"))?;
        fs::write(root.join("a/b/f.txt"), b"hello")?;
        fs::write(root.join("g"), vec![7u8; 600_000])?;
        symlink("a/b/f.txt", root.join("l"))
    }

    #[test]
    fn identical_trees_pass() -> anyhow::Result<()> {
        let (x, y) = (tempfile::tempdir()?, tempfile::tempdir()?);
        tree(x.path())?;
        tree(y.path())?;
        fs::set_permissions(y.path(), fs::metadata(x.path())?.permissions())?;
        let report = verify(x.path(), y.path(), false)?;
        assert!(report.is_identical(), "{report}");
        assert_eq!((report.files, report.dirs, report.symlinks), (2, 3, 1));
        Ok(())
    }

    #[test]
    fn every_kind_of_difference_is_reported() -> anyhow::Result<()> {
        let (x, y) = (tempfile::tempdir()?, tempfile::tempdir()?);
        tree(x.path())?;
        tree(y.path())?;
        fs::set_permissions(y.path(), fs::metadata(x.path())?.permissions())?;
        let mut big = vec![7u8; 600_000];
        big[599_999] = 8;
        fs::write(y.path().join("g"), big)?;
        fs::write(y.path().join("a/b/f.txt"), b"hello!")?;
        fs::set_permissions(y.path().join("a"), fs::Permissions::from_mode(0o700))?;
        fs::remove_file(y.path().join("l"))?;
        symlink("elsewhere", y.path().join("l"))?;
        fs::write(y.path().join("extra"), b"")?;
        let report = verify(x.path(), y.path(), false)?;
        let text = report.to_string();
        for expected in [
            "g: content differs",
            "a/b/f.txt: size 5 became 6",
            "a: mode",
            "l: symlink target differs",
            "unexpected: extra",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        fs::remove_file(x.path().join("g"))?;
        assert!(verify(y.path(), x.path(), false)?
            .to_string()
            .contains("missing: g"));
        Ok(())
    }
}
