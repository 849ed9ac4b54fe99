//! The bodies of the fuzz targets: what each target does with the bytes a
//! fuzzer hands it, and what must hold afterwards.
//!
//! The libFuzzer binaries under `fuzz/` (built outside the workspace, see
//! fuzz/README.md) call these functions, and so does this crate's corpus
//! test, which replays every kept input on the stable toolchain without a
//! fuzzer. A body panics when a decoder breaks a promise: a panic inside the
//! decoder itself, a decoded value that does not survive re-encoding, or a
//! result outside the bounds the decoder claims to enforce.
//!
//! Sealed objects are authenticated, so fuzzing their ciphertext only
//! reaches the MAC check ([`sealed`] does that once). The other targets seal
//! the fuzzer's bytes with a test key and hand them to the same `open`
//! functions the repository uses, so the fuzzer drives the plaintext
//! decoding and validation behind the authentication.
// A panic is how a target reports a broken promise to the fuzzer, so this
// crate alone allows `panic!`; the decoders it calls deny it.
#![allow(clippy::panic)]
#![deny(clippy::indexing_slicing)]

pub mod seeds;

use reprise_crypto::MasterKey;
use reprise_format::blob::{open_blob, seal_blob};
use reprise_format::config::FORMAT_VERSION;
use reprise_format::pack::PACK_MAGIC;
use reprise_format::{
    BlobId, BlobType, FormatError, IndexFile, Mark, PackHeader, RepoConfig, Snapshot, Tree,
};
use reprise_server::range::parse_range;
use reprise_server::route::{self, Target as Route};
use std::fmt::Debug;
use std::path::Path;
use std::sync::LazyLock;

/// What a body made of its input: `Decoded` when the decoder accepted it.
/// The corpus test uses it to check that the kept inputs get past the
/// first checks, not only that they do not crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Decoded,
    Refused,
}

/// One fuzz target: its name (the binary in fuzz/ and the folder of its
/// corpus), what it decodes, and its body.
pub struct Target {
    pub name: &'static str,
    pub decodes: &'static str,
    pub body: fn(&[u8]) -> Outcome,
}

/// Every target, in the order of fuzz/README.md's table.
pub const TARGETS: &[Target] = &[
    Target {
        name: "sealed",
        decodes: "raw sealed bytes of every object kind (lengths, nonce, trailer, config header)",
        body: sealed,
    },
    Target {
        name: "index",
        decodes: "index file plaintext (binary)",
        body: index,
    },
    Target {
        name: "pack_header",
        decodes: "pack header plaintext and the pack around it",
        body: pack_header,
    },
    Target {
        name: "blob_frame",
        decodes: "blob frame: compression byte, zstd bounded by raw_len",
        body: blob_frame,
    },
    Target {
        name: "tree",
        decodes: "tree JSON and its validation",
        body: tree,
    },
    Target {
        name: "snapshot",
        decodes: "snapshot JSON",
        body: snapshot,
    },
    Target {
        name: "mark",
        decodes: "mark JSON (prune, damaged, started, ended, incident)",
        body: mark,
    },
    Target {
        name: "config",
        decodes: "repository config JSON behind its header",
        body: config,
    },
    Target {
        name: "key_file",
        decodes: "key file JSON, its structure check and unlock",
        body: key_file,
    },
    Target {
        name: "server_route",
        decodes: "server request path and query",
        body: server_route,
    },
    Target {
        name: "server_range",
        decodes: "server Range header",
        body: server_range,
    },
    Target {
        name: "server_config",
        decodes: "server TOML configuration",
        body: server_config,
    },
];

/// The associated data of each sealed kind, as docs/FORMAT.md gives them.
/// Were one to drift from the format crate, every input would be refused
/// as `Sealed`, which the bodies treat as a failure of the harness.
pub const INDEX_AAD: &[u8] = b"reprise index";
pub const SNAPSHOT_AAD: &[u8] = b"reprise snapshot";
pub const MARK_AAD: &[u8] = b"reprise mark";
pub const HEADER_AAD: &[u8] = b"reprise pack header";
pub const CONFIG_AAD: &[u8] = b"reprise config";
pub const CONFIG_MAGIC: &[u8; 8] = b"REPRISE\0";

