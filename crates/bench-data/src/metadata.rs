//! The last pass of `generate`: permissions and modification times derived from each
//! path, so that the tree is reproducible down to its metadata (whatever the umask and
//! the clock) and looks lived-in: years of dates, some files private to their service.
//! Files that `change` touches later get today's date, which is how backup tools see them.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use filetime::FileTime;

use crate::tree::path_hash;

/// 2015-01-01 00:00:00 UTC: the oldest generated modification time.
const OLDEST: i64 = 1_420_070_400;
/// Ten years and a half of dates after [`OLDEST`].
const SPAN_SECONDS: u64 = 331_128_000;

/// Sets the mode and modification time of every file and directory below `root` (and of
/// `root`), directories after their contents so that their times stay as set.
pub fn finish(root: &Path, seed: u64) -> io::Result<()> {
    finish_dir(root, Path::new(""), seed)
}

fn finish_dir(root: &Path, relative: &Path, seed: u64) -> io::Result<()> {
    for entry in fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let child = relative.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            finish_dir(root, &child, seed)?;
        } else if kind.is_file() {
            let hash = path_hash(seed, &child);
            apply(&root.join(&child), file_mode(&child, hash), hash)?;
        }
    }
    apply(
        &root.join(relative),
        dir_mode(relative),
        path_hash(seed, relative),
    )
}

fn apply(path: &Path, mode: u32, hash: u64) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    filetime::set_file_mtime(path, mtime(hash))
}

/// Scripts are executable; about one file in ten is readable by its service only, and a
/// few by their owner only.
fn file_mode(relative: &Path, hash: u64) -> u32 {
    if relative
        .extension()
        .is_some_and(|extension| extension == "sh")
    {
        return 0o755;
    }
    match hash % 100 {
        0..=1 => 0o600,
        2..=11 => 0o640,
        _ => 0o644,
    }
}

/// Human resources folders are closed to other services.
fn dir_mode(relative: &Path) -> u32 {
    let private = relative
        .components()
        .any(|part| part.as_os_str() == "rh" || part.as_os_str() == "ressources-humaines");
    if private {
        0o750
    } else {
        0o755
    }
}

fn mtime(hash: u64) -> FileTime {
    let seconds = OLDEST + (hash % SPAN_SECONDS) as i64;
    let nanos = ((hash >> 32) % 1_000_000_000) as u32;
    FileTime::from_unix_time(seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn finish_sets_modes_and_times_from_the_paths() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("rh/paie"))?;
        fs::write(dir.path().join("rh/paie/bulletin.pdf"), b"x")?;
        fs::write(dir.path().join("script.sh"), b"#!/bin/sh\n")?;
        finish(dir.path(), 3)?;
        let meta = |path: &str| fs::metadata(dir.path().join(path));
        assert_eq!(meta("script.sh")?.mode() & 0o7777, 0o755);
        assert_eq!(meta("rh/paie")?.mode() & 0o7777, 0o750);
        let first = meta("rh/paie/bulletin.pdf")?.mtime();
        assert!((OLDEST..OLDEST + SPAN_SECONDS as i64).contains(&first));
        finish(dir.path(), 3)?;
        assert_eq!(meta("rh/paie/bulletin.pdf")?.mtime(), first);
        Ok(())
    }
}
