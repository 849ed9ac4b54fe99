//! Delta compression of dumps against last night's: the stream's chunks
//! that are not already stored are compressed against the chunk of the
//! parent snapshot's version of the same file that covers the same rows.
//!
//! Content-defined chunking alone stores a whole chunk (about 1 MiB) again
//! for one changed row, and a database whose updates are scattered changes
//! nearly every chunk every night. Compressed against its old version, a
//! chunk costs roughly its changed rows (format version 2, FORMAT.md §7.2).
//!
//! The old version is walked with a cursor, in order: a chunk stored
//! unchanged moves the cursor past its old place; a new chunk takes as its
//! base the first old chunk within [`WINDOW`] chunks of the cursor that
//! begins or ends with the same bytes (a boundary both versions share, so
//! the same rows), else the one there that holds most of a few samples of
//! its bytes (a boundary moved, rows were added), else no base at all. A
//! new chunk that holds the end of an old chunk before its own end is first
//! cut there ([`DeltaBasis::plan`]): a lost boundary would otherwise leave
//! half of the chunk without a base. Old chunks are read (their own chains
//! resolved) only when needed, once each. Chains stay at most
//! [`DELTA_DEPTH_WRITTEN_MAX`] deltas long: a chunk whose candidate base is
//! at that depth is stored whole, starting a new chain.

use reprise_format::blob::DELTA_DEPTH_WRITTEN_MAX;
use reprise_format::{BlobId, BlobType};
use reprise_repo::Repository;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

/// How many old chunks past the cursor a new chunk may be matched with:
/// enough to step over rows deleted from a few chunks.
const WINDOW: usize = 8;

/// How many bytes at a chunk's start or end must be equal for two chunks to
/// be taken for versions of the same rows.
const ANCHOR_LEN: usize = 64;

/// How far before an old chunk's end its end is also looked for: a changed
/// row among its last bytes would otherwise hide where it ends.
const END_ANCHOR_OFFSETS: [usize; 4] = [0, 512, 4096, 32 * 1024];

/// How much shorter than the old chunk it starts like a new chunk must be
/// for the old chunk's rest to be expected in the next one.
const REST_MIN: usize = 4096;

/// How many samples of a new chunk are looked for in old ones, and their
/// length: long enough not to be found by chance in other rows.
const SAMPLES: usize = 7;
const SAMPLE_LEN: usize = 48;

/// The oldest repository format version that may hold deltas.
pub const DELTA_FORMAT_VERSION: u32 = 2;

/// A part of a new chunk, relative to its start, and its base.
pub(crate) type Piece = (Range<usize>, Option<Arc<OldChunk>>);

/// An old chunk, read.
pub(crate) struct OldChunk {
    pub id: BlobId,
    pub data: Vec<u8>,
}

/// The previous version of a stream, as a source of bases.
pub(crate) struct DeltaBasis<'r> {
    repo: &'r Repository,
    old: Vec<BlobId>,
    /// Where each old chunk first appears.
    places: HashMap<BlobId, usize>,
    cursor: usize,
    /// Old chunks read so far at or after the cursor; `None` when one cannot
    /// serve as a base (unreadable, chain too long, only in packs a prune
    /// marked).
    read: BTreeMap<usize, Option<Arc<OldChunk>>>,
}

impl<'r> DeltaBasis<'r> {
    /// The basis for a stream whose previous version had chunks `old`
    /// (none on the first night: its chunks are then stored whole, at a
    /// dump's compression level); `None` when the repository is too old to
    /// hold deltas.
    pub(crate) fn new(repo: &'r Repository, old: Vec<BlobId>) -> Option<Self> {
        if repo.config().version < DELTA_FORMAT_VERSION {
            return None;
        }
        let mut places = HashMap::with_capacity(old.len());
        for (i, id) in old.iter().enumerate() {
            places.entry(*id).or_insert(i);
        }
        Some(DeltaBasis {
            repo,
            old,
            places,
            cursor: 0,
            read: BTreeMap::new(),
        })
    }

    /// A chunk of the new version that is stored already: if the old
    /// version had it, the new one is now past that place.
    pub(crate) fn passed(&mut self, id: &BlobId) {
        if let Some(&place) = self.places.get(id) {
            if place >= self.cursor {
                self.move_cursor(place + 1);
            }
        }
    }