/// The key every target seals and opens with; a fresh one per process is
/// enough, since no input depends on its value.
pub static KEY: LazyLock<MasterKey> = LazyLock::new(|| {
    MasterKey::generate().unwrap_or_else(|e| panic!("cannot make the fuzzing key: {e}"))
});

/// The blob id the blob-frame target seals under (any fixed id will do).
pub const BLOB_ID: BlobId = BlobId(reprise_format::Id([7; 32]));

fn seal(aad: &[u8], plain: &[u8]) -> Vec<u8> {
    KEY.seal(aad, plain)
        .unwrap_or_else(|e| panic!("sealing with the fuzzing key failed: {e}"))
}

/// The first two bytes as a little-endian number, and the rest.
fn split_u16(data: &[u8]) -> (usize, &[u8]) {
    match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, &[]),
    }
}

/// Sorts a decode result; a `Sealed` error means the harness sealed with
/// the wrong associated data, which would make the target test nothing.
fn accepted<T>(what: &str, result: Result<T, FormatError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e @ FormatError::Sealed { .. }) => panic!("{what}: the harness's seal is refused: {e}"),
        Err(_) => None,
    }
}

/// Bytes as they arrive from storage, unauthenticated: every open must
/// fail, without panicking, whatever their length.
pub fn sealed(data: &[u8]) -> Outcome {
    let key = &*KEY;
    assert!(key.open(b"fuzz", data).is_err(), "forged bytes opened");
    assert!(IndexFile::open(key, data).is_err());
    assert!(Snapshot::open(key, data).is_err());
    assert!(Mark::open(key, data).is_err());
    assert!(RepoConfig::open(key, data).is_err());
    assert!(PackHeader::from_pack_bytes(key, data).is_err());
    assert!(open_blob(key, BlobType::Data, &BLOB_ID, data, data.len()).is_err());
    let trailer = data
        .len()
        .checked_sub(reprise_format::pack::TRAILER_LEN)
        .and_then(|start| data.get(start..));
    let located = trailer.is_some_and(|t| PackHeader::locate(t, data.len() as u64).is_ok());
    if located || RepoConfig::peek_version(data).is_ok() {
        Outcome::Decoded
    } else {
        Outcome::Refused
    }
}

/// A sealed JSON object: decoded, re-sealed and decoded again to the same value.
fn sealed_json<T: PartialEq + Debug>(
    what: &str,
    data: &[u8],
    aad: &[u8],
    open: fn(&MasterKey, &[u8]) -> Result<T, FormatError>,
    reseal: fn(&T, &MasterKey) -> Result<Vec<u8>, FormatError>,
) -> Outcome {
    let Some(value) = accepted(what, open(&KEY, &seal(aad, data))) else {
        return Outcome::Refused;
    };
    let again = reseal(&value, &KEY).unwrap_or_else(|e| panic!("{what}: re-seal failed: {e}"));
    match open(&KEY, &again) {
        Ok(back) => assert_eq!(back, value, "{what}: re-encoding changed the value"),
        Err(e) => panic!("{what}: its own re-encoding is refused: {e}\nvalue: {value:?}"),
    }
    Outcome::Decoded
}

/// Index plaintext; the binary layout is canonical, so re-encoding must
/// give back the very bytes.
pub fn index(data: &[u8]) -> Outcome {
    let Some(index) = accepted("index", IndexFile::open(&KEY, &seal(INDEX_AAD, data))) else {
        return Outcome::Refused;
    };
    let again = index
        .seal(&KEY)
        .unwrap_or_else(|e| panic!("index: re-seal failed: {e}"));
    assert_eq!(KEY.open(INDEX_AAD, &again).ok().as_deref(), Some(data));
    Outcome::Decoded
}

