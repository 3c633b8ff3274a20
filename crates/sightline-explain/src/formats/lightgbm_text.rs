//! LightGBM text models (`Booster.save_model("m.txt")`, format versions v3 and v4).
//!
//! The file is a header of `key=value` lines, one block per tree (`Tree=<i>` then the
//! tree's arrays, one line each), `end of trees`, then feature importances and training
//! parameters, which evaluation does not need. LightGBM's semantics, kept as it has them:
//!
//! - a present value goes left when `value <= threshold`, both in f64 (thresholds are
//!   written with 17 significant digits, so they parse back to the trained doubles);
//! - each split's `decision_type` packs the categorical bit (bit 0), the default-left
//!   bit (bit 1) and the missing type (bits 2–3: None, Zero, NaN), see
//!   [`crate::Missing`];
//! - children are node indices, or `~leaf` (negative) for leaves;
//! - leaf values already include the shrinkage and, on the first iteration's trees, the
//!   initial score (`boost_from_average`), so the base margin is 0 (an `init_score`
//!   given to the training `Dataset` is not in the file, and LightGBM's `predict` does
//!   not add it either);
//! - `num_tree_per_iteration` trees per iteration, tree `i` adding to output
//!   `i % num_tree_per_iteration`;
//! - `average_output` (random-forest mode): `predict()` divides each output's sum by the
//!   number of iterations before the output transform. Our margin is that average, the
//!   value the link applies to, so leaves are divided here. LightGBM's
//!   `predict(raw_score=True)` and `pred_contrib` return the undivided sums there, n
//!   times ours;
//! - TreeSHAP (`pred_contrib`) weighs branches by data counts (`internal_count`,
//!   `leaf_count`), not by hessian sums, so those become the covers.
//!
//! Categorical splits (`decision_type` bit 0) name a bitset of categories in
//! `cat_boundaries`/`cat_threshold` through their threshold; see [`Condition::Categories`].
//!
//! Refused with a message: linear trees, and objectives whose output transform [`Link`]
//! cannot express (`regression sqrt`, `cross_entropy_lambda`,
//! `binary` with a sigmoid other than 1).

use std::collections::HashMap;

use crate::ensemble::{
    Condition, Ensemble, EnsembleParts, Input, Link, Missing, Node, NodeKind, Split, SplitRule, Tree,
};
use crate::error::ModelError;

