//! ONNX tree ensembles: a graph whose one model operator is `ai.onnx.ml`'s
//! `TreeEnsembleClassifier` or `TreeEnsembleRegressor`, as skl2onnx and onnxmltools
//! write them, evaluated as onnxruntime does.
//!
//! Around the ensemble, only the nodes those converters add are accepted: `Cast` and
//! `Identity` between the graph input and the ensemble (a cast to float rounds the row
//! to float32, so the ensemble reads it as float32), and `ZipMap`, `Cast` and `Identity`
//! after it (they reshape outputs and change no number). Any other operator is refused
//! by name. The decoder is prost's, on the message subset in `proto.rs`; its nesting
//! limit and length checks bound what a hostile file can make it do.
//!
//! ONNX files carry no covers, so a loaded model has zero covers everywhere: call
//! [`crate::Ensemble::with_covers_from`] with a background set (the training data, or a
//! sample of it) before path-dependent TreeSHAP. Interventional TreeSHAP, predictions and
//! the model-agnostic methods need no covers.
//!
//! ONNX stores thresholds and weights as float32 (unless the `_as_tensor` doubles are
//! used), so a model converted from scikit-learn's float64 leaves differs from the
//! original in the seventh significant digit; predictions equal onnxruntime's, which
//! also sums the weights in float32, to about 1e-6 relative.

mod attributes;
mod proto;
mod trees;

use prost::Message;

use crate::ensemble::{Ensemble, EnsembleParts, Input};
use crate::error::ModelError;
use attributes::Attributes;
use proto::{GraphProto, NodeProto, data_type};
use trees::Operator;

/// The domain of the classical machine-learning operators.
const ML_DOMAIN: &str = "ai.onnx.ml";

/// Parses an ONNX model holding one tree ensemble.
pub fn load(bytes: &[u8]) -> Result<Ensemble, ModelError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| ModelError::Onnx(e.to_string()))?;
    let graph = model.graph.ok_or_else(|| ModelError::Invalid("onnx model has no graph".into()))?;

    let mut ensemble_node: Option<(&NodeProto, Operator)> = None;
    for node in &graph.node {
        match (node.domain.as_str(), node.op_type.as_str()) {
            (ML_DOMAIN, "TreeEnsembleClassifier" | "TreeEnsembleRegressor") => {
                if ensemble_node.is_some() {
                    return Err(ModelError::Unsupported("onnx graph with more than one tree ensemble".into()));
                }
                let operator =
                    if node.op_type == "TreeEnsembleClassifier" { Operator::Classifier } else { Operator::Regressor };
                ensemble_node = Some((node, operator));
            }
            (ML_DOMAIN, "ZipMap") | ("" | "ai.onnx", "Cast" | "Identity") => {}
            (domain, op) => {
                let domain = if domain.is_empty() { "ai.onnx" } else { domain };
                return Err(ModelError::Unsupported(format!(
                    "onnx operator {domain}.{op} (node {:?}); only TreeEnsembleClassifier or \
                     TreeEnsembleRegressor with Cast, Identity and ZipMap around it",
                    node.name
                )));
            }
        }
    }
    let Some((node, operator)) = ensemble_node else {
        return Err(ModelError::Unsupported(
            "onnx graph without a TreeEnsembleClassifier or TreeEnsembleRegressor node".into(),
        ));
    };
    let (input, declared_features) = input_of(&graph, node)?;
    let attrs = Attributes::new(&node.attribute);
    let num_features = match declared_features {
        Some(n) => n,
        // No fixed width in the graph: as wide as the highest feature a split uses.
        None => {
            attrs.ints("nodes_featureids").iter().filter_map(|&f| usize::try_from(f).ok()).max().map_or(1, |m| m + 1)
        }
    };
    let converted = trees::convert(operator, &attrs, num_features)?;
    Ensemble::new(EnsembleParts {
        num_features,
        num_outputs: converted.num_outputs,
        split_rule: converted.split_rule,
        input,
        trees: converted.trees,
        tree_output: converted.tree_output,
        base_margin: converted.base_margin,
        link: converted.link,
        objective: format!("onnx {} {}", node.op_type, converted.post_transform),
    })
}

