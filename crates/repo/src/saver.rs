//! Writing blobs: deduplicate, compress, seal, gather into packs, upload.
//!
//! [`BlobSaver`] is shared by all the threads of a backup. Each thread seals
//! its blob on its own (the expensive part) and only takes a lock to append
//! the sealed bytes to the pack being filled. Full packs go through a
//! bounded channel to two uploader threads, so at most a few packs are held
//! in memory whatever the size of the backup. Data and trees go to separate
//! packs so that the trees of a snapshot sit together.

use crate::{RepoError, Repository, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use reprise_format::blob::{seal_blob, seal_delta_blob};
use reprise_format::{
    BlobId, BlobType, IndexFile, IndexId, IndexPack, PackEntry, PackHeader, PackId, Tree,
};
use reprise_storage::{Backend, ObjectKind, StorageError};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Packs waiting for upload: enough to keep the uploaders busy, few enough to bound memory.
const UPLOAD_QUEUE_PACKS: usize = 1;

/// The lowest zstd level a database dump is compressed at, whatever the
/// repository's level (1 by default, for file shares full of documents
/// that are compressed already). A dump is text that compresses three to
/// four times; its deltas are paid again every night, and level 3 finds
/// more of their base's matches: measured on a dump with 1 % of its rows
/// rewritten a night, deltas 15 to 20 % smaller and a first night 4 %
/// smaller than at level 1, for under a second more per 256 MiB.
pub const DUMP_LEVEL_MIN: i32 = 3;

/// Uploaders working at once, so that one pack's fsync (or network round
/// trip) overlaps the next pack's write.
const UPLOAD_THREADS: usize = 2;
/// Index files are split so no single one grows without bound.
const INDEX_PACKS_MAX: usize = 4096;

/// The first failure of any uploader, kept for every later caller.
type UploadError = Arc<Mutex<Option<Arc<StorageError>>>>;

/// What a saver added to the repository.
#[derive(Debug, Clone, Default)]
pub struct SaverStats {
    pub blobs_added: u64,
    /// Bytes of plaintext in the new blobs.
    pub raw_bytes_added: u64,
    /// Bytes written to new packs (sealed, compressed).
    pub bytes_added: u64,
    pub packs_written: u64,
}

#[derive(Default)]
struct PackBuilder {
    bytes: Vec<u8>,
    header: PackHeader,
}

struct FinishedPack {
    id: PackId,
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// The blob a delta is made against: its id and its plaintext.
pub struct DeltaBase<'a> {
    pub id: BlobId,
    pub data: &'a [u8],
}

/// Saves blobs into new packs of one repository.
pub struct BlobSaver<'r> {
    repo: &'r Repository,
    claimed: Mutex<HashSet<BlobId>>,
    data_pack: Mutex<PackBuilder>,
    tree_pack: Mutex<PackBuilder>,
    queue: Option<Sender<FinishedPack>>,
    uploaders: Vec<JoinHandle<Vec<IndexPack>>>,
    /// Buffers of uploaded packs, handed back for the next packs: without
    /// this every pack is a fresh multi-MiB allocation, paid in page faults.
    spare_buffers: Receiver<Vec<u8>>,
    upload_error: UploadError,
    blobs_added: AtomicU64,
    raw_bytes_added: AtomicU64,
    bytes_added: AtomicU64,
}