/// Parses a LightGBM text model.
pub fn load(bytes: &[u8]) -> Result<Ensemble, ModelError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ModelError::Invalid("lightgbm model is not utf-8 text".into()))?;
    let model = RawModel::parse(text)?;

    let version = model.header.get("version").copied().unwrap_or("");
    if !matches!(version, "v3" | "v4") {
        return Err(ModelError::Unsupported(format!("lightgbm model format version {version:?}")));
    }
    let max_feature_idx: usize = parse_number(&model.header, "max_feature_idx")?;
    let num_features = max_feature_idx
        .checked_add(1)
        .ok_or_else(|| ModelError::Invalid(format!("max_feature_idx {max_feature_idx} is out of range")))?;
    let num_class: usize = parse_number(&model.header, "num_class")?;
    let per_iteration: usize = match model.header.get("num_tree_per_iteration") {
        Some(_) => parse_number(&model.header, "num_tree_per_iteration")?,
        None => num_class,
    };
    if per_iteration == 0 {
        return Err(ModelError::Invalid("num_tree_per_iteration is 0".into()));
    }
    // Outputs are allocated per row, so their count must come from the trees present,
    // not from a header number alone: with trees, a whole number of iterations bounds it.
    if model.trees.is_empty() {
        return Err(ModelError::Invalid("lightgbm model has no trees".into()));
    }
    let objective = model.header.get("objective").copied();
    let link = objective_link(objective, num_class, per_iteration)?;
    if model.trees.len() % per_iteration != 0 {
        return Err(ModelError::Invalid(format!(
            "{} trees is not a whole number of iterations of {per_iteration} trees",
            model.trees.len()
        )));
    }
    // LightGBM divides each output's sum by the iteration count; dividing every leaf
    // instead keeps TreeSHAP additive with no special case, and differs from the
    // library's order of operations only by rounding (relative 1e-16 per tree).
    let scale = if model.flags.contains(&"average_output") {
        let iterations = model.trees.len() / per_iteration;
        if iterations == 0 { 1.0 } else { 1.0 / iterations as f64 }
    } else {
        1.0
    };

    let trees = model
        .trees
        .iter()
        .enumerate()
        .map(|(index, tree)| {
            convert_tree(tree, num_features, scale).map_err(|e| match e {
                ModelError::Invalid(m) => ModelError::Invalid(format!("tree {index}: {m}")),
                ModelError::Unsupported(m) => ModelError::Unsupported(format!("tree {index}: {m}")),
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tree_output = (0..trees.len()).map(|i| i % per_iteration).collect();
    Ensemble::new(EnsembleParts {
        num_features,
        num_outputs: per_iteration,
        split_rule: SplitRule::LessOrEqual,
        input: Input::Float64,
        trees,
        tree_output,
        base_margin: vec![0.0; per_iteration],
        link,
        // Without an objective line (a custom objective in Python) LightGBM returns the
        // raw score from `predict`.
        objective: objective.unwrap_or("custom").to_string(),
    })
}

/// The file's lines grouped into header and tree blocks, values still text.
struct RawModel<'a> {
    header: HashMap<&'a str, &'a str>,
    /// Lines without `=` in the header (`average_output`).
    flags: Vec<&'a str>,
    trees: Vec<HashMap<&'a str, &'a str>>,
}

impl<'a> RawModel<'a> {
    fn parse(text: &'a str) -> Result<Self, ModelError> {
        let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
        if lines.by_ref().find(|line| !line.trim().is_empty()) != Some("tree") {
            return Err(ModelError::Invalid("not a lightgbm text model (the first line must be \"tree\")".into()));
        }
        let mut model = RawModel { header: HashMap::new(), flags: Vec::new(), trees: Vec::new() };
        let mut in_tree = false;
        for line in lines {
            if line == "end of trees" {
                return Ok(model);
            }
            if line.trim().is_empty() {
                continue;
            }
            match line.split_once('=') {
                Some(("Tree", index)) => {
                    if index.trim().parse::<usize>().ok() != Some(model.trees.len()) {
                        return Err(ModelError::Invalid(format!(
                            "tree block {:?} out of order (expected Tree={})",
                            line,
                            model.trees.len()
                        )));
                    }
                    model.trees.push(HashMap::new());
                    in_tree = true;
                }
                Some((key, value)) => {
                    let map = if in_tree { model.trees.last_mut() } else { Some(&mut model.header) };
                    if let Some(map) = map
                        && map.insert(key, value).is_some()
                    {
                        return Err(ModelError::Invalid(format!("{key} given twice")));
                    }
                }
                None if !in_tree => model.flags.push(line.trim()),
                None => return Err(ModelError::Invalid(format!("unexpected line {line:?} in a tree"))),
            }
        }
        Err(ModelError::Invalid("lightgbm model ends before \"end of trees\" (truncated?)".into()))
    }
}

/// The output transform of each objective LightGBM writes (`ObjectiveFunction::ToString`).
fn objective_link(objective: Option<&str>, num_class: usize, per_iteration: usize) -> Result<Link, ModelError> {
    let Some(objective) = objective else { return Ok(Link::Identity) };
    let mut words = objective.split_whitespace();
    let name = words.next().unwrap_or("");
    let options: HashMap<&str, &str> = words.map(|w| w.split_once(':').unwrap_or((w, ""))).collect();
    let multiclass = matches!(name, "multiclass" | "multiclassova");
    if multiclass {
        let stated = options.get("num_class").and_then(|v| v.parse::<usize>().ok());
        if stated != Some(num_class) || per_iteration != num_class {
            return Err(ModelError::Invalid(format!(
                "objective {objective:?} with num_class {num_class} and {per_iteration} trees per iteration"
            )));
        }
    } else if num_class != 1 || per_iteration != 1 {
        return Err(ModelError::Invalid(format!(
            "objective {objective:?} with num_class {num_class} and {per_iteration} trees per iteration"
        )));
    }
    // LightGBM's sigmoid objectives predict 1 / (1 + exp(-k * margin)); `Link::Logit`
    // is k = 1, the default, and the only value accepted.
    let sigmoid_one = || match options.get("sigmoid").map(|v| v.parse::<f64>()) {
        None | Some(Ok(1.0)) => Ok(Link::Logit),
        Some(_) => Err(ModelError::Unsupported(format!("lightgbm objective {objective:?} (only sigmoid:1)"))),
    };
    match name {
        "regression" | "regression_l2" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            if options.contains_key("sqrt") {
                // Trained on sqrt(label); the prediction is the signed square of the margin.
                Err(ModelError::Unsupported(format!("lightgbm objective {objective:?} (sqrt transform)")))
            } else {
                Ok(Link::Identity)
            }
        }
        "lambdarank" | "rank_xendcg" => Ok(Link::Identity),
        "poisson" | "gamma" | "tweedie" => Ok(Link::Log),
        "binary" | "multiclassova" => sigmoid_one(),
        "cross_entropy" => Ok(Link::Logit),
        "multiclass" => Ok(Link::Softmax),
        _ => Err(ModelError::Unsupported(format!("lightgbm objective {objective:?}"))),
    }
}

/// LightGBM's `decision_type` bits (`tree.h`).
const CATEGORICAL_MASK: u8 = 1;
const DEFAULT_LEFT_MASK: u8 = 2;

fn convert_tree(tree: &HashMap<&str, &str>, num_features: usize, scale: f64) -> Result<Tree, ModelError> {
    let num_leaves: usize = parse_number(tree, "num_leaves")?;
    if num_leaves == 0 {
        return Err(ModelError::Invalid("num_leaves is 0".into()));
    }
    if tree.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return Err(ModelError::Unsupported("linear trees".into()));
    }
    let splits = num_leaves - 1;
    let split_feature: Vec<usize> = parse_array(tree, "split_feature", splits)?;
    let threshold: Vec<f64> = parse_array(tree, "threshold", splits)?;
    let decision_type: Vec<u8> = parse_array(tree, "decision_type", splits)?;
    let left_child: Vec<i64> = parse_array(tree, "left_child", splits)?;
    let right_child: Vec<i64> = parse_array(tree, "right_child", splits)?;
    let leaf_value: Vec<f64> = parse_array(tree, "leaf_value", num_leaves)?;
    let leaf_count: Vec<f64> = parse_array(tree, "leaf_count", num_leaves)?;
    let internal_count: Vec<f64> = parse_array(tree, "internal_count", splits)?;
    let category_sets = category_sets(tree)?;

    // Internal node i stays at index i; leaf j goes to index splits + j.
    let child = |node: usize, c: i64| -> Result<usize, ModelError> {
        let index = if c >= 0 {
            usize::try_from(c).ok().filter(|&i| i < splits)
        } else {
            usize::try_from(!c).ok().filter(|&j| j < num_leaves).map(|j| splits + j)
        };
        index.ok_or_else(|| ModelError::Invalid(format!("node {node} has child {c}")))
    };
    let mut nodes = Vec::with_capacity(splits + num_leaves);
    for i in 0..splits {
        let decision = decision_type[i];
        let missing = match (decision >> 2) & 3 {
            0 => Missing::None,
            1 => Missing::Zero,
            2 => Missing::Nan,
            _ => return Err(ModelError::Invalid(format!("node {i} has decision_type {decision}"))),
        };
        let condition = if decision & CATEGORICAL_MASK != 0 {
            // The threshold of a categorical split is the index of its category set.
            let set = Some(threshold[i])
                .filter(|t| t.fract() == 0.0 && *t >= 0.0)
                .and_then(|t| category_sets.get(t as usize))
                .ok_or_else(|| ModelError::Invalid(format!("node {i} names category set {}", threshold[i])))?;
            Condition::Categories(set.clone().into_boxed_slice())
        } else {
            Condition::Threshold(threshold[i])
        };
        let split = Split {
            feature: split_feature[i],
            condition,
            left: child(i, left_child[i])?,
            right: child(i, right_child[i])?,
            default_left: decision & DEFAULT_LEFT_MASK != 0,
            missing,
        };
        nodes.push(Node { kind: NodeKind::Split(split), cover: internal_count[i] });
    }
    for (value, count) in leaf_value.iter().zip(&leaf_count) {
        nodes.push(Node { kind: NodeKind::Leaf { value: value * scale }, cover: *count });
    }
    Tree::new(nodes, num_features)
}

