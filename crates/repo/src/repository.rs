//! Opening and creating repositories, and reading what they hold.

use crate::index::{Index, IndexLoadReport};
use crate::{keys, RepoError, Result};
use reprise_chunking::ChunkerParams;
use reprise_crypto::{KdfParams, MasterKey};
use reprise_format::blob::{apply_delta, open_frame, Frame, DELTA_DEPTH_MAX};
use reprise_format::{BlobId, BlobType, ChunkerConfig, KeyId, RepoConfig, Tree, FORMAT_VERSION};
use reprise_format::{LockModeName, ObjectLockConfig};
use reprise_storage::{Backend, LockMode, LockPolicy, ObjectKind, StorageError, CONFIG_COPY_NAME};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

/// The domain byte of the detection key's derivation ([`Repository::detection_key`]).
const DETECTION_KEY_DOMAIN: u8 = 0xd7;

/// Choices made once, at `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub kdf: KdfParams,
    pub zstd_level: i32,
    pub pack_size_target: u32,
    /// Chunk size bounds; the seed is always drawn at random.
    pub chunk_min_avg_max: (u32, u32, u32),
    /// Object Lock retention for every object (s3: repositories only).
    pub object_lock: Option<ObjectLockConfig>,
    /// The format version to create: [`FORMAT_VERSION`], or 1 for a
    /// repository older programs can read (no deltas).
    pub format_version: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        let c = ChunkerConfig::default_with_seed(0);
        InitOptions {
            kdf: KdfParams::default(),
            zstd_level: 1,
            // Four packs are in memory at once during a backup (one filling,
            // one queued, two uploading): 8 MiB keeps that near 32 MiB.
            pack_size_target: 8 * 1024 * 1024,
            chunk_min_avg_max: (c.min_size, c.avg_size, c.max_size),
            object_lock: None,
            format_version: FORMAT_VERSION,
        }
    }
}

/// An opened repository: the master key is known and the config read.
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    key_id: KeyId,
    config: RepoConfig,
    index: RwLock<Index>,
    index_loaded: RwLock<bool>,
    /// The index files the loaded index holds; changed with the index,
    /// under its write lock.
    index_files: RwLock<std::collections::BTreeSet<String>>,
    /// Counts changes of the loaded index, so a reader that missed a blob
    /// can tell whether it is worth reading again.
    index_generation: std::sync::atomic::AtomicU64,
    /// Held by [`Repository::load_index`] and [`Repository::refresh_index`]:
    /// one at a time.
    refreshing: std::sync::Mutex<()>,
    /// The incident records read with the marks when the index was loaded.
    incidents: RwLock<Vec<crate::marks::StoredIncident>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.backend.location())
            .field("id", &self.config.id)
            .finish()
    }
}

