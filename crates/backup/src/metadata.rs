//! Reading a file system entry's metadata into a [`Node`]: kind, mode,
//! owner (ids and names), times with nanoseconds, inode and device (for
//! change detection and hard links), and extended attributes.

use reprise_format::{Node, NodeKind, RawBytes, Xattr};
use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Mutex;

/// Caches uid and gid to name lookups: a share has few owners and many files.
#[derive(Default)]
pub(crate) struct NameCache {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

impl NameCache {
    fn user(&self, uid: u32) -> Option<String> {
        let mut map = self.users.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(uid).or_insert_with(|| lookup_user(uid)).clone()
    }

    fn group(&self, gid: u32) -> Option<String> {
        let mut map = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(gid).or_insert_with(|| lookup_group(gid)).clone()
    }
}

// std has no user database lookup and the crates that wrap it are unmaintained,
// so the two reentrant libc calls are made here.
fn lookup_user(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized local storage.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points to a NUL-terminated string in buf.
    Some(
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn lookup_group(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in lookup_user.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || grp.gr_name.is_null() {
        return None;
    }
    // SAFETY: getgrgid_r succeeded, so gr_name points into buf.
    Some(
        unsafe { CStr::from_ptr(grp.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

pub(crate) fn kind_of(meta: &Metadata) -> NodeKind {
    let t = meta.file_type();
    if t.is_dir() {
        NodeKind::Dir
    } else if t.is_symlink() {
        NodeKind::Symlink
    } else if t.is_fifo() {
        NodeKind::Fifo
    } else if t.is_socket() {
        NodeKind::Socket
    } else if t.is_char_device() {
        NodeKind::Chardev
    } else if t.is_block_device() {
        NodeKind::Blockdev
    } else {
        NodeKind::File
    }
}

fn nanos(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Builds the node of `path` from its `lstat` metadata.
pub(crate) fn node_from_metadata(
    name: &[u8],
    path: &Path,
    meta: &Metadata,
    names: &NameCache,
) -> Node {
    let kind = kind_of(meta);
    let mut node = Node::new(name.to_vec(), kind);
    node.mode = meta.mode() & 0o7777;
    node.uid = meta.uid();
    node.gid = meta.gid();
    node.user = names.user(meta.uid());
    node.group = names.group(meta.gid());
    node.mtime_ns = nanos(meta.mtime(), meta.mtime_nsec());
    node.atime_ns = nanos(meta.atime(), meta.atime_nsec());
    node.ctime_ns = nanos(meta.ctime(), meta.ctime_nsec());
    node.size = if kind == NodeKind::File {
        meta.len()
    } else {
        0
    };
    node.inode = meta.ino();
    node.device = meta.dev();
    node.links = meta.nlink();
    if matches!(kind, NodeKind::Chardev | NodeKind::Blockdev) {
        node.rdev = meta.rdev();
    }
    if kind == NodeKind::Symlink {
        if let Ok(target) = std::fs::read_link(path) {
            node.target = Some(RawBytes(target.as_os_str().as_bytes().to_vec()));
        }
    }
    node.xattrs = read_xattrs(path);
    node
}

/// Extended attributes, without following symlinks. A file system that does
/// not support them simply has none.
fn read_xattrs(path: &Path) -> Vec<Xattr> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<Xattr> = names
        .filter_map(|name| {
            let value = xattr::get(path, &name).ok()??;
            Some(Xattr {
                name: RawBytes(name.as_bytes().to_vec()),
                value,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// True when the parent snapshot's node shows the same file: it need not be read.
pub(crate) fn unchanged_since(parent: &Node, current: &Node) -> bool {
    parent.kind == NodeKind::File
        && current.kind == NodeKind::File
        && parent.size == current.size
        && parent.mtime_ns == current.mtime_ns
        && parent.ctime_ns == current.ctime_ns
        && parent.inode == current.inode
        && (parent.size == 0 || !parent.content.is_empty())
}
