//! Permutation importance (Breiman 2001) as scikit-learn's `permutation_importance`
//! computes it: the score on the data, minus the score with one feature's column
//! shuffled, for each feature and each of `n_repeats` shuffles.
//!
//! # Seeds
//!
//! scikit-learn draws its shuffles from numpy's Mersenne Twister, which this crate does
//! not reproduce. The shuffles are therefore an input ([`Shuffles`]):
//! - [`Shuffles::Given`]: the caller's permutations; permutation `r` sets the column of
//!   row `i` to the original column's value at row `perm[i]`. Given scikit-learn's
//!   permutations, the importances equal scikit-learn's. (scikit-learn shuffles its index
//!   array in place each repeat and indexes the already-shuffled column, so its
//!   permutation of repeat `r` is the composition of its first `r` shuffles;
//!   tests/reference/explain_permutation.py writes those compositions.)
//! - [`Shuffles::Seeded`]: `n_repeats` independent uniform permutations from ChaCha8
//!   seeded with `seed` (see `rng.rs`); the same seed gives the same importances on any
//!   machine, but not scikit-learn's numbers for the same integer seed.
//!
//! Either way every feature is shuffled with the same permutations, as scikit-learn
//! does (it hands each feature a fresh generator with one shared seed), so differences
//! between features do not come from different shuffles.

use thiserror::Error;

use crate::model::{DataError, ModelCallError, Predictor, call, check_model_features, check_rows};
use crate::rng::Rng;

/// How the columns are shuffled; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub enum Shuffles {
    /// One permutation of `0..rows` per repeat.
    Given(Vec<Vec<usize>>),
    /// `n_repeats` permutations drawn from `seed`.
    Seeded { seed: u64, n_repeats: usize },
}

impl Shuffles {
    /// The permutations for `rows` rows, checked.
    pub fn permutations(&self, rows: usize) -> Result<Vec<Vec<usize>>, PermutationError> {
        match self {
            Shuffles::Given(permutations) => {
                if permutations.is_empty() {
                    return Err(PermutationError::NoRepeats);
                }
                for (repeat, permutation) in permutations.iter().enumerate() {
                    let mut seen = vec![false; rows];
                    let valid = permutation.len() == rows
                        && permutation.iter().all(|&i| i < rows && !std::mem::replace(&mut seen[i], true));
                    if !valid {
                        return Err(PermutationError::NotAPermutation { repeat, rows });
                    }
                }
                Ok(permutations.clone())
            }
            Shuffles::Seeded { seed, n_repeats } => {
                if *n_repeats == 0 {
                    return Err(PermutationError::NoRepeats);
                }
                let mut rng = Rng::new(*seed);
                Ok((0..*n_repeats)
                    .map(|_| {
                        let mut permutation: Vec<usize> = (0..rows).collect();
                        rng.shuffle(&mut permutation);
                        permutation
                    })
                    .collect())
            }
        }
    }
}

/// Why permutation importance could not be computed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PermutationError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelCallError),
    #[error("{got} targets for {rows} rows")]
    TargetCount { rows: usize, got: usize },
    #[error("at least one repeat is needed")]
    NoRepeats,
    #[error("shuffle {repeat} is not a permutation of the {rows} row indices")]
    NotAPermutation { repeat: usize, rows: usize },
    #[error("the score is {value}; it must be finite")]
    NonFiniteScore { value: f64 },
}

