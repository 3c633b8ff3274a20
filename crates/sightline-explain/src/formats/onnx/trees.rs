//! The attributes of a `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node
//! (`ai.onnx.ml` opsets 1 and 3) as [`Tree`]s, per-output trees and base margins, with
//! onnxruntime's semantics.
//!
//! - A node is `(tree id, node id)`; a tree's root is its one node that no other node of
//!   the tree points to.
//! - `BRANCH_LEQ`/`LT`/`EQ` send a true comparison to `truenodeids`; `GT`/`GTE`/`NEQ` are
//!   the same splits with their branches swapped. NaN compares false (so goes to the
//!   false branch) unless `nodes_missing_value_tracks_true` sends it to the true one;
//!   `NEQ` is true for NaN either way.
//! - A leaf may add weights to several outputs (a random forest's leaf holds every
//!   class's probability); such a tree becomes one copy per output it adds to, each
//!   with that output's weights as leaf values. The copies sum to the original, and
//!   TreeSHAP is linear in the leaf values, so nothing is lost.
//! - `AVERAGE` divides each tree's weights by the number of trees; `SUM` is the default.
//! - A two-class classifier whose weights name one class id only is onnxruntime's
//!   binary case: one score, which is the second class's, with the post-transform as
//!   its link (its `probabilities` output is `[1 - p, p]` or `[σ(-s), σ(s)]`).
//!
//! Refused: `MIN`/`MAX` aggregation, `SOFTMAX_ZERO` and `PROBIT`, a model mixing
//! `LEQ`/`GT` splits with `LT`/`GTE` ones (one ensemble has one [`SplitRule`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::attributes::Attributes;
use crate::ensemble::{Condition, Link, Missing, Node, NodeKind, Split, SplitRule, Tree};
use crate::error::ModelError;

/// Which operator the attributes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Classifier,
    Regressor,
}

/// What the attributes describe, ready for [`crate::EnsembleParts`].
pub struct Converted {
    pub num_outputs: usize,
    pub split_rule: SplitRule,
    pub trees: Vec<Tree>,
    pub tree_output: Vec<usize>,
    pub base_margin: Vec<f64>,
    pub link: Link,
    pub post_transform: String,
}

/// One node as the attribute arrays give it.
struct RawNode {
    node_id: i64,
    feature: i64,
    mode: String,
    threshold: f64,
    true_id: i64,
    false_id: i64,
    tracks_true: bool,
}

