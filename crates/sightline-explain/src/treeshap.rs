//! Path-dependent TreeSHAP (Lundberg, Erion and Lee 2018, "Consistent individualized
//! feature attribution for tree ensembles", Algorithm 2).
//!
//! The value of a feature set S is the tree's expectation when features in S follow the
//! row and the others are integrated out along the training covers. Algorithm 2 computes
//! the Shapley values of that game for all features in one pass over the tree, keeping
//! for the current root-to-node path the share of all subset sizes that reach it.
//! Each output (class) gets its own attributions from the trees that add to it.
//!
//! The walk and its path (each feature once, with its zero and one fractions) are the
//! paper's; at a leaf, instead of unwinding the path once per feature (O(depth²)), the
//! Shapley values come from Owen's multilinear-extension integral of the leaf's product
//! game, integrated exactly by Gauss–Legendre quadrature (`leaf_by_quadrature`).
//! [`TreeShap::explain_batch`] walks each tree for many rows while it is in cache.

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

    /// The margin expected with no feature known: over the training covers for
    /// path-dependent TreeSHAP (XGBoost's bias column), the mean margin over the
    /// background rows for interventional TreeSHAP.
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
    /// Longest path (in elements) any tree can have, for the scratch path.
    max_path_len: usize,
    /// [`FAST_UNWIND_LIMIT`]; a field so tests can run the stable rebuild everywhere.
    fast_unwind_limit: usize,
    /// `inverse[k] == 1 / k` for k up to the longest path (`inverse[0]` unused).
    inverse: Vec<f64>,
    /// `quadrature[n]`: the n-point Gauss–Legendre rule on [0, 1], for the leaf sums.
    quadrature: Vec<Vec<(f64, f64)>>,
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

/// The edge into a node: its split feature and that feature's fractions so far.
#[derive(Debug, Clone, Copy)]
struct Step {
    zero: f64,
    one: f64,
    feature: usize,
}

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
        Ok(TreeShap {
            ensemble,
            expected_value,
            path_capacity: longest * (longest + 1) / 2,
            max_path_len: longest,
            fast_unwind_limit: FAST_UNWIND_LIMIT,
            inverse: (0..=longest).map(|k| 1.0 / k as f64).collect(),
            quadrature: (0..=FAST_UNWIND_LIMIT.div_ceil(2)).map(gauss_legendre).collect(),
        })
    }

    /// Per output, the margin expected over the training data.
    pub fn expected_values(&self) -> &[f64] {
        &self.expected_value
    }

    /// Attributions for several rows, the same numbers as [`TreeShap::explain`] on each
    /// (every row still adds its trees in model order), but walking each tree for all
    /// the rows before the next: the tree stays in cache, which on large models is most
    /// of the time. Fails on the first row that fails.
    pub fn explain_batch(&self, rows: &[Vec<f64>]) -> Result<Vec<Attributions>, ExplainError> {
        let model_rows = rows.iter().map(|row| self.ensemble.model_row(row)).collect::<Result<Vec<_>, _>>()?;
        let num_features = self.ensemble.num_features();
        let width = num_features * self.ensemble.num_outputs();
        if width == 0 {
            // A model without features: nothing to walk, and no row chunks to split into.
            return rows.iter().map(|row| self.explain(row)).collect();
        }
        let mut values = vec![0.0; width * rows.len()];
        let mut path = vec![PathElement::default(); self.path_capacity];
        let mut scratch = vec![PathElement::default(); self.max_path_len];
        for (tree, &output) in self.ensemble.trees().iter().zip(self.ensemble.tree_output()) {
            for (model_row, row_values) in model_rows.iter().zip(values.chunks_mut(width)) {
                let phi = &mut row_values[output * num_features..(output + 1) * num_features];
                let mut walk = Walk {
                    tree,
                    row: model_row,
                    rule: self.ensemble.split_rule(),
                    scratch: &mut scratch,
                    fast_unwind_limit: self.fast_unwind_limit,
                    inverse: &self.inverse,
                    quadrature: &self.quadrature,
                };
                walk.recurse(phi, &mut path, 0, 0, Step { zero: 1.0, one: 1.0, feature: NO_FEATURE });
            }
        }
        model_rows
            .iter()
            .zip(values.chunks(width))
            .map(|(model_row, row_values)| {
                let margin = self.ensemble.margin_of(model_row);
                checked(num_features, row_values.to_vec(), self.expected_value.clone(), margin)
            })
            .collect()
    }

    /// Attributions for one row (NaN for missing values), checked for additivity: if
    /// `expected + sum(values)` is not the margin the error says so instead of
    /// returning numbers that do not explain the prediction.
    pub fn explain(&self, row: &[f64]) -> Result<Attributions, ExplainError> {
        let model_row = self.ensemble.model_row(row)?;
        let num_features = self.ensemble.num_features();
        let mut values = vec![0.0; num_features * self.ensemble.num_outputs()];
        let mut path = vec![PathElement::default(); self.path_capacity];
        let mut scratch = vec![PathElement::default(); self.max_path_len];
        for (tree, &output) in self.ensemble.trees().iter().zip(self.ensemble.tree_output()) {
            let phi = &mut values[output * num_features..(output + 1) * num_features];
            let mut walk = Walk {
                tree,
                row: &model_row,
                rule: self.ensemble.split_rule(),
                scratch: &mut scratch,
                fast_unwind_limit: self.fast_unwind_limit,
                inverse: &self.inverse,
                quadrature: &self.quadrature,
            };
            walk.recurse(phi, &mut path, 0, 0, Step { zero: 1.0, one: 1.0, feature: NO_FEATURE });
        }
        let margin = self.ensemble.margin_of(&model_row);
        checked(num_features, values, self.expected_value.clone(), margin)
    }
}

