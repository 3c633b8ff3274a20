//! The crate's one random source: ChaCha8 seeded by the caller, and the few draws the
//! methods need (uniform doubles, bounded integers, shuffles, normal deviates).
//!
//! Written here rather than taken from `rand` so the draws are fixed by this file: a
//! seed stored with an explanation reproduces it after any dependency upgrade.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

#[derive(Debug, Clone)]
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` for `n > 0`, without modulo bias (rejection of the short tail).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        // Largest multiple of n that fits, so every residue is equally likely.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let draw = self.0.next_u64();
            if draw < zone {
                return (draw % n) as usize;
            }
        }
    }

    /// Fisher–Yates: every permutation equally likely.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A standard normal deviate (Box–Muller; the second deviate is dropped to keep the
    /// generator stateless beyond ChaCha's position).
    pub(crate) fn normal(&mut self) -> f64 {
        // 1 - uniform is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let draws: Vec<f64> = (0..5).map(|_| a.uniform()).collect();
        assert_eq!(draws, (0..5).map(|_| b.uniform()).collect::<Vec<_>>());
        assert_ne!(Rng::new(8).uniform(), draws[0]);
    }

    #[test]
    fn draws_stay_in_range_and_shuffles_permute() {
        let mut rng = Rng::new(1);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        let mut items: Vec<usize> = (0..50).collect();
        rng.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(items, sorted);
        let mean = (0..20_000).map(|_| rng.normal()).sum::<f64>() / 20_000.0;
        assert!(mean.abs() < 0.05, "{mean}");
    }
}
