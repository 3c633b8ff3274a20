//! The one internal form of a tree ensemble that every loader produces and every method reads.
//!
//! It keeps each library's semantics explicit instead of normalising them away: the
//! comparison a split makes (`<` for XGBoost, `<=` for LightGBM), the precision a row is
//! read in (float32 for XGBoost, float64 for LightGBM), which values count as missing
//! and where they go, covers (hessian sums or data counts) for TreeSHAP, the base margin
//! per output and the link from margin to prediction. A value is validated once,
//! in [`Ensemble::new`]; afterwards traversal can index without checks failing.

use crate::error::{ExplainError, ModelError};

mod covers;

/// Deepest tree accepted. TreeSHAP recurses once per level, keeps a path table
/// quadratic in the depth and, on long paths, spends time quartic in it per tree, so a
/// hostile file must not choose the depth freely; real boosted trees are far shallower
/// (XGBoost's default is 6, LightGBM's 31 leaves allow at most 30).
pub const MAX_TREE_DEPTH: usize = 64;

/// Which way a present value goes at a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitRule {
    /// `value < threshold` goes left (XGBoost).
    Less,
    /// `value <= threshold` goes left (LightGBM, ONNX `BRANCH_LEQ`).
    LessOrEqual,
}

impl SplitRule {
    fn goes_left(self, value: f64, threshold: f64) -> bool {
        match self {
            SplitRule::Less => value < threshold,
            SplitRule::LessOrEqual => value <= threshold,
        }
    }
}

/// Which values a split treats as missing, sending them in its default direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// NaN is missing (XGBoost; LightGBM missing type `NaN`).
    Nan,
    /// NaN is read as 0.0 and 0.0 is missing (LightGBM missing type `Zero`): LightGBM
    /// trained such a split with zeros and NaN binned together as absent.
    Zero,
    /// NaN is read as 0.0 and compared like any value (LightGBM missing type `None`,
    /// a feature that had no missing values in training).
    None,
}

/// LightGBM's `kZeroThreshold`: a `double` initialised from the float literal `1e-35f`.
/// Its `IsZero` is `|v| <= kZeroThreshold`, and its predictor drops such inputs as zeros.
pub(crate) const LIGHTGBM_ZERO: f64 = 1e-35_f32 as f64;

/// The precision rows are read in before they meet thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Rounded to float32, as XGBoost's DMatrix stores them, so comparisons with its
    /// float32 thresholds round exactly as the library's do.
    Float32,
    /// Kept as f64, as LightGBM predicts from doubles, except that values within
    /// [`LIGHTGBM_ZERO`] of 0 become 0.0: LightGBM's predictor keeps only nonzero inputs
    /// and reads the others as 0.0.
    Float64,
    /// Kept as f64 unchanged (an ONNX tree ensemble whose input is a double tensor).
    Double,
}

/// How a margin (the raw sum of trees and base score) becomes a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The margin is the prediction (regression, `binary:logitraw`).
    Identity,
    /// Sigmoid of the margin is a probability (`binary:logistic`, `reg:logistic`).
    Logit,
    /// Softmax over the outputs gives class probabilities (`multi:softprob`).
    Softmax,
    /// Exponential of the margin is the mean (`count:poisson`, `reg:gamma`, `reg:tweedie`).
    Log,
}

impl Link {
    /// Margin to prediction; `margin` holds one value per output.
    pub fn apply(self, margin: &[f64]) -> Vec<f64> {
        match self {
            Link::Identity => margin.to_vec(),
            Link::Logit => margin.iter().map(|m| 1.0 / (1.0 + (-m).exp())).collect(),
            Link::Log => margin.iter().map(|m| m.exp()).collect(),
            Link::Softmax => {
                // Shift by the maximum so large margins do not overflow `exp`.
                let max = margin.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = margin.iter().map(|m| (m - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                exps.iter().map(|e| e / total).collect()
            }
        }
    }
}

/// What a split tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The value against a threshold, with the ensemble's [`SplitRule`]. In f64 for
    /// LightGBM, which stores and compares doubles. XGBoost's float32 thresholds are
    /// widened exactly; its rows are read as float32 too ([`Input`]), and widening both
    /// keeps every comparison's outcome.
    Threshold(f64),
    /// A LightGBM categorical split: the value, truncated to an integer category, goes
    /// left when that bit of the set is on (bit `c % 32` of word `c / 32`). NaN and
    /// negative categories go right; the split's missing type and default direction
    /// play no part (LightGBM 4's `CategoricalDecision`). Boxed so that the common
    /// threshold split, walked in TreeSHAP's inner loop, stays small.
    Categories(Box<[u32]>),
    /// The value equal to the threshold goes left (ONNX `BRANCH_EQ`, and `BRANCH_NEQ`
    /// with its branches swapped); NaN is missing and takes the default direction.
    Equal(f64),
}

/// A split node: where present and missing values go.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub feature: usize,
    pub condition: Condition,
    pub left: usize,
    pub right: usize,
    /// Where a missing value goes.
    pub default_left: bool,
    /// Which values are missing.
    pub missing: Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Leaf { value: f64 },
    Split(Split),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Training weight that reached the node (XGBoost: sum of hessians). TreeSHAP uses
    /// the ratios of child to parent cover as the probability of each branch.
    pub cover: f64,
}

