//! The quarantine of an in-place last-clean restore: the encrypted copies,
//! ransom notes and replaced versions found in the live share are moved,
//! never deleted, into a quarantine directory, under the same relative
//! paths.
//!
//! Like the rest of the restore, every directory is opened from its
//! parent's handle, one name at a time, without following symlinks: a
//! symlink planted where a directory should be fails the entries below it,
//! by name, and nothing outside the share or the quarantine is touched.
//! Entries are moved with `renameat` (never replacing anything in the
//! quarantine), so the quarantine must be on the share's file system: one
//! on another file system is refused before anything is moved, because a
//! copy could not be made atomically and the live copy would have to be
//! deleted.

use crate::dirs::{is_not_a_dir, open_dir};
use crate::RestoreFailure;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

/// Errors that stop the quarantine before anything is moved.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the quarantine {quarantine} is on another file system than {share}: the files \
         would have to be copied and their originals deleted; choose a quarantine on the same \
         file system with --quarantine DIR"
    )]
    OtherFileSystem { quarantine: String, share: String },
    #[error("the quarantine {quarantine} is inside {share}: choose a directory outside it with --quarantine DIR")]
    Inside { quarantine: String, share: String },
}

/// One entry moved (or, in a dry run, to move).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Moved {
    /// Its path in the share.
    pub path: String,
    /// Its path relative to the share (and to the quarantine), byte-exact.
    #[serde(skip)]
    pub relative: PathBuf,
    /// Where it is in the quarantine.
    pub to: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QuarantineReport {
    /// The share the entries were moved from.
    pub share: String,
    pub quarantine: String,
    pub moved: Vec<Moved>,
    /// Entries to move that the share no longer holds.
    pub absent: Vec<String>,
    pub failures: Vec<RestoreFailure>,
    pub dry_run: bool,
}

/// Moves each of `relative` (paths below `share`) into `quarantine` under
/// the same relative path; in a dry run, only looks for them.
pub fn quarantine(
    share: &Path,
    quarantine: &Path,
    relative: &[PathBuf],
    dry_run: bool,
) -> Result<QuarantineReport, QuarantineError> {
    let open = |path: &Path| {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        rustix::fs::open(path, flags, Mode::empty()).map_err(|e| QuarantineError::Open {
            path: path.display().to_string(),
            source: e.into(),
        })
    };
    let share_fd = open(share)?;
    let mut report = QuarantineReport {
        share: share.display().to_string(),
        quarantine: quarantine.display().to_string(),
        dry_run,
        ..Default::default()
    };
    let dest = if dry_run || relative.is_empty() {
        None
    } else {
        Some(make_quarantine(share, &share_fd, quarantine, &open)?)
    };
    let mut mover = Mover {
        share,
        quarantine,
        share_fd: &share_fd,
        dest: dest.as_ref(),
        cached: None,
    };
    let mut sorted: Vec<&PathBuf> = relative.iter().collect();
    sorted.sort();
    sorted.dedup();
    for rel in sorted {
        let shown = share.join(rel).display().to_string();
        match mover.move_one(rel) {
            Ok(true) => report.moved.push(Moved {
                path: shown,
                relative: rel.clone(),
                to: quarantine.join(rel).display().to_string(),
            }),
            Ok(false) => report.absent.push(shown),
            Err(message) => report.failures.push(RestoreFailure {
                path: shown,
                message,
            }),
        }
    }
    Ok(report)
}

/// Makes (mode 700: it holds copies of the share's data) and opens the
/// quarantine, refusing one on another file system or inside the share.
fn make_quarantine(
    share: &Path,
    share_fd: &OwnedFd,
    quarantine: &Path,
    open: &dyn Fn(&Path) -> Result<OwnedFd, QuarantineError>,
) -> Result<OwnedFd, QuarantineError> {
    let names = || {
        (
            quarantine.display().to_string(),
            share.display().to_string(),
        )
    };
    if let (Ok(q), Ok(s)) = (std::path::absolute(quarantine), std::path::absolute(share)) {
        if q.starts_with(&s) {
            let (quarantine, share) = names();
            return Err(QuarantineError::Inside { quarantine, share });
        }
    }
    let existed = quarantine.exists();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(quarantine)
        .map_err(|source| QuarantineError::Open {
            path: quarantine.display().to_string(),
            source,
        })?;
    let fd = open(quarantine)?;
    let refused = refusal(share, share_fd, quarantine, &fd);
    match refused {
        Some(e) => {
            if !existed {
                // Made for nothing: remove it again (only if still empty).
                let _ = std::fs::remove_dir(quarantine);
            }
            Err(e)
        }
        None => Ok(fd),
    }
}

