//! Applying a node's metadata to a restored entry: owner (when root), mode,
//! extended attributes and times, in that order (chown clears setuid bits,
//! and anything written after the times would change them).

use reprise_format::{Node, NodeKind};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub(crate) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn file_time(ns: i64) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

pub(crate) fn apply(path: &Path, node: &Node, as_root: bool) -> io::Result<()> {
    if as_root {
        std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))?;
    }
    if node.kind != NodeKind::Symlink {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode))?;
    }
    for x in &node.xattrs {
        let name = std::ffi::OsStr::from_bytes(x.name.as_bytes());
        if let Err(e) = xattr::set(path, name, &x.value) {
            if as_root || !is_privileged_xattr(x.name.as_bytes()) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("xattr {}: {e}", x.name.display()),
                ));
            }
        }
    }
    filetime::set_symlink_file_times(path, file_time(node.atime_ns), file_time(node.mtime_ns))
}

/// Like [`apply`] for a regular file already open, through its descriptor:
/// no path lookups.
pub(crate) fn apply_to_file(file: &std::fs::File, node: &Node, as_root: bool) -> io::Result<()> {
    use xattr::FileExt;
    if as_root {
        std::os::unix::fs::fchown(file, Some(node.uid), Some(node.gid))?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(node.mode))?;
    for x in &node.xattrs {
        let name = std::ffi::OsStr::from_bytes(x.name.as_bytes());
        if let Err(e) = file.set_xattr(name, &x.value) {
            if as_root || !is_privileged_xattr(x.name.as_bytes()) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("xattr {}: {e}", x.name.display()),
                ));
            }
        }
    }
    filetime::set_file_handle_times(
        file,
        Some(file_time(node.atime_ns)),
        Some(file_time(node.mtime_ns)),
    )
}

/// Without privileges, the security and trusted namespaces are refused:
/// that is expected and not worth failing the file for.
fn is_privileged_xattr(name: &[u8]) -> bool {
    name.starts_with(b"security.") || name.starts_with(b"trusted.")
}

/// Creates a directory, replacing a non-directory in its way.
pub(crate) fn ensure_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            std::fs::remove_file(path)?;
            std::fs::create_dir(path)
        }
        Err(_) => std::fs::create_dir_all(path),
    }
}

pub(crate) fn hard_link(leader: &Path, path: &Path) -> io::Result<()> {
    if let (Ok(a), Ok(b)) = (
        std::fs::symlink_metadata(leader),
        std::fs::symlink_metadata(path),
    ) {
        if a.ino() == b.ino() && a.dev() == b.dev() {
            return Ok(());
        }
        std::fs::remove_file(path)?;
    }
    std::fs::hard_link(leader, path)
}

/// Creates a symlink; returns true when something was made or already right.
pub(crate) fn symlink(path: &Path, node: &Node) -> io::Result<bool> {
    let target = std::ffi::OsStr::from_bytes(
        node.target
            .as_ref()
            .map(|t| t.as_bytes())
            .unwrap_or_default(),
    );
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() && std::fs::read_link(path)?.as_os_str() == target {
            return Ok(true);
        }
        if m.is_dir() {
            return Err(io::Error::other(
                "a directory is in the way of this symlink",
            ));
        }
        std::fs::remove_file(path)?;
    }
    std::os::unix::fs::symlink(target, path)?;
    Ok(true)
}

/// Creates a FIFO, or a device when running as root; false if skipped.
pub(crate) fn make_special(path: &Path, node: &Node, as_root: bool) -> io::Result<bool> {
    let type_bits = match node.kind {
        NodeKind::Fifo => libc::S_IFIFO,
        NodeKind::Chardev if as_root => libc::S_IFCHR,
        NodeKind::Blockdev if as_root => libc::S_IFBLK,
        _ => return Ok(false),
    };
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: c is a valid NUL-terminated path; mknod does not retain it.
    let rc = unsafe {
        libc::mknod(
            c.as_ptr(),
            type_bits | (node.mode & 0o7777),
            node.rdev as libc::dev_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}