/// One tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
    depth: usize,
}

impl Tree {
    /// Checks that the nodes form a tree rooted at 0 (every child index in range, no node
    /// reached twice, so traversal terminates), that features exist, that numbers are
    /// finite, and that the depth is at most [`MAX_TREE_DEPTH`]. Unreachable nodes are
    /// allowed: XGBoost keeps deleted nodes in place after pruning.
    pub fn new(nodes: Vec<Node>, num_features: usize) -> Result<Self, ModelError> {
        if nodes.is_empty() {
            return Err(ModelError::Invalid("tree has no nodes".into()));
        }
        let mut seen = vec![false; nodes.len()];
        let mut depth = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((index, level)) = stack.pop() {
            let Some(node) = nodes.get(index) else {
                return Err(ModelError::Invalid(format!("child index {index} is out of range")));
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(ModelError::Invalid(format!("node {index} is reached twice")));
            }
            if !(node.cover.is_finite() && node.cover >= 0.0) {
                return Err(ModelError::Invalid(format!("node {index} has cover {}", node.cover)));
            }
            match &node.kind {
                NodeKind::Leaf { value } => {
                    if !value.is_finite() {
                        return Err(ModelError::Invalid(format!("leaf {index} has value {value}")));
                    }
                    depth = depth.max(level);
                }
                NodeKind::Split(split) => {
                    if split.feature >= num_features {
                        return Err(ModelError::Invalid(format!(
                            "node {index} splits on feature {} of {num_features}",
                            split.feature
                        )));
                    }
                    if matches!(split.condition, Condition::Threshold(t) | Condition::Equal(t) if t.is_nan()) {
                        return Err(ModelError::Invalid(format!("node {index} has a NaN threshold")));
                    }
                    if level + 1 > MAX_TREE_DEPTH {
                        return Err(ModelError::Unsupported(format!("tree deeper than {MAX_TREE_DEPTH} levels")));
                    }
                    stack.push((split.left, level + 1));
                    stack.push((split.right, level + 1));
                }
            }
        }
        Ok(Tree { nodes, depth })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of splits on the longest root-to-leaf path.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Index of the leaf `row` falls into. `row` must have the ensemble's feature count.
    pub(crate) fn leaf_index(&self, row: &[f64], rule: SplitRule) -> usize {
        let mut index = 0;
        loop {
            match &self.nodes[index].kind {
                NodeKind::Leaf { .. } => return index,
                NodeKind::Split(split) => {
                    index = if split.goes_left(row[split.feature], rule) { split.left } else { split.right };
                }
            }
        }
    }

    pub(crate) fn leaf_value(&self, row: &[f64], rule: SplitRule) -> f64 {
        match self.nodes[self.leaf_index(row, rule)].kind {
            NodeKind::Leaf { value } => value,
            // `leaf_index` only returns leaves.
            NodeKind::Split(_) => 0.0,
        }
    }
}

impl Split {
    /// LightGBM's `NumericalDecision` (XGBoost's rule is its `Nan` case) and
    /// `CategoricalDecision`. The common case comes first: TreeSHAP calls this at every
    /// node of every tree for every row.
    #[inline]
    pub(crate) fn goes_left(&self, value: f64, rule: SplitRule) -> bool {
        match (&self.condition, self.missing) {
            (Condition::Threshold(threshold), Missing::Nan) => {
                if value.is_nan() {
                    self.default_left
                } else {
                    rule.goes_left(value, *threshold)
                }
            }
            (Condition::Threshold(threshold), Missing::Zero) => {
                let value = if value.is_nan() { 0.0 } else { value };
                if value.abs() <= LIGHTGBM_ZERO { self.default_left } else { rule.goes_left(value, *threshold) }
            }
            (Condition::Threshold(threshold), Missing::None) => {
                rule.goes_left(if value.is_nan() { 0.0 } else { value }, *threshold)
            }
            (Condition::Equal(threshold), _) => {
                if value.is_nan() {
                    self.default_left
                } else {
                    value == *threshold
                }
            }
            (Condition::Categories(bits), _) => {
                if value.is_nan() {
                    return false;
                }
                // `as` truncates toward zero like C++'s `static_cast<int>`, and saturates
                // where C++ is undefined; a saturated category is past any stored set.
                let Ok(category) = u32::try_from(value as i32) else { return false };
                bits.get((category / 32) as usize).is_some_and(|word| (word >> (category % 32)) & 1 == 1)
            }
        }
    }
}

/// Everything a loader knows about a model, before validation.
#[derive(Debug, Clone)]
pub struct EnsembleParts {
    pub num_features: usize,
    /// 1 for regression and binary models, the number of classes for multiclass.
    pub num_outputs: usize,
    pub split_rule: SplitRule,
    pub input: Input,
    pub trees: Vec<Tree>,
    /// For each tree, the output (class) its leaves add to.
    pub tree_output: Vec<usize>,
    /// Added to each output's margin, already in margin space (XGBoost's stored
    /// `base_score` is a probability for logistic objectives; loaders convert it).
    pub base_margin: Vec<f64>,
    pub link: Link,
    /// The training library's objective name, for display.
    pub objective: String,
}

/// A validated tree ensemble.
#[derive(Debug, Clone)]
pub struct Ensemble {
    parts: EnsembleParts,
}

impl Ensemble {
    pub fn new(parts: EnsembleParts) -> Result<Self, ModelError> {
        if parts.num_outputs == 0 {
            return Err(ModelError::Invalid("model has no outputs".into()));
        }
        if parts.tree_output.len() != parts.trees.len() {
            return Err(ModelError::Invalid(format!(
                "{} trees but {} tree-to-output entries",
                parts.trees.len(),
                parts.tree_output.len()
            )));
        }
        if let Some(bad) = parts.tree_output.iter().find(|&&o| o >= parts.num_outputs) {
            return Err(ModelError::Invalid(format!("a tree adds to output {bad} of {}", parts.num_outputs)));
        }
        if parts.base_margin.len() != parts.num_outputs || parts.base_margin.iter().any(|b| !b.is_finite()) {
            return Err(ModelError::Invalid(format!(
                "base margin {:?} does not fit {} outputs",
                parts.base_margin, parts.num_outputs
            )));
        }
        Ok(Ensemble { parts })
    }

