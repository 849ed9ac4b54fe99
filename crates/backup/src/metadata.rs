//! Reading a file system entry's metadata into a [`Node`]: kind, mode,
//! owner (ids and names), times with nanoseconds, inode and device (for
//! change detection and hard links), and extended attributes.

use reprise_format::{Node, NodeKind, RawBytes, Xattr};
use rustix::fs::{FileType, Stat};
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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

/// The node kind of a `stat` result's file type.
pub(crate) fn kind_of_type(t: FileType) -> NodeKind {
    match t {
        FileType::Directory => NodeKind::Dir,
        FileType::Symlink => NodeKind::Symlink,
        FileType::Fifo => NodeKind::Fifo,
        FileType::Socket => NodeKind::Socket,
        FileType::CharacterDevice => NodeKind::Chardev,
        FileType::BlockDevice => NodeKind::Blockdev,
        _ => NodeKind::File,
    }
}

pub(crate) fn nanos(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The fields of a `stat` result a node records, whichever call made it
/// (`fstatat` on a directory handle, or `fstat` on an open file).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryStat {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub atime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    pub device: u64,
    pub links: u64,
    pub rdev: u64,
}

// The field types of `struct stat` differ between architectures, hence the
// casts (lossless on every architecture Linux has).
#[allow(clippy::unnecessary_cast)]
impl From<&Stat> for EntryStat {
    fn from(st: &Stat) -> Self {
        EntryStat {
            kind: kind_of_type(FileType::from_raw_mode(st.st_mode as u32)),
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size.max(0) as u64,
            mtime_ns: nanos(st.st_mtime as i64, st.st_mtime_nsec as i64),
            atime_ns: nanos(st.st_atime as i64, st.st_atime_nsec as i64),
            ctime_ns: nanos(st.st_ctime as i64, st.st_ctime_nsec as i64),
            inode: st.st_ino as u64,
            device: st.st_dev as u64,
            links: st.st_nlink as u64,
            rdev: st.st_rdev as u64,
        }
    }
}

/// Where a directory entry is: the open directory that holds it, its name
/// there, and its full path (for messages, excludes and, when `/proc` is
/// missing, extended attributes).
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub dir: BorrowedFd<'a>,
    pub name: &'a [u8],
    pub path: &'a Path,
}

impl At<'_> {
    /// The entry's name as a C string; `None` for a name with a NUL byte,
    /// which no directory listing returns.
    pub fn c_name(&self) -> Option<CString> {
        CString::new(self.name).ok()
    }

    /// A short path to the entry that never follows a symlink the entry
    /// itself may be, whatever the depth: through the directory handle in
    /// `/proc/self/fd`. The full path where `/proc` is not mounted.
    fn short_path(&self) -> PathBuf {
        if proc_fd_available() {
            let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()));
            p.push(OsStr::from_bytes(self.name));
            p
        } else {
            self.path.to_path_buf()
        }
    }
}

fn proc_fd_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Builds the node of the entry at `at` from its `lstat` metadata.
pub(crate) fn node_from_stat(at: &At, st: &EntryStat, names: &NameCache) -> Node {
    let mut node = Node::new(at.name.to_vec(), st.kind);
    node.mode = st.mode & 0o7777;
    node.uid = st.uid;
    node.gid = st.gid;
    node.user = names.user(st.uid);
    node.group = names.group(st.gid);
    node.mtime_ns = st.mtime_ns;
    node.atime_ns = st.atime_ns;
    node.ctime_ns = st.ctime_ns;
    node.size = if st.kind == NodeKind::File {
        st.size
    } else {
        0
    };
    node.inode = st.inode;
    node.device = st.device;
    node.links = st.links;
    if matches!(st.kind, NodeKind::Chardev | NodeKind::Blockdev) {
        node.rdev = st.rdev;
    }
    if st.kind == NodeKind::Symlink {
        if let Some(target) = at
            .c_name()
            .and_then(|n| rustix::fs::readlinkat(at.dir, n.as_c_str(), Vec::new()).ok())
        {
            node.target = Some(RawBytes(target.into_bytes()));
        }
    }
    node.xattrs = read_xattrs(&at.short_path());
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