pub fn convert(operator: Operator, attrs: &Attributes<'_>, num_features: usize) -> Result<Converted, ModelError> {
    let tree_ids = attrs.ints("nodes_treeids");
    let n = tree_ids.len();
    let node_ids = attrs.ints("nodes_nodeids");
    let features = attrs.ints("nodes_featureids");
    let modes = attrs.strings("nodes_modes")?;
    let thresholds = attrs.reals("nodes_values")?;
    let true_ids = attrs.ints("nodes_truenodeids");
    let false_ids = attrs.ints("nodes_falsenodeids");
    let tracks = attrs.ints("nodes_missing_value_tracks_true");
    let lengths = [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", thresholds.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
    ];
    if n == 0 {
        return Err(ModelError::Invalid("tree ensemble has no nodes".into()));
    }
    if let Some((name, len)) = lengths.iter().find(|(_, len)| *len != n) {
        return Err(ModelError::Invalid(format!("{name} has {len} entries, nodes_treeids {n}")));
    }
    if !tracks.is_empty() && tracks.len() != n {
        return Err(ModelError::Invalid(format!(
            "nodes_missing_value_tracks_true has {} entries, nodes_treeids {n}",
            tracks.len()
        )));
    }

    // Nodes grouped by tree, in tree id order so the output does not depend on hashing.
    let mut by_tree: BTreeMap<i64, Vec<RawNode>> = BTreeMap::new();
    for (i, mode) in modes.into_iter().enumerate() {
        by_tree.entry(tree_ids[i]).or_default().push(RawNode {
            node_id: node_ids[i],
            feature: features[i],
            mode,
            threshold: thresholds[i],
            true_id: true_ids[i],
            false_id: false_ids[i],
            tracks_true: tracks.get(i).is_some_and(|&t| t != 0),
        });
    }

    let (prefix, num_outputs_declared) = match operator {
        Operator::Classifier => {
            let int_labels = attrs.ints("classlabels_int64s").len();
            let string_labels = attrs.strings("classlabels_strings")?.len();
            ("class", int_labels.max(string_labels))
        }
        Operator::Regressor => {
            let targets = attrs.int("n_targets", 1);
            let targets = usize::try_from(targets)
                .ok()
                .filter(|&t| t > 0)
                .ok_or_else(|| ModelError::Invalid(format!("n_targets {targets}")))?;
            ("target", targets)
        }
    };
    if num_outputs_declared == 0 {
        return Err(ModelError::Invalid("classifier has no class labels".into()));
    }
    let weights = leaf_weights(attrs, prefix, num_outputs_declared)?;
    let used: BTreeSet<usize> = weights.values().flatten().map(|&(output, _)| output).collect();
    // onnxruntime's binary case: one score, the second class's.
    let binary = operator == Operator::Classifier && num_outputs_declared == 2 && used.len() == 1;
    let num_outputs = if binary { 1 } else { num_outputs_declared };
    let output_of = |declared: usize| if binary { 0 } else { declared };

    let aggregate = attrs.string("aggregate_function", "SUM")?;
    let scale = match (operator, aggregate.as_str()) {
        (Operator::Regressor, "AVERAGE") => 1.0 / by_tree.len() as f64,
        (Operator::Regressor, "SUM") | (Operator::Classifier, _) => 1.0,
        (_, other) => return Err(ModelError::Unsupported(format!("aggregate_function {other}"))),
    };

    let post_transform = attrs.string("post_transform", "NONE")?;
    let link = match post_transform.as_str() {
        "NONE" => Link::Identity,
        "LOGISTIC" => Link::Logit,
        "SOFTMAX" if num_outputs > 1 => Link::Softmax,
        other => {
            return Err(ModelError::Unsupported(format!("post_transform {other} on {num_outputs} output(s)")));
        }
    };

    let base_values = attrs.reals("base_values")?;
    let base_margin = match base_values.len() {
        0 => vec![0.0; num_outputs],
        len if len == num_outputs => base_values,
        len => {
            return Err(ModelError::Unsupported(format!("{len} base_values for {num_outputs} output(s)")));
        }
    };

    let mut rule: Option<SplitRule> = None;
    let mut trees = Vec::new();
    let mut tree_output = Vec::new();
    for (&tree_id, raw) in &by_tree {
        let structure = structure(raw, &mut rule).map_err(|e| in_tree(tree_id, e))?;
        let mut per_output: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for (local, node) in structure.order.iter().map(|&i| &raw[i]).enumerate() {
            for &(declared, weight) in weights.get(&(tree_id, node.node_id)).into_iter().flatten() {
                if node.mode != "LEAF" {
                    return Err(ModelError::Invalid(format!(
                        "tree {tree_id}: node {} has {prefix} weights but is not a leaf",
                        node.node_id
                    )));
                }
                let values = per_output.entry(output_of(declared)).or_insert_with(|| vec![0.0; raw.len()]);
                values[local] += weight * scale;
            }
        }
        for (output, values) in per_output {
            let nodes = structure
                .nodes
                .iter()
                .zip(&values)
                .map(|(kind, &value)| Node {
                    kind: match kind {
                        NodeKind::Leaf { .. } => NodeKind::Leaf { value },
                        split @ NodeKind::Split(_) => split.clone(),
                    },
                    // Recounted from a background set before TreeSHAP; see `with_covers_from`.
                    cover: 0.0,
                })
                .collect();
            trees.push(Tree::new(nodes, num_features).map_err(|e| in_tree(tree_id, e))?);
            tree_output.push(output);
        }
    }
    if let Some(&(tree, node)) = weights.keys().find(|(tree, _)| !by_tree.contains_key(tree)) {
        return Err(ModelError::Invalid(format!(
            "{prefix} weight for node {node} of tree {tree}, which does not exist"
        )));
    }
    Ok(Converted {
        num_outputs,
        split_rule: rule.unwrap_or(SplitRule::LessOrEqual),
        trees,
        tree_output,
        base_margin,
        link,
        post_transform,
    })
}

/// `(tree id, node id)` to the `(output, weight)` pairs of `class_*` or `target_*`.
type LeafWeights = HashMap<(i64, i64), Vec<(usize, f64)>>;

fn leaf_weights(attrs: &Attributes<'_>, prefix: &str, num_outputs: usize) -> Result<LeafWeights, ModelError> {
    let tree_ids = attrs.ints(&format!("{prefix}_treeids"));
    let node_ids = attrs.ints(&format!("{prefix}_nodeids"));
    let outputs = attrs.ints(&format!("{prefix}_ids"));
    let weights = attrs.reals(&format!("{prefix}_weights"))?;
    let n = tree_ids.len();
    if node_ids.len() != n || outputs.len() != n || weights.len() != n {
        return Err(ModelError::Invalid(format!(
            "{prefix}_treeids, _nodeids, _ids and _weights have {n}, {}, {} and {} entries",
            node_ids.len(),
            outputs.len(),
            weights.len()
        )));
    }
    let mut map = LeafWeights::new();
    for i in 0..n {
        let output = usize::try_from(outputs[i])
            .ok()
            .filter(|&o| o < num_outputs)
            .ok_or_else(|| ModelError::Invalid(format!("{prefix} id {} is not below {num_outputs}", outputs[i])))?;
        if !weights[i].is_finite() {
            return Err(ModelError::Invalid(format!("{prefix} weight {} is not finite", weights[i])));
        }
        map.entry((tree_ids[i], node_ids[i])).or_default().push((output, weights[i]));
    }
    Ok(map)
}

/// A tree's nodes in our order (root first). Leaf values are set afterwards, once per
/// output, from the ensemble's weight lists; here every leaf holds 0.
struct Structure {
    /// `order[local]` is the index into the tree's raw nodes.
    order: Vec<usize>,
    nodes: Vec<NodeKind>,
}

