//! Path-dependent TreeSHAP (Lundberg, Erion and Lee 2018, "Consistent individualized
//! feature attribution for tree ensembles", Algorithm 2).
//!
//! The value of a feature set S is the tree's expectation when features in S follow the
//! row and the others are integrated out along the training covers. Algorithm 2 computes
//! the Shapley values of that game for all features in one pass over the tree, keeping
//! for the current root-to-node path the share of all subset sizes that reach it.
//! Each output (class) gets its own attributions from the trees that add to it.

use crate::ensemble::{Ensemble, NodeKind, Tree};
use crate::error::ExplainError;

/// Attributions of one row, for every output.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributions {
    num_features: usize,
    /// `values[output * num_features + feature]`.
    values: Vec<f64>,
    expected_value: Vec<f64>,
    margin: Vec<f64>,
}

impl Attributions {
    pub fn num_outputs(&self) -> usize {
        self.expected_value.len()
    }

    /// One attribution per feature for `output`.
    pub fn values(&self, output: usize) -> &[f64] {
        &self.values[output * self.num_features..(output + 1) * self.num_features]
    }

    /// The margin expected over the training data (XGBoost's bias column).
    pub fn expected_value(&self, output: usize) -> f64 {
        self.expected_value[output]
    }

    /// The row's margin; equals `expected_value + sum(values)` for each output.
    pub fn margin(&self, output: usize) -> f64 {
        self.margin[output]
    }
}

/// TreeSHAP for one ensemble, with what can be computed once per model kept.
#[derive(Debug, Clone)]
pub struct TreeShap<'a> {
    ensemble: &'a Ensemble,
    /// Per output: base margin plus each tree's cover-weighted mean leaf value.
    expected_value: Vec<f64>,
    /// Path table size for the deepest tree; see `TreeShap::explain`.
    path_capacity: usize,
}

/// One feature on the current path, merged over all its splits on that path.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// `NO_FEATURE` for the root element Algorithm 2 starts every path with.
    feature: usize,
    /// Fraction of the training weight that follows this path when the feature is
    /// unknown (product of child-to-parent cover ratios at its splits).
    zero: f64,
    /// 1 if the row itself follows this path at all the feature's splits, else 0.
    one: f64,
    /// Permutation weight for subsets of this element's position size.
    weight: f64,
}

const NO_FEATURE: usize = usize::MAX;

/// Relative tolerance of the additivity check. Everything is f64; the sums are over at
/// most a few thousand terms, so the rounding error is many orders below this.
const ADDITIVITY_TOLERANCE: f64 = 1e-9;

impl<'a> TreeShap<'a> {
    /// Fails when a split has no positive cover: branch probabilities would be 0/0.
    pub fn new(ensemble: &'a Ensemble) -> Result<Self, ExplainError> {
        let mut expected_value = ensemble.base_margin().to_vec();
        let mut max_depth = 0;
        for (index, (tree, &output)) in ensemble.trees().iter().zip(ensemble.tree_output()).enumerate() {
            expected_value[output] += mean_value(tree, index)?;
            max_depth = max_depth.max(tree.depth());
        }
        // A path holds at most depth + 1 elements (root element plus one per split);
        // each level keeps its own copy, one longer than its parent's.
        let longest = max_depth + 2;
        Ok(TreeShap { ensemble, expected_value, path_capacity: longest * (longest + 1) / 2 })
    }

    /// Per output, the margin expected over the training data.
    pub fn expected_values(&self) -> &[f64] {
        &self.expected_value
    }

    /// Attributions for one row (NaN for missing values), checked for additivity: if
    /// `expected + sum(values)` is not the margin the error says so instead of
    /// returning numbers that do not explain the prediction.
    pub fn explain(&self, row: &[f64]) -> Result<Attributions, ExplainError> {
        let model_row = self.ensemble.model_row(row)?;
        let num_features = self.ensemble.num_features();
        let mut values = vec![0.0; num_features * self.ensemble.num_outputs()];
        let mut path = vec![PathElement::default(); self.path_capacity];
        for (tree, &output) in self.ensemble.trees().iter().zip(self.ensemble.tree_output()) {
            let phi = &mut values[output * num_features..(output + 1) * num_features];
            let walk = Walk { tree, row: &model_row, rule: self.ensemble.split_rule() };
            walk.recurse(phi, &mut path, 0, 0, 1.0, 1.0, NO_FEATURE);
        }
        let margin = self.ensemble.margin_of(&model_row);
        let attributions = Attributions { num_features, values, expected_value: self.expected_value.clone(), margin };
        for output in 0..attributions.num_outputs() {
            let terms = attributions.values(output);
            let sum: f64 = terms.iter().sum();
            let expected = attributions.expected_value(output);
            let margin = attributions.margin(output);
            let scale = terms.iter().map(|v| v.abs()).sum::<f64>() + expected.abs() + margin.abs();
            // Written so that a NaN anywhere fails the check.
            let additive = (sum + expected - margin).abs() <= ADDITIVITY_TOLERANCE * scale.max(1.0);
            if !additive {
                return Err(ExplainError::Additivity { output, sum, expected, margin });
            }
        }
        Ok(attributions)
    }
}

