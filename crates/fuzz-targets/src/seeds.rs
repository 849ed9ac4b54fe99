//! Well-formed inputs for each target, made with the format's own encoders
//! where it has them: the starting corpus of a fuzzing run, and a check
//! (in the corpus test) that every target still accepts valid input, so a
//! harness that drifted from the format cannot pass by refusing everything.

use crate::{HEADER_AAD, INDEX_AAD, KEY};
use reprise_crypto::{KdfParams, KeyFile};
use reprise_format::blob::seal_blob;
use reprise_format::{
    BlobId, BlobType, ChunkerConfig, IndexFile, IndexPack, PackEntry, PackHeader, PackId,
    RepoConfig, FORMAT_VERSION,
};
use serde_json::json;

const HASH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The seeds of the target called `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "sealed" => sealed(),
        "index" => vec![open(
            INDEX_AAD,
            &index_file().seal(&KEY).unwrap_or_default(),
        )],
        "pack_header" => vec![pack_header_input()],
        "blob_frame" => blob_frames(),
        "tree" => vec![tree().to_string().into_bytes()],
        "snapshot" => vec![snapshot().to_string().into_bytes()],
        "mark" => marks()
            .into_iter()
            .map(|m| m.to_string().into_bytes())
            .collect(),
        "config" => vec![serde_json::to_vec(&repo_config()).unwrap_or_default()],
        "key_file" => vec![key_file()],
        "server_route" => text(&[
            "/mairie/",
            "/mairie/pack/",
            &format!("/mairie/pack/{HASH}"),
            "/mairie/config/config",
            "/m/snapshot/00ff",
        ]),
        "server_range" => text(&["bytes=0-99", "bytes=-5", "bytes=10-"]),
        "server_config" => vec![server_config().into_bytes()],
        _ => Vec::new(),
    }
}

fn text(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn open(aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    KEY.open(aad, sealed).unwrap_or_default()
}

fn entry(blob_type: BlobType, n: u8, offset: u32, sealed_len: u32) -> PackEntry {
    PackEntry {
        blob_type,
        id: BlobId::from_bytes([n; 32]),
        offset,
        sealed_len,
        raw_len: sealed_len.saturating_sub(41),
        delta: false,
    }
}

fn index_file() -> IndexFile {
    IndexFile {
        packs: vec![
            IndexPack {
                id: PackId::from_bytes([1; 32]),
                entries: vec![
                    entry(BlobType::Data, 2, 0, 100),
                    entry(BlobType::Tree, 3, 100, 60),
                ],
            },
            IndexPack {
                id: PackId::from_bytes([4; 32]),
                entries: Vec::new(),
            },
        ],
    }
}

fn pack_header() -> PackHeader {
    PackHeader {
        entries: vec![
            entry(BlobType::Data, 2, 0, 100),
            entry(BlobType::Tree, 3, 100, 60),
        ],
    }
}

/// 200 bytes of blob data, then the header plaintext (see `crate::pack_header`).
fn pack_header_input() -> Vec<u8> {
    let mut pack = vec![0; 200];
    let _ = pack_header().append_to(&KEY, &mut pack);
    let sealed = pack
        .get(200..pack.len().saturating_sub(reprise_format::pack::TRAILER_LEN))
        .unwrap_or_default();
    let mut input = 200u16.to_le_bytes().to_vec();
    input.extend_from_slice(&open(HEADER_AAD, sealed));
    input
}

/// A stored frame and a compressed one, each after its raw length.
fn blob_frames() -> Vec<Vec<u8>> {
    let text = b"le conseil municipal ".repeat(50);
    let mut sealed = Vec::new();
    let _ = seal_blob(&KEY, BlobType::Data, &crate::BLOB_ID, &text, 3, &mut sealed);
    let mut aad = vec![BlobType::Data.to_byte()];
    aad.extend_from_slice(crate::BLOB_ID.as_bytes());
    let mut compressed = (text.len() as u16).to_le_bytes().to_vec();
    compressed.extend_from_slice(&open(&aad, &sealed));
    vec![b"\x05\x00\x00hello".to_vec(), compressed]
}

/// Raw sealed objects as storage holds them (a pack, a config),
/// sealed under another key than the target's: well framed, never opened.
fn sealed() -> Vec<Vec<u8>> {
    let Ok(other) = reprise_crypto::MasterKey::generate() else {
        return Vec::new();
    };
    let mut pack = vec![0; 200];
    let _ = pack_header().append_to(&other, &mut pack);
    vec![pack, repo_config().seal(&other).unwrap_or_default()]
}

fn tree() -> serde_json::Value {
    let id = hex(9);
    json!({"nodes": [
        {"name": {"base64": "Y2Fm6S50eHQ="}, "type": "file", "mode": 420, "uid": 1000, "gid": 1000,
         "user": "secretariat", "mtime_ns": 1_700_000_000_000_000_000i64, "atime_ns": 0, "ctime_ns": 0,
         "size": 12, "inode": 5, "device": 2049, "links": 1, "content": [id],
         "xattrs": [{"name": "user.comment", "value": "aGk="}],
         "stats": {"type": "text", "windows": 1, "random": 0, "text": 1, "entropy": 4.5,
                   "chi2": 310.25, "sampled": 12}},
        {"name": "docs", "type": "dir", "mode": 493, "uid": 0, "gid": 0, "mtime_ns": 0,
         "atime_ns": 0, "ctime_ns": 0, "size": 0, "inode": 6, "device": 2049, "links": 2,
         "subtree": id},
        {"name": "lien", "type": "symlink", "mode": 511, "uid": 0, "gid": 0, "mtime_ns": -1,
         "atime_ns": 0, "ctime_ns": 0, "size": 4, "inode": 7, "device": 2049, "links": 1,
         "target": "docs"},
    ]})
}

fn hex(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn snapshot() -> serde_json::Value {
    json!({"version": FORMAT_VERSION, "time": "2026-03-01T10:00:00.123456789Z", "tree": hex(1),
        "paths": ["/srv/mairie"], "hostname": "mairie", "username": "root", "uid": 0, "gid": 0,
        "tags": ["daily"], "parent": hex(2), "excludes": ["*.tmp"], "program_version": "0.1.0",
        "summary": {"files_new": 1, "files_changed": 0, "files_unmodified": 3, "dirs_new": 0,
            "dirs_changed": 1, "dirs_unmodified": 2, "total_files": 4, "total_bytes": 4096,
            "bytes_read": 100, "bytes_added": 50, "blobs_added": 1, "errors": 0, "duration_s": 1.25},
        "paths_bytes": [{"base64": "L3Nydi9tYWlyaWU="}]})
}

fn marks() -> Vec<serde_json::Value> {
    let head = |kind: &str| json!({"version": FORMAT_VERSION, "time": "2026-03-01T10:00:00Z", "hostname": "mairie", "kind": kind});
    let with = |mut mark: serde_json::Value, extra: serde_json::Value| {
        if let (Some(m), Some(e)) = (mark.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        mark
    };
    vec![
        with(head("prune"), json!({"packs": [hex(1)]})),
        with(
            head("damaged"),
            json!({"blobs": [{"blob": hex(2), "pack": hex(3), "reason": "hash"}]}),
        ),
        with(head("started"), json!({"session": "s1", "paths": ["/srv"]})),
        with(head("ended"), json!({"session": "s1"})),
    ]
}

fn repo_config() -> RepoConfig {
    RepoConfig {
        version: FORMAT_VERSION,
        id: hex(5),
        chunker: ChunkerConfig::default_with_seed(42),
        zstd_level: 3,
        pack_size_target: 16 << 20,
        object_lock: None,
    }
}

/// A key file with the cheapest parameters the bounds allow.
fn key_file() -> Vec<u8> {
    let params = KdfParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    KeyFile::create(
        b"fuzz",
        &KEY,
        params,
        "2026-03-01T10:00:00Z".into(),
        "mairie".into(),
        "root".into(),
    )
    .ok()
    .and_then(|f| f.to_json().ok())
    .unwrap_or_default()
}

fn server_config() -> String {
    format!(
        "listen = \"127.0.0.1:8443\"\ndata_dir = \"data\"\nretention_days = 30\n\
         max_object_bytes = 1000000\ntls_names = [\"backup.mairie.example\"]\n\
         [[token]]\nname = \"mairie\"\nrole = \"append\"\nhash = \"{HASH}\"\n\
         quota_bytes = 1000\nexpires = \"2030-01-01T00:00:00+01:00\"\nrepos = [\"compta\"]\n\
         [[token]]\nname = \"admin\"\nrole = \"admin\"\nhash = \"{HASH}\"\nrevoked = true\n"
    )
}
