//! The conformance suite every `Store` backend must pass.

use sightline_core::{FeatureSpec, FeatureType, FeatureValue, LabelEvent, ModelSpec, PredictionEvent, Target, Task};
use sightline_store::{BatchOutcome, LabelInsert, PredictionQuery, PreparedPrediction, Store, StoreError, WriteBatch};

pub fn binary_model(name: &str) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        task: Task::BinaryClassification,
        features: vec![
            FeatureSpec { name: "x".into(), kind: FeatureType::Numeric, nullable: false },
            FeatureSpec { name: "c".into(), kind: FeatureType::Categorical, nullable: true },
        ],
        classes: vec!["no".into(), "yes".into()],
        positive_class: Some("yes".into()),
        description: "test model".into(),
    }
}

fn event(request_id: &str, ts: i64, version: &str) -> PreparedPrediction {
    PreparedPrediction::new(raw_event(request_id, ts, version))
}

fn raw_event(request_id: &str, ts: i64, version: &str) -> PredictionEvent {
    PredictionEvent {
        request_id: request_id.into(),
        timestamp_ms: ts,
        version: version.into(),
        features: vec![(0, FeatureValue::Number(ts as f64)), (1, FeatureValue::Category("a".into()))],
        prediction: Some(Target::Class("yes".into())),
        scores: vec![(1, 0.75)],
        latency_ms: Some(3.5),
        tags: vec![("region".into(), "eu".into())],
        error: None,
    }
}

pub fn run_all(store: &dyn Store) {
    models_and_versions(store);
    features_are_appended_with_optimistic_concurrency(store);
    predictions_are_idempotent_and_round_trip(store);
    labels_join_in_either_order(store);
    listing_pages_newest_first(store);
    crate::access::run_all(store);
}

fn models_and_versions(store: &dyn Store) {
    let m = store.create_model(&binary_model("alpha"), 1, 10).expect("create");
    assert_eq!(m.spec, binary_model("alpha"));
    assert!(matches!(store.create_model(&binary_model("alpha"), 1, 11), Err(StoreError::Conflict(_))));
    store.create_model(&binary_model("beta"), 1, 12).expect("create beta");
    let names: Vec<_> = store.list_models(None, 10, None).expect("list").into_iter().map(|m| m.spec.name).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let after: Vec<_> =
        store.list_models(Some("alpha"), 10, None).expect("list").into_iter().map(|m| m.spec.name).collect();
    assert_eq!(after, ["beta"]);
    assert_eq!(store.get_model("nope").expect("get"), None);

    let v = store.create_version(m.id, "v1", "first", 20).expect("version");
    assert_eq!((v.name.as_str(), v.description.as_str()), ("v1", "first"));
    assert!(matches!(store.create_version(m.id, "v1", "", 21), Err(StoreError::Conflict(_))));
    store.create_version(m.id, "v0", "", 22).expect("v0");
    let versions: Vec<_> = store.list_versions(m.id, None, 10).expect("list").into_iter().map(|v| v.name).collect();
    assert_eq!(versions, ["v0", "v1"]);
}

