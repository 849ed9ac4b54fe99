//! A client that holds the repository key can seal any bytes it likes.
//! Every decoder must turn such forged plaintext into an error, never a
//! panic or an unbounded allocation.
// Test helpers may panic: a panic is the test's verdict (the workspace denies
// it in the crates' own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use reprise_crypto::MasterKey;
use reprise_format::blob::open_blob;
use reprise_format::pack::PackHeader;
use reprise_format::{BlobId, BlobType, IndexFile, RepoConfig, Snapshot, Tree};

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Plausible prefixes with absurd counts after them.
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..100)).prop_map(|(n, rest)| {
            let mut v = b"RPI1".to_vec();
            v.extend_from_slice(&n.to_le_bytes());
            v.extend_from_slice(&rest);
            v
        }),
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..100)).prop_map(|(n, rest)| {
            let mut v = n.to_le_bytes().to_vec();
            v.extend_from_slice(&rest);
            v
        }),
    ]
}

fn sealed(key: &MasterKey, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    key.seal(aad, plain).unwrap()
}

proptest! {
    #[test]
    fn forged_index_files_are_errors(plain in plaintext()) {
        let key = MasterKey::generate().unwrap();
        let _ = IndexFile::open(&key, &sealed(&key, b"reprise index", &plain));
    }

    #[test]
    fn forged_pack_headers_are_errors(plain in plaintext(), header_start in any::<u64>()) {
        let key = MasterKey::generate().unwrap();
        let _ = PackHeader::open(&key, &sealed(&key, b"reprise pack header", &plain), header_start);
        let mut pack = sealed(&key, b"reprise pack header", &plain);
        let len = pack.len() as u32;
        pack.extend_from_slice(&len.to_le_bytes());
        pack.extend_from_slice(b"RPK1");
        let _ = PackHeader::from_pack_bytes(&key, &pack);
        let _ = PackHeader::from_pack_bytes(&key, &plain);
    }

    #[test]
    fn forged_trees_snapshots_and_configs_are_errors(plain in plaintext()) {
        let key = MasterKey::generate().unwrap();
        let _ = Tree::from_json(&plain);
        let _ = Snapshot::open(&key, &sealed(&key, b"reprise snapshot", &plain));
        let mut config = b"REPRISE\0\x01\0\0\0".to_vec();
        config.extend_from_slice(&sealed(&key, b"reprise config", &plain));
        let _ = RepoConfig::open(&key, &config);
        let _ = RepoConfig::peek_version(&plain);
    }

    #[test]
    fn forged_blob_frames_are_errors(plain in plaintext(), raw_len in any::<u32>()) {
        let key = MasterKey::generate().unwrap();
        let id = BlobId::from_bytes([3; 32]);
        let mut aad = vec![BlobType::Data.to_byte()];
        aad.extend_from_slice(id.as_bytes());
        // A zstd frame claiming a huge size must be bounded by raw_len, not trusted.
        let _ = open_blob(&key, BlobType::Data, &id, &sealed(&key, &aad, &plain), raw_len as usize);
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