/// Cover-weighted mean of the leaves: the tree's expectation with every feature unknown.
/// Each child is weighted by its cover over its parent's, the same ratios TreeSHAP uses,
/// so additivity holds even when stored covers do not add up exactly (they are float32
/// sums computed separately for parent and children).
fn mean_value(tree: &Tree, tree_index: usize) -> Result<f64, ExplainError> {
    // Iterative: (node, probability of reaching it with nothing known).
    let nodes = tree.nodes();
    let mut total = 0.0;
    let mut stack = vec![(0usize, 1.0f64)];
    while let Some((index, reach)) = stack.pop() {
        let node = &nodes[index];
        match &node.kind {
            NodeKind::Leaf { value } => total += reach * value,
            NodeKind::Split(split) => {
                if node.cover <= 0.0 {
                    return Err(ExplainError::ZeroCover { tree: tree_index, node: index });
                }
                stack.push((split.left, reach * nodes[split.left].cover / node.cover));
                stack.push((split.right, reach * nodes[split.right].cover / node.cover));
            }
        }
    }
    Ok(total)
}

/// What stays fixed while walking one tree for one row.
struct Walk<'t> {
    tree: &'t Tree,
    row: &'t [f32],
    rule: crate::ensemble::SplitRule,
}

impl Walk<'_> {
    /// RECURSE of Algorithm 2. `store[..parent_len]` is the parent's path; this node's
    /// path is built right after it, and this node's children build theirs after that,
    /// so one buffer serves the whole walk without allocation.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        phi: &mut [f64],
        store: &mut [PathElement],
        parent_len: usize,
        node_index: usize,
        zero: f64,
        one: f64,
        feature: usize,
    ) {
        let (parent, rest) = store.split_at_mut(parent_len);
        rest[..parent_len].copy_from_slice(parent);
        let path = rest;
        extend(path, parent_len, zero, one, feature);
        let mut len = parent_len + 1;

        let node = &self.tree.nodes()[node_index];
        match &node.kind {
            NodeKind::Leaf { value } => {
                for i in 1..len {
                    let element = path[i];
                    let weight = unwound_sum(path, len, i);
                    phi[element.feature] += weight * (element.one - element.zero) * value;
                }
            }
            NodeKind::Split(split) => {
                let goes_left = split.goes_left(self.row[split.feature], self.rule);
                let (hot, cold) = if goes_left { (split.left, split.right) } else { (split.right, split.left) };
                // A feature split on again: undo its earlier element and carry its
                // fractions on, so each feature appears once on the path.
                let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
                if let Some(k) = (1..len).find(|&k| path[k].feature == split.feature) {
                    incoming_zero = path[k].zero;
                    incoming_one = path[k].one;
                    unwind(path, len, k);
                    len -= 1;
                }
                let nodes = self.tree.nodes();
                let hot_zero = incoming_zero * nodes[hot].cover / node.cover;
                let cold_zero = incoming_zero * nodes[cold].cover / node.cover;
                // A branch no training weight and not the row reach contributes nothing,
                // and would divide by its zero fractions when unwound: skip it.
                if hot_zero != 0.0 || incoming_one != 0.0 {
                    self.recurse(phi, path, len, hot, hot_zero, incoming_one, split.feature);
                }
                if cold_zero != 0.0 {
                    self.recurse(phi, path, len, cold, cold_zero, 0.0, split.feature);
                }
            }
        }
    }
}

/// EXTEND: append an element and update the permutation weights of all subset sizes.
/// `path[..len]` is the current path; afterwards `path[..len + 1]`.
fn extend(path: &mut [PathElement], len: usize, zero: f64, one: f64, feature: usize) {
    path[len] = PathElement { feature, zero, one, weight: if len == 0 { 1.0 } else { 0.0 } };
    let new_len = (len + 1) as f64;
    for i in (0..len).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / new_len;
        path[i].weight = zero * path[i].weight * (len - i) as f64 / new_len;
    }
}

/// UNWIND: remove element `index` from `path[..len]`, inverting its EXTEND.
fn unwind(path: &mut [PathElement], len: usize, index: usize) {
    let PathElement { zero, one, .. } = path[index];
    let last = len - 1;
    let mut next_one = path[last].weight;
    for j in (0..last).rev() {
        if one != 0.0 {
            let kept = path[j].weight;
            path[j].weight = next_one * len as f64 / ((j + 1) as f64 * one);
            next_one = kept - path[j].weight * zero * (last - j) as f64 / len as f64;
        } else {
            path[j].weight = path[j].weight * len as f64 / (zero * (last - j) as f64);
        }
    }
    for j in index..last {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// Sum of the weights UNWIND would leave after removing `index`, without changing the path.
fn unwound_sum(path: &[PathElement], len: usize, index: usize) -> f64 {
    let PathElement { zero, one, .. } = path[index];
    let last = len - 1;
    let mut next_one = path[last].weight;
    let mut total = 0.0;
    for j in (0..last).rev() {
        if one != 0.0 {
            let weight = next_one * len as f64 / ((j + 1) as f64 * one);
            total += weight;
            next_one = path[j].weight - weight * zero * (last - j) as f64 / len as f64;
        } else {
            total += path[j].weight * len as f64 / (zero * (last - j) as f64);
        }
    }
    total
}
