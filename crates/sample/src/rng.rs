//! Seeded randomness: derives one reproducible generator per part of the share, so that
//! changing how much one part draws never shifts the bytes of another part.

use fastrand::Rng;

/// A generator for `label` under `seed`, independent of every other label's generator.
pub fn derived_rng(seed: u64, label: &str) -> Rng {
    // wyrand's state advances by a constant, so related seeds could give shifted copies of
    // one stream; a full avalanche mix of seed and label rules that out.
    Rng::with_seed(splitmix64(seed ^ splitmix64(fnv1a(label.as_bytes()))))
}

/// The SplitMix64 finalizer: every input bit affects every output bit.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One element of a non-empty constant table.
pub(crate) fn pick<'a, T: ?Sized>(rng: &mut Rng, table: &[&'a T]) -> &'a T {
    table[rng.usize(..table.len())]
}

/// True with probability `percent`/100.
pub(crate) fn chance(rng: &mut Rng, percent: u32) -> bool {
    rng.u32(..100) < percent
}

/// Splits `budget` bytes into files of about `typical` bytes each, sizes varying by ±40%
/// so that the share does not look machine-made; always at least one file.
pub(crate) fn split_budget(rng: &mut Rng, budget: u64, typical: u64) -> Vec<u64> {
    let count = (budget + typical / 2) / typical.max(1);
    let count = count.max(1);
    let mean = budget / count;
    (0..count).map(|_| mean * rng.u64(60..=140) / 100).collect()
}

/// FNV-1a: a tiny stable hash, so derived seeds never depend on std's randomized hasher.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_generators_are_reproducible_and_distinct() {
        assert_eq!(derived_rng(1, "a").u64(..), derived_rng(1, "a").u64(..));
        assert_ne!(derived_rng(1, "a").u64(..), derived_rng(1, "b").u64(..));
        assert_ne!(derived_rng(1, "a").u64(..), derived_rng(2, "a").u64(..));
    }

    #[test]
    fn split_budget_roughly_preserves_the_total() {
        let mut rng = Rng::with_seed(3);
        let sizes = split_budget(&mut rng, 1_000_000, 50_000);
        assert_eq!(sizes.len(), 20);
        let total: u64 = sizes.iter().sum();
        assert!((800_000..1_200_000).contains(&total), "{total}");
    }
}