/// Why the opened quarantine cannot be used: on another file system than
/// the share, or inside it (through a symlink).
fn refusal(
    share: &Path,
    share_fd: &OwnedFd,
    quarantine: &Path,
    fd: &OwnedFd,
) -> Option<QuarantineError> {
    let names = || {
        (
            quarantine.display().to_string(),
            share.display().to_string(),
        )
    };
    if let (Ok(q), Ok(s)) = (rustix::fs::fstat(fd), rustix::fs::fstat(share_fd)) {
        if q.st_dev != s.st_dev {
            let (quarantine, share) = names();
            return Some(QuarantineError::OtherFileSystem { quarantine, share });
        }
    }
    if let (Ok(q), Ok(s)) = (quarantine.canonicalize(), share.canonicalize()) {
        if q.starts_with(&s) {
            let (quarantine, share) = names();
            return Some(QuarantineError::Inside { quarantine, share });
        }
    }
    None
}

/// Moves entries one by one, keeping the handles of the last directory
/// used (the entries come sorted, so siblings share them).
struct Mover<'a> {
    share: &'a Path,
    quarantine: &'a Path,
    share_fd: &'a OwnedFd,
    dest: Option<&'a OwnedFd>,
    /// (relative directory, its handle in the share, in the quarantine).
    cached: Option<(PathBuf, OwnedFd, Option<OwnedFd>)>,
}

impl Mover<'_> {
    /// True when moved (or found, in a dry run), false when absent.
    fn move_one(&mut self, rel: &Path) -> Result<bool, String> {
        let (parent, name) = split_relative(rel)?;
        let fresh = !matches!(&self.cached, Some((p, _, _)) if p == parent);
        if fresh {
            self.cached = None;
            let Some(src) = self.open_in_share(parent)? else {
                return Ok(false);
            };
            self.cached = Some((parent.to_path_buf(), src, None));
        }
        let Some((_, src, dst)) = self.cached.as_mut() else {
            return Ok(false);
        };
        match rustix::fs::statat(&*src, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(format!("cannot look at it: {e}; not moved")),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err("a directory is there now; not moved".into())
            }
            Ok(_) => {}
        }
        let Some(dest) = self.dest else {
            return Ok(true);
        };
        if dst.is_none() {
            *dst = Some(make_dirs(dest, parent).map_err(|e| {
                format!(
                    "cannot make its directory in the quarantine {}: {e}; not moved",
                    self.quarantine.join(parent).display()
                )
            })?);
        }
        let Some(dst) = dst.as_ref() else {
            return Ok(false);
        };
        match rustix::fs::renameat_with(&*src, name, dst, name, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(true),
            Err(Errno::INVAL) | Err(Errno::NOSYS) => rustix::fs::renameat(&*src, name, dst, name)
                .map(|()| true)
                .map_err(|e| format!("cannot move it into the quarantine: {e}")),
            Err(Errno::EXIST) => {
                Err("the quarantine already holds an entry of that name; not moved".into())
            }
            Err(e) => Err(format!(
                "cannot move it into the quarantine: {e}; not moved"
            )),
        }
    }

    /// The share's directory `parent`, opened one name at a time without
    /// following symlinks; `None` when it does not exist.
    fn open_in_share(&self, parent: &Path) -> Result<Option<OwnedFd>, String> {
        let mut current: Option<OwnedFd> = None;
        let mut walked = PathBuf::new();
        for name in parent.iter() {
            walked.push(name);
            let here = current.as_ref().unwrap_or(self.share_fd);
            match open_dir(here, name) {
                Ok(fd) => current = Some(fd),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
                Err(e) if is_not_a_dir(&e) => {
                    return Err(format!(
                    "{} is a symlink or not a directory: not followed, nothing below it was moved",
                    self.share.join(&walked).display()
                ))
                }
                Err(e) => {
                    return Err(format!(
                        "cannot open {}: {e}; nothing below it was moved",
                        self.share.join(&walked).display()
                    ))
                }
            }
        }
        match current {
            Some(fd) => Ok(Some(fd)),
            None => rustix::fs::openat(
                self.share_fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(Some)
            .map_err(|e| format!("cannot open {}: {e}", self.share.display())),
        }
    }
}