    pub fn num_features(&self) -> usize {
        self.parts.num_features
    }

    pub fn num_outputs(&self) -> usize {
        self.parts.num_outputs
    }

    pub fn split_rule(&self) -> SplitRule {
        self.parts.split_rule
    }

    pub fn trees(&self) -> &[Tree] {
        &self.parts.trees
    }

    pub fn tree_output(&self) -> &[usize] {
        &self.parts.tree_output
    }

    pub fn base_margin(&self) -> &[f64] {
        &self.parts.base_margin
    }

    pub fn link(&self) -> Link {
        self.parts.link
    }

    pub fn objective(&self) -> &str {
        &self.parts.objective
    }

    pub fn input(&self) -> Input {
        self.parts.input
    }

    /// The row as the model sees it (see [`Input`]). NaN stays NaN; each split decides
    /// whether it is missing.
    pub(crate) fn model_row(&self, row: &[f64]) -> Result<Vec<f64>, ExplainError> {
        if row.len() != self.parts.num_features {
            return Err(ExplainError::FeatureCount { expected: self.parts.num_features, got: row.len() });
        }
        Ok(match self.parts.input {
            Input::Float32 => row.iter().map(|&v| f64::from(v as f32)).collect(),
            Input::Float64 => row.iter().map(|&v| if v.abs() <= LIGHTGBM_ZERO { 0.0 } else { v }).collect(),
            Input::Double => row.to_vec(),
        })
    }

    pub(crate) fn margin_of(&self, row: &[f64]) -> Vec<f64> {
        let mut margin = self.parts.base_margin.clone();
        for (tree, &output) in self.parts.trees.iter().zip(&self.parts.tree_output) {
            margin[output] += tree.leaf_value(row, self.parts.split_rule);
        }
        margin
    }

    /// Raw scores, one per output: base margin plus the leaves reached, what XGBoost's
    /// `predict(output_margin=True)` and LightGBM's `predict(raw_score=True)` return.
    /// `row` holds one value per feature, NaN for missing. Sums are in f64 while XGBoost
    /// sums in f32, so the two agree to about 1e-6 relative, not bit for bit; LightGBM
    /// sums doubles as we do.
    pub fn predict_margin(&self, row: &[f64]) -> Result<Vec<f64>, ExplainError> {
        Ok(self.margin_of(&self.model_row(row)?))
    }

