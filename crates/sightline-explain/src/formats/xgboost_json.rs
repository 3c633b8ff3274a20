//! XGBoost JSON models, as written by `Booster.save_model("m.json")` in xgboost 2.x and 3.x.
//!
//! Supported: the `gbtree` booster with numerical splits, one output per class
//! (`tree_info` maps trees to classes; `num_parallel_tree` forests need nothing more),
//! and the objectives listed in [`objective_link`]. Refused with a message saying so:
//! `gblinear` and `dart` boosters, categorical splits, vector leaves (multi-target trees)
//! and objectives whose margin this crate does not know how to form.
//!
//! The stored `base_score` is in prediction space: xgboost 3.x writes it as a list
//! (`"[4.1E-1]"`, one per class for multiclass), 2.x as a bare number (`"5E-1"`). For
//! logistic objectives it is a probability and the margin starts at its logit; for
//! log-link objectives at its logarithm. Multiclass base scores are margins already
//! (xgboost 3.2 writes negative ones, which no probability could be).

use serde::Deserialize;
use serde_json::Value;

use crate::ensemble::{Ensemble, EnsembleParts, Link, Node, NodeKind, Split, SplitRule, Tree};
use crate::error::ModelError;

/// Parses an XGBoost JSON model.
pub fn load(bytes: &[u8]) -> Result<Ensemble, ModelError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| ModelError::Json(e.to_string()))?;
    let learner = doc.learner;
    let booster_name = learner.gradient_booster.get("name").and_then(Value::as_str).unwrap_or("");
    if booster_name != "gbtree" {
        return Err(ModelError::Unsupported(format!(
            "xgboost booster {booster_name:?}; only \"gbtree\" is supported (not \"dart\" or \"gblinear\")"
        )));
    }
    let booster: GbTree = serde_json::from_value(learner.gradient_booster)
        .map_err(|e| ModelError::Invalid(format!("gradient_booster: {e}")))?;
    let params = &learner.learner_model_param;
    let num_features = parse_count("num_feature", &params.num_feature)?;
    let num_class = parse_count("num_class", &params.num_class)?;
    if let Some(targets) = &params.num_target
        && parse_count("num_target", targets)? > 1
    {
        return Err(ModelError::Unsupported("multi-target xgboost models".into()));
    }
    let num_outputs = num_class.max(1);
    let objective = learner.objective.name;
    let (link, base_space) = objective_link(&objective, num_class)?;

    let base_score = parse_base_score(&params.base_score)?;
    let base_margin = match (base_score.len(), num_outputs) {
        (n, m) if n == m => base_score,
        // xgboost 2.x stores one base score for all classes.
        (1, m) => vec![base_score[0]; m],
        (n, m) => {
            return Err(ModelError::Invalid(format!("{n} base scores for {m} outputs")));
        }
    }
    .into_iter()
    .map(|b| base_space.to_margin(b))
    .collect::<Result<Vec<_>, _>>()?;

    let model = booster.model;
    if model.tree_info.len() != model.trees.len() {
        return Err(ModelError::Invalid(format!(
            "{} trees but {} tree_info entries",
            model.trees.len(),
            model.tree_info.len()
        )));
    }
    let trees = model
        .trees
        .iter()
        .enumerate()
        .map(|(index, tree)| convert_tree(tree, num_features).map_err(|e| in_tree(index, e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ensemble::new(EnsembleParts {
        num_features,
        num_outputs,
        split_rule: SplitRule::Less,
        trees,
        tree_output: model.tree_info,
        base_margin,
        link,
        objective,
    })
}

/// How the stored base score becomes a margin.
#[derive(Debug, Clone, Copy)]
enum BaseSpace {
    Margin,
    Probability,
    Mean,
}

impl BaseSpace {
    fn to_margin(self, base: f64) -> Result<f64, ModelError> {
        let margin = match self {
            BaseSpace::Margin => base,
            BaseSpace::Probability => (base / (1.0 - base)).ln(),
            BaseSpace::Mean => base.ln(),
        };
        if margin.is_finite() {
            Ok(margin)
        } else {
            Err(ModelError::Invalid(format!("base_score {base} has no finite margin")))
        }
    }
}

/// The link and base-score space of each supported objective (checked against xgboost
/// 3.2 by training with learning rate 0 and reading `predict(output_margin=True)`).
fn objective_link(objective: &str, num_class: usize) -> Result<(Link, BaseSpace), ModelError> {
    let multiclass = matches!(objective, "multi:softprob" | "multi:softmax");
    if multiclass != (num_class > 1) {
        return Err(ModelError::Invalid(format!("objective {objective:?} with num_class {num_class}")));
    }
    Ok(match objective {
        "reg:squarederror"
        | "reg:absoluteerror"
        | "reg:pseudohubererror"
        | "reg:squaredlogerror"
        | "binary:logitraw" => (Link::Identity, BaseSpace::Margin),
        "binary:logistic" | "reg:logistic" => (Link::Logit, BaseSpace::Probability),
        "multi:softprob" | "multi:softmax" => (Link::Softmax, BaseSpace::Margin),
        "count:poisson" | "reg:gamma" | "reg:tweedie" => (Link::Log, BaseSpace::Mean),
        other => return Err(ModelError::Unsupported(format!("xgboost objective {other:?}"))),
    })
}

fn in_tree(index: usize, error: ModelError) -> ModelError {
    match error {
        ModelError::Invalid(m) => ModelError::Invalid(format!("tree {index}: {m}")),
        ModelError::Unsupported(m) => ModelError::Unsupported(format!("tree {index}: {m}")),
        ModelError::Json(m) => ModelError::Json(m),
    }
}

fn convert_tree(tree: &RawTree, num_features: usize) -> Result<Tree, ModelError> {
    let n = tree.left_children.len();
    let lengths = [
        ("right_children", tree.right_children.len()),
        ("split_indices", tree.split_indices.len()),
        ("split_conditions", tree.split_conditions.len()),
        ("default_left", tree.default_left.len()),
        ("sum_hessian", tree.sum_hessian.len()),
    ];
    if let Some((name, len)) = lengths.iter().find(|(_, len)| *len != n) {
        return Err(ModelError::Invalid(format!("{name} has {len} entries, left_children {n}")));
    }
    if let Some(size) = &tree.tree_param.size_leaf_vector
        && parse_count("size_leaf_vector", size)? > 1
    {
        return Err(ModelError::Unsupported("vector leaves (multi-target trees)".into()));
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let cover = f64::from(tree.sum_hessian[i]);
        let left = tree.left_children[i];
        let kind = if left == -1 {
            // xgboost keeps a leaf's value in `split_conditions`.
            NodeKind::Leaf { value: f64::from(tree.split_conditions[i]) }
        } else {
            if tree.split_type.get(i).copied().unwrap_or(0) != 0 {
                return Err(ModelError::Unsupported(format!("categorical split at node {i}")));
            }
            let child = |c: i64| usize::try_from(c).map_err(|_| ModelError::Invalid(format!("node {i} has child {c}")));
            NodeKind::Split(Split {
                feature: usize::try_from(tree.split_indices[i]).map_err(|_| {
                    ModelError::Invalid(format!("node {i} splits on feature {}", tree.split_indices[i]))
                })?,
                threshold: tree.split_conditions[i],
                left: child(left)?,
                right: child(tree.right_children[i])?,
                default_left: tree.default_left[i].is_true(),
            })
        };
        nodes.push(Node { kind, cover });
    }
    Tree::new(nodes, num_features)
}

fn parse_count(name: &str, text: &str) -> Result<usize, ModelError> {
    text.trim().parse().map_err(|_| ModelError::Invalid(format!("{name} {text:?} is not a count")))
}

/// `"[4.1E-1]"`, `"[1E-1,2E-1]"` (3.x) or `"5E-1"` (2.x).
fn parse_base_score(text: &str) -> Result<Vec<f64>, ModelError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(trimmed);
    let values = inner
        .split(',')
        .map(|part| {
            // xgboost computes in float32; round as it does before widening.
            part.trim().parse::<f32>().map(f64::from).ok().filter(|v| v.is_finite())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ModelError::Invalid(format!("base_score {text:?} is not a list of numbers")))?;
    Ok(values)
}

// The subset of the file this loader reads. Unknown fields are ignored on purpose:
// xgboost adds fields between versions, and refusing them would refuse new files for
// no reason; what matters (unsupported features) is checked explicitly above.

#[derive(Deserialize)]
struct Document {
    learner: Learner,
}

#[derive(Deserialize)]
struct Learner {
    gradient_booster: Value,
    learner_model_param: LearnerModelParam,
    objective: Objective,
}

#[derive(Deserialize)]
struct LearnerModelParam {
    base_score: String,
    num_class: String,
    num_feature: String,
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct GbTree {
    model: GbTreeModel,
}

#[derive(Deserialize)]
struct GbTreeModel {
    trees: Vec<RawTree>,
    tree_info: Vec<usize>,
}

#[derive(Deserialize)]
struct RawTree {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    // serde_json reads the shortest decimal xgboost wrote into an f64 and rounds it to
    // f32; since that decimal round-trips float32, the result is the stored float.
    split_conditions: Vec<f32>,
    default_left: Vec<Flag>,
    sum_hessian: Vec<f32>,
    #[serde(default)]
    split_type: Vec<u8>,
    tree_param: TreeParam,
}

#[derive(Deserialize)]
struct TreeParam {
    size_leaf_vector: Option<String>,
}

/// `default_left` is 0/1 in current files and was `true`/`false` in older ones.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Int(i64),
    Bool(bool),
}

impl Flag {
    fn is_true(&self) -> bool {
        match self {
            Flag::Int(v) => *v != 0,
            Flag::Bool(b) => *b,
        }
    }
}
