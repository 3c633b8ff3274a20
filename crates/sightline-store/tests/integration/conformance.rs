//! The conformance suite every `Store` backend must pass.

use sightline_core::{FeatureSpec, FeatureType, FeatureValue, LabelEvent, ModelSpec, PredictionEvent, Target, Task};
use sightline_store::{
    BatchOutcome, KeyId, KeyRing, Keys, LabelInsert, PredictionQuery, PreparedPrediction, ResealProgress, Resealed,
    Store, StoreError, StoredPayload, WriteBatch, sealed,
};

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

/// A prepared event of model `model_id`, sealed with the store's current keys.
fn event(store: &dyn Store, model_id: i64, request_id: &str, ts: i64, version: &str) -> PreparedPrediction {
    PreparedPrediction::new(raw_event(request_id, ts, version), model_id, &store.opener().ring).expect("seal")
}

pub fn raw_event(request_id: &str, ts: i64, version: &str) -> PredictionEvent {
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
        attributions: vec![(0, -0.5), (1, 0.25)],
    }
}

/// Runs every check; `keys` is the ring holder the store was opened with, whose first
/// ring must be `ring(&[1])` (rotation replaces it).
pub fn run_all(store: &dyn Store, keys: &Keys) {
    models_and_versions(store);
    features_are_appended_with_optimistic_concurrency(store);
    predictions_are_idempotent_and_round_trip(store);
    labels_join_in_either_order(store);
    listing_pages_newest_first(store);
    crate::access::run_all(store);
    crate::issues::run_all(store, &keys.current());
    crate::alerting::run_all(store);
    crate::retraining::run_all(store);
    crate::registry::run_all(store);
    payloads_are_sealed_and_bound_to_their_rows(store);
    // Last: it changes the store's keys.
    rotation_reseals_every_payload_and_old_keys_can_go(store, keys);
}

/// A ring of the given key ids; a key's bytes depend only on its id, so rings built
/// at different times agree.
pub fn ring(ids: &[KeyId]) -> KeyRing {
    KeyRing::new(ids.iter().map(|&id| (id, zeroize::Zeroizing::new([id as u8; 32]))).collect()).expect("a ring")
}

/// Re-encrypts every payload under the store's active key, in batches of `batch`, as
/// the server's background pass does; returns the rows it changed.
pub fn reseal_all(store: &dyn Store, batch: usize) -> usize {
    let mut w = store.writer().expect("writer");
    let opener = store.opener();
    let mut cursor = 0;
    let mut changed = 0;
    loop {
        let page = store.payloads(cursor, batch).expect("payloads");
        let finished = page.len() < batch;
        let rows: Vec<_> = page.iter().filter_map(|p| sealed::reseal(&opener, p).expect("reseal")).collect();
        cursor = page.last().map_or(cursor, |p| p.seq);
        let progress = ResealProgress { key_id: opener.ring.active_id(), cursor, finished };
        match w.commit(&[&WriteBatch::Reseal { rows, progress }]).expect("commit").as_slice() {
            [BatchOutcome::Resealed(n)] => changed += n,
            other => panic!("unexpected outcome {other:?}"),
        }
        if finished {
            return changed;
        }
    }
}