fn predictions_are_idempotent_and_round_trip(store: &dyn Store) {
    let m = store.create_model(&binary_model("gamma"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    let batch = |ids: &[&str]| WriteBatch::Predictions {
        model_id: m.id,
        received_ms: 1000,
        events: ids.iter().map(|id| event(id, 500, "v7")).collect(),
    };
    let out = w.commit(&[&batch(&["a", "b"]), &batch(&["b", "c"])]).expect("commit");
    assert_eq!(out, vec![BatchOutcome::Predictions(vec![true, true]), BatchOutcome::Predictions(vec![false, true])]);
    let out = w.commit(&[&batch(&["a"])]).expect("commit");
    assert_eq!(out, vec![BatchOutcome::Predictions(vec![false])]);

    store.maintain().expect("maintenance runs beside a writer");
    let got = store.get_prediction(m.id, "a").expect("get").expect("stored");
    let want = raw_event("a", 500, "v7");
    assert_eq!(
        (got.request_id, got.timestamp_ms, got.received_ms, got.version),
        (want.request_id, want.timestamp_ms, 1000, want.version)
    );
    assert_eq!((got.features, got.prediction, got.scores), (want.features, want.prediction, want.scores));
    assert_eq!((got.latency_ms, got.tags, got.error, got.label), (want.latency_ms, want.tags, None, None));
    // An event naming an unknown version registers it.
    let versions: Vec<_> = store.list_versions(m.id, None, 10).expect("list").into_iter().map(|v| v.name).collect();
    assert_eq!(versions, ["v7"]);
    let stored = store
        .list_predictions(&PredictionQuery {
            model_id: m.id,
            version: Some("v7".into()),
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(stored.len(), 3, "a, b and c, each once");
}

fn labels_join_in_either_order(store: &dyn Store) {
    let m = store.create_model(&binary_model("delta"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    let label = |id: &str| LabelEvent { request_id: id.into(), timestamp_ms: 900, label: Target::Class("no".into()) };
    // "early" gets its label before its prediction, "late" after.
    let out = w
        .commit(&[&WriteBatch::Labels { model_id: m.id, received_ms: 1, events: vec![label("early")] }])
        .expect("commit");
    assert_eq!(out, vec![BatchOutcome::Labels(vec![LabelInsert::Stored { version: None }])]);
    w.commit(&[&WriteBatch::Predictions {
        model_id: m.id,
        received_ms: 2,
        events: vec![event("early", 100, "v1"), event("late", 101, "v1")],
    }])
    .expect("commit");
    let out = w
        .commit(&[&WriteBatch::Labels { model_id: m.id, received_ms: 3, events: vec![label("late"), label("early")] }])
        .expect("commit");
    assert_eq!(
        out,
        vec![BatchOutcome::Labels(vec![LabelInsert::Stored { version: Some("v1".into()) }, LabelInsert::Duplicate])]
    );
    for id in ["early", "late"] {
        let p = store.get_prediction(m.id, id).expect("get").expect("stored");
        let l = p.label.expect("label joined");
        assert_eq!((l.label, l.timestamp_ms), (Target::Class("no".into()), 900));
    }
}

fn listing_pages_newest_first(store: &dyn Store) {
    let m = store.create_model(&binary_model("epsilon"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    let events: Vec<_> =
        (0..25).map(|i| event(&format!("r{i}"), 1000 + (i % 10), if i % 2 == 0 { "even" } else { "odd" })).collect();
    w.commit(&[&WriteBatch::Predictions { model_id: m.id, received_ms: 5, events }]).expect("commit");

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_predictions(&PredictionQuery { model_id: m.id, before, limit: 7, ..Default::default() })
            .expect("list");
        if page.is_empty() {
            break;
        }
        before = page.last().map(|p| (p.timestamp_ms, p.seq));
        seen.extend(page.into_iter().map(|p| (p.timestamp_ms, p.seq, p.request_id)));
    }
    assert_eq!(seen.len(), 25, "every event exactly once across pages");
    assert!(seen.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)), "newest first");

    let q = PredictionQuery {
        model_id: m.id,
        from_ms: Some(1002),
        to_ms: Some(1005),
        version: Some("even".into()),
        limit: 100,
        ..Default::default()
    };
    let got: Vec<_> = store.list_predictions(&q).expect("list").into_iter().map(|p| p.timestamp_ms).collect();
    // Even-indexed events with ts in [1002, 1005): i ∈ {2, 4, 12, 14, 22, 24}.
    assert_eq!(got, vec![1004, 1004, 1004, 1002, 1002, 1002]);
}

fn features_are_appended_with_optimistic_concurrency(store: &dyn Store) {
    let m = store.create_model(&binary_model("zeta"), 1, 1).expect("create");
    let extra = FeatureSpec { name: "vip".into(), kind: FeatureType::Boolean, nullable: true };
    let grown = m.spec.with_features_appended(vec![extra]).expect("valid");
    let updated = store.update_model_spec(&grown, 2).expect("update").expect("exists");
    assert_eq!((updated.id, updated.created_ms, &updated.spec), (m.id, 1, &grown));
    assert_eq!(store.get_model("zeta").expect("get").expect("exists").spec, grown);
    // A writer that read the old spec loses.
    assert!(matches!(store.update_model_spec(&grown, 2), Err(StoreError::Changed(_))));
    let mut gone = grown.clone();
    gone.name = "nope".into();
    assert_eq!(store.update_model_spec(&gone, 3).expect("no error"), None);
}