/// The category bitsets of a tree's categorical splits: set `k` is
/// `cat_threshold[cat_boundaries[k]..cat_boundaries[k + 1]]`.
fn category_sets(tree: &HashMap<&str, &str>) -> Result<Vec<Vec<u32>>, ModelError> {
    let num_cat: usize = match tree.get("num_cat") {
        Some(_) => parse_number(tree, "num_cat")?,
        None => 0,
    };
    if num_cat == 0 {
        return Ok(Vec::new());
    }
    let boundaries: Vec<usize> = parse_array(tree, "cat_boundaries", num_cat.saturating_add(1))?;
    let words = boundaries.last().copied().unwrap_or(0);
    let bits: Vec<u32> = parse_array(tree, "cat_threshold", words)?;
    boundaries
        .windows(2)
        .map(|pair| {
            bits.get(pair[0]..pair[1])
                .map(<[u32]>::to_vec)
                .ok_or_else(|| ModelError::Invalid(format!("cat_boundaries {pair:?} out of order")))
        })
        .collect()
}

fn parse_number<T: std::str::FromStr>(map: &HashMap<&str, &str>, key: &str) -> Result<T, ModelError> {
    let text = map.get(key).ok_or_else(|| ModelError::Invalid(format!("{key} is missing")))?;
    text.trim().parse().map_err(|_| ModelError::Invalid(format!("{key} {text:?} is not a number")))
}

