//! The statistics of real documents (the sample share's genuine formats)
//! and of their encrypted versions: no document looks encrypted, every
//! encrypted one does, whatever the family's way of encrypting.

use reprise_detect::judge::{judge, Strength, Version};
use reprise_detect::Sampler;
use reprise_sample::{document, DocumentKind};

fn keystream(len: usize, seed: u64) -> Vec<u8> {
    reprise_sample::random_bytes(len, seed)
}

fn whole(data: &[u8], seed: u64) -> Vec<u8> {
    data.iter()
        .zip(keystream(data.len(), seed))
        .map(|(a, b)| a ^ b)
        .collect()
}

fn first_4k(data: &[u8], seed: u64) -> Vec<u8> {
    let mut out = data.to_vec();
    let n = out.len().min(4096);
    out[..n].copy_from_slice(&whole(&data[..n], seed));
    out
}

fn every_other_16(data: &[u8], seed: u64) -> Vec<u8> {
    let enc = whole(data, seed);
    data.iter()
        .zip(enc)
        .enumerate()
        .map(|(i, (&plain, cipher))| if (i / 16) % 2 == 0 { cipher } else { plain })
        .collect()
}

fn judged(name: &str, before: &[u8], after: &[u8]) -> Option<Strength> {
    let b = Sampler::of(before);
    let a = Sampler::of(after);
    let v = |s| Version {
        name: name.as_bytes(),
        stats: Some(s),
    };
    judge(v(&a), Some(v(&b))).map(|j| j.strength)
}

#[test]
fn documents_are_recognised_and_never_look_encrypted() {
    for kind in DocumentKind::ALL {
        for (i, size) in [300u64, 5_000, 40_000, 300_000, 3_000_000]
            .into_iter()
            .enumerate()
        {
            let doc = document(kind, i as u64, size).unwrap();
            let stats = Sampler::of(&doc);
            assert_ne!(stats.kind, "random", "{kind:?} {size}: {stats:?}");
            assert_ne!(stats.kind, "data", "{kind:?} {size}: {stats:?}");
            let name = format!("f.{}", kind.extension());
            let v = Version {
                name: name.as_bytes(),
                stats: Some(&stats),
            };
            assert_eq!(judge(v, None), None, "{kind:?} {size}: {stats:?}");
            // An edit (a new version of the same kind) is no finding either.
            let edited = document(kind, 100 + i as u64, size).unwrap();
            assert_eq!(judged(&name, &doc, &edited), None, "{kind:?} {size} edited");
        }
    }
}

#[test]
fn every_way_of_encrypting_a_document_is_strong() {
    for kind in DocumentKind::ALL {
        for (i, size) in [300u64, 5_000, 40_000, 300_000, 3_000_000]
            .into_iter()
            .enumerate()
        {
            let doc = document(kind, i as u64, size).unwrap();
            let name = format!("f.{}", kind.extension());
            for (family, encrypted) in [
                ("whole", whole(&doc, 7)),
                ("first 4 KiB", first_4k(&doc, 7)),
                ("every other 16 bytes", every_other_16(&doc, 7)),
            ] {
                assert_eq!(
                    judged(&name, &doc, &encrypted),
                    Some(Strength::Strong),
                    "{kind:?} {size} {family}: {:?} -> {:?}",
                    Sampler::of(&doc),
                    Sampler::of(&encrypted)
                );
            }
        }
    }
}