impl<'r> BlobSaver<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        let backend = repo.shared_backend();
        let (tx, rx) = bounded(UPLOAD_QUEUE_PACKS);
        let upload_error = Arc::new(Mutex::new(None));
        let (spare_tx, spare_rx) = bounded(UPLOAD_THREADS + UPLOAD_QUEUE_PACKS);
        let uploaders = (0..UPLOAD_THREADS)
            .filter_map(|i| {
                let (backend, rx, err) =
                    (Arc::clone(&backend), rx.clone(), Arc::clone(&upload_error));
                let spare = spare_tx.clone();
                std::thread::Builder::new()
                    .name(format!("reprise-upload-{i}"))
                    .spawn(move || upload_packs(backend, rx, spare, err))
                    .ok()
            })
            .collect();
        BlobSaver {
            repo,
            claimed: Mutex::new(HashSet::new()),
            data_pack: Mutex::new(PackBuilder::default()),
            tree_pack: Mutex::new(PackBuilder::default()),
            queue: Some(tx),
            uploaders,
            spare_buffers: spare_rx,
            upload_error,
            blobs_added: AtomicU64::new(0),
            raw_bytes_added: AtomicU64::new(0),
            bytes_added: AtomicU64::new(0),
        }
    }

    /// Stores `data` unless the repository already has it. Returns its id
    /// and whether it was new.
    pub fn save(&self, blob_type: BlobType, data: &[u8]) -> Result<(BlobId, bool)> {
        let id = blob_type.id_of(self.repo.key(), data);
        self.save_with_id(blob_type, id, data)
    }

    /// Stores a tree (its JSON) unless the repository already has it.
    pub fn save_tree(&self, tree: &Tree) -> Result<(BlobId, bool)> {
        let json = tree.to_json().map_err(|e| RepoError::format("tree", e))?;
        self.save(BlobType::Tree, &json)
    }

    /// Like [`save`](Self::save) when the caller already computed the id.
    pub fn save_with_id(
        &self,
        blob_type: BlobType,
        id: BlobId,
        data: &[u8],
    ) -> Result<(BlobId, bool)> {
        let level = self.repo.config().zstd_level;
        self.save_sealed(blob_type, id, data, None, level)
    }

    /// Stores a chunk of a database dump (a stream kept as deltas from one
    /// night to the next) unless the repository already has it: as a delta
    /// against `base` (another data blob and its plaintext) when one is
    /// given and the delta pays, else whole; compressed at
    /// [`DUMP_LEVEL_MIN`] at least, whatever the repository's level. The
    /// caller chose the base and bounded its chain. No delta is written
    /// into a version-1 repository.
    pub fn save_dump_chunk(
        &self,
        id: BlobId,
        data: &[u8],
        base: Option<&DeltaBase<'_>>,
    ) -> Result<(BlobId, bool)> {
        let level = self.repo.config().zstd_level.max(DUMP_LEVEL_MIN);
        self.save_sealed(BlobType::Data, id, data, base, level)
    }

    fn save_sealed(
        &self,
        blob_type: BlobType,
        id: BlobId,
        data: &[u8],
        base: Option<&DeltaBase<'_>>,
        level: i32,
    ) -> Result<(BlobId, bool)> {
        self.check_upload_error()?;
        if self.repo.index().has_usable_copy(&id) || !self.lock_claimed().insert(id) {
            return Ok((id, false));
        }
        let (sealed, delta) = self.seal(blob_type, &id, data, base, level)?;
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes_added
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.bytes_added
            .fetch_add(sealed.len() as u64, Ordering::Relaxed);
        let full = self.append(blob_type, id, &sealed, data.len(), delta)?;
        if let Some(pack) = full {
            self.send(pack)?;
        }
        Ok((id, true))
    }

    /// The sealed frame of a blob, and whether it is a delta.
    fn seal(
        &self,
        blob_type: BlobType,
        id: &BlobId,
        data: &[u8],
        base: Option<&DeltaBase<'_>>,
        level: i32,
    ) -> Result<(Vec<u8>, bool)> {
        let key = self.repo.key();
        let mut sealed = Vec::with_capacity(data.len() + 64);
        // Never a delta in a version-1 repository: its readers know none.
        let deltas_allowed = blob_type == BlobType::Data && self.repo.config().version >= 2;
        if let Some(base) = base.filter(|_| deltas_allowed) {
            let delta = seal_delta_blob(key, id, data, &base.id, base.data, level, &mut sealed)
                .map_err(|e| RepoError::format(format!("blob {id}"), e))?;
            if delta.is_some() {
                return Ok((sealed, true));
            }
        }
        seal_blob(key, blob_type, id, data, level, &mut sealed)
            .map_err(|e| RepoError::format(format!("blob {id}"), e))?;
        Ok((sealed, false))
    }

    /// Appends a sealed blob to the current pack of its type; returns the
    /// pack if it is now full.
    fn append(
        &self,
        blob_type: BlobType,
        id: BlobId,
        sealed: &[u8],
        raw_len: usize,
        delta: bool,
    ) -> Result<Option<PackBuilder>> {
        let lock = match blob_type {
            BlobType::Data => &self.data_pack,
            BlobType::Tree => &self.tree_pack,
        };
        let mut pack = lock.lock().unwrap_or_else(|p| p.into_inner());
        if pack.bytes.capacity() == 0 {
            pack.bytes = self.spare_buffers.try_recv().unwrap_or_default();
            pack.bytes.clear();
        }
        let offset = pack.bytes.len();
        pack.bytes.extend_from_slice(sealed);
        pack.header.entries.push(PackEntry {
            blob_type,
            id,
            offset: offset as u32,
            sealed_len: sealed.len() as u32,
            raw_len: raw_len as u32,
            delta,
        });
        if pack.bytes.len() >= self.repo.config().pack_size_target as usize {
            Ok(Some(std::mem::take(&mut *pack)))
        } else {
            Ok(None)
        }
    }

    fn send(&self, mut pack: PackBuilder) -> Result<()> {
        pack.header
            .append_to(self.repo.key(), &mut pack.bytes)
            .map_err(|e| RepoError::format("pack header", e))?;
        let id = PackId::from_bytes(reprise_crypto::storage_hash(&pack.bytes));
        let finished = FinishedPack {
            id,
            bytes: pack.bytes,
            entries: pack.header.entries,
        };
        let sent = self
            .queue
            .as_ref()
            .is_some_and(|q| q.send(finished).is_ok());
        if !sent {
            self.check_upload_error()?;
            // No error recorded, yet nobody receives: the uploader is gone.
            return Err(RepoError::UploadFailed(
                "the upload thread is not running".into(),
            ));
        }
        Ok(())
    }

    /// Fails, with the same shared error for every caller, once an upload
    /// has failed.
    fn check_upload_error(&self) -> Result<()> {
        let slot = self.upload_error.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(e) => Err(RepoError::Upload(Arc::clone(e))),
            None => Ok(()),
        }
    }

    fn lock_claimed(&self) -> std::sync::MutexGuard<'_, HashSet<BlobId>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> SaverStats {
        SaverStats {
            blobs_added: self.blobs_added.load(Ordering::Relaxed),
            raw_bytes_added: self.raw_bytes_added.load(Ordering::Relaxed),
            bytes_added: self.bytes_added.load(Ordering::Relaxed),
            packs_written: 0,
        }
    }

    /// Flushes partial packs, waits for every upload, and writes index files
    /// for the new packs and for `adopted` packs found without an index.
    /// When this returns, everything saved is durable and indexed.
    pub fn finish(mut self, adopted: Vec<IndexPack>) -> Result<SaverStats> {
        for lock in [&self.data_pack, &self.tree_pack] {
            let pack = std::mem::take(&mut *lock.lock().unwrap_or_else(|p| p.into_inner()));
            if !pack.header.entries.is_empty() {
                self.send(pack)?;
            }
        }
        self.queue = None;
        // Without the uploaders' own account of what they stored, nothing may
        // be declared durable: a snapshot would reference packs never written.
        if self.uploaders.is_empty() {
            return Err(RepoError::UploadFailed(
                "no upload thread could be started".into(),
            ));
        }
        let mut uploaded = Vec::new();
        for handle in std::mem::take(&mut self.uploaders) {
            let packs = handle
                .join()
                .map_err(|_| RepoError::UploadFailed("an upload thread crashed".into()))?;
            uploaded.extend(packs);
        }
        self.check_upload_error()?;
        let mut stats = self.stats();
        stats.packs_written = uploaded.len() as u64;
        for p in &uploaded {
            self.repo.add_to_index(p.id, &p.entries);
        }
        let mut packs = uploaded;
        packs.extend(adopted);
        for group in packs.chunks(INDEX_PACKS_MAX) {
            write_index_file(self.repo, group.to_vec())?;
        }
        Ok(stats)
    }
}

