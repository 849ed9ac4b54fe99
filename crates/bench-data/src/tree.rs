//! Walking a tree and deriving stable randomness from names: everything the generator,
//! the changer and the verifier need to see a directory the same way every time.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The file at the top of every generated tree, so that a restored copy can be found
/// wherever a backup tool puts it (`<target>/var/tmp/.../src/.reprise-bench-root`).
pub const MARKER: &str = ".reprise-bench-root";

/// One entry below a root: its path relative to the root (empty for the root itself).
pub struct Entry {
    pub relative: PathBuf,
    pub metadata: Metadata,
}

/// Every entry of the tree at `root`, the root first, then in sorted order (a directory
/// before its contents); symlinks are listed, never followed.
pub fn walk(root: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = vec![Entry {
        relative: PathBuf::new(),
        metadata: fs::symlink_metadata(root)?,
    }];
    walk_into(root, PathBuf::new(), &mut entries)?;
    Ok(entries)
}

fn walk_into(root: &Path, relative: PathBuf, entries: &mut Vec<Entry>) -> io::Result<()> {
    let mut children = Vec::new();
    for child in fs::read_dir(root.join(&relative))? {
        let child = child?;
        children.push((relative.join(child.file_name()), child.metadata()?));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, metadata) in children {
        let is_dir = metadata.is_dir();
        entries.push(Entry {
            relative: path.clone(),
            metadata,
        });
        if is_dir {
            walk_into(root, path, entries)?;
        }
    }
    Ok(())
}

/// Regular files below `root`, relative and sorted.
pub fn regular_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(walk(root)?
        .into_iter()
        .filter(|entry| entry.metadata.is_file())
        .map(|entry| entry.relative)
        .collect())
}

/// A 64-bit value that depends on every bit of `seed` and `bytes`, and on nothing else
/// (not on std's randomized hasher): FNV-1a followed by the SplitMix64 finalizer.
pub fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let fnv = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    splitmix64(seed ^ splitmix64(fnv))
}

/// Same as [`stable_hash`] for a path.
pub fn path_hash(seed: u64, path: &Path) -> u64 {
    stable_hash(seed, path.as_os_str().as_bytes())
}

/// A generator for `label` under `seed`, independent of other labels' generators.
pub fn derived_rng(seed: u64, label: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(stable_hash(seed, label.as_bytes()))
}

fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_lists_the_root_then_sorted_entries() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("b/c"))?;
        fs::write(dir.path().join("a"), b"x")?;
        fs::write(dir.path().join("b/c/d"), b"y")?;
        std::os::unix::fs::symlink("a", dir.path().join("e"))?;
        let names: Vec<PathBuf> = walk(dir.path())?.into_iter().map(|e| e.relative).collect();
        let expected = ["", "a", "b", "b/c", "b/c/d", "e"].map(PathBuf::from);
        assert_eq!(names, expected);
        assert_eq!(
            regular_files(dir.path())?,
            ["a", "b/c/d"].map(PathBuf::from)
        );
        Ok(())
    }

    #[test]
    fn hashes_depend_on_seed_and_bytes() {
        assert_eq!(stable_hash(1, b"a"), stable_hash(1, b"a"));
        assert_ne!(stable_hash(1, b"a"), stable_hash(2, b"a"));
        assert_ne!(stable_hash(1, b"a"), stable_hash(1, b"b"));
    }
}
