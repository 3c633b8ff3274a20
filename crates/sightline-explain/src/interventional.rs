//! Interventional TreeSHAP: exact Shapley values of the game in which the features of a
//! coalition take the explained row's values and the others a background row's, the
//! model's margin averaged over the background rows (shap's `TreeExplainer` with
//! `feature_perturbation="interventional"`).
//!
//! For one row x, one background row z and one tree, a leaf is reached by the hybrid of
//! x and z exactly when the coalition contains every feature whose split on the path
//! sends x (but not z) the leaf's way, call them A, and none whose split sends z (but not
//! x) that way, B; features where x and z agree do not matter. That game is a unanimity
//! game with a veto, and its Shapley values are closed-form: each feature of A gets
//! `v · (|A|−1)! |B|! / (|A|+|B|)!`, each feature of B gets `−v · |A|! (|B|−1)! /
//! (|A|+|B|)!`. One walk of the tree per pair visits only the leaves some hybrid reaches
//! (a split where x and z disagree forks the walk once per feature, since a feature
//! already in A or B has its direction fixed). The cost is rows × background rows ×
//! those leaves, so the background should be a sample (shap suggests about 100 rows).
//!
//! Unlike path-dependent TreeSHAP this needs no training covers, only the background,
//! and it explains the model rather than the training distribution the covers record.

use crate::ensemble::{Ensemble, NodeKind, SplitRule, Tree};
use crate::error::ExplainError;
use crate::treeshap::{Attributions, checked};

/// Interventional TreeSHAP for one ensemble and one background set, with the background
/// converted and its expected margin computed once.
#[derive(Debug, Clone)]
pub struct InterventionalTreeShap<'a> {
    ensemble: &'a Ensemble,
    /// Background rows as the model reads them (see [`crate::Input`]).
    background: Vec<Vec<f64>>,
    expected_value: Vec<f64>,
    /// `weights[a][b]`: the Shapley weight `(a−1)! b! / (a+b)!` of a feature of A when
    /// |A| = a and |B| = b (B's weight is `weights[b][a]` by symmetry).
    weights: Vec<Vec<f64>>,
}

impl<'a> InterventionalTreeShap<'a> {
    /// `background` rows hold one value per feature, NaN for missing.
    pub fn new(ensemble: &'a Ensemble, background: &[Vec<f64>]) -> Result<Self, ExplainError> {
        if background.is_empty() {
            return Err(ExplainError::EmptyBackground);
        }
        let background = background.iter().map(|row| ensemble.model_row(row)).collect::<Result<Vec<_>, _>>()?;
        let mut expected_value = vec![0.0; ensemble.num_outputs()];
        for row in &background {
            for (sum, margin) in expected_value.iter_mut().zip(ensemble.margin_of(row)) {
                *sum += margin;
            }
        }
        for value in &mut expected_value {
            *value /= background.len() as f64;
        }
        // A path splits on at most `depth` distinct features, so a + b <= depth.
        let depth = ensemble.trees().iter().map(Tree::depth).max().unwrap_or(0);
        let weights = (0..=depth)
            .map(|a| (0..=depth).map(|b| if a == 0 { 0.0 } else { 1.0 / (a as f64 * binomial(a + b, a)) }).collect())
            .collect();
        Ok(InterventionalTreeShap { ensemble, background, expected_value, weights })
    }

    /// Per output, the mean margin over the background rows.
    pub fn expected_values(&self) -> &[f64] {
        &self.expected_value
    }

    /// Attributions for one row (NaN for missing values), checked for additivity against
    /// the row's margin.
    pub fn explain(&self, row: &[f64]) -> Result<Attributions, ExplainError> {
        let x = self.ensemble.model_row(row)?;
        let num_features = self.ensemble.num_features();
        let mut values = vec![0.0; num_features * self.ensemble.num_outputs()];
        let mut walk = Walk {
            rule: self.ensemble.split_rule(),
            weights: &self.weights,
            side: vec![Side::Open; num_features],
            from_x: Vec::new(),
            from_z: Vec::new(),
        };
        for z in &self.background {
            for (tree, &output) in self.ensemble.trees().iter().zip(self.ensemble.tree_output()) {
                let phi = &mut values[output * num_features..(output + 1) * num_features];
                walk.recurse(tree, 0, &x, z, phi);
            }
        }
        let count = self.background.len() as f64;
        for value in &mut values {
            *value /= count;
        }
        let margin = self.ensemble.margin_of(&x);
        checked(num_features, values, self.expected_value.clone(), margin)
    }
}

/// Where a feature already on the path takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Open,
    /// In A: the leaf needs the feature from the explained row.
    Row,
    /// In B: the leaf needs it from the background row.
    Background,
}

struct Walk<'w> {
    rule: SplitRule,
    weights: &'w [Vec<f64>],
    side: Vec<Side>,
    from_x: Vec<usize>,
    from_z: Vec<usize>,
}

