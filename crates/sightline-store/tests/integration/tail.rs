//! The committed tail answers the aggregator's reads exactly as the event log does:
//! the same predictions with the same values, early labels joined, in `seq` order.

use crate::conformance::{binary_model, raw_event, ring};
use sightline_core::{ErrorInfo, FeatureValue, LabelEvent, Target};
use sightline_store::{
    Keys, PreparedPrediction, ProfileStore, SqliteOptions, SqliteStore, Store, TallyStore, WriteBatch,
};
use std::sync::Arc;

fn open(path: &std::path::Path, tail_events: usize) -> SqliteStore {
    let options = SqliteOptions { tail_events, ..SqliteOptions::default() };
    SqliteStore::open(path, options, Arc::new(Keys::new(ring(&[1])))).expect("open")
}

/// Predictions of every shape: numbers and categories, missing features, scores or
/// none, regression-like numbers as predictions, failures, several versions.
fn predictions(store: &SqliteStore, model_id: i64, prefix: &str, from: i64, n: i64) -> WriteBatch {
    let ring = store.opener().ring;
    let events = (from..from + n)
        .map(|i| {
            let mut e = raw_event(&format!("{prefix}{i}"), 1_000 + i * 7_919, if i % 3 == 0 { "v2" } else { "v1" });
            e.features = match i % 4 {
                0 => vec![(0, FeatureValue::Number(i as f64 * 0.5))],
                1 => vec![(0, FeatureValue::Number(-1.0)), (1, FeatureValue::Category(format!("c{}", i % 5)))],
                2 => vec![(1, FeatureValue::Category("only".into()))],
                _ => vec![],
            };
            if i % 5 == 0 {
                e.scores = vec![];
                e.prediction = Some(Target::Class("no".into()));
            }
            if i % 11 == 0 {
                e.prediction = None;
                e.error = Some(ErrorInfo { kind: "ValueError".into(), message: format!("bad row {i}") });
            }
            if i % 13 == 0 {
                e.latency_ms = None;
            }
            PreparedPrediction::new(e, model_id, &ring).expect("seal")
        })
        .collect();
    WriteBatch::Predictions { model_id, received_ms: 5, events }
}

fn labels(model_id: i64, prefix: &str, ids: impl Iterator<Item = i64>) -> WriteBatch {
    let events = ids
        .map(|i| LabelEvent {
            request_id: format!("{prefix}{i}"),
            timestamp_ms: 50_000 + i,
            label: Target::Class(if i % 2 == 0 { "yes" } else { "no" }.into()),
        })
        .collect();
    WriteBatch::Labels { model_id, received_ms: 6, events }
}

/// Reads from every position past `from` with several chunk sizes, as the two passes do,
/// and compares each answer with the log's; the tail must answer past `tail_from`.
fn assert_reads_as_the_log(store: &SqliteStore, from: i64, tail_from: i64) {
    let max = store.max_seq().expect("max seq");
    for after in from..=max {
        assert_eq!(store.tail_covers(after), after >= tail_from, "tail coverage after {after}");
        for limit in [1, 7, 1_000] {
            let folded = store.fold_events(after, limit).expect("fold events");
            assert_eq!(folded, store.fold_events_from_log(after, limit).expect("log"), "fold after {after}");
            let tallied = store.tally_events(after, limit).expect("tally events");
            assert_eq!(tallied, store.tally_events_from_log(after, limit).expect("log"), "tally after {after}");
        }
    }
}

#[test]
fn the_committed_tail_reads_as_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let store = open(&path, 100_000);
    let plain = store.create_model(&binary_model("plain"), 1, 0).expect("create");
    let labelled = store.create_model(&binary_model("labelled"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    w.commit(&[&predictions(&store, plain.id, "p", 0, 40)]).expect("commit");
    // Early labels (no prediction yet) for the second model; late ones for the first.
    w.commit(&[&labels(labelled.id, "q", (0..40).step_by(3)), &labels(plain.id, "p", 0..10)]).expect("commit");
    // One transaction: a label before its prediction, predictions of both models, and
    // duplicates of stored predictions (not stored again, not in the tail).
    w.commit(&[
        &labels(labelled.id, "q", [41].into_iter()),
        &predictions(&store, labelled.id, "q", 0, 45),
        &predictions(&store, plain.id, "p", 35, 20),
    ])
    .expect("commit");
    assert_eq!(store.max_seq().expect("max"), 40 + 45 + 15);
    let early = store.tally_events(0, 1_000).expect("tally").iter().filter(|e| e.label.is_some()).count();
    assert_eq!(early, 15, "early labels are joined (q0, q3, ... q39 and q41)");
    assert_reads_as_the_log(&store, 0, 0);
    drop(w);
    drop(store);

    // Reopened: the tail starts at the log's end, and reads before it go to the log.
    let store = open(&path, 100_000);
    let plain = store.get_model("plain").expect("get").expect("model");
    assert_reads_as_the_log(&store, 0, 100);
    let mut w = store.writer().expect("writer");
    w.commit(&[&predictions(&store, plain.id, "r", 0, 12)]).expect("commit");
    assert_reads_as_the_log(&store, 100, 100);
}

#[test]
fn a_reader_behind_the_tail_reads_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("db.sqlite"), 10);
    let m = store.create_model(&binary_model("m"), 1, 0).expect("create");
    let mut w = store.writer().expect("writer");
    for round in 0..3 {
        w.commit(&[&predictions(&store, m.id, "p", round * 10, 10)]).expect("commit");
    }
    // Only the last ten are kept.
    assert!(!store.tail_covers(19) && store.tail_covers(20));
    assert_reads_as_the_log(&store, 0, 20);
    // Both passes have read past every position up to 30: what they passed is gone.
    assert_eq!(store.fold_events(30, 100).expect("fold"), vec![]);
    assert!(!store.tail_covers(29) && store.tail_covers(30));
}