/// The precision the ensemble reads rows in and the feature count the graph declares,
/// found by following its input back through `Cast`/`Identity` nodes to a graph input.
fn input_of(graph: &GraphProto, ensemble: &NodeProto) -> Result<(Input, Option<usize>), ModelError> {
    let mut name = ensemble.input.first().ok_or_else(|| ModelError::Invalid("tree ensemble has no input".into()))?;
    let mut float32 = false;
    // Each step moves to a different node; more steps than nodes means a cycle.
    for _ in 0..=graph.node.len() {
        if let Some(input) = graph.input.iter().find(|i| &i.name == name) {
            let tensor = input
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .ok_or_else(|| ModelError::Unsupported(format!("graph input {name:?} is not a tensor")))?;
            let precision = match tensor.elem_type {
                data_type::FLOAT => Input::Float32,
                data_type::DOUBLE if float32 => Input::Float32,
                data_type::DOUBLE => Input::Double,
                other => {
                    return Err(ModelError::Unsupported(format!(
                        "graph input {name:?} of element type {other}; float and double inputs are supported"
                    )));
                }
            };
            let width = tensor.shape.as_ref().and_then(|s| match s.dim.as_slice() {
                [_, features] => features.dim_value.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0),
                _ => None,
            });
            return Ok((precision, width));
        }
        let producer = graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == name))
            .ok_or_else(|| ModelError::Invalid(format!("tensor {name:?} has no producer and is no graph input")))?;
        match producer.op_type.as_str() {
            "Identity" => {}
            "Cast" => {
                let to = Attributes::new(&producer.attribute).int("to", 0);
                match i32::try_from(to) {
                    Ok(data_type::FLOAT) => float32 = true,
                    Ok(data_type::DOUBLE) => {}
                    _ => {
                        return Err(ModelError::Unsupported(format!(
                            "cast to element type {to} before the tree ensemble"
                        )));
                    }
                }
            }
            other => {
                return Err(ModelError::Unsupported(format!("operator {other} before the tree ensemble")));
            }
        }
        name = producer
            .input
            .first()
            .ok_or_else(|| ModelError::Invalid(format!("{} node has no input", producer.op_type)))?;
    }
    Err(ModelError::Invalid("the tree ensemble's input is produced by a cycle".into()))
}

