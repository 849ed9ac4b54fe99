//! A client that holds the repository key can seal any bytes it likes.
//! Every decoder must turn such forged plaintext into an error, never a
//! panic or an unbounded allocation.
//!
//! Each property states the decoder's exact verdict: the error it must give
//! (a forged plaintext under the right key is always `Malformed`, never a
//! sealing error), or, where forged bytes happen to be a valid encoding, that
//! the decoded value encodes back to exactly those bytes.

// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use reprise_crypto::MasterKey;
use reprise_format::blob::{open_blob, BLOB_RAW_LEN_MAX};
use reprise_format::pack::PackHeader;
use reprise_format::{
    BlobId, BlobType, FormatError, IndexFile, Node, NodeKind, RawBytes, RepoConfig, Snapshot, Tree,
    FORMAT_VERSION,
};

const INDEX_AAD: &[u8] = b"reprise index";
const PACK_HEADER_AAD: &[u8] = b"reprise pack header";
const CONFIG_MAGIC: &[u8] = b"REPRISE\0";

/// A count that is small (so the bytes after it may hold it) or absurd.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..4, any::<u32>()]
}

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    let prefixed = |prefix: &'static [u8]| {
        (count(), proptest::collection::vec(any::<u8>(), 0..100)).prop_map(move |(n, rest)| {
            let mut v = prefix.to_vec();
            v.extend_from_slice(&n.to_le_bytes());
            v.extend_from_slice(&rest);
            v
        })
    };
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Plausible prefixes with absurd counts or versions after them.
        prefixed(b"RPI1"),
        prefixed(CONFIG_MAGIC),
        prefixed(b""),
    ]
}

/// One 45-byte pack entry (FORMAT.md §9) with a blob type that may be
/// unknown and a small offset and length.
fn entry() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..3,
        any::<[u8; 32]>(),
        0u32..300,
        0u32..300,
        any::<u32>(),
    )
        .prop_map(|(kind, id, offset, sealed_len, raw_len)| {
            let mut v = vec![kind];
            v.extend_from_slice(&id);
            v.extend_from_slice(&offset.to_le_bytes());
            v.extend_from_slice(&sealed_len.to_le_bytes());
            v.extend_from_slice(&raw_len.to_le_bytes());
            v
        })
}

fn entries() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(entry(), 0..3).prop_map(|es| {
        let mut v = (es.len() as u32).to_le_bytes().to_vec();
        v.extend(es.concat());
        v
    })
}

/// `valid`, left as it is, cut short, lengthened, or with one byte changed.
fn mutated(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (valid, 0u8..4, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut v, how, at, byte)| {
        match how {
            1 => v.truncate(at.index(v.len() + 1)),
            2 => v.push(byte),
            3 if !v.is_empty() => {
                let i = at.index(v.len());
                v[i] = byte;
            }
            _ => {}
        }
        v
    })
}

/// Index plaintexts (FORMAT.md §10), well formed or nearly.
fn index_plaintext() -> impl Strategy<Value = Vec<u8>> {
    let pack =
        (any::<[u8; 32]>(), entries()).prop_map(|(id, entries)| [&id[..], &entries].concat());
    let index = proptest::collection::vec(pack, 0..3).prop_map(|packs| {
        let mut v = b"RPI1".to_vec();
        v.extend_from_slice(&(packs.len() as u32).to_le_bytes());
        v.extend(packs.concat());
        v
    });
    prop_oneof![plaintext(), mutated(index)]
}

/// Pack header plaintexts (FORMAT.md §9), well formed or nearly.
fn pack_header_plaintexts() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![plaintext(), mutated(entries())]
}

fn sealed(key: &MasterKey, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    key.seal(aad, plain).unwrap()
}

/// Whether `result` is the `Malformed` error of the decoder named `what`
/// (or of the blob type byte inside it, which names only itself).
fn is_malformed<T>(result: &Result<T, FormatError>, what: &str) -> bool {
    matches!(result, Err(FormatError::Malformed { what: w, .. }) if *w == what || *w == "blob type")
}

/// The plaintext a pack header encodes to (its sealed form, opened again).
fn pack_header_plaintext(key: &MasterKey, header: &PackHeader) -> Vec<u8> {
    let mut pack = Vec::new();
    header.append_to(key, &mut pack).unwrap();
    let sealed_end = pack.len() - 8;
    key.open(PACK_HEADER_AAD, &pack[..sealed_end]).unwrap()
}