/// Attributions that add up: for each output, `expected + sum(values)` must be the margin
/// (relative to the size of the terms), or the error says so instead of returning
/// numbers that do not explain the prediction. Shared by every TreeSHAP variant.
pub(crate) fn checked(
    num_features: usize,
    values: Vec<f64>,
    expected_value: Vec<f64>,
    margin: Vec<f64>,
) -> Result<Attributions, ExplainError> {
    let attributions = Attributions { num_features, values, expected_value, margin };
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

/// What walking one tree for one row needs besides the path table.
struct Walk<'t> {
    tree: &'t Tree,
    row: &'t [f64],
    rule: crate::ensemble::SplitRule,
    /// Room for one path, where long paths are rebuilt (see [`FAST_UNWIND_LIMIT`]).
    scratch: &'t mut [PathElement],
    fast_unwind_limit: usize,
    /// `inverse[k] == 1 / k` for every path length.
    inverse: &'t [f64],
    /// Gauss–Legendre rules on [0, 1] by number of points.
    quadrature: &'t [Vec<(f64, f64)>],
}

/// Longest path (root element included) on which UNWIND runs Algorithm 2's recurrence.
///
/// The recurrence inverts EXTEND by dividing by the one fraction and subtracting, and its
/// rounding error grows geometrically with the path length: on a chain of splits on
/// distinct features (leaf values up to the depth) the additivity error is below 1e-9 at
/// 32 splits, 4e-7 at 40 and 28 at 64. Longer paths are instead rebuilt from their
/// elements by EXTEND, which only adds nonnegative terms and so stays accurate, at
/// O(length) times the cost. Boosted trees (XGBoost's default depth is 6) stay under
/// the limit, which keeps a wide margin below where the recurrence degrades.
const FAST_UNWIND_LIMIT: usize = 16;

