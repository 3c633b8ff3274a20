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

use crate::ensemble::{
    Condition, Ensemble, EnsembleParts, Input, Link, Missing, Node, NodeKind, Split, SplitRule, Tree,
};
use crate::error::ModelError;

/// Parses an XGBoost JSON model.
pub fn load(bytes: &[u8]) -> Result<Ensemble, ModelError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        // Well-formed JSON that is not an xgboost model is an invalid model, not bad JSON.
        serde_json::error::Category::Data => ModelError::Invalid(e.to_string()),
        _ => ModelError::Json(e.to_string()),
    })?;
    from_document(doc)
}

/// The model from its document, however it was encoded (JSON here, UBJSON in
/// [`super::xgboost_ubj`]): both encodings carry the same tree of values.
pub(crate) fn from_document(doc: Document) -> Result<Ensemble, ModelError> {
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
        input: Input::Float32,
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
        other => other,
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
                condition: Condition::Threshold(f64::from(tree.split_conditions[i])),
                left: child(left)?,
                right: child(tree.right_children[i])?,
                default_left: tree.default_left[i].is_true(),
                missing: Missing::Nan,
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
pub(crate) struct Document {
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A one-split model in the shape xgboost 3.2 writes: feature 0 `< 0.5` goes left
    /// (leaf -1), else right (leaf 2); missing goes right.
    fn model() -> Value {
        json!({
            "learner": {
                "gradient_booster": {
                    "name": "gbtree",
                    "model": {
                        "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"},
                        "tree_info": [0],
                        "trees": [{
                            "left_children": [1, -1, -1],
                            "right_children": [2, -1, -1],
                            "split_indices": [0, 0, 0],
                            "split_conditions": [0.5, -1.0, 2.0],
                            "default_left": [0, 0, 0],
                            "sum_hessian": [4.0, 1.0, 3.0],
                            "split_type": [0, 0, 0],
                            "base_weights": [0.0, -1.0, 2.0],
                            "tree_param": {"num_feature": "2", "num_nodes": "3", "size_leaf_vector": "1"}
                        }]
                    }
                },
                "learner_model_param": {
                    "base_score": "[5E-1]", "num_class": "0", "num_feature": "2", "num_target": "1"
                },
                "objective": {"name": "binary:logistic"}
            },
            "version": [3, 2, 0]
        })
    }

    fn load_value(doc: &Value) -> Result<Ensemble, ModelError> {
        load(doc.to_string().as_bytes())
    }

    #[test]
    fn splits_with_less_than_and_default_directions() {
        let ensemble = load_value(&model()).expect("loads");
        let margin = |x: f64| ensemble.predict_margin(&[x, 0.0]).expect("fits")[0];
        // base_score 0.5 is a probability: its margin is logit(0.5) = 0.
        assert_eq!(margin(0.0), -1.0);
        assert_eq!(margin(0.5), 2.0);
        assert_eq!(margin(f64::NAN), 2.0);
        // 0.49999999 rounds to 0.5 in float32, as in xgboost's DMatrix.
        assert_eq!(margin(0.499_999_999), 2.0);
    }

    #[test]
    fn reads_the_base_score_of_each_version_and_objective() {
        let check = |objective: &str, num_class: &str, base: &str, expected: &[f64]| {
            let mut doc = model();
            let learner = &mut doc["learner"];
            learner["objective"]["name"] = json!(objective);
            learner["learner_model_param"]["num_class"] = json!(num_class);
            learner["learner_model_param"]["base_score"] = json!(base);
            let classes: usize = num_class.parse().expect("count");
            learner["gradient_booster"]["model"]["tree_info"] = json!([0]);
            if classes > 1 {
                let trees = learner["gradient_booster"]["model"]["trees"].clone();
                let tree = trees[0].clone();
                learner["gradient_booster"]["model"]["trees"] = json!(vec![tree; classes]);
                learner["gradient_booster"]["model"]["tree_info"] = json!((0..classes).collect::<Vec<_>>());
            }
            let ensemble = load_value(&doc).expect("loads");
            let got = ensemble.base_margin();
            assert_eq!(got.len(), expected.len(), "{objective} {base}");
            for (g, e) in got.iter().zip(expected) {
                assert!((g - e).abs() < 1e-6, "{objective} {base}: {got:?} vs {expected:?}");
            }
        };
        check("binary:logistic", "0", "[5E-1]", &[0.0]);
        check("binary:logistic", "0", "2.5E-1", &[(1.0f64 / 3.0).ln()]);
        check("reg:logistic", "0", "[7.5E-1]", &[3.0f64.ln()]);
        check("reg:squarederror", "0", "[8.402545E-1]", &[0.840_254_5]);
        check("binary:logitraw", "0", "[4.4666666E-1]", &[0.446_666_66]);
        check("count:poisson", "0", "[2.35E0]", &[2.35f64.ln()]);
        check(
            "multi:softprob",
            "3",
            "[2.2579032E-1,4.4716185E-1,-6.729523E-1]",
            &[0.225_790_32, 0.447_161_85, -0.672_952_3],
        );
        // xgboost 2.x: one scalar for every class, already a margin.
        check("multi:softmax", "3", "5E-1", &[0.5, 0.5, 0.5]);
    }

    /// Each case edits the valid model and names a fragment of the expected error.
    #[test]
    fn refuses_what_it_cannot_evaluate_exactly() {
        let check = |edit: &dyn Fn(&mut Value), expected: &str| {
            let mut doc = model();
            edit(&mut doc);
            let error = load_value(&doc).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        };
        let edit_tree = |field: &'static str, value: Value| {
            move |doc: &mut Value| {
                doc["learner"]["gradient_booster"]["model"]["trees"][0][field] = value.clone();
            }
        };
        let param = |field: &'static str, value: &'static str| {
            move |doc: &mut Value| doc["learner"]["learner_model_param"][field] = json!(value)
        };
        check(&|doc| doc["learner"]["gradient_booster"]["name"] = json!("dart"), "only \"gbtree\" is supported");
        check(&|doc| doc["learner"]["gradient_booster"]["name"] = json!("gblinear"), "booster \"gblinear\"");
        check(
            &|doc| doc["learner"]["objective"]["name"] = json!("rank:pairwise"),
            "unsupported model: xgboost objective",
        );
        check(&edit_tree("split_type", json!([1, 0, 0])), "tree 0: categorical split at node 0");
        check(&edit_tree("sum_hessian", json!([4.0, 1.0])), "sum_hessian has 2 entries");
        check(&edit_tree("left_children", json!([7, -1, -1])), "child index 7 is out of range");
        check(&edit_tree("left_children", json!([0, -1, -1])), "node 0 is reached twice");
        check(&edit_tree("split_indices", json!([5, 0, 0])), "splits on feature 5 of 2");
        check(&edit_tree("right_children", json!([-2, -1, -1])), "node 0 has child -2");
        check(&edit_tree("sum_hessian", json!([-4.0, 1.0, 3.0])), "node 0 has cover -4");
        check(&edit_tree("tree_param", json!({"size_leaf_vector": "3"})), "vector leaves");
        check(&param("num_class", "3"), "objective \"binary:logistic\" with num_class 3");
        check(&param("base_score", "[abc]"), "is not a list of numbers");
        check(&param("base_score", "[1E0]"), "has no finite margin");
        check(&param("num_target", "2"), "multi-target");
        check(&param("num_feature", "two"), "num_feature \"two\" is not a count");
        check(
            &|doc| doc["learner"]["gradient_booster"]["model"]["tree_info"] = json!([0, 0]),
            "1 trees but 2 tree_info",
        );
        check(
            &|doc| doc["learner"]["gradient_booster"]["model"]["tree_info"] = json!([1]),
            "a tree adds to output 1 of 1",
        );
        check(&|doc| *doc = json!({"learner": 1}), "invalid model");
    }

    #[test]
    fn reports_bad_json_as_such() {
        for bytes in [&b"{"[..], b"", b"\xff", b"{\"learner\": nul"] {
            let error = load(bytes).expect_err("not json");
            assert!(matches!(error, ModelError::Json(_)), "{error:?}");
        }
    }
}