impl Walk<'_> {
    fn recurse(&mut self, tree: &Tree, index: usize, x: &[f64], z: &[f64], phi: &mut [f64]) {
        match &tree.nodes()[index].kind {
            NodeKind::Leaf { value } => {
                let (a, b) = (self.from_x.len(), self.from_z.len());
                if a > 0 {
                    let share = value * self.weights[a][b];
                    for &feature in &self.from_x {
                        phi[feature] += share;
                    }
                }
                if b > 0 {
                    let share = value * self.weights[b][a];
                    for &feature in &self.from_z {
                        phi[feature] -= share;
                    }
                }
            }
            NodeKind::Split(split) => {
                let feature = split.feature;
                let child = |left: bool| if left { split.left } else { split.right };
                let x_left = split.goes_left(x[feature], self.rule);
                match self.side[feature] {
                    Side::Row => self.recurse(tree, child(x_left), x, z, phi),
                    Side::Background => {
                        let z_left = split.goes_left(z[feature], self.rule);
                        self.recurse(tree, child(z_left), x, z, phi);
                    }
                    Side::Open => {
                        let z_left = split.goes_left(z[feature], self.rule);
                        if x_left == z_left {
                            self.recurse(tree, child(x_left), x, z, phi);
                        } else {
                            self.side[feature] = Side::Row;
                            self.from_x.push(feature);
                            self.recurse(tree, child(x_left), x, z, phi);
                            self.from_x.pop();
                            self.side[feature] = Side::Background;
                            self.from_z.push(feature);
                            self.recurse(tree, child(z_left), x, z, phi);
                            self.from_z.pop();
                            self.side[feature] = Side::Open;
                        }
                    }
                }
            }
        }
    }
}

/// C(n, k) in f64: exact while it stays below 2^53 (n <= 56 or so), else within a few
/// ulps, which the weights tolerate.
fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ensemble::{Condition, EnsembleParts, Input, Link, Missing, Node, Split};

    fn leaf(value: f64) -> Node {
        Node { kind: NodeKind::Leaf { value }, cover: 1.0 }
    }

    fn split(feature: usize, threshold: f64, left: usize, right: usize) -> Node {
        let condition = Condition::Threshold(threshold);
        let split = Split { feature, condition, left, right, default_left: true, missing: Missing::Nan };
        Node { kind: NodeKind::Split(split), cover: 2.0 }
    }

    /// One tree: `x0 < 0 ? (x1 < 0 ? 1 : 2) : (x0 < 1 ? 3 : 4)`, three features (the
    /// third unused), base margin 0.5.
    fn ensemble() -> Ensemble {
        let nodes = vec![
            split(0, 0.0, 1, 2),
            split(1, 0.0, 3, 4),
            split(0, 1.0, 5, 6),
            leaf(1.0),
            leaf(2.0),
            leaf(3.0),
            leaf(4.0),
        ];
        let tree = Tree::new(nodes, 3).expect("valid tree");
        Ensemble::new(EnsembleParts {
            num_features: 3,
            num_outputs: 1,
            split_rule: SplitRule::Less,
            input: Input::Float64,
            trees: vec![tree],
            tree_output: vec![0],
            base_margin: vec![0.5],
            link: Link::Identity,
            objective: "test".into(),
        })
        .expect("valid ensemble")
    }

    /// Shapley values of `v(S) = mean_z f(x_S, z_rest)` by enumeration.
    fn brute_force(ensemble: &Ensemble, background: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
        let m = x.len();
        let value = |mask: usize| {
            let total: f64 = background
                .iter()
                .map(|z| {
                    let hybrid: Vec<f64> = (0..m).map(|i| if mask & (1 << i) != 0 { x[i] } else { z[i] }).collect();
                    ensemble.predict_margin(&hybrid).expect("fits")[0]
                })
                .sum();
            total / background.len() as f64
        };
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        (0..m)
            .map(|i| {
                (0..1usize << m)
                    .filter(|mask| mask & (1 << i) == 0)
                    .map(|mask| {
                        let s = mask.count_ones() as usize;
                        factorial(s) * factorial(m - s - 1) / factorial(m) * (value(mask | (1 << i)) - value(mask))
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn equals_brute_force_shapley_values() {
        let ensemble = ensemble();
        let background =
            vec![vec![-1.0, -1.0, 0.0], vec![0.5, 1.0, 2.0], vec![2.0, -3.0, 1.0], vec![f64::NAN, 1.0, 0.0]];
        let shap = InterventionalTreeShap::new(&ensemble, &background).expect("valid background");
        for x in [[-1.0, 1.0, 5.0], [1.5, -1.0, 0.0], [0.5, 0.5, 0.5], [f64::NAN, -2.0, 1.0]] {
            let got = shap.explain(&x).expect("additive");
            let want = brute_force(&ensemble, &background, &x);
            for (ours, theirs) in got.values(0).iter().zip(&want) {
                assert!((ours - theirs).abs() < 1e-12, "{x:?}: {:?} vs {want:?}", got.values(0));
            }
            assert_eq!(got.values(0)[2], 0.0, "an unused feature gets nothing");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let ensemble = ensemble();
        assert_eq!(InterventionalTreeShap::new(&ensemble, &[]).map(|_| ()), Err(ExplainError::EmptyBackground));
        assert_eq!(
            InterventionalTreeShap::new(&ensemble, &[vec![1.0]]).map(|_| ()),
            Err(ExplainError::FeatureCount { expected: 3, got: 1 })
        );
        let shap = InterventionalTreeShap::new(&ensemble, &[vec![0.0; 3]]).expect("valid background");
        assert_eq!(shap.explain(&[1.0]).map(|_| ()), Err(ExplainError::FeatureCount { expected: 3, got: 1 }));
        assert_eq!(shap.expected_values(), &[3.5]);
    }

    #[test]
    fn binomials_are_exact_where_it_matters() {
        assert_eq!(binomial(6, 3), 20.0);
        assert_eq!(binomial(10, 0), 1.0);
        // Past 2^53 only rounding remains.
        assert!((binomial(64, 32) / 1832624140942590534.0 - 1.0).abs() < 1e-14);
    }
}