/// Makes the directories of `parent` below the quarantine's handle (mode
/// 700), one name at a time, never through a symlink.
fn make_dirs(quarantine: &OwnedFd, parent: &Path) -> io::Result<OwnedFd> {
    let mut current = rustix::fs::openat(
        quarantine,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for name in parent.iter() {
        match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        current = open_dir(&current, name)?;
    }
    Ok(current)
}

/// `a/b/c` → (`a/b`, `c`), refusing anything but plain names.
fn split_relative(rel: &Path) -> Result<(&Path, &OsStr), String> {
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("refused: not a plain relative path".into());
    }
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err("refused: not a plain relative path".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        fs::create_dir_all(share.join("a/b")).unwrap();
        fs::write(share.join("a/b/x.enc"), b"cipher").unwrap();
        fs::write(share.join("a/NOTE.txt"), b"pay").unwrap();
        fs::write(share.join("keep.txt"), b"keep").unwrap();
        let q = dir.path().join("q");
        (dir, share, q)
    }

    #[test]
    fn moves_entries_under_their_relative_paths_and_reports_absent_ones() {
        let (_d, share, q) = setup();
        let rels = [
            PathBuf::from("a/b/x.enc"),
            PathBuf::from("a/NOTE.txt"),
            PathBuf::from("a/gone"),
        ];
        let r = quarantine(&share, &q, &rels, false).unwrap();
        assert_eq!(r.moved.len(), 2, "{r:?}");
        assert_eq!(r.absent.len(), 1);
        assert!(r.failures.is_empty());
        assert_eq!(fs::read(q.join("a/b/x.enc")).unwrap(), b"cipher");
        assert_eq!(fs::read(q.join("a/NOTE.txt")).unwrap(), b"pay");
        assert!(!share.join("a/b/x.enc").exists());
        assert!(share.join("keep.txt").exists());
    }

    #[test]
    fn a_dry_run_moves_nothing_and_makes_no_quarantine() {
        let (_d, share, q) = setup();
        let r = quarantine(&share, &q, &[PathBuf::from("a/NOTE.txt")], true).unwrap();
        assert_eq!(r.moved.len(), 1);
        assert!(share.join("a/NOTE.txt").exists());
        assert!(!q.exists());
    }

    #[test]
    fn a_symlink_in_place_of_a_directory_is_not_followed() {
        let (d, share, q) = setup();
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x.enc"), b"not yours").unwrap();
        fs::remove_dir_all(share.join("a/b")).unwrap();
        std::os::unix::fs::symlink(&outside, share.join("a/b")).unwrap();
        let r = quarantine(&share, &q, &[PathBuf::from("a/b/x.enc")], false).unwrap();
        assert_eq!(r.failures.len(), 1, "{r:?}");
        assert!(r.failures[0].message.contains("not followed"));
        assert_eq!(fs::read(outside.join("x.enc")).unwrap(), b"not yours");
    }

    #[test]
    fn a_quarantine_on_another_file_system_is_refused_before_anything_moves() {
        let (_d, share, _q) = setup();
        let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
            return; // no second file system to try here
        };
        let dev = |p: &Path| std::os::unix::fs::MetadataExt::dev(&fs::metadata(p).unwrap());
        if dev(other.path()) == dev(&share) {
            return;
        }
        let q = other.path().join("q");
        let e = quarantine(&share, &q, &[PathBuf::from("a/NOTE.txt")], false);
        assert!(
            matches!(e, Err(QuarantineError::OtherFileSystem { .. })),
            "{e:?}"
        );
        assert!(share.join("a/NOTE.txt").exists());
        assert!(!q.exists(), "the refused quarantine is not left behind");
    }

    #[test]
    fn a_quarantine_inside_the_share_is_refused() {
        let (_d, share, _q) = setup();
        let inside = share.join("q");
        let e = quarantine(&share, &inside, &[PathBuf::from("a/NOTE.txt")], false);
        assert!(matches!(e, Err(QuarantineError::Inside { .. })), "{e:?}");
    }
}
