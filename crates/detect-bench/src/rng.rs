//! Seeded randomness: one independent generator per purpose, so that a
//! scenario's choices never shift when another part draws more, and the
//! keystream that stands in for a cipher.

use fastrand::Rng;

/// A generator for `label` under `seed`: the share generator's derivation,
/// so both crates draw alike.
pub use reprise_sample::rng::derived_rng as derived;
pub use reprise_sample::rng::fnv1a;

/// `len` bytes of keystream for one file: XOR with it is the "encryption"
/// of the attacks (as good as ChaCha for a detector that sees only bytes).
pub fn keystream(seed: u64, label: &str, len: usize) -> Vec<u8> {
    let mut rng = derived(seed, label);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

/// One element of a non-empty slice.
pub fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_and_keystreams_are_reproducible_and_distinct() {
        assert_eq!(derived(1, "a").u64(..), derived(1, "a").u64(..));
        assert_ne!(derived(1, "a").u64(..), derived(1, "b").u64(..));
        assert_eq!(keystream(3, "x", 100), keystream(3, "x", 100));
        assert_ne!(keystream(3, "x", 100), keystream(4, "x", 100));
    }
}