/// Two bytes of blob data before the header (so entries can point into
/// it), then the header plaintext, sealed and framed as a pack.
pub fn pack_header(data: &[u8]) -> Outcome {
    let (data_len, plain) = split_u16(data);
    let pack = pack_with_header(data_len, &seal(HEADER_AAD, plain));
    let Some(header) = accepted("pack header", PackHeader::from_pack_bytes(&KEY, &pack)) else {
        return Outcome::Refused;
    };
    for e in &header.entries {
        assert!(
            u64::from(e.offset) + u64::from(e.sealed_len) <= data_len as u64,
            "entry {e:?} lies outside the {data_len} bytes of blob data"
        );
    }
    let mut again = vec![0; data_len];
    header
        .append_to(&KEY, &mut again)
        .unwrap_or_else(|e| panic!("pack header: re-seal failed: {e}"));
    let sealed = again
        .get(
            data_len
                ..again
                    .len()
                    .saturating_sub(reprise_format::pack::TRAILER_LEN),
        )
        .unwrap_or_default();
    assert_eq!(KEY.open(HEADER_AAD, sealed).ok().as_deref(), Some(plain));
    Outcome::Decoded
}

fn pack_with_header(data_len: usize, sealed_header: &[u8]) -> Vec<u8> {
    let mut pack = vec![0; data_len];
    pack.extend_from_slice(sealed_header);
    pack.extend_from_slice(&(sealed_header.len() as u32).to_le_bytes());
    pack.extend_from_slice(PACK_MAGIC);
    pack
}

/// Two bytes of `raw_len` (the bound an index gives), then a blob's frame.
/// A zstd payload must not decompress past `raw_len`.
pub fn blob_frame(data: &[u8]) -> Outcome {
    let (raw_len, frame) = split_u16(data);
    let mut aad = vec![BlobType::Data.to_byte()];
    aad.extend_from_slice(BLOB_ID.as_bytes());
    let opened = open_blob(&KEY, BlobType::Data, &BLOB_ID, &seal(&aad, frame), raw_len);
    let Some(blob) = accepted("blob", opened) else {
        return Outcome::Refused;
    };
    match frame.split_first() {
        Some((0, payload)) => assert_eq!(blob, payload),
        Some((1, _)) => assert!(blob.len() <= raw_len, "zstd went past raw_len"),
        other => panic!("frame {other:?} accepted"),
    }
    let mut resealed = Vec::new();
    seal_blob(&KEY, BlobType::Data, &BLOB_ID, &blob, 3, &mut resealed)
        .unwrap_or_else(|e| panic!("blob: re-seal failed: {e}"));
    let back = open_blob(&KEY, BlobType::Data, &BLOB_ID, &resealed, blob.len());
    assert_eq!(back.ok(), Some(blob), "a re-sealed blob did not open equal");
    Outcome::Decoded
}

/// Tree JSON (the plaintext of a tree blob): a tree that passes validation
/// must survive its own encoding.
pub fn tree(data: &[u8]) -> Outcome {
    let Ok(tree) = Tree::from_json(data) else {
        return Outcome::Refused;
    };
    let json = tree
        .to_json()
        .unwrap_or_else(|e| panic!("tree: a decoded tree cannot be encoded: {e}"));
    match Tree::from_json(&json) {
        Ok(back) => assert_eq!(back, tree, "tree: re-encoding changed the value"),
        Err(e) => panic!("tree: its own re-encoding is refused: {e}\ntree: {tree:?}"),
    }
    Outcome::Decoded
}

pub fn snapshot(data: &[u8]) -> Outcome {
    sealed_json(
        "snapshot",
        data,
        SNAPSHOT_AAD,
        Snapshot::open,
        Snapshot::seal,
    )
}

pub fn mark(data: &[u8]) -> Outcome {
    sealed_json("mark", data, MARK_AAD, Mark::open, Mark::seal)
}

/// Config JSON behind a header of the version the JSON claims (the
/// current one when it claims none), so configs of every version reach the
/// decoder; an accepted config has chunker parameters FastCDC takes.
pub fn config(data: &[u8]) -> Outcome {
    let claimed = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|json| json.get("version")?.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(FORMAT_VERSION);
    let mut head = CONFIG_MAGIC.to_vec();
    head.extend_from_slice(&claimed.to_le_bytes());
    let mut stored = head.clone();
    stored.extend_from_slice(&seal(&[CONFIG_AAD, &head].concat(), data));
    let Some(config) = accepted("config", RepoConfig::open(&KEY, &stored)) else {
        return Outcome::Refused;
    };
    assert!(config.chunker.validate().is_ok());
    let again = config
        .seal(&KEY)
        .unwrap_or_else(|e| panic!("config: re-seal failed: {e}"));
    assert_eq!(RepoConfig::open(&KEY, &again).ok(), Some(config));
    Outcome::Decoded
}

