//! Applying a node's metadata to a restored entry, and making the entries
//! that are not regular files (symlinks, FIFOs, devices, hard links).
//!
//! Order: owner (when root), mode, extended attributes, times (chown clears
//! setuid bits, and anything written after the times would change them).
//! Everything goes through a handle this restore opened: the entry's own
//! descriptor, or its parent directory's handle and its name with
//! `AT_SYMLINK_NOFOLLOW`. No link is followed that this restore did not make.

use crate::Outcome;
use reprise_format::{Node, NodeKind};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

pub(crate) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn timestamps(node: &Node) -> Timestamps {
    let spec = |ns: i64| rustix::fs::Timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000),
    };
    Timestamps {
        last_access: spec(node.atime_ns),
        last_modification: spec(node.mtime_ns),
    }
}

fn mode_of(node: &Node) -> Mode {
    Mode::from_raw_mode(node.mode & 0o7777)
}

/// The node's owner; id 2^32 - 1 means "leave unchanged" to chown, so it
/// cannot be restored and is refused.
fn owner_of(node: &Node) -> io::Result<(Option<rustix::fs::Uid>, Option<rustix::fs::Gid>)> {
    if node.uid == u32::MAX || node.gid == u32::MAX {
        return Err(io::Error::other(format!(
            "owner {}:{} cannot be set (4294967295 is not a valid id)",
            node.uid, node.gid
        )));
    }
    Ok((
        Some(rustix::fs::Uid::from_raw(node.uid)),
        Some(rustix::fs::Gid::from_raw(node.gid)),
    ))
}

/// Applies the metadata through an open descriptor (a file or a directory).
pub(crate) fn apply_to_fd(fd: impl AsFd, node: &Node, as_root: bool) -> io::Result<()> {
    let fd = fd.as_fd();
    if as_root {
        let (uid, gid) = owner_of(node)?;
        rustix::fs::fchown(fd, uid, gid)?;
    }
    rustix::fs::fchmod(fd, mode_of(node))?;
    set_xattrs(node, as_root, |name, value| {
        rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty())
    })?;
    Ok(rustix::fs::futimens(fd, &timestamps(node))?)
}

/// Applies the metadata to `name` in `dir` without following it (symlinks,
/// FIFOs, devices).
pub(crate) fn apply_at(dir: &OwnedFd, name: &OsStr, node: &Node, as_root: bool) -> io::Result<()> {
    let nofollow = AtFlags::SYMLINK_NOFOLLOW;
    if as_root {
        let (uid, gid) = owner_of(node)?;
        rustix::fs::chownat(dir, name, uid, gid, nofollow)?;
    }
    if node.kind != NodeKind::Symlink {
        chmod_nofollow(dir, name, mode_of(node))?;
    }
    if !node.xattrs.is_empty() {
        // No *at call for xattrs before Linux 6.13: the parent's handle is
        // named through /proc, and the l- variant does not follow the entry.
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        path.push(name);
        set_xattrs(node, as_root, |n, v| {
            rustix::fs::lsetxattr(&path, n, v, XattrFlags::empty())
        })?;
    }
    Ok(rustix::fs::utimensat(
        dir,
        name,
        &timestamps(node),
        nofollow,
    )?)
}

/// chmod of an entry that must not be followed: Linux has no
/// `fchmodat(AT_SYMLINK_NOFOLLOW)` before 6.6, so the entry is opened with
/// `O_PATH | O_NOFOLLOW` and changed through its /proc name, which resolves
/// to that very inode.
fn chmod_nofollow(dir: &OwnedFd, name: &OsStr, mode: Mode) -> io::Result<()> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(io::Error::other(
            "became a symlink while restoring; not followed",
        ));
    }
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::chmodat(
        rustix::fs::CWD,
        proc_path.as_str(),
        mode,
        AtFlags::empty(),
    )?)
}

/// Without privileges, the security and trusted namespaces are refused:
/// that is expected and not worth failing the entry for.
fn set_xattrs(
    node: &Node,
    as_root: bool,
    mut set: impl FnMut(&OsStr, &[u8]) -> rustix::io::Result<()>,
) -> io::Result<()> {
    for x in &node.xattrs {
        let name = OsStr::from_bytes(x.name.as_bytes());
        if let Err(e) = set(name, &x.value) {
            if as_root || !is_privileged_xattr(x.name.as_bytes()) {
                return Err(io::Error::other(format!("xattr {}: {e}", x.name.display())));
            }
        }
    }
    Ok(())
}

fn is_privileged_xattr(name: &[u8]) -> bool {
    name.starts_with(b"security.") || name.starts_with(b"trusted.")
}

