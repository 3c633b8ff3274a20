//! Additivity on random rows for every fixture model: expected value plus attributions
//! is the margin, for each output, with missing values and values on split thresholds.

use proptest::prelude::*;
use sightline_explain::{Condition, NodeKind, Split, TreeShap};

use crate::fixtures::ALL;

/// Every split threshold of every fixture model, so rows land exactly on them.
fn thresholds() -> Vec<f64> {
    ALL.iter()
        .flat_map(|fixture| {
            let ensemble = fixture.ensemble();
            ensemble
                .trees()
                .iter()
                .flat_map(|tree| tree.nodes().iter())
                .filter_map(|node| match &node.kind {
                    NodeKind::Split(Split {
                        condition: Condition::Threshold(threshold) | Condition::Equal(threshold),
                        ..
                    }) => Some(*threshold),
                    NodeKind::Split(Split { condition: Condition::Categories(_), .. }) => None,
                    NodeKind::Leaf { .. } => None,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn value() -> impl Strategy<Value = f64> {
    let on_threshold = prop::sample::select(thresholds());
    prop_oneof![2 => Just(f64::NAN), 2 => on_threshold, 6 => -4.0f64..4.0]
}

proptest! {
    #[test]
    fn attributions_add_up_to_the_margin(fixture in 0..ALL.len(), row in prop::collection::vec(value(), 6)) {
        let ensemble = ALL[fixture].ensemble();
        prop_assert_eq!(ensemble.num_features(), row.len());
        let shap = TreeShap::new(&ensemble).expect("positive covers");
        // `explain` checks additivity itself and errs otherwise; check it again here
        // against the independent prediction path.
        let attributions = shap.explain(&row).expect("additive");
        let margin = ensemble.predict_margin(&row).expect("row fits");
        for (output, &margin) in margin.iter().enumerate() {
            let total = attributions.expected_value(output) + attributions.values(output).iter().sum::<f64>();
            prop_assert!((total - margin).abs() <= 1e-9 * margin.abs().max(1.0), "output {output}: {total} vs {margin}");
        }
    }
}