/// Key file JSON (stored in the clear). A structurally sound file with
/// cheap KDF parameters is also unlocked, to reach the base64 and unwrap
/// code; costly parameters are within bounds by construction and would
/// only slow the fuzzer.
pub fn key_file(data: &[u8]) -> Outcome {
    let Ok(file) = reprise_crypto::KeyFile::from_json(data) else {
        return Outcome::Refused;
    };
    let structure = file.check_structure();
    let json = file
        .to_json()
        .unwrap_or_else(|e| panic!("key file: a decoded key file cannot be encoded: {e}"));
    let back = reprise_crypto::KeyFile::from_json(&json)
        .unwrap_or_else(|e| panic!("key file: its own encoding is refused: {e}"));
    assert_eq!(
        back.to_json().ok(),
        Some(json),
        "key file: re-encoding changed it"
    );
    assert_eq!(back.check_structure().is_ok(), structure.is_ok());
    let p = file.kdf_params;
    if structure.is_ok() && p.memory_kib <= 64 && p.iterations <= 2 {
        let _ = file.unlock(b"fuzz");
    }
    Outcome::Decoded
}

/// A request target: the path, and a query after the first `?`. A path
/// that parses designates only safe names and reads back the same.
pub fn server_route(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Refused;
    };
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let target = match route::parse(path, query) {
        Ok(target) => target,
        Err(e) => {
            assert!(e.to_string().len() <= 1024, "unbounded message: {e}");
            return Outcome::Refused;
        }
    };
    assert!(reprise_server::valid_repo_name(target.repo()));
    let canonical = match &target {
        Route::Repo(repo) => format!("/{repo}/"),
        Route::List { repo, kind } => format!("/{repo}/{kind}/"),
        Route::Object { repo, kind, name } => {
            assert!(!name.is_empty() && name != "." && name != "..", "{name:?}");
            assert!(!name.contains(['/', '\0', '\\']), "{name:?}");
            format!("/{repo}/{kind}/{name}")
        }
    };
    assert_eq!(route::parse(&canonical, None).as_ref(), Ok(&target));
    Outcome::Decoded
}

/// A `Range` header value: what it resolves to lies inside the object.
pub fn server_range(data: &[u8]) -> Outcome {
    let Ok(value) = hyper::header::HeaderValue::from_bytes(data) else {
        return Outcome::Refused;
    };
    let range = match parse_range(Some(&value)) {
        Ok(Some(range)) => range,
        Ok(None) => panic!("a present header parsed as absent"),
        Err(_) => return Outcome::Refused,
    };
    for size in [0, 1, 2, 100, 1 << 32, u64::MAX] {
        if let Some((first, last)) = range.resolve(size) {
            assert!(
                first <= last && last < size,
                "{range:?} in {size}: {first}-{last}"
            );
        }
    }
    Outcome::Decoded
}

/// The server's TOML configuration: an accepted one holds the limits its
/// validation promises.
pub fn server_config(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Refused;
    };
    let Ok(config) = reprise_server::Config::parse(text, Path::new("/etc/reprise")) else {
        return Outcome::Refused;
    };
    assert!(config.data_dir.is_absolute());
    assert!(config.max_object_bytes > 0 && config.max_connections > 0);
    assert!(config.max_connections_per_address > 0);
    assert_eq!(config.tls_cert.is_some(), config.tls_key.is_some());
    let mut names = std::collections::HashSet::new();
    for token in &config.tokens {
        assert!(names.insert(&token.name), "two tokens {:?}", token.name);
        assert!(reprise_server::config::valid_token_name(&token.name));
        for repo in token.repos.iter().flatten() {
            assert!(reprise_server::valid_repo_name(repo), "{repo:?}");
        }
    }
    Outcome::Decoded
}