/// The type of `name` in `dir` (not followed), or `None` when absent.
pub(crate) fn existing_type(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn file_type(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// What was at a name before making a symlink, FIFO, device or link there.
enum Way {
    /// Nothing more to do: kept (`--overwrite never`), already right, or
    /// (dry run) would be replaced.
    Found(Outcome),
    /// The name is free; `replacing` when something was removed from it.
    Clear { replacing: bool },
}

impl Way {
    fn made(replacing: bool) -> Outcome {
        if replacing {
            Outcome::Replaced
        } else {
            Outcome::Created
        }
    }
}

/// Frees a name for a new entry: keeps what is there under
/// `--overwrite never`, takes it when `same`, refuses a directory, and
/// removes anything else (the name itself: a symlink is not followed).
fn clear_way(
    dir: &OwnedFd,
    name: &OsStr,
    never: bool,
    dry_run: bool,
    same: impl Fn(&rustix::fs::Stat) -> bool,
) -> io::Result<Way> {
    let Some(st) = existing_type(dir, name)? else {
        return Ok(Way::Clear { replacing: false });
    };
    if never {
        return Ok(Way::Found(Outcome::Kept));
    }
    if same(&st) {
        return Ok(Way::Found(Outcome::Unchanged));
    }
    if file_type(&st) == FileType::Directory {
        return Err(io::Error::other("a directory is in the way"));
    }
    if dry_run {
        return Ok(Way::Found(Outcome::Replaced));
    }
    rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    Ok(Way::Clear { replacing: true })
}

/// Makes a symlink `name` in `dir`, or finds it already right.
pub(crate) fn symlink_at(
    dir: &OwnedFd,
    name: &OsStr,
    node: &Node,
    never: bool,
    dry_run: bool,
) -> io::Result<Outcome> {
    let target = node
        .target
        .as_ref()
        .map(|t| t.as_bytes())
        .unwrap_or_default();
    let same = |st: &rustix::fs::Stat| {
        file_type(st) == FileType::Symlink
            && rustix::fs::readlinkat(dir, name, Vec::new()).is_ok_and(|t| t.as_bytes() == target)
    };
    let replacing = match clear_way(dir, name, never, dry_run, same)? {
        Way::Found(outcome) => return Ok(outcome),
        Way::Clear { replacing } => replacing,
    };
    if !dry_run {
        rustix::fs::symlinkat(OsStr::from_bytes(target), dir, name)?;
    }
    Ok(Way::made(replacing))
}

/// Makes a FIFO (or a device, as root) `name` in `dir`; `None` if skipped.
pub(crate) fn special_at(
    dir: &OwnedFd,
    name: &OsStr,
    node: &Node,
    as_root: bool,
    never: bool,
    dry_run: bool,
) -> io::Result<Option<Outcome>> {
    let kind = match node.kind {
        NodeKind::Fifo => FileType::Fifo,
        NodeKind::Chardev if as_root => FileType::CharacterDevice,
        NodeKind::Blockdev if as_root => FileType::BlockDevice,
        _ => return Ok(None),
    };
    let same = |st: &rustix::fs::Stat| {
        file_type(st) == kind && (kind == FileType::Fifo || st.st_rdev == node.rdev)
    };
    let replacing = match clear_way(dir, name, never, dry_run, same)? {
        Way::Found(outcome) => return Ok(Some(outcome)),
        Way::Clear { replacing } => replacing,
    };
    if !dry_run {
        let mode = Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(dir, name, kind, mode, node.rdev as rustix::fs::Dev)?;
    }
    Ok(Some(Way::made(replacing)))
}

/// Links `name` in `dir` to the leader's inode (`linkat` without
/// `AT_SYMLINK_FOLLOW` never follows the leader).
pub(crate) fn hard_link_at(
    leader_dir: &OwnedFd,
    leader: &OsStr,
    dir: &OwnedFd,
    name: &OsStr,
    never: bool,
) -> io::Result<Outcome> {
    let same_inode = |st: &rustix::fs::Stat| {
        existing_type(leader_dir, leader)
            .ok()
            .flatten()
            .is_some_and(|l| l.st_ino == st.st_ino && l.st_dev == st.st_dev)
    };
    let replacing = match clear_way(dir, name, never, false, same_inode)? {
        Way::Found(outcome) => return Ok(outcome),
        Way::Clear { replacing } => replacing,
    };
    rustix::fs::linkat(leader_dir, leader, dir, name, AtFlags::empty())?;
    Ok(Way::made(replacing))
}