impl Repository {
    /// Creates a repository at the backend's location with one key.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], options: &InitOptions) -> Result<Self> {
        if backend
            .list(ObjectKind::Config)
            .map(|l| !l.is_empty())
            .unwrap_or(false)
        {
            return Err(RepoError::AlreadyExists {
                location: backend.location(),
            });
        }
        backend.create()?;
        let key = MasterKey::generate()?;
        let seed = reprise_crypto::random_u64()?;
        let mut id = [0u8; 16];
        reprise_crypto::fill_random(&mut id)?;
        let (min_size, avg_size, max_size) = options.chunk_min_avg_max;
        let config = RepoConfig {
            version: options.format_version.clamp(1, FORMAT_VERSION),
            id: hex::encode(id),
            chunker: ChunkerConfig {
                min_size,
                avg_size,
                max_size,
                seed,
            },
            zstd_level: options.zstd_level,
            pack_size_target: options.pack_size_target,
            object_lock: options.object_lock,
        };
        // Before the first write, so the key file and config are locked too.
        backend.set_lock_policy(lock_policy(&config))?;
        config
            .chunker
            .validate()
            .map_err(|e| RepoError::format("config", e))?;
        // The key file comes first: a config without a key would be unopenable.
        let key_id = keys::write_key_file(backend.as_ref(), password, &key, options.kdf)?;
        let sealed = config
            .seal(&key)
            .map_err(|e| RepoError::format("config", e))?;
        backend.write_once(ObjectKind::Config, "config", &sealed)?;
        // The same bytes again, after `config`: a crash in between leaves a
        // repository without a copy, as those made before revision 1.3.
        backend.write_once(ObjectKind::Config, CONFIG_COPY_NAME, &sealed)?;
        Ok(Repository::assemble(backend, key, key_id, config))
    }

    /// Opens an existing repository with a password.
    ///
    /// The config is read from `config`, or from its copy `config.copy` when
    /// `config` cannot be read, is not a config this version reads, or fails
    /// to authenticate under the master key (FORMAT.md §6).
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Self> {
        let copies = read_config_copies(backend.as_ref())?;
        refuse_newer_version(&copies)?;
        let (key_id, key) = keys::unlock(backend.as_ref(), password)?;
        let config = first_that(&copies, |(name, bytes)| {
            RepoConfig::open(&key, bytes).map_err(|e| RepoError::format(*name, e))
        })?;
        backend.set_lock_policy(lock_policy(&config))?;
        Ok(Repository::assemble(backend, key, key_id, config))
    }

    /// The state of each copy of the config, for `check`.
    pub fn config_copies(&self) -> Vec<ConfigCopy> {
        [("config", "config"), ("config.copy", CONFIG_COPY_NAME)]
            .into_iter()
            .map(|(label, name)| {
                let state = match self.backend.read(ObjectKind::Config, name) {
                    Err(StorageError::NotFound { .. }) => ConfigState::Missing,
                    Err(e) => ConfigState::Damaged(e.to_string()),
                    Ok(bytes) => match RepoConfig::open(&self.key, &bytes) {
                        Ok(c) if c == self.config => ConfigState::Intact,
                        Ok(_) => ConfigState::Damaged(
                            "it authenticates but differs from the config in use".into(),
                        ),
                        Err(e) => ConfigState::Damaged(e.to_string()),
                    },
                };
                ConfigCopy { name: label, state }
            })
            .collect()
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        key: MasterKey,
        key_id: KeyId,
        config: RepoConfig,
    ) -> Self {
        Repository {
            backend,
            key,
            key_id,
            config,
            index: RwLock::new(Index::default()),
            index_loaded: RwLock::new(false),
            index_files: RwLock::new(Default::default()),
            index_generation: Default::default(),
            refreshing: Default::default(),
            incidents: RwLock::new(Vec::new()),
        }
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The backend as a shared handle, for threads that outlive a borrow.
    pub fn shared_backend(&self) -> Arc<dyn Backend> {
        Arc::clone(&self.backend)
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The per-repository secret that places the windows ransomware
    /// detection samples (docs/DETECTION.md §1), so that an attacker who read
    /// the code cannot aim between them. Derived from the master key with a
    /// domain byte no blob id uses (blob ids use 0 and 1), so it is never
    /// stored and cannot be computed from anything stored.
    pub fn detection_key(&self) -> [u8; 32] {
        self.key
            .content_id(DETECTION_KEY_DOMAIN, b"reprise detection windows v1")
    }

    /// The key file this session unlocked.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// The retention lock the repository asks every object to carry.
    pub fn lock_policy(&self) -> Option<LockPolicy> {
        lock_policy(&self.config)
    }

    pub fn chunker_params(&self) -> ChunkerParams {
        let c = self.config.chunker;
        ChunkerParams {
            min_size: c.min_size as usize,
            avg_size: c.avg_size as usize,
            max_size: c.max_size as usize,
            seed: c.seed,
        }
    }

    /// Loads the index; returns what loading found. Loads and refreshes
    /// run one at a time, so one that listed the files earlier never
    /// replaces the index another made from a later listing.
    pub fn load_index(&self) -> Result<IndexLoadReport> {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        self.load_index_alone()
    }

    /// [`Self::load_index`], for a caller that holds `refreshing`.
    fn load_index_alone(&self) -> Result<IndexLoadReport> {
        let (index, mut report) = Index::load(self.backend.as_ref(), &self.key)?;
        {
            let mut loaded = self.index.write().unwrap_or_else(|p| p.into_inner());
            *loaded = index;
            *self.index_files.write().unwrap_or_else(|p| p.into_inner()) =
                report.read_index_files.iter().cloned().collect();
            self.index_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let marks = self.list_marks()?;
        self.apply_marks(&marks);
        report.marks = marks.marks.len();
        *self.incidents.write().unwrap_or_else(|p| p.into_inner()) = marks.incident_records();
        let pruned: std::collections::HashSet<_> = marks.pruned_packs().collect();
        report.unreadable_marks = marks.unreadable;
        let (gone, missing) = report
            .missing_packs
            .iter()
            .partition(|p| pruned.contains(p));
        report.pruned_packs = gone;
        report.missing_packs = missing;
        *self.index_loaded.write().unwrap_or_else(|p| p.into_inner()) = true;
        Ok(report)
    }

    /// Brings the loaded index up to the repository's index files, for a
    /// long-lived reader (the dashboard) that follows new backups: adds the
    /// files written since it was loaded, without reading the others again,
    /// or loads it whole when it never was or some were removed (a prune).
    /// One refresh runs at a time; a second caller waits for it and then
    /// finds nothing to do. Says whether the index changed.
    pub fn refresh_index(&self) -> Result<bool> {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        if !self.index_is_loaded() {
            self.load_index_alone()?;
            return Ok(true);
        }
        // Listed under the lock: a listing older than the last refresh
        // never undoes it.
        let listed = self.backend.list(reprise_storage::ObjectKind::Index)?;
        let known = self
            .index_files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let names: std::collections::BTreeSet<&str> =
            listed.iter().map(|o| o.name.as_str()).collect();
        if known.iter().all(|k| names.contains(k.as_str())) {
            let added: Vec<_> = listed
                .into_iter()
                .filter(|o| !known.contains(&o.name))
                .collect();
            return Ok(!added.is_empty() && self.add_index_files(&added)? > 0);
        }
        self.load_index_alone()?;
        Ok(true)
    }

    /// Adds the index files `added` to the loaded index, then applies the
    /// marks again. A file that cannot be read now is left out, so the next
    /// refresh tries it again. Returns how many files it added.
    fn add_index_files(&self, added: &[reprise_storage::ObjectInfo]) -> Result<usize> {
        let read = crate::index::read_index_files(self.backend.as_ref(), &self.key, added);
        let marks = self.list_marks()?;
        let mut count = 0;
        {
            let mut index = self.index_mut();
            let mut files = self.index_files.write().unwrap_or_else(|p| p.into_inner());
            for (name, file) in read {
                let Ok(file) = file else { continue };
                for pack in &file.packs {
                    index.add_pack(pack.id, &pack.entries);
                }
                files.insert(name);
                count += 1;
            }
            index.compact_if_grown();
            if count > 0 {
                self.index_generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
        }
        self.apply_marks(&marks);
        *self.incidents.write().unwrap_or_else(|p| p.into_inner()) = marks.incident_records();
        Ok(count)
    }

    /// Whether the index was loaded.
    pub fn index_is_loaded(&self) -> bool {
        *self.index_loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes with every load or refresh of the index.
    pub fn index_generation(&self) -> u64 {
        self.index_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the index unless it already is.
    pub fn ensure_index(&self) -> Result<()> {
        if !self.index_is_loaded() {
            self.load_index()?;
        }
        Ok(())
    }

    /// The incident records read when the index was loaded, oldest first.
    pub fn loaded_incident_records(&self) -> Vec<crate::marks::StoredIncident> {
        self.incidents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_to_index(
        &self,
        pack: reprise_format::PackId,
        entries: &[reprise_format::PackEntry],
    ) {
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add_pack(pack, entries);
    }

    /// Reads, decrypts, decompresses and verifies a blob. Tries every known
    /// copy before reporting it damaged. A delta is applied to its base,
    /// read the same way.
    pub fn read_blob(&self, blob_type: BlobType, id: &BlobId) -> Result<Vec<u8>> {
        self.read_blob_chain(blob_type, id, &mut Chain::default())
            .map(|(data, _)| data)
    }

    /// Like [`read_blob`](Self::read_blob), also saying how many deltas
    /// had to be applied (0 for a blob stored whole): a writer does not
    /// make a new delta on a base whose chain is already long.
    pub fn read_blob_with_depth(&self, blob_type: BlobType, id: &BlobId) -> Result<(Vec<u8>, u32)> {
        self.read_blob_chain(blob_type, id, &mut Chain::default())
    }

    /// Reads a blob whose deltas above are `chain.path` (empty for the blob
    /// asked for), trying each copy.
    fn read_blob_chain(
        &self,
        blob_type: BlobType,
        id: &BlobId,
        chain: &mut Chain,
    ) -> Result<(Vec<u8>, u32)> {
        let locations = self.index().locations(id);
        let mut last_error = RepoError::BlobNotFound(*id);
        for (pack, loc) in locations {
            if loc.blob_type != blob_type {
                continue;
            }
            let read = self
                .read_stored_blob(&pack, loc.offset, loc.sealed_len)
                .and_then(|sealed| {
                    let stored = Stored {
                        pack: &pack,
                        sealed: &sealed,
                        raw_len: loc.raw_len,
                        delta: Some(loc.delta),
                    };
                    self.open_and_verify_at(blob_type, id, stored, chain)
                });
            match read {
                Ok(data) => return Ok(data),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn read_stored_blob(
        &self,
        pack: &reprise_format::PackId,
        offset: u32,
        sealed_len: u32,
    ) -> Result<Vec<u8>> {
        Ok(self.backend.read_range(
            ObjectKind::Pack,
            &pack.to_hex(),
            offset as u64,
            sealed_len as u64,
        )?)
    }

    /// Reads one copy of a blob and verifies it against its id.
    pub fn read_blob_at(
        &self,
        blob_type: BlobType,
        id: &BlobId,
        pack: &reprise_format::PackId,
        offset: u32,
        sealed_len: u32,
        raw_len: u32,
    ) -> Result<Vec<u8>> {
        let sealed = self.read_stored_blob(pack, offset, sealed_len)?;
        self.open_and_verify(blob_type, id, pack, &sealed, raw_len)
    }

    /// Decrypts a sealed blob taken from `pack` and checks its content id.
    pub fn open_and_verify(
        &self,
        blob_type: BlobType,
        id: &BlobId,
        pack: &reprise_format::PackId,
        sealed: &[u8],
        raw_len: u32,
    ) -> Result<Vec<u8>> {
        let stored = Stored {
            pack,
            sealed,
            raw_len,
            delta: None,
        };
        self.open_and_verify_at(blob_type, id, stored, &mut Chain::default())
            .map(|(data, _)| data)
    }

    /// Opens a blob, applying it to its base if it is a delta; returns the
    /// plaintext and the length of its chain of deltas.
    fn open_and_verify_at(
        &self,
        blob_type: BlobType,
        id: &BlobId,
        stored: Stored<'_>,
        chain: &mut Chain,
    ) -> Result<(Vec<u8>, u32)> {
        let Stored {
            pack,
            sealed,
            raw_len,
            delta,
        } = stored;
        let damaged = |reason: String| RepoError::BlobDamaged {
            id: *id,
            pack: *pack,
            reason,
        };
        let frame = open_frame(&self.key, blob_type, id, sealed, raw_len as usize)
            .map_err(|e| damaged(e.to_string()))?;
        let is_delta = matches!(frame, Frame::Delta { .. });
        if is_delta && self.config.version < 2 {
            // Version 1 has no deltas (FORMAT.md §7.2): its prune keeps no
            // bases, so a delta there cannot be trusted to stay readable.
            return Err(damaged(
                "it is a delta, which a version-1 repository cannot hold".into(),
            ));
        }
        if delta.is_some_and(|flagged| flagged != is_delta) {
            // Prune keeps bases by the index's flag: a delta it does not
            // flag could lose its base, so it is not trusted.
            return Err(damaged(
                "its frame and its index entry disagree on whether it is a delta".into(),
            ));
        }
        let (data, depth) = match frame {
            Frame::Whole(data) => (data, 0),
            Frame::Delta { base, payload } => {
                let base_data = self.read_base(id, &base, chain).map_err(|reason| {
                    damaged(format!("its base {base} cannot be read: {reason}"))
                })?;
                let data = apply_delta(&payload, &base_data.0, raw_len as usize)
                    .map_err(|e| damaged(e.to_string()))?;
                (data, base_data.1 + 1)
            }
        };
        if blob_type.id_of(&self.key, &data) != *id || data.len() != raw_len as usize {
            return Err(damaged("content does not match its id".into()));
        }
        Ok((data, depth))
    }

    /// Reads the base of the delta `id`, refusing a chain too long or that
    /// loops back, and a base that already failed in this read (so copies
    /// at every level cannot multiply the work).
    fn read_base(
        &self,
        id: &BlobId,
        base: &BlobId,
        chain: &mut Chain,
    ) -> std::result::Result<(Vec<u8>, u32), String> {
        if chain.path.len() as u32 >= DELTA_DEPTH_MAX {
            return Err(format!(
                "the chain of deltas is longer than {DELTA_DEPTH_MAX}"
            ));
        }
        if base == id || chain.path.contains(base) {
            return Err("the chain of deltas loops back on itself".into());
        }
        if let Some(reason) = chain.failed.get(base) {
            return Err(reason.clone());
        }
        chain.path.push(*id);
        let read = self.read_blob_chain(BlobType::Data, base, chain);
        chain.path.pop();
        read.map_err(|e| {
            let reason = e.to_string();
            chain.failed.insert(*base, reason.clone());
            reason
        })
    }

    /// The base a delta copy of `id` names (opening one copy the index
    /// flags as a delta), or `None` when no copy is a delta. Prune and
    /// `locks extend` follow these so a base outlives its deltas.
    pub fn delta_base(&self, id: &BlobId) -> Result<Option<BlobId>> {
        let mut last_error = None;
        for (pack, loc) in self.index().locations(id) {
            if !loc.delta {
                continue;
            }
            let opened = self
                .read_stored_blob(&pack, loc.offset, loc.sealed_len)
                .and_then(|sealed| {
                    open_frame(&self.key, BlobType::Data, id, &sealed, loc.raw_len as usize)
                        .map_err(|e| RepoError::BlobDamaged {
                            id: *id,
                            pack,
                            reason: e.to_string(),
                        })
                });
            match opened {
                Ok(Frame::Delta { base, .. }) => return Ok(Some(base)),
                Ok(Frame::Whole(_)) => {}
                Err(e) => last_error = Some(e),
            }
        }
        last_error.map_or(Ok(None), Err)
    }

    pub fn load_tree(&self, id: &BlobId) -> Result<Tree> {
        let bytes = self.read_blob(BlobType::Tree, id)?;
        Tree::from_json(&bytes).map_err(|e| RepoError::format(format!("tree {id}"), e))
    }
}

/// A stored copy of a blob: its pack, its sealed bytes, its plaintext
/// length and whether its index entry says it is a delta (unknown when the
/// caller read it from a pack range rather than through the index).
struct Stored<'a> {
    pack: &'a reprise_format::PackId,
    sealed: &'a [u8],
    raw_len: u32,
    delta: Option<bool>,
}

/// What one read has seen of a blob's chain of deltas: the deltas being
/// resolved above the current one, and the bases that failed with why.
#[derive(Default)]
struct Chain {
    path: Vec<BlobId>,
    failed: std::collections::HashMap<BlobId, String>,
}

/// One copy of the config, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCopy {
    /// `config` or `config.copy`.
    pub name: &'static str,
    pub state: ConfigState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigState {
    Intact,
    /// Absent: repositories made before format revision 1.3 have no copy.
    Missing,
    /// Unreadable, not authentic, or not the config in use, and why.
    Damaged(String),
}

/// The bytes of `config` and of `config.copy`, each with its name, in that
/// order, leaving out those that cannot be read (as long as one can).
fn read_config_copies(backend: &dyn Backend) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut copies = Vec::new();
    let mut first_error = None;
    for (label, name) in [("config", "config"), ("config.copy", CONFIG_COPY_NAME)] {
        match backend.read(ObjectKind::Config, name) {
            Ok(bytes) => copies.push((label, bytes)),
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (copies.is_empty(), first_error) {
        (false, _) => Ok(copies),
        (true, Some(e)) => Err(e.into()),
        (true, None) => Err(RepoError::NotARepository {
            location: backend.location(),
        }),
    }
}

/// Before the password: a newer repository is refused without asking. A
/// copy that declares a newer version is believed even if the other does
/// not (an upgrade may have replaced one copy and not yet the other): such
/// a repository must never be misread.
fn refuse_newer_version(copies: &[(&'static str, Vec<u8>)]) -> Result<()> {
    for (name, bytes) in copies {
        if let Err(e @ reprise_format::FormatError::NewerVersion { .. }) =
            RepoConfig::peek_version(bytes)
        {
            return Err(RepoError::format(*name, e));
        }
    }
    first_that(copies, |(name, bytes)| {
        RepoConfig::peek_version(bytes).map_err(|e| RepoError::format(*name, e))
    })
    .map(|_| ())
}

/// The first success of `f` over the copies, or the error of the first copy.
fn first_that<T>(
    copies: &[(&'static str, Vec<u8>)],
    f: impl Fn(&(&'static str, Vec<u8>)) -> Result<T>,
) -> Result<T> {
    let mut first_error = None;
    for copy in copies {
        match f(copy) {
            Ok(v) => return Ok(v),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // `copies` is never empty (read_config_copies says when there is no
    // config), so the fallback is never reached.
    Err(first_error.unwrap_or(RepoError::NotARepository {
        location: String::from("the repository"),
    }))
}

/// The storage-level lock policy a config records.
pub fn lock_policy(config: &RepoConfig) -> Option<LockPolicy> {
    config.object_lock.map(policy_of_lock)
}

/// The storage-level lock policy an `object_lock` config entry stands for.
pub fn policy_of_lock(lock: ObjectLockConfig) -> LockPolicy {
    LockPolicy {
        mode: match lock.mode {
            LockModeName::Governance => LockMode::Governance,
            LockModeName::Compliance => LockMode::Compliance,
        },
        retention: Duration::from_secs(u64::from(lock.retention_days) * 86_400),
    }
}