    /// How to store a new chunk: in pieces, each with the old chunk to
    /// compress it against (if any). A chunk that runs over the end of an
    /// old chunk (a boundary of the old version was lost to a change) is
    /// cut there, so that each piece lines up with one old chunk: one base
    /// per piece then covers all of it.
    pub(crate) fn plan(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let rest = &data[start..];
            if let Some((place, cut)) = self.old_end_inside(rest) {
                let base = self.read_old(place);
                self.move_cursor(place + 1);
                pieces.push((start..start + cut, base));
                start += cut;
            } else {
                let base = self.base_for(rest);
                pieces.push((start..data.len(), base));
                break;
            }
        }
        pieces
    }

    /// The first old chunk near the cursor whose end occurs inside `rest`
    /// before its end, and where that end falls in `rest`. The end is found
    /// by its last bytes, or by bytes a little before them when the last
    /// row changed.
    fn old_end_inside(&mut self, rest: &[u8]) -> Option<(usize, usize)> {
        let end = self.old.len().min(self.cursor + WINDOW);
        for place in self.cursor..end {
            let Some(old) = self.read_old(place) else {
                continue;
            };
            for back in END_ANCHOR_OFFSETS {
                let Some(anchor_end) = old.data.len().checked_sub(back) else {
                    continue;
                };
                let Some(anchor) = anchor_end
                    .checked_sub(ANCHOR_LEN)
                    .and_then(|start| old.data.get(start..anchor_end))
                else {
                    continue;
                };
                let Some(at) = memchr::memmem::find(rest, anchor) else {
                    continue;
                };
                let cut = (at + ANCHOR_LEN + back).min(rest.len());
                if cut < rest.len() {
                    return Some((place, cut));
                }
                // This old chunk ends where the new one does: the new one
                // holds nothing of the old chunks after it, and an end of
                // theirs found in it is a repeated text (a dump's
                // boilerplate), not a boundary. Looking further would skip
                // this chunk and those between.
                return None;
            }
        }
        None
    }

    /// The old chunk a new chunk should be compressed against, if any:
    /// the first near the cursor that shares a boundary with it, else the
    /// one that holds most of its samples (a boundary that moved, rows
    /// added at a table's end), ahead of the cursor, then just behind it;
    /// else none.
    fn base_for(&mut self, data: &[u8]) -> Option<Arc<OldChunk>> {
        let ahead = self.cursor..self.old.len().min(self.cursor + WINDOW);
        for place in ahead.clone() {
            let Some(old) = self.read_old(place) else {
                continue;
            };
            if same_end(data, &old.data) {
                self.move_cursor(place + 1);
                return Some(old);
            }
            if same_start(data, &old.data) {
                // A chunk shorter than the old one it starts like (a change
                // made a new boundary): the rest of the old one comes next
                // and should still find it.
                let rest_to_come = data.len() + REST_MIN < old.data.len();
                self.move_cursor(if rest_to_come { place } else { place + 1 });
                return Some(old);
            }
        }
        let samples = samples(data);
        if let Some(place) = self.most_samples(ahead, &samples) {
            // Where the new chunk ends within that old one is unknown: the
            // cursor stays on it, and the end search of the next chunk
            // moves on.
            self.move_cursor(place);
            return self.read_old(place);
        }
        // Nothing ahead resembles it: the cursor may have gone too far (a
        // text repeated in the dump taken for a boundary), which must not
        // cost the rest of the stream its bases. The cursor does not move
        // back.
        let behind = self.cursor.saturating_sub(WINDOW)..self.cursor;
        let place = self.most_samples(behind, &samples)?;
        self.read_old(place)
    }

    /// The old chunk among `places` that holds most of `samples` (at
    /// least one).
    fn most_samples(&mut self, places: Range<usize>, samples: &[&[u8]]) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for place in places {
            let Some(old) = self.read_old(place) else {
                continue;
            };
            let shared = samples
                .iter()
                .filter(|s| memchr::memmem::find(&old.data, s).is_some())
                .count();
            if shared > best.map_or(0, |(_, n)| n) {
                best = Some((place, shared));
            }
        }
        best.map(|(place, _)| place)
    }

    fn move_cursor(&mut self, to: usize) {
        self.cursor = to;
        self.read = self.read.split_off(&to);
    }

    fn read_old(&mut self, place: usize) -> Option<Arc<OldChunk>> {
        let id = *self.old.get(place)?;
        let repo = self.repo;
        self.read
            .entry(place)
            .or_insert_with(|| read_base(repo, id).map(Arc::new))
            .clone()
    }
}

/// An old chunk that may serve as a base: readable, with a chain short
/// enough to grow by one, and stored in a pack no prune is deleting.
fn read_base(repo: &Repository, id: BlobId) -> Option<OldChunk> {
    if !repo.index().has_usable_copy(&id) {
        return None;
    }
    let (data, depth) = repo.read_blob_with_depth(BlobType::Data, &id).ok()?;
    (depth < DELTA_DEPTH_WRITTEN_MAX).then_some(OldChunk { id, data })
}

/// Short runs of a chunk's bytes at fixed fractions of its length, looked
/// for in old chunks when no boundary is shared.
fn samples(data: &[u8]) -> Vec<&[u8]> {
    (1..=SAMPLES)
        .filter_map(|i| {
            let start = data.len() * i / (SAMPLES + 1);
            data.get(start..start + SAMPLE_LEN)
        })
        .collect()
}