impl Walk<'_> {
    /// RECURSE of Algorithm 2. `store[..parent_len]` is the parent's path; this node's
    /// path is built right after it, and this node's children build theirs after that,
    /// so one buffer serves the whole walk without allocation.
    fn recurse(
        &mut self,
        phi: &mut [f64],
        store: &mut [PathElement],
        parent_len: usize,
        node_index: usize,
        step: Step,
    ) {
        let (parent, rest) = store.split_at_mut(parent_len);
        rest[..parent_len].copy_from_slice(parent);
        let path = rest;
        extend(path, parent_len, step, self.inverse);
        let mut len = parent_len + 1;

        let node = &self.tree.nodes()[node_index];
        match &node.kind {
            NodeKind::Leaf { value } => {
                if len <= self.fast_unwind_limit && leaf_by_quadrature(phi, &path[1..len], *value, self.quadrature) {
                    return;
                }
                // Long paths (only tests and unusual models reach them): the unwound
                // weights of each element, rebuilt the stable way.
                for i in 1..len {
                    let element = path[i];
                    let rebuilt = rebuild_without(path, len, i, self.scratch, self.inverse);
                    let weight: f64 = rebuilt.iter().map(|e| e.weight).sum();
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
                    if len <= self.fast_unwind_limit {
                        unwind(path, len, k, self.inverse);
                    } else {
                        let rebuilt = rebuild_without(path, len, k, self.scratch, self.inverse);
                        path[..len - 1].copy_from_slice(rebuilt);
                    }
                    len -= 1;
                }
                let nodes = self.tree.nodes();
                let hot_zero = incoming_zero * nodes[hot].cover / node.cover;
                let cold_zero = incoming_zero * nodes[cold].cover / node.cover;
                // A branch no training weight and not the row reach contributes nothing,
                // and would divide by its zero fractions when unwound: skip it.
                if hot_zero != 0.0 || incoming_one != 0.0 {
                    let step = Step { zero: hot_zero, one: incoming_one, feature: split.feature };
                    self.recurse(phi, path, len, hot, step);
                }
                if cold_zero != 0.0 {
                    self.recurse(phi, path, len, cold, Step { zero: cold_zero, one: 0.0, feature: split.feature });
                }
            }
        }
    }
}

/// A leaf's attributions by Owen's multilinear extension instead of UNWIND.
///
/// The leaf's game is a product over the path's features: feature k contributes its one
/// fraction when known and its zero fraction when not. Its Shapley value for feature i is
/// `value · (one_i − zero_i) · ∫₀¹ Π_{k≠i} (zero_k + t·(one_k − zero_k)) dt` (Owen 1972),
/// the same number Algorithm 2's unwound weights give. The integrand is a polynomial of
/// degree `elements − 1`, which the Gauss–Legendre rule of `⌈elements / 2⌉` points
/// integrates exactly; the products for all i come from prefix and suffix products, so a
/// leaf costs O(elements · points) instead of UNWIND's O(elements²), without divisions.
/// Every factor and weight is nonnegative, so there is no cancellation to lose accuracy.
///
/// Returns false, having changed nothing, for a path longer than the rules and scratch
/// arrays prepared (the caller then unwinds it the paper's way).
fn leaf_by_quadrature(phi: &mut [f64], elements: &[PathElement], value: f64, quadrature: &[Vec<(f64, f64)>]) -> bool {
    let m = elements.len();
    // Paths here are at most FAST_UNWIND_LIMIT long, so fixed arrays serve.
    let mut integral = [0.0f64; FAST_UNWIND_LIMIT];
    let mut prefix = [0.0f64; FAST_UNWIND_LIMIT];
    let Some(rule) = quadrature.get(m.div_ceil(2)).filter(|_| m <= FAST_UNWIND_LIMIT) else { return false };
    for &(t, weight) in rule {
        let mut running = weight;
        for (k, e) in elements.iter().enumerate() {
            prefix[k] = running;
            running *= e.zero + t * (e.one - e.zero);
        }
        let mut suffix = 1.0;
        for k in (0..m).rev() {
            integral[k] += prefix[k] * suffix;
            let e = &elements[k];
            suffix *= e.zero + t * (e.one - e.zero);
        }
    }
    for (e, integral) in elements.iter().zip(&integral[..m]) {
        phi[e.feature] += integral * (e.one - e.zero) * value;
    }
    true
}

/// The n-point Gauss–Legendre rule on [0, 1] as (node, weight) pairs: Newton's method on
/// the Legendre polynomial from the usual cosine guesses, to full double precision.
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut rule = Vec::with_capacity(n);
    let nf = n as f64;
    for i in 1..=n.div_ceil(2) {
        let mut z = (std::f64::consts::PI * (i as f64 - 0.25) / (nf + 0.5)).cos();
        let mut derivative = 1.0;
        // Converges quadratically from these guesses; the bound only guards the loop.
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0f64, 0.0f64);
            for j in 1..=n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = ((2.0 * jf - 1.0) * z * p2 - (jf - 1.0) * p3) / jf;
            }
            derivative = nf * (z * p1 - p2) / (z * z - 1.0);
            let previous = z;
            z = previous - p1 / derivative;
            if (z - previous).abs() <= 1e-16 {
                break;
            }
        }
        let weight = 1.0 / ((1.0 - z * z) * derivative * derivative);
        rule.push(((1.0 - z) / 2.0, weight));
        if 2 * i - 1 != n {
            rule.push(((1.0 + z) / 2.0, weight));
        }
    }
    rule
}