/// What `RepoConfig::peek_version` must answer for `bytes`, from FORMAT.md §6.
fn expected_version(bytes: &[u8]) -> Option<u32> {
    let version = bytes.get(8..12)?;
    (bytes.get(..8)? == CONFIG_MAGIC)
        .then(|| u32::from_le_bytes(version.try_into().unwrap()))
        .filter(|v| *v <= FORMAT_VERSION)
}

/// Tree entries whose names, order and subtrees may break the rules.
fn forged_tree() -> impl Strategy<Value = Tree> {
    let name = prop_oneof![
        1 => prop::sample::select(vec![&b""[..], b".", b"..", b"a/b", b"a\0"]).prop_map(<[u8]>::to_vec),
        20 => proptest::collection::vec(b'a'..b'd', 1..3),
    ];
    let node = (name, any::<bool>(), prop::bool::weighted(0.9)).prop_map(|(name, dir, subtree)| {
        let mut node = Node::new(name, if dir { NodeKind::Dir } else { NodeKind::File });
        node.subtree = subtree.then(|| BlobId::from_bytes([7; 32]));
        node
    });
    // Mostly sorted, as a writer would, so that valid trees are common.
    (
        proptest::collection::vec(node, 0..5),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(mut nodes, sort)| {
            if sort {
                nodes.sort_by(|a, b| a.name.cmp(&b.name));
            }
            Tree { nodes }
        })
}

/// FORMAT.md §11's rules for a tree a reader accepts.
fn tree_is_valid(tree: &Tree) -> bool {
    let safe = |n: &RawBytes| reprise_format::tree::is_safe_name(n.as_bytes());
    tree.nodes.iter().all(|n| safe(&n.name))
        && tree
            .nodes
            .windows(2)
            .all(|w| w[0].name.as_bytes() < w[1].name.as_bytes())
        && tree
            .nodes
            .iter()
            .all(|n| n.kind != NodeKind::Dir || n.subtree.is_some())
}