#[cfg(test)]
mod tests {
    use super::proto::{
        AttributeProto, Dimension, ModelProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    };
    use super::*;

    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto { name: name.into(), ints: values.to_vec(), ..Default::default() }
    }

    fn floats(name: &str, values: &[f32]) -> AttributeProto {
        AttributeProto { name: name.into(), floats: values.to_vec(), ..Default::default() }
    }

    fn strings(name: &str, values: &[&str]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    fn string(name: &str, value: &str) -> AttributeProto {
        AttributeProto { name: name.into(), s: value.as_bytes().to_vec(), ..Default::default() }
    }

    /// A regressor with one split on feature 1 at 0.5 (mode given), leaves 1 (true) and
    /// 2 (false) worth -1 and 2, NaN tracking true; input `X` float of width 2.
    fn regressor(mode: &str) -> NodeProto {
        NodeProto {
            op_type: "TreeEnsembleRegressor".into(),
            domain: ML_DOMAIN.into(),
            input: vec!["X".into()],
            output: vec!["variable".into()],
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_featureids", &[1, 0, 0]),
                strings("nodes_modes", &[mode, "LEAF", "LEAF"]),
                floats("nodes_values", &[0.5, 0.0, 0.0]),
                ints("nodes_truenodeids", &[1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0]),
                ints("nodes_missing_value_tracks_true", &[1, 0, 0]),
                ints("target_treeids", &[0, 0]),
                ints("target_nodeids", &[1, 2]),
                ints("target_ids", &[0, 0]),
                floats("target_weights", &[-1.0, 2.0]),
                floats("base_values", &[0.25]),
            ],
            ..Default::default()
        }
    }

    fn model(nodes: Vec<NodeProto>, elem_type: i32) -> Vec<u8> {
        let shape = TensorShapeProto { dim: vec![Dimension { dim_value: None }, Dimension { dim_value: Some(2) }] };
        let input = ValueInfoProto {
            name: "X".into(),
            r#type: Some(TypeProto { tensor_type: Some(TypeProtoTensor { elem_type, shape: Some(shape) }) }),
        };
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto { node: nodes, input: vec![input], ..Default::default() }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn margin(bytes: &[u8], x: f64) -> f64 {
        let ensemble = load(bytes).expect("loads");
        ensemble.predict_margin(&[0.0, x]).expect("fits")[0]
    }

    #[test]
    fn evaluates_every_mode_as_onnxruntime() {
        let at = |mode: &str, x: f64| margin(&model(vec![regressor(mode)], data_type::FLOAT), x);
        // (mode, value, true branch?) with the true branch worth -1 + 0.25.
        let cases = [
            ("BRANCH_LEQ", 0.5, true),
            ("BRANCH_LEQ", 0.6, false),
            ("BRANCH_LT", 0.5, false),
            ("BRANCH_LT", 0.4, true),
            ("BRANCH_GT", 0.5, false),
            ("BRANCH_GT", 0.6, true),
            ("BRANCH_GTE", 0.5, true),
            ("BRANCH_GTE", 0.4, false),
            ("BRANCH_EQ", 0.5, true),
            ("BRANCH_EQ", 0.4, false),
            ("BRANCH_NEQ", 0.5, false),
            ("BRANCH_NEQ", 0.4, true),
        ];
        for (mode, x, true_branch) in cases {
            assert_eq!(at(mode, x), if true_branch { -0.75 } else { 2.25 }, "{mode} at {x}");
            // NaN tracks true here, and NEQ is true for NaN anyway.
            assert_eq!(at(mode, f64::NAN), -0.75, "{mode} at NaN");
        }
        // Without tracking, NaN takes the false branch, except for NEQ.
        for mode in ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE", "BRANCH_EQ", "BRANCH_NEQ"] {
            let mut node = regressor(mode);
            node.attribute[7] = ints("nodes_missing_value_tracks_true", &[0, 0, 0]);
            let expected = if mode == "BRANCH_NEQ" { -0.75 } else { 2.25 };
            assert_eq!(margin(&model(vec![node], data_type::FLOAT), f64::NAN), expected, "{mode}");
        }
        // Float input rounds the row to float32; a double input keeps it.
        let below = 0.5 + 1e-12;
        assert_eq!(margin(&model(vec![regressor("BRANCH_LEQ")], data_type::FLOAT), below), -0.75);
        assert_eq!(margin(&model(vec![regressor("BRANCH_LEQ")], data_type::DOUBLE), below), 2.25);
    }

    #[test]
    fn accepts_the_converters_nodes_around_the_ensemble() {
        let cast = NodeProto {
            op_type: "Cast".into(),
            input: vec!["X".into()],
            output: vec!["Xf".into()],
            attribute: vec![AttributeProto { name: "to".into(), i: 1, ..Default::default() }],
            ..Default::default()
        };
        let mut ensemble = regressor("BRANCH_LEQ");
        ensemble.input = vec!["Xf".into()];
        let identity = NodeProto {
            op_type: "Identity".into(),
            input: vec!["variable".into()],
            output: vec!["out".into()],
            ..Default::default()
        };
        // A double input cast to float is read as float32.
        let bytes = model(vec![cast, ensemble, identity], data_type::DOUBLE);
        assert_eq!(margin(&bytes, 0.5 + 1e-12), -0.75);
    }

    /// Each case edits the valid model and names a fragment of the expected error.
    #[test]
    fn refuses_what_it_cannot_evaluate() {
        let check = |edit: &dyn Fn(&mut Vec<NodeProto>), elem_type: i32, expected: &str| {
            let mut nodes = vec![regressor("BRANCH_LEQ")];
            edit(&mut nodes);
            let error = load(&model(nodes, elem_type)).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        };
        let set = |index: usize, attribute: AttributeProto| {
            move |nodes: &mut Vec<NodeProto>| nodes[0].attribute[index] = attribute.clone()
        };
        let none = |_: &mut Vec<NodeProto>| {};
        check(&none, 7, "element type 7; float and double inputs are supported");
        check(
            &|nodes| nodes.push(NodeProto { op_type: "Mul".into(), name: "scale".into(), ..Default::default() }),
            1,
            "onnx operator ai.onnx.Mul (node \"scale\")",
        );
        check(&|nodes| nodes.clear(), 1, "without a TreeEnsembleClassifier or TreeEnsembleRegressor");
        check(&|nodes| nodes.push(regressor("BRANCH_LEQ")), 1, "more than one tree ensemble");
        check(&set(3, strings("nodes_modes", &["BRANCH_XX", "LEAF", "LEAF"])), 1, "node mode \"BRANCH_XX\"");
        check(&set(4, floats("nodes_values", &[0.5])), 1, "nodes_values has 1 entries");
        check(&set(5, ints("nodes_truenodeids", &[7, 0, 0])), 1, "points to missing node 7");
        check(&set(5, ints("nodes_truenodeids", &[0, 0, 0])), 1, "node 0 is not reached from the root");
        check(&set(5, ints("nodes_truenodeids", &[2, 0, 0])), 1, "2 nodes are pointed to by no other");
        check(&set(2, ints("nodes_featureids", &[4, 0, 0])), 1, "splits on feature 4 of 2");
        check(&set(2, ints("nodes_featureids", &[-1, 0, 0])), 1, "splits on feature -1");
        check(&set(9, ints("target_nodeids", &[0, 2])), 1, "node 0 has target weights but is not a leaf");
        check(&set(10, ints("target_ids", &[0, 3])), 1, "target id 3 is not below 1");
        check(&set(8, ints("target_treeids", &[0, 5])), 1, "node 2 of tree 5, which does not exist");
        check(&set(12, floats("base_values", &[1.0, 2.0])), 1, "2 base_values for 1 output");
        check(&|nodes| nodes[0].attribute.push(string("aggregate_function", "MAX")), 1, "aggregate_function MAX");
        check(&|nodes| nodes[0].attribute.push(string("post_transform", "PROBIT")), 1, "post_transform PROBIT");
        check(
            &|nodes| {
                nodes[0].attribute[0] = ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]);
                nodes[0].attribute[1] = ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]);
                nodes[0].attribute[2] = ints("nodes_featureids", &[1, 0, 0, 1, 0, 0]);
                nodes[0].attribute[3] =
                    strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"]);
                nodes[0].attribute[4] = floats("nodes_values", &[0.5, 0.0, 0.0, 0.5, 0.0, 0.0]);
                nodes[0].attribute[5] = ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]);
                nodes[0].attribute[6] = ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]);
                nodes[0].attribute[7] = ints("nodes_missing_value_tracks_true", &[]);
            },
            1,
            "mixing BRANCH_LEQ/BRANCH_GT with BRANCH_LT/BRANCH_GTE",
        );
        assert!(matches!(load(&[0xff, 0xff, 0xff]), Err(ModelError::Onnx(_))));
        assert!(load(&ModelProto::default().encode_to_vec()).is_err_and(|e| e.to_string().contains("no graph")));
    }

    #[test]
    fn averages_and_splits_multi_output_leaves() {
        let mut node = regressor("BRANCH_LEQ");
        node.attribute[8] = ints("target_treeids", &[0, 0, 0]);
        node.attribute[9] = ints("target_nodeids", &[1, 2, 2]);
        node.attribute[10] = ints("target_ids", &[0, 0, 1]);
        node.attribute[11] = floats("target_weights", &[-1.0, 2.0, 4.0]);
        node.attribute[12] = floats("base_values", &[0.25, 0.5]);
        node.attribute.push(ints("n_targets", &[]));
        node.attribute.push(AttributeProto { name: "n_targets".into(), i: 2, ..Default::default() });
        node.attribute.push(string("aggregate_function", "AVERAGE"));
        let ensemble = load(&model(vec![node], data_type::FLOAT)).expect("loads");
        assert_eq!(ensemble.trees().len(), 2, "one copy of the tree per output it adds to");
        assert_eq!(ensemble.predict_margin(&[0.0, 1.0]).expect("fits"), vec![2.25, 4.5]);
        assert_eq!(ensemble.predict_margin(&[0.0, 0.0]).expect("fits"), vec![-0.75, 0.5]);
    }
}