/// EXTEND: append an element and update the permutation weights of all subset sizes.
/// `path[..len]` is the current path; afterwards `path[..len + 1]`. `inverse[k]` is
/// `1 / k`: divisions dominate the cost of these loops, table lookups do not.
fn extend(path: &mut [PathElement], len: usize, step: Step, inverse: &[f64]) {
    let Step { zero, one, feature } = step;
    path[len] = PathElement { feature, zero, one, weight: if len == 0 { 1.0 } else { 0.0 } };
    let per_length = inverse[len + 1];
    for i in (0..len).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 * per_length;
        path[i].weight = zero * path[i].weight * (len - i) as f64 * per_length;
    }
}

/// `path[..len]` without element `index`, built by extending an empty path with the
/// other elements in order: UNWIND's result computed the stable way.
fn rebuild_without<'s>(
    path: &[PathElement],
    len: usize,
    index: usize,
    out: &'s mut [PathElement],
    inverse: &[f64],
) -> &'s [PathElement] {
    let mut built = 0;
    for (j, element) in path[..len].iter().enumerate() {
        if j != index {
            extend(out, built, Step { zero: element.zero, one: element.one, feature: element.feature }, inverse);
            built += 1;
        }
    }
    &out[..built]
}

// UNWIND below follows the paper's recurrence with the divisions rearranged:
// with `next` the running "one" portion, the paper's
//     w[j] = next * len / ((j + 1) * one);  next = w_old[j] - w[j] * zero * (last - j) / len
// is computed as
//     w[j] = next * (len / one) / (j + 1);  next = w_old[j] - next * (zero / one) * (last - j) / (j + 1)
// (the `len` cancels), and `x / (j + 1)` as `x * inverse[j + 1]`.