impl Drop for BlobSaver<'_> {
    fn drop(&mut self) {
        // Close the queue so the uploader ends even when finish() was not reached.
        self.queue = None;
        for handle in std::mem::take(&mut self.uploaders) {
            let _ = handle.join();
        }
    }
}

fn upload_packs(
    backend: Arc<dyn Backend>,
    rx: Receiver<FinishedPack>,
    spare: Sender<Vec<u8>>,
    error: UploadError,
) -> Vec<IndexPack> {
    let mut done = Vec::new();
    for pack in rx {
        if error.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            continue; // drain so that senders never block forever
        }
        match backend.write_once(ObjectKind::Pack, &pack.id.to_hex(), &pack.bytes) {
            Ok(_) => done.push(IndexPack {
                id: pack.id,
                entries: pack.entries,
            }),
            Err(e) => {
                // The first failure is the one reported; later ones follow from it.
                let mut slot = error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert_with(|| Arc::new(e));
            }
        }
        // A full pool just drops the buffer.
        let _ = spare.try_send(pack.bytes);
    }
    done
}

/// Writes index files for `packs`, at most 4096 packs each.
pub fn write_index_files(repo: &Repository, packs: Vec<IndexPack>) -> Result<Vec<IndexId>> {
    packs
        .chunks(INDEX_PACKS_MAX)
        .map(|group| write_index_file(repo, group.to_vec()))
        .collect()
}

/// Writes one index file, named by its BLAKE3.
pub(crate) fn write_index_file(repo: &Repository, packs: Vec<IndexPack>) -> Result<IndexId> {
    let file = IndexFile { packs };
    let sealed = file
        .seal(repo.key())
        .map_err(|e| RepoError::format("index file", e))?;
    let id = IndexId::from_bytes(reprise_crypto::storage_hash(&sealed));
    repo.backend()
        .write_once(ObjectKind::Index, &id.to_hex(), &sealed)?;
    Ok(id)
}