fn structure(raw: &[RawNode], rule: &mut Option<SplitRule>) -> Result<Structure, ModelError> {
    let mut position: HashMap<i64, usize> = HashMap::with_capacity(raw.len());
    for (i, node) in raw.iter().enumerate() {
        if position.insert(node.node_id, i).is_some() {
            return Err(ModelError::Invalid(format!("node id {} appears twice", node.node_id)));
        }
    }
    let mut is_child = vec![false; raw.len()];
    for node in raw.iter().filter(|n| n.mode != "LEAF") {
        for child in [node.true_id, node.false_id] {
            let index = *position
                .get(&child)
                .ok_or_else(|| ModelError::Invalid(format!("node {} points to missing node {child}", node.node_id)))?;
            is_child[index] = true;
        }
    }
    let roots: Vec<usize> = (0..raw.len()).filter(|&i| !is_child[i]).collect();
    let [root] = roots[..] else {
        return Err(ModelError::Invalid(format!(
            "{} nodes are pointed to by no other (one root expected)",
            roots.len()
        )));
    };
    // Root first, then the others in file order; `local[i]` is raw node i's new index.
    let order: Vec<usize> = std::iter::once(root).chain((0..raw.len()).filter(|&i| i != root)).collect();
    let mut local = vec![0usize; raw.len()];
    for (new, &old) in order.iter().enumerate() {
        local[old] = new;
    }
    let local_of = |id: i64| position.get(&id).map(|&i| local[i]).unwrap_or_default();
    let nodes = order
        .iter()
        .map(|&i| {
            let node = &raw[i];
            split_of(node, rule).map(|split| match split {
                None => NodeKind::Leaf { value: 0.0 },
                Some((condition, swap, default_left)) => {
                    let (left, right) =
                        if swap { (node.false_id, node.true_id) } else { (node.true_id, node.false_id) };
                    NodeKind::Split(Split {
                        // Checked by `split_of`.
                        feature: usize::try_from(node.feature).unwrap_or(usize::MAX),
                        condition,
                        left: local_of(left),
                        right: local_of(right),
                        default_left,
                        missing: Missing::Nan,
                    })
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Converters write no dead nodes; one that the root does not reach means a cycle
    // (a node pointing back up), which onnxruntime would not evaluate as a tree either.
    let mut reached = vec![false; nodes.len()];
    let mut stack = vec![0usize];
    while let Some(index) = stack.pop() {
        if std::mem::replace(&mut reached[index], true) {
            continue;
        }
        if let NodeKind::Split(split) = &nodes[index] {
            stack.extend([split.left, split.right]);
        }
    }
    if let Some(dead) = reached.iter().position(|r| !r) {
        return Err(ModelError::Invalid(format!("node {} is not reached from the root", raw[order[dead]].node_id)));
    }
    Ok(Structure { order, nodes })
}

/// A split's condition, whether its branches swap, and whether NaN goes left (after the swap).
type SplitShape = (Condition, bool, bool);

/// The split's shape, `None` for a leaf. Records the comparison the split needs in `rule`.
fn split_of(node: &RawNode, rule: &mut Option<SplitRule>) -> Result<Option<SplitShape>, ModelError> {
    let tracks = node.tracks_true;
    let t = node.threshold;
    let (needs, condition, swap, default_left) = match node.mode.as_str() {
        "LEAF" => return Ok(None),
        "BRANCH_LEQ" => (Some(SplitRule::LessOrEqual), Condition::Threshold(t), false, tracks),
        "BRANCH_GT" => (Some(SplitRule::LessOrEqual), Condition::Threshold(t), true, !tracks),
        "BRANCH_LT" => (Some(SplitRule::Less), Condition::Threshold(t), false, tracks),
        "BRANCH_GTE" => (Some(SplitRule::Less), Condition::Threshold(t), true, !tracks),
        "BRANCH_EQ" => (None, Condition::Equal(t), false, tracks),
        // NaN != t is true: NaN takes the true branch, on the right after the swap.
        "BRANCH_NEQ" => (None, Condition::Equal(t), true, false),
        other => return Err(ModelError::Unsupported(format!("node mode {other:?} at node {}", node.node_id))),
    };
    if usize::try_from(node.feature).is_err() {
        return Err(ModelError::Invalid(format!("node {} splits on feature {}", node.node_id, node.feature)));
    }
    if let Some(needs) = needs {
        match rule {
            Some(existing) if *existing != needs => {
                return Err(ModelError::Unsupported(
                    "a model mixing BRANCH_LEQ/BRANCH_GT with BRANCH_LT/BRANCH_GTE splits".into(),
                ));
            }
            _ => *rule = Some(needs),
        }
    }
    Ok(Some((condition, swap, default_left)))
}

fn in_tree(tree_id: i64, error: ModelError) -> ModelError {
    match error {
        ModelError::Invalid(m) => ModelError::Invalid(format!("tree {tree_id}: {m}")),
        ModelError::Unsupported(m) => ModelError::Unsupported(format!("tree {tree_id}: {m}")),
        other => other,
    }
}
