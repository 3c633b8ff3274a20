//! Measures the ingest work below HTTP: preparing events (encoding, and sealing their
//! payloads with AES-256-GCM) and committing them in groups, as the server's request
//! threads and writer thread do, for 20 numeric and 5 categorical features and a tag.
//! Each round runs once with sealing and once without, side by side, on fresh
//! databases. Run: `cargo run --release -p sightline-store --example writer_throughput`
//! (optional arguments: events, events per commit, rounds).
//!
//! The unsealed leg builds `PreparedPrediction` by hand with plaintext payloads, which
//! the store would refuse to read back: it exists only here, to price the encryption.

use sightline_core::{FeatureSpec, FeatureType, FeatureValue, ModelSpec, PredictionEvent, Target, Task};
use sightline_store::{KeyRing, Keys, PreparedPrediction, SqliteOptions, SqliteStore, Store, WriteBatch};
use std::sync::Arc;
use std::time::Instant;

fn model() -> ModelSpec {
    let mut features: Vec<FeatureSpec> =
        (0..20).map(|i| FeatureSpec { name: format!("num_{i}"), kind: FeatureType::Numeric, nullable: true }).collect();
    features.extend((0..5).map(|i| FeatureSpec {
        name: format!("cat_{i}"),
        kind: FeatureType::Categorical,
        nullable: true,
    }));
    ModelSpec {
        name: "bench".into(),
        task: Task::BinaryClassification,
        features,
        classes: vec!["no".into(), "yes".into()],
        positive_class: Some("yes".into()),
        description: String::new(),
    }
}

fn event(i: usize) -> PredictionEvent {
    let cities = ["paris", "lyon", "berlin", "madrid", "rome"];
    let mut values: Vec<(u32, FeatureValue)> =
        (0..20).map(|f| (f, FeatureValue::Number(((i * 31 + f as usize * 7) % 1000) as f64 / 10.0))).collect();
    values.extend((0..5).map(|f| (20 + f, FeatureValue::Category(cities[(i + f as usize) % 5].into()))));
    PredictionEvent {
        request_id: format!("req-{i:010}"),
        timestamp_ms: 1_700_000_000_000 + i as i64,
        version: "v1".into(),
        features: values,
        prediction: Some(Target::Class("yes".into())),
        scores: vec![(1, 0.7)],
        latency_ms: Some(3.0),
        tags: vec![("region".into(), cities[i % 5].into())],
        error: None,
        attributions: Vec::new(),
    }
}

/// The same work as `PreparedPrediction::new` minus sealing.
fn prepare_unsealed(e: PredictionEvent) -> PreparedPrediction {
    let mut features = Vec::new();
    sightline_core::codec::encode_features(&e.features, &mut features);
    let mut scores = Vec::new();
    sightline_core::codec::encode_scores(&e.scores, &mut scores);
    PreparedPrediction {
        tags: Some(serde_json::to_vec(&e.tags).unwrap_or_default()),
        request_id: e.request_id,
        timestamp_ms: e.timestamp_ms,
        version: e.version,
        prediction: e.prediction,
        scores: Some(scores),
        latency_ms: e.latency_ms,
        features,
        error: e.error,
        attributions: None,
        feature_values: e.features.into(),
        score_values: e.scores,
    }
}

struct Leg {
    prepare_s: f64,
    commit_s: f64,
}

fn leg(events: usize, per_commit: usize, sealed: bool) -> Result<Leg, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let keys = Arc::new(Keys::new(KeyRing::generate(1)));
    let store = SqliteStore::open(&dir.path().join("bench.db"), SqliteOptions::default(), keys.clone())?;
    let model = store.create_model(&model(), 1, 0)?;
    let ring = keys.current();
    let mut writer = store.writer()?;
    let (mut prepare_s, mut commit_s) = (0.0, 0.0);
    let mut done = 0;
    while done < events {
        let n = per_commit.min(events - done);
        // Events are built before the clock starts: parsing is not what is measured.
        let raw: Vec<PredictionEvent> = (done..done + n).map(event).collect();
        let started = Instant::now();
        let prepared = if sealed {
            raw.into_iter().map(|e| PreparedPrediction::new(e, model.id, &ring)).collect::<Result<Vec<_>, _>>()?
        } else {
            raw.into_iter().map(prepare_unsealed).collect()
        };
        prepare_s += started.elapsed().as_secs_f64();
        let batch = WriteBatch::Predictions { model_id: model.id, received_ms: 0, events: prepared };
        let started = Instant::now();
        writer.commit(&[&batch])?;
        commit_s += started.elapsed().as_secs_f64();
        done += n;
    }
    Ok(Leg { prepare_s, commit_s })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let per_commit: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    println!("{events} events, {per_commit} per commit, {rounds} rounds");
    println!("| round | payloads | prepare µs/event | commit µs/event | total µs/event | events/s |");
    println!("|---|---|---|---|---|---|");
    // Per mode, the least disturbed round (other load on the machine only adds time).
    let mut best = [f64::MAX, f64::MAX];
    for round in 1..=rounds {
        for sealed in [false, true] {
            let l = leg(events, per_commit, sealed)?;
            let total = l.prepare_s + l.commit_s;
            best[usize::from(sealed)] = best[usize::from(sealed)].min(total);
            println!(
                "| {round} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
                if sealed { "sealed" } else { "plaintext" },
                l.prepare_s * 1e6 / events as f64,
                l.commit_s * 1e6 / events as f64,
                total * 1e6 / events as f64,
                events as f64 / total
            );
        }
    }
    println!(
        "best rounds: plaintext {:.2} µs/event, sealed {:.2} µs/event: sealed runs at {:.0} % of the plaintext rate",
        best[0] * 1e6 / events as f64,
        best[1] * 1e6 / events as f64,
        best[0] / best[1] * 100.0
    );
    Ok(())
}