    /// Predictions after the link (probabilities for logistic and softmax objectives).
    pub fn predict(&self, row: &[f64]) -> Result<Vec<f64>, ExplainError> {
        Ok(self.parts.link.apply(&self.predict_margin(row)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(value: f64) -> Node {
        Node { kind: NodeKind::Leaf { value }, cover: 1.0 }
    }

    fn split(feature: usize, left: usize, right: usize) -> Node {
        Node {
            kind: NodeKind::Split(Split {
                feature,
                condition: Condition::Threshold(0.0),
                left,
                right,
                default_left: false,
                missing: Missing::Nan,
            }),
            cover: 2.0,
        }
    }

    /// A chain of `depth` splits, each with a leaf on the left.
    fn chain(depth: usize) -> Vec<Node> {
        let mut nodes = Vec::new();
        for level in 0..depth {
            nodes.push(split(0, 2 * level + 1, 2 * level + 2));
            nodes.push(leaf(level as f64));
        }
        nodes.push(leaf(-1.0));
        nodes
    }

    #[test]
    fn bounds_the_depth() {
        assert_eq!(Tree::new(chain(MAX_TREE_DEPTH), 1).map(|t| t.depth()), Ok(MAX_TREE_DEPTH));
        assert!(matches!(Tree::new(chain(MAX_TREE_DEPTH + 1), 1), Err(ModelError::Unsupported(_))));
    }

    #[test]
    fn ignores_unreachable_nodes_and_refuses_shared_ones() {
        let mut nodes = vec![split(0, 1, 2), leaf(1.0), leaf(2.0), leaf(f64::NAN)];
        assert!(Tree::new(nodes.clone(), 1).is_ok(), "a deleted node is not part of the tree");
        nodes[0] = split(0, 1, 1);
        assert!(Tree::new(nodes, 1).is_err());
        assert!(Tree::new(vec![leaf(f64::INFINITY)], 1).is_err());
        assert!(Tree::new(Vec::new(), 1).is_err());
    }

    #[test]
    fn split_rules_differ_only_on_the_threshold() {
        let node = Split {
            feature: 0,
            condition: Condition::Threshold(0.5),
            left: 1,
            right: 2,
            default_left: true,
            missing: Missing::Nan,
        };
        assert!(!node.goes_left(0.5, SplitRule::Less));
        assert!(node.goes_left(0.5, SplitRule::LessOrEqual));
        assert!(node.goes_left(0.25, SplitRule::Less));
        assert!(node.goes_left(f64::NAN, SplitRule::Less));
    }

    #[test]
    fn missing_types_follow_lightgbm() {
        let rule = SplitRule::LessOrEqual;
        // Threshold below zero with default right: shows whether 0.0 and NaN are
        // compared (left would need value <= -0.5) or sent to the default.
        let at = |missing, default_left| Split {
            feature: 0,
            condition: Condition::Threshold(-0.5),
            left: 1,
            right: 2,
            default_left,
            missing,
        };
        // None: NaN is 0.0, compared.
        assert!(!at(Missing::None, true).goes_left(f64::NAN, rule));
        assert!(!at(Missing::None, true).goes_left(0.0, rule));
        // Zero: NaN and 0 (and values within 1e-35f of it) take the default.
        assert!(at(Missing::Zero, true).goes_left(f64::NAN, rule));
        assert!(at(Missing::Zero, true).goes_left(0.0, rule));
        assert!(at(Missing::Zero, true).goes_left(-1e-36, rule));
        assert!(!at(Missing::Zero, true).goes_left(-1e-30, rule));
        // NaN: only NaN takes the default; 0.0 is compared.
        assert!(at(Missing::Nan, true).goes_left(f64::NAN, rule));
        assert!(!at(Missing::Nan, true).goes_left(0.0, rule));
        assert!(at(Missing::Nan, false).goes_left(-0.5, rule));
    }

    #[test]
    fn links_map_margins_to_predictions() {
        assert_eq!(Link::Identity.apply(&[1.5]), vec![1.5]);
        assert_eq!(Link::Logit.apply(&[0.0]), vec![0.5]);
        assert_eq!(Link::Log.apply(&[0.0]), vec![1.0]);
        let probabilities = Link::Softmax.apply(&[1000.0, 1000.0, f64::NEG_INFINITY]);
        assert_eq!(probabilities, vec![0.5, 0.5, 0.0]);
    }
}
