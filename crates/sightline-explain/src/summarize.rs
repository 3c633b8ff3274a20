//! Background summarization for KernelSHAP: `k` weighted rows standing for a large
//! background, as shap's `kmeans(data, k)` makes them — k-means centroids, each feature
//! then moved to the nearest value the data really holds in that column (so a centroid
//! never asks the model about an impossible value, e.g. 0.37 of a boolean), weighted by
//! the number of rows in its cluster.
//!
//! The clustering is ours, not scikit-learn's: k-means++ seeding from the crate's seeded
//! ChaCha8 ([`crate::rng`]) and Lloyd's iterations until no row changes cluster (at most
//! [`MAX_ITERATIONS`]), so a seed reproduces the summary but scikit-learn's centroids are
//! not. With `k` at least the number of distinct rows the summary is exact: the distinct
//! rows weighted by their counts, and KernelSHAP gives what the whole data gives.

use thiserror::Error;

use crate::rng::Rng;

/// Most Lloyd iterations.
pub const MAX_ITERATIONS: usize = 300;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SummarizeError {
    #[error("the data to summarize has no rows")]
    Empty,
    #[error("k must be at least 1")]
    ZeroK,
    #[error("row {row} has {got} features, the first row has {expected}")]
    RowLength { row: usize, expected: usize, got: usize },
    #[error("row {row}, feature {feature} is {value}; summarizing needs finite values")]
    NonFinite { row: usize, feature: usize, value: f64 },
}

