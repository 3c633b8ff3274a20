//! Column profile updates alone, no server types: 1,000,000 values into one numeric
//! profile (moments and KLL sketch) and into one categorical profile (eight cities), to
//! see each kind's cost per value while tuning. `sightline bench profile` measures whole
//! rows through the aggregator's layout.
//!
//! `cargo run --release -p sightline-stats --example profile_updates [values]`

use sightline_stats::profile::{CategoricalProfile, NumericProfile};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    // A fixed linear congruential sequence: the same values on every run.
    let mut state = 7u64;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 100.0
        })
        .collect();
    let cities = ["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lisbon", "vienna"];
    for round in 0..3 {
        let start = Instant::now();
        let mut numeric = NumericProfile::new(200, round).expect("a valid k");
        for v in &values {
            numeric.update(Some(*v));
        }
        let numeric_ns = start.elapsed().as_nanos() as f64 / n as f64;
        // The aggregator's path: a run of values at once.
        let start = Instant::now();
        let mut batched = NumericProfile::new(200, round).expect("a valid k");
        for run in values.chunks(512) {
            batched.update_many(run);
        }
        let batched_ns = start.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(batched.encode(), numeric.encode(), "update_many must build what update builds");
        let start = Instant::now();
        let mut categorical = CategoricalProfile::new(1_000, 12).expect("valid parameters");
        for v in &values {
            categorical.update(Some(cities[(*v as usize) % cities.len()]));
        }
        let categorical_ns = start.elapsed().as_nanos() as f64 / n as f64;
        // The deciles show that a change to the update path left the sketch as it was.
        let deciles: Vec<f64> = (1..10).filter_map(|d| numeric.quantile(f64::from(d) / 10.0)).collect();
        println!(
            "round {round}: numeric {numeric_ns:.1} ns/value (count {}; in runs {batched_ns:.1}), categorical \
             {categorical_ns:.1} ns/value \
             (count {}); deciles {deciles:?}",
            numeric.count(),
            categorical.count()
        );
    }
}
