//! Measures the request-side cost of ingest alone: parsing, validating, encoding and
//! sealing a 1,000-event JSON batch (20 numeric and 5 categorical features),
//! single-threaded, no HTTP and no database; then the same without sealing, to price
//! the encryption. Run: `cargo run --release -p sightline-server --example parse_throughput`.

use sightline_core::{FeatureSpec, FeatureType, ModelIndex, ModelSpec, Task};
use sightline_core::{Problem, Reason};
use sightline_server::batch;
use sightline_server::body::BatchFormat;
use sightline_server::wire::prediction;
use sightline_store::{KeyRing, PreparedPrediction};
use std::fmt::Write as _;
use std::time::Instant;

fn main() {
    let mut features: Vec<FeatureSpec> =
        (0..20).map(|i| FeatureSpec { name: format!("num_{i}"), kind: FeatureType::Numeric, nullable: true }).collect();
    features.extend((0..5).map(|i| FeatureSpec {
        name: format!("cat_{i}"),
        kind: FeatureType::Categorical,
        nullable: true,
    }));
    let model = ModelIndex::new(ModelSpec {
        name: "bench".into(),
        task: Task::BinaryClassification,
        features,
        classes: vec!["no".into(), "yes".into()],
        positive_class: Some("yes".into()),
        description: String::new(),
    });
    let mut body = String::from("{\"events\":[");
    for i in 0..1000 {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(body, "{{\"request_id\":\"req-{i:010}\",\"version\":\"v1\",\"features\":{{");
        for f in 0..20 {
            let _ = write!(body, "\"num_{f}\":{:.6},", (i * 7 + f * 13) as f64 / 3.7);
        }
        for f in 0..5 {
            let _ = write!(body, "\"cat_{f}\":\"city{}\"{}", (i + f) % 8, if f < 4 { "," } else { "}" });
        }
        let _ = write!(body, ",\"prediction\":\"yes\",\"scores\":{{\"yes\":0.7311}},\"latency_ms\":4.25}}");
    }
    body.push_str("]}");
    let rounds = 300;
    // Phase 1 alone: the JSON tree.
    let started = Instant::now();
    for _ in 0..rounds {
        let tree = sightline_server::wire::loose::parse(body.as_bytes());
        assert!(tree.is_ok());
    }
    let tree_secs = started.elapsed().as_secs_f64();
    // For scale: serde_json's own untyped tree.
    let started = Instant::now();
    for _ in 0..rounds {
        let tree: Result<serde_json::Value, _> = serde_json::from_slice(body.as_bytes());
        assert!(tree.is_ok());
    }
    let value_secs = started.elapsed().as_secs_f64();
    let ring = KeyRing::generate(1);
    let prepare = |v: sightline_server::wire::loose::Loose<'_>| {
        let e = prediction::parse(v, &model, 0)?;
        PreparedPrediction::new(e, 1, &ring).map_err(|e| vec![Problem::new("", Reason::TooLong, e.to_string())])
    };
    let sealed = || {
        let parsed =
            batch::parse(body.as_bytes(), BatchFormat::Json, "events", 10_000, prepare, |e: &PreparedPrediction| {
                e.request_id.as_str()
            });
        parsed.map(|p| p.valid.len()).unwrap_or(0)
    };
    // The same work without sealing: parse, validate and encode only.
    let unsealed = || {
        let parsed = batch::parse(
            body.as_bytes(),
            BatchFormat::Json,
            "events",
            10_000,
            |v| {
                let e = prediction::parse(v, &model, 0)?;
                let mut features = Vec::new();
                sightline_core::codec::encode_features(&e.features, &mut features);
                Ok((e.request_id, features))
            },
            |e: &(String, Vec<u8>)| e.0.as_str(),
        );
        parsed.map(|p| p.valid.len()).unwrap_or(0)
    };
    // Alternating slices, so that other load on the machine hits both alike; the best
    // slice of each is the least disturbed measurement.
    let slices = 10;
    let (mut secs, mut unsealed_secs, mut best, mut best_unsealed) = (0.0, 0.0, f64::MAX, f64::MAX);
    let mut valid = 0;
    for _ in 0..slices {
        let started = Instant::now();
        for _ in 0..rounds / slices {
            valid += sealed();
        }
        let t = started.elapsed().as_secs_f64();
        (secs, best) = (secs + t, best.min(t));
        let started = Instant::now();
        for _ in 0..rounds / slices {
            assert_eq!(unsealed(), 1000);
        }
        let t = started.elapsed().as_secs_f64();
        (unsealed_secs, best_unsealed) = (unsealed_secs + t, best_unsealed.min(t));
    }
    let events = (rounds * 1000) as f64;
    let slice_events = events / slices as f64;
    assert_eq!(valid, rounds * 1000, "every event is valid");
    println!(
        "JSON tree alone: {:.2} µs per event (serde_json::Value: {:.2} µs)",
        tree_secs * 1e6 / events,
        value_secs * 1e6 / events
    );
    println!(
        "with sealing: {:.2} µs per event (best slice {:.2}); without: {:.2} µs (best slice {:.2}); \
         sealing adds {:.2} µs (best slices: {:.2} µs)",
        secs * 1e6 / events,
        best * 1e6 / slice_events,
        unsealed_secs * 1e6 / events,
        best_unsealed * 1e6 / slice_events,
        (secs - unsealed_secs) * 1e6 / events,
        (best - best_unsealed) * 1e6 / slice_events
    );
    println!(
        "{} bytes per batch; {:.2} µs per event ({:.0} events/s on one core), {:.0} MB/s of JSON",
        body.len(),
        secs * 1e6 / events,
        events / secs,
        body.len() as f64 * rounds as f64 / secs / 1e6
    );
}
