//! HyperLogLog distinct-count sketch (Flajolet et al. 2007) with Ertl's estimator.
//!
//! Values are hashed with XXH3-64, a fixed, specified hash, so registers written by one
//! build mean the same to the next (std's `DefaultHasher` promises no such stability).
//! `2^p` one-byte registers keep the longest run of leading zeros seen per bucket;
//! merging takes the register-wise maximum, which is exactly associative and commutative:
//! a merged sketch is identical to the one built from all values, in any order.
//!
//! The estimate uses Ertl's improved estimator ("New cardinality estimation algorithms
//! for HyperLogLog sketches", 2017), which has no bias step across the small/large range
//! switch of the original paper. Its relative standard error is about `1.04 / sqrt(2^p)`:
//! 1.6 % at the default `p = 12` (4 KiB per column); `tests/integration/profile.rs`
//! measures it.

use super::ProfileError;
use super::codec::Reader;

/// The default precision: 4096 registers, about 1.6 % standard error.
pub const DEFAULT_PRECISION: u8 = 12;
const MIN_PRECISION: u8 = 4;
const MAX_PRECISION: u8 = 18;

/// A mergeable distinct-count sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyperLogLog {
    precision: u8,
    registers: Vec<u8>,
}

impl HyperLogLog {
    /// An empty sketch with `2^precision` registers; precision is 4 to 18.
    pub fn new(precision: u8) -> Result<Self, ProfileError> {
        if !(MIN_PRECISION..=MAX_PRECISION).contains(&precision) {
            return Err(ProfileError::Config("distinct-count precision must be 4 to 18"));
        }
        Ok(Self { precision, registers: vec![0; 1 << precision] })
    }

    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// The relative standard error of [`Self::estimate`], `1.04 / sqrt(m)`.
    pub fn standard_error(&self) -> f64 {
        1.04 / (self.registers.len() as f64).sqrt()
    }

    /// Adds a value by its bytes.
    pub fn insert(&mut self, bytes: &[u8]) {
        self.insert_hash(xxhash_rust::xxh3::xxh3_64(bytes));
    }

    fn insert_hash(&mut self, hash: u64) {
        let (index, rank) = self.place(hash);
        let slot = &mut self.registers[index];
        *slot = (*slot).max(rank);
    }

    /// Whether inserting `bytes` would leave every register as it is.
    pub(crate) fn covers(&self, bytes: &[u8]) -> bool {
        let (index, rank) = self.place(xxhash_rust::xxh3::xxh3_64(bytes));
        self.registers[index] >= rank
    }

    /// A hash's register and the rank it would raise that register to.
    fn place(&self, hash: u64) -> (usize, u8) {
        let p = u32::from(self.precision);
        let index = (hash >> (64 - p)) as usize;
        // The sentinel bit caps the run at 64 - p, so a register never exceeds 65 - p.
        let rank = ((hash << p) | (1 << (p - 1))).leading_zeros() as u8 + 1;
        (index, rank)
    }

    /// Register-wise maximum; both must have the same precision.
    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        self.check_mergeable(other)?;
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
        Ok(())
    }

    pub(crate) fn check_mergeable(&self, other: &Self) -> Result<(), ProfileError> {
        if self.precision == other.precision {
            Ok(())
        } else {
            Err(ProfileError::Incompatible("distinct-count sketches have different precision"))
        }
    }

    /// The estimated number of distinct values inserted.
    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let q = 64 - usize::from(self.precision);
        let mut histogram = vec![0u32; q + 2];
        for r in &self.registers {
            histogram[usize::from(*r).min(q + 1)] += 1;
        }
        if f64::from(histogram[0]) == m {
            return 0.0;
        }
        let mut z = m * tau(1.0 - f64::from(histogram[q + 1]) / m);
        for count in histogram[1..=q].iter().rev() {
            z = 0.5 * (z + f64::from(*count));
        }
        z += m * sigma(f64::from(histogram[0]) / m);
        let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
        alpha_inf * m * m / z
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.precision);
        out.extend_from_slice(&self.registers);
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, ProfileError> {
        let precision = r.byte()?;
        let mut sketch = Self::new(precision).map_err(|_| ProfileError::Invalid("distinct-count precision"))?;
        let registers = r.take(sketch.registers.len())?;
        let max_rank = 65 - precision;
        if registers.iter().any(|v| *v > max_rank) {
            return Err(ProfileError::Invalid("distinct-count register out of range"));
        }
        sketch.registers.copy_from_slice(registers);
        Ok(sketch)
    }
}

/// Ertl's σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1), for x in [0, 1).
fn sigma(mut x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            return z;
        }
    }
}

/// Ertl's τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))^2 2^-k) / 3, for x in [0, 1].
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == previous {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero_and_small_counts_are_close() {
        let mut h = HyperLogLog::new(DEFAULT_PRECISION).expect("valid precision");
        assert_eq!(h.estimate(), 0.0);
        for i in 0..100u32 {
            h.insert(&i.to_le_bytes());
            h.insert(&i.to_le_bytes());
        }
        assert!((h.estimate() - 100.0).abs() < 3.0, "estimate {}", h.estimate());
    }
}