proptest! {
    #[test]
    fn forged_index_files_are_errors(plain in index_plaintext()) {
        let key = MasterKey::generate().unwrap();
        match IndexFile::open(&key, &sealed(&key, INDEX_AAD, &plain)) {
            // Only a canonical encoding may decode.
            Ok(index) => prop_assert_eq!(key.open(INDEX_AAD, &index.seal(&key).unwrap()).unwrap(), plain),
            result => prop_assert!(is_malformed(&result, "index file"), "{:?}", result),
        }
    }

    #[test]
    fn forged_pack_headers_are_errors(plain in pack_header_plaintexts(), header_start in prop_oneof![0u64..600, any::<u64>()]) {
        let key = MasterKey::generate().unwrap();
        match PackHeader::open(&key, &sealed(&key, PACK_HEADER_AAD, &plain), header_start) {
            Ok(header) => {
                prop_assert_eq!(pack_header_plaintext(&key, &header), plain.clone());
                for e in &header.entries {
                    prop_assert!(u64::from(e.offset) + u64::from(e.sealed_len) <= header_start, "{:?}", e);
                }
            }
            result => prop_assert!(is_malformed(&result, "pack header"), "{:?}", result),
        }

        // A pack made of only that header: its blobs have no room before it.
        let mut pack = sealed(&key, PACK_HEADER_AAD, &plain);
        let len = pack.len() as u32;
        pack.extend_from_slice(&len.to_le_bytes());
        pack.extend_from_slice(b"RPK1");
        match PackHeader::from_pack_bytes(&key, &pack) {
            Ok(header) => prop_assert!(header.entries.iter().all(|e| e.sealed_len == 0 && e.offset == 0)),
            result => prop_assert!(is_malformed(&result, "pack header"), "{:?}", result),
        }
        // Bytes never sealed under the key cannot hold a header.
        prop_assert!(PackHeader::from_pack_bytes(&key, &plain).is_err());
    }

    #[test]
    fn forged_trees_snapshots_and_configs_are_errors(plain in plaintext()) {
        let key = MasterKey::generate().unwrap();
        let tree = Tree::from_json(&plain);
        prop_assert!(is_malformed(&tree, "tree"), "{:?}", tree);
        let snapshot = Snapshot::open(&key, &sealed(&key, b"reprise snapshot", &plain));
        prop_assert!(is_malformed(&snapshot, "snapshot"), "{:?}", snapshot);
        // The config's AAD covers its clear 12-byte prefix (FORMAT.md §6).
        let mut config = b"REPRISE\0\x01\0\0\0".to_vec();
        let aad = [&b"reprise config"[..], &config].concat();
        config.extend_from_slice(&sealed(&key, &aad, &plain));
        let opened = RepoConfig::open(&key, &config);
        prop_assert!(is_malformed(&opened, "config"), "{:?}", opened);

        let peeked = RepoConfig::peek_version(&plain);
        match expected_version(&plain) {
            Some(version) => prop_assert_eq!(peeked.ok(), Some(version)),
            None if plain.starts_with(CONFIG_MAGIC) && plain.len() >= 12 => prop_assert!(
                matches!(peeked, Err(FormatError::NewerVersion { found, supported: FORMAT_VERSION }) if found > FORMAT_VERSION),
                "{:?}", peeked
            ),
            None => prop_assert!(is_malformed(&peeked, "config"), "{:?}", peeked),
        }
    }

    #[test]
    fn forged_trees_decode_only_when_every_rule_holds(tree in forged_tree()) {
        let json = serde_json::to_vec(&tree).unwrap();
        match Tree::from_json(&json) {
            Ok(back) => {
                prop_assert!(tree_is_valid(&tree), "{:?} was accepted", tree);
                prop_assert_eq!(back, tree);
            }
            result => {
                prop_assert!(!tree_is_valid(&tree), "{:?} was refused: {:?}", tree, result);
                prop_assert!(is_malformed(&result, "tree"), "{:?}", result);
            }
        }
    }

    #[test]
    fn forged_blob_frames_are_errors(plain in plaintext(), raw_len in prop_oneof![0u32..400, any::<u32>()]) {
        let key = MasterKey::generate().unwrap();
        let id = BlobId::from_bytes([3; 32]);
        let mut aad = vec![BlobType::Data.to_byte()];
        aad.extend_from_slice(id.as_bytes());
        let raw_len = raw_len as usize;
        let opened = open_blob(&key, BlobType::Data, &id, &sealed(&key, &aad, &plain), raw_len);
        match plain.split_first() {
            // An uncompressed frame is its payload.
            Some((0, payload)) if raw_len <= BLOB_RAW_LEN_MAX => {
                prop_assert_eq!(opened.ok(), Some(payload.to_vec()));
            }
            // A zstd frame claiming a huge size must be bounded by raw_len, not trusted.
            Some((1, _)) if raw_len <= BLOB_RAW_LEN_MAX => match opened {
                Ok(blob) => prop_assert!(blob.len() <= raw_len),
                result => prop_assert!(is_malformed(&result, "blob"), "{:?}", result),
            },
            _ => prop_assert!(is_malformed(&opened, "blob"), "{:?}", opened),
        }
    }

    #[test]
    fn compressed_frames_open_only_within_the_recorded_length(
        payload in proptest::collection::vec(0u8..4, 0..2000),
        slack in -50i64..50,
    ) {
        let key = MasterKey::generate().unwrap();
        let id = BlobId::from_bytes([5; 32]);
        let mut frame = vec![1u8];
        frame.extend_from_slice(&zstd::bulk::compress(&payload, 3).unwrap());
        let mut aad = vec![BlobType::Data.to_byte()];
        aad.extend_from_slice(id.as_bytes());
        let raw_len = (payload.len() as i64 + slack).max(0) as usize;
        let opened = open_blob(&key, BlobType::Data, &id, &sealed(&key, &aad, &frame), raw_len);
        if payload.len() <= raw_len {
            prop_assert_eq!(opened.ok(), Some(payload));
        } else {
            prop_assert!(is_malformed(&opened, "blob"), "{:?}", opened);
        }
    }
}

#[test]
fn a_zstd_bomb_is_bounded_by_the_recorded_length() {
    let key = MasterKey::generate().unwrap();
    let id = BlobId::from_bytes([4; 32]);
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
    let mut frame = vec![1u8];
    frame.extend_from_slice(&bomb);
    let mut aad = vec![BlobType::Data.to_byte()];
    aad.extend_from_slice(id.as_bytes());
    let sealed = key.seal(&aad, &frame).unwrap();
    assert!(open_blob(&key, BlobType::Data, &id, &sealed, 1024).is_err());
}