/// A summarized background: rows and their weights (cluster sizes).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub rows: Vec<Vec<f64>>,
    pub weights: Vec<f64>,
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The index of the nearest of `centres` to `row` (the first on ties).
fn nearest(row: &[f64], centres: &[Vec<f64>]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centres.iter().enumerate() {
        let d = distance(row, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Summarizes `data` into at most `k` weighted rows; `seed` fixes the clustering.
pub fn summarize(data: &[Vec<f64>], k: usize, seed: u64) -> Result<Summary, SummarizeError> {
    let first = data.first().ok_or(SummarizeError::Empty)?;
    if k == 0 {
        return Err(SummarizeError::ZeroK);
    }
    let width = first.len();
    for (row, values) in data.iter().enumerate() {
        if values.len() != width {
            return Err(SummarizeError::RowLength { row, expected: width, got: values.len() });
        }
        if let Some((feature, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SummarizeError::NonFinite { row, feature, value });
        }
    }
    // Distinct rows with their counts, in first-seen order: with k at least their
    // number, they are the summary.
    let mut distinct: Vec<(Vec<f64>, f64)> = Vec::new();
    {
        let mut sorted: Vec<&Vec<f64>> = data.iter().collect();
        sorted.sort_by(|a, b| {
            a.iter().zip(b.iter()).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
        });
        for row in sorted {
            match distinct.last_mut() {
                Some((last, count)) if last == row => *count += 1.0,
                _ => distinct.push((row.clone(), 1.0)),
            }
        }
    }
    if distinct.len() <= k {
        let (rows, weights) = distinct.into_iter().unzip();
        return Ok(Summary { rows, weights });
    }
    let mut rng = Rng::new(seed);
    // k-means++: the first centre uniformly, each next one with probability proportional
    // to the squared distance to the nearest centre chosen.
    let mut centres: Vec<Vec<f64>> = vec![data[rng.below(data.len())].clone()];
    let mut nearest_d: Vec<f64> = data.iter().map(|r| distance(r, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = nearest_d.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.uniform() * total;
            let mut chosen = data.len() - 1;
            for (i, d) in nearest_d.iter().enumerate() {
                if target < *d {
                    chosen = i;
                    break;
                }
                target -= d;
            }
            chosen
        } else {
            rng.below(data.len())
        };
        centres.push(data[pick].clone());
        for (d, row) in nearest_d.iter_mut().zip(data) {
            *d = d.min(distance(row, &centres[centres.len() - 1]));
        }
    }
    // Lloyd's iterations.
    let mut assignment: Vec<usize> = data.iter().map(|r| nearest(r, &centres)).collect();
    for _ in 0..MAX_ITERATIONS {
        let mut sums = vec![vec![0.0; width]; k];
        let mut counts = vec![0usize; k];
        for (row, &c) in data.iter().zip(&assignment) {
            counts[c] += 1;
            for (s, v) in sums[c].iter_mut().zip(row) {
                *s += v;
            }
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            // An emptied cluster keeps its centre.
            if counts[c] > 0 {
                *centre = sums[c].iter().map(|s| s / counts[c] as f64).collect();
            }
        }
        let next: Vec<usize> = data.iter().map(|r| nearest(r, &centres)).collect();
        if next == assignment {
            break;
        }
        assignment = next;
    }
    let mut counts = vec![0.0; k];
    for &c in &assignment {
        counts[c] += 1.0;
    }
    // Each feature of a centroid becomes the nearest value of its column (shap's
    // `round_values`), the lower one on ties.
    let mut columns: Vec<Vec<f64>> = (0..width).map(|f| data.iter().map(|r| r[f]).collect()).collect();
    for column in &mut columns {
        column.sort_by(f64::total_cmp);
        column.dedup();
    }
    let mut rows = Vec::with_capacity(k);
    let mut weights = Vec::with_capacity(k);
    for (centre, count) in centres.iter().zip(counts) {
        if count == 0.0 {
            continue;
        }
        let rounded = centre
            .iter()
            .zip(&columns)
            .map(|(&v, column)| {
                let at = column.partition_point(|x| *x < v);
                match (at.checked_sub(1).and_then(|i| column.get(i)), column.get(at)) {
                    (Some(&below), Some(&above)) => {
                        if v - below <= above - v {
                            below
                        } else {
                            above
                        }
                    }
                    (Some(&only), None) | (None, Some(&only)) => only,
                    (None, None) => v,
                }
            })
            .collect();
        rows.push(rounded);
        weights.push(count);
    }
    Ok(Summary { rows, weights })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_rows_are_kept_with_their_counts() {
        let data = vec![vec![1.0, 0.0], vec![2.0, 1.0], vec![1.0, 0.0], vec![1.0, 0.0]];
        let s = summarize(&data, 5, 0).expect("summary");
        assert_eq!(s.rows, vec![vec![1.0, 0.0], vec![2.0, 1.0]]);
        assert_eq!(s.weights, vec![3.0, 1.0]);
    }

    #[test]
    fn clusters_are_found_weighted_and_rounded_to_real_values() {
        // Two tight groups of 30 and 10 rows; the second column is boolean.
        let mut data = Vec::new();
        for i in 0..30 {
            data.push(vec![f64::from(i % 3) * 0.01, 0.0]);
        }
        for i in 0..10 {
            data.push(vec![100.0 + f64::from(i % 2) * 0.01, 1.0]);
        }
        let s = summarize(&data, 2, 7).expect("summary");
        let mut pairs: Vec<(Vec<f64>, f64)> = s.rows.into_iter().zip(s.weights).collect();
        pairs.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]));
        assert_eq!(pairs[0].1, 30.0);
        assert_eq!(pairs[1].1, 10.0);
        assert_eq!(pairs[0].0, vec![0.01, 0.0], "the centroid 0.01 is a real value");
        assert_eq!(pairs[1].0[1], 1.0, "a boolean stays a boolean");
        assert!([100.0, 100.01].contains(&pairs[1].0[0]));
        assert_eq!(summarize(&data, 2, 7), summarize(&data, 2, 7), "a seed reproduces it");
    }

    #[test]
    fn bad_data_is_refused() {
        assert_eq!(summarize(&[], 2, 0), Err(SummarizeError::Empty));
        assert_eq!(summarize(&[vec![1.0]], 0, 0), Err(SummarizeError::ZeroK));
        assert!(matches!(summarize(&[vec![1.0], vec![1.0, 2.0]], 1, 0), Err(SummarizeError::RowLength { .. })));
        assert!(matches!(summarize(&[vec![f64::NAN]], 1, 0), Err(SummarizeError::NonFinite { .. })));
    }
}