fn payloads_are_sealed_and_bound_to_their_rows(store: &dyn Store) {
    let m = store.create_model(&binary_model("eta"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    let events = vec![event(store, m.id, "one", 1, "v1"), event(store, m.id, "two", 2, "v1")];
    w.commit(&[&WriteBatch::Predictions { model_id: m.id, received_ms: 1, events }]).expect("commit");
    let active = store.opener().ring.active_id();
    let payloads: Vec<StoredPayload> =
        store.payloads(0, 100_000).expect("payloads").into_iter().filter(|p| p.model_id == m.id).collect();
    assert_eq!(payloads.len(), 2);
    for p in &payloads {
        assert_eq!(sealed::key_of(&p.features), Some(active), "features sealed under the active key");
        assert_eq!(p.tags.as_deref().and_then(sealed::key_of), Some(active), "tags sealed under the active key");
    }
    let (one, two) = (&payloads[0], &payloads[1]);
    // Plant row two's ciphertexts (and then plaintext) in row one, through the writer:
    // reading row one must fail, not show row two's values or the plaintext.
    let mut plant = |features: Vec<u8>, tags: Option<Vec<u8>>| {
        let current = store.payloads(one.seq - 1, 1).expect("payloads").remove(0);
        let rows =
            vec![Resealed { seq: one.seq, old_features: current.features, old_tags: current.tags, features, tags }];
        let progress = ResealProgress { key_id: 0, cursor: 0, finished: false };
        w.commit(&[&WriteBatch::Reseal { rows, progress }]).expect("commit");
    };
    plant(two.features.clone(), one.tags.clone());
    assert!(matches!(store.get_prediction(m.id, "one"), Err(StoreError::Corrupt(_))), "features from another row");
    plant(one.features.clone(), two.tags.clone());
    assert!(matches!(store.get_prediction(m.id, "one"), Err(StoreError::Corrupt(_))), "tags from another row");
    // Tags in the features column: same row, other column.
    plant(one.tags.clone().expect("tags"), one.tags.clone());
    assert!(matches!(store.get_prediction(m.id, "one"), Err(StoreError::Corrupt(_))), "column swap");
    let mut plain = Vec::new();
    sightline_core::codec::encode_features(&raw_event("one", 1, "v1").features, &mut plain);
    plant(plain, one.tags.clone());
    assert!(matches!(store.get_prediction(m.id, "one"), Err(StoreError::Corrupt(_))), "plaintext planted");
    let mut flipped = one.features.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    plant(flipped, one.tags.clone());
    assert!(matches!(store.get_prediction(m.id, "one"), Err(StoreError::Corrupt(_))), "tampered tag");
    assert!(store.list_predictions(&PredictionQuery { model_id: m.id, limit: 10, ..Default::default() }).is_err());
    // Put it back: it opens again, and row two was never touched.
    plant(one.features.clone(), one.tags.clone());
    assert_eq!(store.get_prediction(m.id, "one").expect("get").expect("stored").tags, raw_event("one", 1, "v1").tags);
    assert_eq!(
        store.get_prediction(m.id, "two").expect("get").expect("stored").features,
        raw_event("two", 2, "v1").features
    );
}

fn rotation_reseals_every_payload_and_old_keys_can_go(store: &dyn Store, keys: &Keys) {
    let m = store.create_model(&binary_model("theta"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    let ids: Vec<String> = (0..250).map(|i| format!("t{i}")).collect();
    let batch = |ids: &[String]| WriteBatch::Predictions {
        model_id: m.id,
        received_ms: 1,
        events: ids.iter().map(|id| event(store, m.id, id, 7, "v1")).collect(),
    };
    w.commit(&[&batch(&ids[..200])]).expect("commit under key 1");
    keys.replace(ring(&[1, 2]));
    w.commit(&[&batch(&ids[200..])]).expect("commit under key 2");
    let under = |k: KeyId| {
        store.payloads(0, 100_000).expect("payloads").iter().filter(|p| sealed::key_of(&p.features) == Some(k)).count()
    };
    assert!(under(1) >= 200 && under(2) == 50, "before: {} under 1, {} under 2", under(1), under(2));
    let total = store.payloads(0, 100_000).expect("payloads").len();
    let changed = reseal_all(store, 64);
    assert_eq!((changed, under(1), under(2)), (total - 50, 0, total), "every row now under key 2");
    let state = store.encryption_state().expect("state");
    assert_eq!((state.key_id, state.finished, state.plaintext_max_seq), (2, true, 0));
    assert_eq!(reseal_all(store, 64), 0, "a second pass finds nothing to do");
    // Key 1 is gone: everything still opens.
    keys.replace(ring(&[2]));
    for id in &ids {
        let p = store.get_prediction(m.id, id).expect("opens without key 1").expect("stored");
        assert_eq!(p.features, raw_event(id, 7, "v1").features);
    }
    // Without key 2, nothing does: an error, not plaintext.
    keys.replace(ring(&[3]));
    assert!(matches!(store.get_prediction(m.id, "t0"), Err(StoreError::Corrupt(_))));
    keys.replace(ring(&[2]));
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
        events: ids.iter().map(|id| event(store, m.id, id, 500, "v7")).collect(),
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
    assert_eq!(
        (got.features, got.prediction, got.scores, got.attributions),
        (want.features, want.prediction, want.scores, want.attributions)
    );
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
        events: vec![event(store, m.id, "early", 100, "v1"), event(store, m.id, "late", 101, "v1")],
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
    let events: Vec<_> = (0..25)
        .map(|i| event(store, m.id, &format!("r{i}"), 1000 + (i % 10), if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
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