/// UNWIND: remove element `index` from `path[..len]`, inverting its EXTEND.
fn unwind(path: &mut [PathElement], len: usize, index: usize, inverse: &[f64]) {
    let PathElement { zero, one, .. } = path[index];
    let last = len - 1;
    if one != 0.0 {
        let (len_per_one, zero_per_one) = (len as f64 / one, zero / one);
        let mut next = path[last].weight;
        for j in (0..last).rev() {
            let kept = path[j].weight;
            path[j].weight = next * len_per_one * inverse[j + 1];
            next = kept - next * zero_per_one * (last - j) as f64 * inverse[j + 1];
        }
    } else {
        let len_per_zero = len as f64 / zero;
        for j in 0..last {
            path[j].weight *= len_per_zero * inverse[last - j];
        }
    }
    for j in index..last {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

#[cfg(test)]
mod tests {
    //! TreeSHAP against the definition: exact Shapley values of the path-dependent game,
    //! enumerated over all feature subsets on small random trees.

    use proptest::prelude::*;

    use super::*;
    use crate::ensemble::{Condition, EnsembleParts, Input, Link, Missing, Node, Split, SplitRule};

    const FEATURES: usize = 4;

    /// A complete tree in heap order (children of `i` are `2i + 1`, `2i + 2`).
    #[derive(Debug, Clone)]
    struct Spec {
        depth: u32,
        features: Vec<usize>,
        thresholds: Vec<f32>,
        default_left: Vec<bool>,
        /// LightGBM's missing types per split; XGBoost's is always `Nan`.
        missing: Vec<Missing>,
        /// `<=` on f64 rows (LightGBM) instead of `<` on float32 rows (XGBoost).
        lightgbm: bool,
        leaves: Vec<f64>,
        leaf_covers: Vec<f64>,
        /// Internal covers are the children's sum times this, so the stored covers need
        /// not add up, as with xgboost's separately rounded float32 sums.
        cover_noise: Vec<f64>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (1u32..=4).prop_flat_map(|depth| {
            let internal = (1usize << depth) - 1;
            let leaves = 1usize << depth;
            (
                Just(depth),
                prop::collection::vec(0..FEATURES, internal),
                prop::collection::vec(-2.0f32..2.0, internal),
                prop::collection::vec(any::<bool>(), internal),
                prop::collection::vec(prop::sample::select(vec![Missing::Nan, Missing::Zero, Missing::None]), internal),
                any::<bool>(),
                prop::collection::vec(-3.0f64..3.0, leaves),
                prop::collection::vec(prop_oneof![1 => Just(0.0), 4 => 0.5f64..10.0], leaves),
                prop::collection::vec(0.9f64..1.1, internal),
            )
                .prop_map(
                    |(
                        depth,
                        features,
                        thresholds,
                        default_left,
                        missing,
                        lightgbm,
                        leaves,
                        leaf_covers,
                        cover_noise,
                    )| Spec {
                        depth,
                        features,
                        thresholds,
                        default_left,
                        missing,
                        lightgbm,
                        leaves,
                        leaf_covers,
                        cover_noise,
                    },
                )
        })
    }

    fn row() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(prop_oneof![1 => Just(f64::NAN), 1 => Just(0.0), 4 => -2.5f64..2.5], FEATURES)
    }

    fn build(spec: &Spec) -> Ensemble {
        let internal = (1usize << spec.depth) - 1;
        let total = internal + spec.leaves.len();
        let mut covers = vec![0.0; total];
        for (i, cover) in spec.leaf_covers.iter().enumerate() {
            covers[internal + i] = *cover;
        }
        for i in (0..internal).rev() {
            // Keep every split's cover positive: a zero-cover split is refused by design.
            covers[i] = ((covers[2 * i + 1] + covers[2 * i + 2]) * spec.cover_noise[i]).max(0.25);
        }
        let nodes = (0..total)
            .map(|i| {
                let kind = if i < internal {
                    NodeKind::Split(Split {
                        feature: spec.features[i],
                        condition: Condition::Threshold(f64::from(spec.thresholds[i])),
                        left: 2 * i + 1,
                        right: 2 * i + 2,
                        default_left: spec.default_left[i],
                        missing: if spec.lightgbm { spec.missing[i] } else { Missing::Nan },
                    })
                } else {
                    NodeKind::Leaf { value: spec.leaves[i - internal] }
                };
                Node { kind, cover: covers[i] }
            })
            .collect();
        let tree = Tree::new(nodes, FEATURES).expect("valid tree");
        Ensemble::new(EnsembleParts {
            num_features: FEATURES,
            num_outputs: 1,
            split_rule: if spec.lightgbm { SplitRule::LessOrEqual } else { SplitRule::Less },
            input: if spec.lightgbm { Input::Float64 } else { Input::Float32 },
            trees: vec![tree],
            tree_output: vec![0],
            base_margin: vec![0.25],
            link: Link::Identity,
            objective: "test".into(),
        })
        .expect("valid ensemble")
    }

    /// v(S): features in `known` follow the row, the others split by cover.
    fn value(tree: &Tree, rule: SplitRule, row: &[f64], known: usize, index: usize) -> f64 {
        let node = &tree.nodes()[index];
        match &node.kind {
            NodeKind::Leaf { value } => *value,
            NodeKind::Split(split) if known & (1 << split.feature) != 0 => {
                let next = if split.goes_left(row[split.feature], rule) { split.left } else { split.right };
                value(tree, rule, row, known, next)
            }
            NodeKind::Split(split) => {
                let nodes = tree.nodes();
                (nodes[split.left].cover * value(tree, rule, row, known, split.left)
                    + nodes[split.right].cover * value(tree, rule, row, known, split.right))
                    / node.cover
            }
        }
    }

    fn factorial(n: usize) -> f64 {
        (1..=n).map(|k| k as f64).product()
    }

    fn brute_force(tree: &Tree, rule: SplitRule, row: &[f64]) -> Vec<f64> {
        (0..FEATURES)
            .map(|i| {
                (0..1usize << FEATURES)
                    .filter(|s| s & (1 << i) == 0)
                    .map(|s| {
                        let size = s.count_ones() as usize;
                        let weight = factorial(size) * factorial(FEATURES - size - 1) / factorial(FEATURES);
                        weight * (value(tree, rule, row, s | (1 << i), 0) - value(tree, rule, row, s, 0))
                    })
                    .sum()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn equals_exact_shapley_values(spec in spec(), row in row()) {
            let ensemble = build(&spec);
            let model_row = ensemble.model_row(&row).expect("row fits");
            let rule = ensemble.split_rule();
            let tree = &ensemble.trees()[0];
            let exact = brute_force(tree, rule, &model_row);
            let mut shap = TreeShap::new(&ensemble).expect("positive covers");
            // Algorithm 2's UNWIND recurrence, then the stable rebuild used on long paths.
            for limit in [FAST_UNWIND_LIMIT, 0] {
                shap.fast_unwind_limit = limit;
                let attributions = shap.explain(&row).expect("additive");
                for (feature, (ours, exact)) in attributions.values(0).iter().zip(&exact).enumerate() {
                    prop_assert!((ours - exact).abs() < 1e-9, "limit {limit} feature {feature}: {ours} vs exact {exact}");
                }
                let expected = 0.25 + value(tree, rule, &model_row, 0, 0);
                prop_assert!((attributions.expected_value(0) - expected).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn refuses_a_split_without_cover() {
        let leaf = |value| Node { kind: NodeKind::Leaf { value }, cover: 0.0 };
        let split = Split {
            feature: 0,
            condition: Condition::Threshold(0.0),
            left: 1,
            right: 2,
            default_left: true,
            missing: Missing::Nan,
        };
        let nodes = vec![Node { kind: NodeKind::Split(split), cover: 0.0 }, leaf(1.0), leaf(2.0)];
        let ensemble = Ensemble::new(EnsembleParts {
            num_features: 1,
            num_outputs: 1,
            split_rule: SplitRule::Less,
            input: Input::Float32,
            trees: vec![Tree::new(nodes, 1).expect("valid tree")],
            tree_output: vec![0],
            base_margin: vec![0.0],
            link: Link::Identity,
            objective: "test".into(),
        })
        .expect("valid ensemble");
        assert_eq!(TreeShap::new(&ensemble).err(), Some(ExplainError::ZeroCover { tree: 0, node: 0 }));
        assert_eq!(ensemble.predict_margin(&[-1.0]), Ok(vec![1.0]));
    }

    #[test]
    fn refuses_a_row_of_the_wrong_length() {
        let spec = Spec {
            depth: 1,
            features: vec![0],
            thresholds: vec![0.0],
            default_left: vec![true],
            missing: vec![Missing::Nan],
            lightgbm: false,
            leaves: vec![1.0, 2.0],
            leaf_covers: vec![1.0, 1.0],
            cover_noise: vec![1.0],
        };
        let ensemble = build(&spec);
        let shap = TreeShap::new(&ensemble).expect("positive covers");
        assert_eq!(shap.explain(&[0.0]).err(), Some(ExplainError::FeatureCount { expected: FEATURES, got: 1 }));
    }

    #[test]
    fn explains_the_deepest_tree_allowed() {
        // A chain of splits, each on a new feature so the path table fills up completely,
        // with a leaf on each left branch.
        let depth = crate::ensemble::MAX_TREE_DEPTH;
        let mut nodes = Vec::new();
        for level in 0..depth {
            let split = Split {
                feature: level,
                condition: Condition::Threshold(0.0),
                left: 2 * level + 1,
                right: 2 * level + 2,
                default_left: false,
                missing: Missing::Nan,
            };
            nodes.push(Node { kind: NodeKind::Split(split), cover: (depth - level + 1) as f64 });
            nodes.push(Node { kind: NodeKind::Leaf { value: level as f64 }, cover: 1.0 });
        }
        nodes.push(Node { kind: NodeKind::Leaf { value: -1.0 }, cover: 1.0 });
        let ensemble = Ensemble::new(EnsembleParts {
            num_features: depth,
            num_outputs: 1,
            split_rule: SplitRule::Less,
            input: Input::Float32,
            trees: vec![Tree::new(nodes, depth).expect("valid tree")],
            tree_output: vec![0],
            base_margin: vec![0.0],
            link: Link::Identity,
            objective: "test".into(),
        })
        .expect("valid ensemble");
        let shap = TreeShap::new(&ensemble).expect("positive covers");
        for value in [1.0, -1.0, f64::NAN] {
            let result = shap.explain(&vec![value; depth]);
            assert!(result.is_ok(), "{value}: {result:?}");
        }
    }
}