/// Whether two chunks start with the same bytes: a content-defined
/// boundary both versions share, so versions of the same rows.
fn same_start(new: &[u8], old: &[u8]) -> bool {
    let n = ANCHOR_LEN.min(new.len()).min(old.len());
    n > 0 && new[..n] == old[..n]
}

/// Whether two chunks end with the same bytes.
fn same_end(new: &[u8], old: &[u8]) -> bool {
    let n = ANCHOR_LEN.min(new.len()).min(old.len());
    n > 0 && new[new.len() - n..] == old[old.len() - n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_crypto::KdfParams;
    use reprise_repo::{BlobSaver, InitOptions};
    use reprise_storage::MemoryBackend;

    fn repo() -> Repository {
        let options = InitOptions {
            kdf: KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            ..InitOptions::default()
        };
        let repo = Repository::init(Arc::new(MemoryBackend::new()), b"pw", &options).unwrap();
        repo.load_index().unwrap();
        repo
    }

    /// Stores `chunks` as last night's version of a stream; their ids.
    fn old_version(repo: &Repository, chunks: &[&[u8]]) -> Vec<BlobId> {
        let saver = BlobSaver::new(repo);
        let ids = chunks
            .iter()
            .map(|c| saver.save(BlobType::Data, c).unwrap().0)
            .collect();
        saver.finish(Vec::new()).unwrap();
        ids
    }

    /// Rows of a table, `from` to `to`.
    fn rows(from: u32, to: u32) -> Vec<u8> {
        (from..to)
            .flat_map(|i| {
                format!(
                    "{i}\tabonne {}\tfacture d'eau n° {}\n",
                    i * 7 % 1000,
                    i * 13
                )
                .into_bytes()
            })
            .collect()
    }

    /// A text every table's section of a dump repeats.
    const BOILERPLATE: &[u8] =
        b"\n--\n-- Name: t; Type: TABLE DATA; Schema: public; Owner: mairie\n--\n\n";

    #[test]
    fn a_repeated_text_near_a_later_chunks_end_does_not_skip_the_chunks_between() {
        // Old chunk 0: rows with the boilerplate in their middle; chunk 1:
        // other rows, the boilerplate 512 bytes before its end, where
        // its end is also looked for.
        let mut first = rows(0, 200);
        first.extend_from_slice(BOILERPLATE);
        first.extend_from_slice(&rows(200, 400));
        let mut second = rows(400, 600);
        second.extend_from_slice(BOILERPLATE);
        second.extend_from_slice(&rows(600, 700)[..512]);
        let repo = repo();
        let ids = old_version(&repo, &[&first, &second]);
        // Tonight's chunk 0: one row changed, same boundaries.
        let changed =
            String::from_utf8(first.clone())
                .unwrap()
                .replacen("abonne 700", "abonne 701", 1);
        let mut basis = DeltaBasis::new(&repo, ids.clone()).unwrap();
        let pieces = basis.plan(changed.as_bytes());
        assert_eq!(pieces.len(), 1, "not cut");
        assert_eq!(pieces[0].1.as_ref().map(|b| b.id), Some(ids[0]));
        assert_eq!(basis.cursor, 1);
    }

    #[test]
    fn a_chunk_like_none_ahead_of_the_cursor_takes_its_base_behind_it() {
        let (first, second) = (rows(0, 300), rows(300, 600));
        let repo = repo();
        let ids = old_version(&repo, &[&first, &second]);
        let mut basis = DeltaBasis::new(&repo, ids.clone()).unwrap();
        // The cursor went to the end (the second chunk came first, moved).
        basis.passed(&ids[1]);
        let changed = String::from_utf8(first)
            .unwrap()
            .replacen("abonne 700", "abonne 701", 1);
        let pieces = basis.plan(&changed.as_bytes()[100..]);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].1.as_ref().map(|b| b.id), Some(ids[0]));
        assert_eq!(basis.cursor, 2, "the cursor does not move back");
        // Nothing like it anywhere: no base.
        assert!(basis.plan(&rows(5000, 5300))[0].1.is_none());
    }

    #[test]
    fn chunks_that_share_a_boundary_are_versions_of_the_same_rows() {
        let old = b"COPY actes FROM stdin;\n1\tDupont\n2\tMartin\n".repeat(8);
        let mut changed = old.clone();
        changed[150] = b'X';
        assert!(same_start(&changed, &old) && same_end(&changed, &old));
        let mut ends_changed = old.clone();
        let last = ends_changed.len() - 1;
        ends_changed[0] = b'x';
        ends_changed[last] = b'x';
        assert!(!same_start(&ends_changed, &old) && !same_end(&ends_changed, &old));
        assert!(!same_start(b"", &old) && !same_end(b"", &old));
    }
}