/// Importances of every feature.
#[derive(Debug, Clone, PartialEq)]
pub struct PermutationImportance {
    baseline: f64,
    /// `[feature][repeat]`: baseline score minus the score with the feature shuffled.
    importances: Vec<Vec<f64>>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl PermutationImportance {
    /// The score on the data as given.
    pub fn baseline(&self) -> f64 {
        self.baseline
    }

    /// Per feature, one importance per repeat (scikit-learn's `importances`).
    pub fn importances(&self) -> &[Vec<f64>] {
        &self.importances
    }

    /// Per feature, the mean over repeats (`importances_mean`).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Per feature, the population standard deviation over repeats (`importances_std`,
    /// numpy's `std` with `ddof=0`).
    pub fn std(&self) -> &[f64] {
        &self.std
    }
}

/// Permutation importance of every feature of `data` for `model`, scored by `score`,
/// which maps the model's outputs (one vector per row) and the targets to a number
/// where greater is better, as scikit-learn's scorers do (losses enter negated; sample
/// weights, if any, are the score's to apply, since rows never move). Calls the model
/// once for the baseline and once per feature and repeat. NaN in `data` reaches the
/// model as a missing value and is shuffled like any value.
pub fn permutation_importance<P, S>(
    model: &P,
    data: &[Vec<f64>],
    targets: &[f64],
    score: S,
    shuffles: &Shuffles,
) -> Result<PermutationImportance, PermutationError>
where
    P: Predictor + ?Sized,
    S: Fn(&[Vec<f64>], &[f64]) -> f64,
{
    let num_features = check_rows("data", data)?;
    check_model_features("data", model, num_features)?;
    if targets.len() != data.len() {
        return Err(PermutationError::TargetCount { rows: data.len(), got: targets.len() });
    }
    let permutations = shuffles.permutations(data.len())?;
    let scored = |rows: &[Vec<f64>], width: Option<usize>| -> Result<(f64, usize), PermutationError> {
        let outputs = call(model, rows, width)?;
        let value = score(&outputs, targets);
        if !value.is_finite() {
            return Err(PermutationError::NonFiniteScore { value });
        }
        Ok((value, outputs[0].len()))
    };
    let (baseline, width) = scored(data, None)?;

    let mut shuffled = data.to_vec();
    let mut importances = Vec::with_capacity(num_features);
    for feature in 0..num_features {
        let mut per_repeat = Vec::with_capacity(permutations.len());
        for permutation in &permutations {
            for (row, &source) in shuffled.iter_mut().zip(permutation) {
                row[feature] = data[source][feature];
            }
            let (value, _) = scored(&shuffled, Some(width))?;
            per_repeat.push(baseline - value);
        }
        for (row, original) in shuffled.iter_mut().zip(data) {
            row[feature] = original[feature];
        }
        importances.push(per_repeat);
    }
    let mean: Vec<f64> = importances.iter().map(|values| mean(values)).collect();
    let std = importances
        .iter()
        .zip(&mean)
        .map(|(values, &m)| (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt())
        .collect();
    Ok(PermutationImportance { baseline, importances, mean, std })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// scikit-learn's `r2_score` of output 0 (a regressor's `score`): 1 − SSE/SST, with
/// scikit-learn's `force_finite` answers when the targets are constant (1 for a perfect
/// fit, else 0). NaN when there are no rows.
pub fn r2(outputs: &[Vec<f64>], targets: &[f64]) -> f64 {
    let mean_target = mean(targets);
    let (mut residual, mut total) = (0.0, 0.0);
    for (values, &target) in outputs.iter().zip(targets) {
        let prediction = values.first().copied().unwrap_or(f64::NAN);
        residual += (target - prediction) * (target - prediction);
        total += (target - mean_target) * (target - mean_target);
    }
    if total == 0.0 {
        return if residual == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - residual / total
}

/// Negated mean squared error of output 0 (scikit-learn's `neg_mean_squared_error`).
pub fn neg_mean_squared_error(outputs: &[Vec<f64>], targets: &[f64]) -> f64 {
    let squares: Vec<f64> = outputs
        .iter()
        .zip(targets)
        .map(|(values, &target)| {
            let error = values.first().copied().unwrap_or(f64::NAN) - target;
            error * error
        })
        .collect();
    -mean(&squares)
}

/// Accuracy of the predicted class against integer class targets (a classifier's
/// `score`). With one output it is the positive-class probability and the class is 1
/// when it exceeds 1 − p (scikit-learn's argmax over `[1 − p, p]`, ties to class 0);
/// with several, the first output of greatest value.
pub fn accuracy(outputs: &[Vec<f64>], targets: &[f64]) -> f64 {
    let correct: Vec<f64> = outputs
        .iter()
        .zip(targets)
        .map(|(values, &target)| {
            let class = match values.as_slice() {
                [p] => usize::from(*p > 1.0 - *p),
                _ => values.iter().enumerate().fold(0, |best, (i, &v)| if v > values[best] { i } else { best }),
            };
            if class as f64 == target { 1.0 } else { 0.0 }
        })
        .collect();
    mean(&correct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PredictError;

    fn first_feature(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        Ok(rows.iter().map(|r| vec![r[0]]).collect())
    }

    #[test]
    fn shuffles_are_checked() {
        assert_eq!(Shuffles::Given(vec![]).permutations(2), Err(PermutationError::NoRepeats));
        assert_eq!(
            Shuffles::Given(vec![vec![0, 0]]).permutations(2),
            Err(PermutationError::NotAPermutation { repeat: 0, rows: 2 })
        );
        assert_eq!(
            Shuffles::Given(vec![vec![1, 0], vec![0, 2]]).permutations(2),
            Err(PermutationError::NotAPermutation { repeat: 1, rows: 2 })
        );
        assert_eq!(Shuffles::Seeded { seed: 1, n_repeats: 0 }.permutations(2), Err(PermutationError::NoRepeats));
        let seeded = Shuffles::Seeded { seed: 3, n_repeats: 4 };
        assert_eq!(seeded.permutations(10), seeded.permutations(10));
    }

    #[test]
    fn bad_input_is_an_error() {
        let data = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        let shuffles = Shuffles::Given(vec![vec![1, 0]]);
        assert_eq!(
            permutation_importance(&first_feature, &data, &[1.0], r2, &shuffles),
            Err(PermutationError::TargetCount { rows: 2, got: 1 })
        );
        let nan_score = |_: &[Vec<f64>], _: &[f64]| f64::NAN;
        assert!(matches!(
            permutation_importance(&first_feature, &data, &[1.0, 2.0], nan_score, &shuffles),
            Err(PermutationError::NonFiniteScore { .. })
        ));
        assert!(matches!(
            permutation_importance(&first_feature, &[], &[], r2, &shuffles),
            Err(PermutationError::Data(_))
        ));
    }

    #[test]
    fn swapping_two_rows_of_the_used_feature() {
        let data = vec![vec![1.0, 5.0], vec![3.0, 6.0]];
        let result = permutation_importance(&first_feature, &data, &[1.0, 3.0], r2, &Shuffles::Given(vec![vec![1, 0]]))
            .expect("computes");
        assert_eq!(result.baseline(), 1.0);
        // Swapped predictions [3, 1] against [1, 3]: SSE 8, SST 2, r2 = -3.
        assert_eq!(result.importances(), &[vec![4.0], vec![0.0]]);
        assert_eq!(result.std(), &[0.0, 0.0]);
    }

    #[test]
    fn scores_follow_scikit_learn() {
        assert_eq!(r2(&[vec![2.0], vec![2.0]], &[2.0, 2.0]), 1.0);
        assert_eq!(r2(&[vec![1.0], vec![2.0]], &[2.0, 2.0]), 0.0);
        assert_eq!(neg_mean_squared_error(&[vec![1.0], vec![2.0]], &[2.0, 2.0]), -0.5);
        assert_eq!(accuracy(&[vec![0.5], vec![0.7]], &[0.0, 1.0]), 1.0);
        assert_eq!(accuracy(&[vec![0.2, 0.4, 0.4], vec![0.5, 0.1, 0.4]], &[1.0, 2.0]), 0.5);
    }
}
