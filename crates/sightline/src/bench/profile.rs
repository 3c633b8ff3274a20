//! The profile-update benchmark: rows of 20 numeric and 5 categorical features folded
//! in-process into profiles by the aggregator's own code (`Layout::fold`), on one thread
//! and on every core (row ranges folded apart, then merged — what the aggregator's
//! profiles allow), with the merge counted in the time.

use rand::{Rng, SeedableRng};
use sightline_core::{FeatureSpec, FeatureType, FeatureValue, ModelSpec, Task};
use sightline_server::aggregate::layout::Layout;
use sightline_store::FoldEvent;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows to fold.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Threads for the parallel run [default: the number of cores].
    #[arg(long)]
    threads: Option<usize>,
}

const NUMERIC: usize = 20;
const CATEGORICAL: usize = 5;
const CITIES: [&str; 8] = ["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lisbon", "vienna"];

fn spec() -> ModelSpec {
    let feature = |name: String, kind| FeatureSpec { name, kind, nullable: true };
    let mut features: Vec<FeatureSpec> =
        (0..NUMERIC).map(|i| feature(format!("num_{i}"), FeatureType::Numeric)).collect();
    features.extend((0..CATEGORICAL).map(|i| feature(format!("cat_{i}"), FeatureType::Categorical)));
    ModelSpec {
        name: "bench".into(),
        task: Task::BinaryClassification,
        features,
        classes: vec!["no".into(), "yes".into()],
        positive_class: Some("yes".into()),
        description: String::new(),
    }
}

fn rows(n: usize) -> Vec<FoldEvent> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let mut features = Vec::with_capacity(NUMERIC + CATEGORICAL);
            for f in 0..NUMERIC {
                features.push((f as u32, FeatureValue::Number(rng.random::<f64>() * 100.0 + f as f64)));
            }
            for f in 0..CATEGORICAL {
                let city = CITIES[rng.random_range(0..CITIES.len())];
                features.push(((NUMERIC + f) as u32, FeatureValue::Category(city.to_owned())));
            }
            FoldEvent {
                seq: i as i64 + 1,
                model_id: 1,
                version_id: 1,
                timestamp_ms: 0,
                features: features.into(),
                prediction: None,
                scores: Vec::new(),
                latency_ms: None,
                has_error: false,
            }
        })
        .collect()
}

fn fold(layout: &Layout, rows: &[FoldEvent], seed: u64) -> anyhow::Result<sightline_stats::profile::Profile> {
    let mut columns = layout.empty(seed)?;
    // In runs, as the aggregator folds a chunk of the log.
    for run in rows.chunks(5_000) {
        let refs: Vec<&FoldEvent> = run.iter().collect();
        layout.fold_many(&mut columns, &refs);
    }
    Ok(layout.profile(columns))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = spec();
    let layout = Layout::new(&spec, None);
    let data = rows(args.rows);
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);

    let started = Instant::now();
    let one = fold(&layout, &data, 1)?;
    let single = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let chunk = data.len().div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<sightline_stats::profile::Profile>> = std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(chunk)
            .enumerate()
            .map(|(i, rows)| {
                let layout = &layout;
                s.spawn(move || fold(layout, rows, i as u64 + 1))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a fold thread panicked"))))
            .collect()
    });
    let mut merged = sightline_stats::profile::Profile::new();
    for part in parts {
        merged.merge(&part?)?;
    }
    let parallel = started.elapsed().as_secs_f64();
    anyhow::ensure!(merged.len() == one.len(), "the parallel profile has other columns");

    let n = args.rows as f64;
    println!(
        "profile updates: {} rows x {} columns ({NUMERIC} numeric, {CATEGORICAL} categorical)",
        args.rows,
        NUMERIC + CATEGORICAL
    );
    println!("  1 thread:   {:>8.3} s  {:>12.0} rows/s", single, n / single);
    println!("  {threads} threads:  {:>8.3} s  {:>12.0} rows/s (fold apart, then merge)", parallel, n / parallel);
    Ok(())
}
