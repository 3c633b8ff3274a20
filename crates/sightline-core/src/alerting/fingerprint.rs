//! Alert fingerprints: a stable 64-bit key per (monitor, series labels) for deduplication and grouping.
//!
//! Fingerprints are stored and sent to Alertmanager, so they must be the same on every
//! run, build and platform. `std`'s hasher is randomly seeded and may change between
//! releases, so we use FNV-1a 64 (Fowler–Noll–Vo, the published offset basis and
//! prime), written out here: it is a dozen lines and has fixed test vectors.

use super::monitor::Labels;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, continuing from `state` (start with [`fnv1a64`] for a fresh hash).
fn fnv1a64_extend(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(FNV_OFFSET_BASIS, bytes)
}

/// A stable alert key. Displayed as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Fingerprint {
    /// The fingerprint of a monitor id and a series' labels. Every string is hashed
    /// behind its length (u64, little endian), so `("ab","c")` and `("a","bc")` cannot
    /// collide by concatenation; labels go in name order (the map is sorted).
    pub fn of(monitor_id: &str, labels: &Labels) -> Fingerprint {
        let mut h = FNV_OFFSET_BASIS;
        let mut put = |s: &str| {
            h = fnv1a64_extend(h, &(s.len() as u64).to_le_bytes());
            h = fnv1a64_extend(h, s.as_bytes());
        };
        put(monitor_id);
        for (name, value) in labels {
            put(name);
            put(value);
        }
        Fingerprint(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fingerprints_are_pinned_and_separate_fields() {
        let labels: Labels = [("version".to_string(), "v2".to_string())].into_iter().collect();
        // Pinned: a change here breaks deduplication of stored alerts across an upgrade.
        assert_eq!(Fingerprint::of("latency-p99", &labels).to_string(), PINNED);
        let ab: Labels = [("ab".to_string(), "c".to_string())].into_iter().collect();
        let a: Labels = [("a".to_string(), "bc".to_string())].into_iter().collect();
        assert_ne!(Fingerprint::of("m", &ab), Fingerprint::of("m", &a));
        assert_ne!(Fingerprint::of("m", &Labels::new()), Fingerprint::of("n", &Labels::new()));
    }

    const PINNED: &str = "ce7bd6509e07fe62";
}
