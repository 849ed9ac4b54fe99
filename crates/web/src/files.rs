//! The small JSON files the dashboard keeps (the status board, each job's
//! file): read with a bound, since a larger one is not ours, and replaced
//! whole and durably (a temporary file, synced, renamed over the old one,
//! the directory synced), so a crash leaves the old file or the new one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// What reading a bounded file found.
pub(crate) enum Bounded {
    Missing,
    TooLarge,
    Read(Vec<u8>),
}

/// The bytes of `path`, if it exists and holds at most `most` bytes.
pub(crate) fn read_bounded(path: &Path, most: u64) -> std::io::Result<Bounded> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Bounded::Missing),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(most + 1).read_to_end(&mut bytes)?;
    Ok(if bytes.len() as u64 > most {
        Bounded::TooLarge
    } else {
        Bounded::Read(bytes)
    })
}

/// Replaces `dir/name` with `bytes`, durably.
pub(crate) fn replace_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    File::open(dir)?.sync_all()
}
