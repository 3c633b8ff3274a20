//! The trailing baseline of an anomaly condition: the last N finite samples of one series.

use std::collections::VecDeque;

/// A bounded window of past samples with their mean and sample standard deviation.
/// Recomputed per evaluation rather than kept as running sums: N is bounded by
/// validation, evaluation happens once per interval, and a two-pass sum over the
/// window cannot drift the way a running sum with removals does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    values: VecDeque<f64>,
}

impl Baseline {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Appends a finite sample, dropping the oldest beyond `capacity`.
    pub fn push(&mut self, value: f64, capacity: usize) {
        self.values.push_back(value);
        while self.values.len() > capacity {
            self.values.pop_front();
        }
    }

    /// Mean and sample standard deviation (n − 1), or `None` below two points.
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        let n = self.values.len();
        if n < 2 {
            return None;
        }
        let mean = self.values.iter().sum::<f64>() / n as f64;
        let ss: f64 = self.values.iter().map(|v| (v - mean) * (v - mean)).sum();
        Some((mean, (ss / (n - 1) as f64).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::Baseline;

    #[test]
    fn keeps_the_last_points_and_their_spread() {
        let mut b = Baseline::default();
        assert_eq!(b.mean_std(), None);
        for v in [100.0, 2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            b.push(v, 8);
        }
        assert_eq!(b.len(), 8);
        let (mean, std) = b.mean_std().unwrap_or_default();
        assert_eq!(mean, 5.0);
        // Sum of squared deviations is 32 over 7 degrees of freedom.
        assert!((std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
