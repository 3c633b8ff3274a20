//! Global importance from attributions, and attribution drift: how far the reasons a
//! model decides by moved between two windows.

/// Mean |attribution| per feature over rows of attributions.
pub fn mean_abs<'a>(rows: impl IntoIterator<Item = &'a Vec<f64>>, features: usize) -> Vec<f64> {
    let mut sums = vec![0.0; features];
    let mut n = 0usize;
    for row in rows {
        n += 1;
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v.abs();
        }
    }
    sums.iter().map(|s| s / n.max(1) as f64).collect()
}

/// Each feature's share of the total importance (all zero when there is none).
pub fn shares(importance: &[f64]) -> Vec<f64> {
    let total: f64 = importance.iter().sum();
    importance.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect()
}

/// Attribution drift: the total variation distance between two importance profiles
/// (half the summed absolute difference of the features' shares), from 0 (the model
/// decides for the same reasons) to 1 (for entirely different ones).
pub fn attribution_drift(baseline: &[f64], current: &[f64]) -> f64 {
    baseline.iter().zip(current).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_zero_for_the_same_reasons_and_one_for_disjoint_ones() {
        let rows = [vec![1.0, -3.0], vec![-1.0, 1.0]];
        assert_eq!(mean_abs(&rows, 2), vec![1.0, 2.0]);
        let a = shares(&[1.0, 3.0, 0.0]);
        assert_eq!(a, vec![0.25, 0.75, 0.0]);
        assert_eq!(attribution_drift(&a, &shares(&[2.0, 6.0, 0.0])), 0.0);
        assert_eq!(attribution_drift(&a, &shares(&[0.0, 0.0, 5.0])), 1.0);
        assert_eq!(shares(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
