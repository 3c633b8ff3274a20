//! Covers counted on a background dataset, for models whose files carry none (ONNX).
//!
//! Path-dependent TreeSHAP weighs each branch by the share of the training data that
//! took it. XGBoost and LightGBM store that (hessian sums, data counts); ONNX tree
//! ensembles do not, so the caller hands in rows that stand for the training data and
//! every node's cover becomes the number of them that pass through it. With the
//! training set itself this is what scikit-learn's unweighted `n_node_samples` holds.

use super::{Ensemble, NodeKind};
use crate::error::ExplainError;

impl Ensemble {
    /// A copy of the ensemble whose covers are the number of `background` rows reaching
    /// each node (read as the model reads them, see [`super::Input`]). A split that no
    /// row reaches gets cover 0, which TreeSHAP refuses with [`ExplainError::ZeroCover`]
    /// rather than guess branch shares for it.
    pub fn with_covers_from(&self, background: &[Vec<f64>]) -> Result<Ensemble, ExplainError> {
        if background.is_empty() {
            return Err(ExplainError::EmptyBackground);
        }
        let rows = background.iter().map(|row| self.model_row(row)).collect::<Result<Vec<_>, _>>()?;
        let mut copy = self.clone();
        let rule = copy.parts.split_rule;
        for tree in &mut copy.parts.trees {
            let mut counts = vec![0u64; tree.nodes.len()];
            for row in &rows {
                // `Tree::new` checked that every walk ends at a leaf within the depth bound.
                let mut index = 0;
                loop {
                    counts[index] += 1;
                    match &tree.nodes[index].kind {
                        NodeKind::Leaf { .. } => break,
                        NodeKind::Split(split) => {
                            index = if split.goes_left(row[split.feature], rule) { split.left } else { split.right };
                        }
                    }
                }
            }
            for (node, count) in tree.nodes.iter_mut().zip(counts) {
                node.cover = count as f64;
            }
        }
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Condition, EnsembleParts, Input, Link, Missing, Node, Split, SplitRule, Tree};
    use super::*;

    #[test]
    fn counts_the_rows_through_each_node() {
        let split = Split {
            feature: 0,
            condition: Condition::Threshold(0.5),
            left: 1,
            right: 2,
            default_left: true,
            missing: Missing::Nan,
        };
        let nodes = vec![
            Node { kind: NodeKind::Split(split), cover: 0.0 },
            Node { kind: NodeKind::Leaf { value: 1.0 }, cover: 0.0 },
            Node { kind: NodeKind::Leaf { value: 2.0 }, cover: 0.0 },
        ];
        let ensemble = Ensemble::new(EnsembleParts {
            num_features: 1,
            num_outputs: 1,
            split_rule: SplitRule::LessOrEqual,
            input: Input::Double,
            trees: vec![Tree::new(nodes, 1).expect("tree")],
            tree_output: vec![0],
            base_margin: vec![0.0],
            link: Link::Identity,
            objective: "test".into(),
        })
        .expect("ensemble");
        let counted = ensemble.with_covers_from(&[vec![0.5], vec![f64::NAN], vec![0.7]]).expect("counts");
        let covers: Vec<f64> = counted.trees()[0].nodes().iter().map(|n| n.cover).collect();
        assert_eq!(covers, vec![3.0, 2.0, 1.0]);
        assert_eq!(ensemble.with_covers_from(&[]).err(), Some(ExplainError::EmptyBackground));
        assert_eq!(
            ensemble.with_covers_from(&[vec![1.0, 2.0]]).err(),
            Some(ExplainError::FeatureCount { expected: 1, got: 2 })
        );
    }
}