/// A space-separated array of exactly `len` values (an empty line for none).
fn parse_array<T: std::str::FromStr>(map: &HashMap<&str, &str>, key: &str, len: usize) -> Result<Vec<T>, ModelError> {
    let text = map.get(key).ok_or_else(|| ModelError::Invalid(format!("{key} is missing")))?;
    let values = text
        .split_whitespace()
        .map(|v| v.parse().map_err(|_| ModelError::Invalid(format!("{key} holds {v:?}, not a number"))))
        .collect::<Result<Vec<T>, _>>()?;
    if values.len() != len {
        return Err(ModelError::Invalid(format!("{key} has {} entries, expected {len}", values.len())));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree splitting feature 0 at 0.5: left leaf 1.0 (count 3), right leaf 2.0
    /// (count 1), with `decision_type` and `objective` substituted.
    fn model(objective: &str, decision_type: u8, extra_header: &str) -> String {
        format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n\
             objective={objective}\n{extra_header}feature_names=a b\ntree_sizes=1\n\n\
             Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=0.5\n\
             decision_type={decision_type}\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\
             leaf_weight=3 1\nleaf_count=3 1\ninternal_value=0\ninternal_weight=4\ninternal_count=4\n\
             is_linear=0\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\na=1\n"
        )
    }

    fn margin(text: &str, x: f64) -> f64 {
        let ensemble = load(text.as_bytes()).expect("loads");
        ensemble.predict_margin(&[x, 0.0]).expect("row fits")[0]
    }

    #[test]
    fn splits_with_less_or_equal_and_missing_types() {
        // Missing type NaN (8), default right: NaN right, 0 compared.
        let nan_right = model("regression", 8, "");
        assert_eq!(margin(&nan_right, 0.5), 1.0);
        assert_eq!(margin(&nan_right, f64::NAN), 2.0);
        assert_eq!(margin(&nan_right, 0.0), 1.0);
        // Missing type None (0): NaN is 0.0, which goes left.
        assert_eq!(margin(&model("regression", 0, ""), f64::NAN), 1.0);
        // Missing type Zero (4), default right: NaN and 0 right; 0.25 compared.
        let zero_right = model("regression", 4, "");
        assert_eq!(margin(&zero_right, f64::NAN), 2.0);
        assert_eq!(margin(&zero_right, 0.0), 2.0);
        assert_eq!(margin(&zero_right, 1e-36), 2.0);
        assert_eq!(margin(&zero_right, 0.25), 1.0);
    }

    #[test]
    fn reads_objectives_and_average_output() {
        let ensemble = load(model("binary sigmoid:1", 8, "").as_bytes()).expect("loads");
        assert_eq!(ensemble.link(), Link::Logit);
        assert_eq!(ensemble.objective(), "binary sigmoid:1");
        assert_eq!(load(model("poisson", 8, "").as_bytes()).map(|e| e.link()), Ok(Link::Log));
        // One iteration: the average is the tree itself.
        assert_eq!(margin(&model("regression", 8, "average_output\n"), 0.0), 1.0);
        let ensemble = load(model("regression", 8, "").as_bytes()).expect("loads");
        assert_eq!(ensemble.trees()[0].nodes()[0].cover, 4.0, "covers are data counts");
    }

    #[test]
    fn refuses_what_it_cannot_evaluate_exactly() {
        let refused = |text: &str| match load(text.as_bytes()) {
            Err(ModelError::Unsupported(message)) => message,
            other => panic!("expected unsupported, got {other:?}"),
        };
        assert!(refused(&model("binary sigmoid:2", 8, "")).contains("sigmoid"));
        assert!(refused(&model("regression sqrt", 8, "")).contains("sqrt"));
        assert!(refused(&model("cross_entropy_lambda", 8, "")).contains("cross_entropy_lambda"));
        assert!(refused(&model("regression", 8, "").replace("is_linear=0", "is_linear=1")).contains("linear"));
        assert!(refused(&model("regression", 8, "").replace("version=v4", "version=v1")).contains("version"));
    }

    #[test]
    fn reports_corrupt_files() {
        let invalid = |text: &str| matches!(load(text.as_bytes()), Err(ModelError::Invalid(_)));
        let good = model("regression", 8, "");
        assert!(invalid(&good.replace("end of trees", "")), "truncated");
        assert!(invalid(&good.replace("right_child=-2", "right_child=-3")), "leaf out of range");
        assert!(invalid(&good.replace("left_child=-1", "left_child=0")), "cycle");
        assert!(invalid(&good.replace("leaf_value=1 2", "leaf_value=1")), "short array");
        assert!(invalid(&good.replace("leaf_value=1 2", "leaf_value=1 x")), "not a number");
        assert!(invalid(&good.replace("split_feature=0", "split_feature=2")), "feature out of range");
        assert!(invalid(&good.replace("decision_type=8", "decision_type=12")), "missing type 3");
        assert!(invalid(&good.replace("Tree=0", "Tree=1")), "tree out of order");
        assert!(invalid(&good.replace("max_feature_idx=1\n", "")), "no feature count");
        let huge = good.replace(
            "num_class=1\nnum_tree_per_iteration=1",
            "num_class=1000000000000\nnum_tree_per_iteration=1000000000000",
        );
        assert!(invalid(&huge.replace("objective=regression", "objective=multiclass num_class:1000000000000")));
        let no_trees = &good[..good.find("Tree=0").expect("has a tree")];
        assert!(invalid(&format!("{no_trees}end of trees\n")), "no trees");
        assert!(invalid(&good.replace("num_cat=0", &format!("num_cat={}", usize::MAX))), "num_cat overflow");
        assert!(invalid("{\"learner\": {}}"));
        assert!(invalid(""));
        assert!(matches!(load(&[0xff, 0xfe]), Err(ModelError::Invalid(_))));
    }

    #[test]
    fn reads_categorical_splits() {
        // Categories 1 and 33 go left: bit 1 of word 0 and bit 1 of word 1.
        let text = model("regression", 1, "")
            .replace("threshold=0.5", "threshold=0")
            .replace("num_cat=0", "num_cat=1\ncat_boundaries=0 2\ncat_threshold=2 2");
        for (value, expected) in
            [(1.0, 1.0), (1.9, 1.0), (33.0, 1.0), (0.0, 2.0), (2.0, 2.0), (-1.0, 2.0), (f64::NAN, 2.0), (1e12, 2.0)]
        {
            assert_eq!(margin(&text, value), expected, "category {value}");
        }
        // A set index past the sets, or boundaries past the words.
        assert!(matches!(load(text.replace("threshold=0", "threshold=1").as_bytes()), Err(ModelError::Invalid(_))));
        let bad = text.replace("cat_boundaries=0 2", "cat_boundaries=2 0");
        assert!(matches!(load(bad.as_bytes()), Err(ModelError::Invalid(_))));
    }

    proptest::proptest! {
        /// A corrupt file is an error, never a panic: any span of a valid model replaced
        /// by text made of the characters model files use.
        #[test]
        fn never_panics_on_corrupt_text(start in 0usize..600, len in 0usize..40, junk in "[-=0-9a-z_ .:\n]{0,40}") {
            let good = model("binary sigmoid:1", 10, "average_output\n");
            proptest::prop_assert!(load(good.as_bytes()).is_ok());
            let start = start.min(good.len());
            let end = (start + len).min(good.len());
            let text = format!("{}{junk}{}", &good[..start], &good[end..]);
            if let Ok(ensemble) = load(text.as_bytes()) {
                let row = vec![0.5; ensemble.num_features().min(64)];
                let _ = ensemble.predict(&row);
            }
        }
    }

    #[test]
    fn reads_a_single_leaf_tree() {
        let text = model("regression", 8, "").replace(
            "num_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=0.5\ndecision_type=8\n\
             left_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_weight=3 1\nleaf_count=3 1\n\
             internal_value=0\ninternal_weight=4\ninternal_count=4\n",
            "num_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\n\
             left_child=\nright_child=\nleaf_value=0.75\nleaf_weight=4\nleaf_count=4\n\
             internal_value=\ninternal_weight=\ninternal_count=\n",
        );
        assert_eq!(margin(&text, 3.0), 0.75);
    }
}
