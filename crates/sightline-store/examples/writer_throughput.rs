//! Measures the SQLite writer alone: prepared events (20 numeric and 5 categorical
//! features) committed in groups, as the server's writer thread does, with no HTTP and
//! no parsing. Run: `cargo run --release -p sightline-store --example writer_throughput`
//! (optional arguments: events, events per commit).

use sightline_core::{FeatureSpec, FeatureType, FeatureValue, ModelSpec, PredictionEvent, Target, Task};
use sightline_store::{PreparedPrediction, SqliteOptions, SqliteStore, Store, WriteBatch};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let per_commit: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("bench.db"), SqliteOptions::default())?;
    let mut features: Vec<FeatureSpec> =
        (0..20).map(|i| FeatureSpec { name: format!("num_{i}"), kind: FeatureType::Numeric, nullable: true }).collect();
    features.extend((0..5).map(|i| FeatureSpec {
        name: format!("cat_{i}"),
        kind: FeatureType::Categorical,
        nullable: true,
    }));
    let model = store.create_model(
        &ModelSpec {
            name: "bench".into(),
            task: Task::BinaryClassification,
            features,
            classes: vec!["no".into(), "yes".into()],
            positive_class: Some("yes".into()),
            description: String::new(),
        },
        1,
        0,
    )?;
    let mut writer = store.writer()?;
    let cities = ["paris", "lyon", "berlin", "madrid", "rome"];
    let make = |i: usize| {
        let mut values: Vec<(u32, FeatureValue)> =
            (0..20).map(|f| (f, FeatureValue::Number(((i * 31 + f as usize * 7) % 1000) as f64 / 10.0))).collect();
        values.extend((0..5).map(|f| (20 + f, FeatureValue::Category(cities[(i + f as usize) % 5].into()))));
        PreparedPrediction::new(PredictionEvent {
            request_id: format!("req-{i:010}"),
            timestamp_ms: 1_700_000_000_000 + i as i64,
            version: "v1".into(),
            features: values,
            prediction: Some(Target::Class("yes".into())),
            scores: vec![(1, 0.7)],
            latency_ms: Some(3.0),
            tags: vec![],
            error: None,
        })
    };
    let mut commit_time = 0.0;
    let mut done = 0;
    while done < events {
        let n = per_commit.min(events - done);
        let batch = WriteBatch::Predictions {
            model_id: model.id,
            received_ms: 0,
            events: (done..done + n).map(make).collect(),
        };
        let started = Instant::now();
        writer.commit(&[&batch])?;
        commit_time += started.elapsed().as_secs_f64();
        done += n;
    }
    println!(
        "{events} events, {per_commit} per commit: {commit_time:.2} s in commits, {:.0} events/s, {:.2} µs per event",
        events as f64 / commit_time,
        commit_time * 1e6 / events as f64
    );
    Ok(())
}
