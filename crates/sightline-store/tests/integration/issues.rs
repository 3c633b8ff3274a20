//! Conformance of issue grouping: counts per issue, version and hour; duplicates by
//! event id; regressions; bounded samples; errors that arrive with predictions.

use sightline_core::{ErrorInfo, FeatureValue, PredictionEvent};
use sightline_store::issues::EVENTS_KEPT_PER_ISSUE;
use sightline_store::{
    BatchOutcome, IssueQuery, IssueStatus, KeyRing, PreparedError, PreparedPrediction, Store, WriteBatch,
};

fn error(id: &str, fingerprint: &str, version: &str, ts: i64) -> PreparedError {
    PreparedError {
        event_id: id.into(),
        request_id: None,
        timestamp_ms: ts,
        version: version.into(),
        fingerprint: fingerprint.into(),
        kind: "KeyError".into(),
        title: format!("missing {fingerprint}"),
        detail: Some(vec![1, 2, 3]),
    }
}

fn commit(store: &dyn Store, model_id: i64, events: Vec<PreparedError>) -> Vec<bool> {
    let mut writer = store.writer().expect("writer");
    let batch = WriteBatch::Errors { model_id, received_ms: 10_000_000, events };
    match writer.commit(&[&batch]).expect("commit").pop() {
        Some(BatchOutcome::Errors(stored)) => stored,
        other => panic!("unexpected outcome {other:?}"),
    }
}

pub fn run_all(store: &dyn Store, ring: &KeyRing) {
    let m = store.create_model(&crate::conformance::binary_model("issues-model"), 1, 0).expect("model");
    let hour = 3_600_000;
    let stored = commit(
        store,
        m.id,
        vec![
            error("e1", "aaaa", "v1", hour + 5),
            error("e2", "aaaa", "v2", 2 * hour + 5),
            error("e3", "bbbb", "v1", 3 * hour),
            error("e1", "aaaa", "v1", hour + 5),
        ],
    );
    assert_eq!(stored, [true, true, true, false], "a repeated event id is not counted twice");
    assert_eq!(commit(store, m.id, vec![error("e2", "aaaa", "v2", 0)]), [false], "nor across batches");

    let all = store.list_issues(&IssueQuery { model_id: m.id, limit: 10, ..IssueQuery::default() }).expect("list");
    assert_eq!(all.iter().map(|i| i.fingerprint.as_str()).collect::<Vec<_>>(), ["bbbb", "aaaa"], "latest first");
    let a = &all[1];
    assert_eq!(
        (a.count, a.first_seen_ms, a.last_seen_ms, a.status),
        (2, hour + 5, 2 * hour + 5, IssueStatus::Unresolved)
    );
    assert_eq!(a.versions, [("v1".into(), 1, hour + 5, hour + 5), ("v2".into(), 1, 2 * hour + 5, 2 * hour + 5)]);
    assert_eq!(store.issue_hours(a.id, 0).expect("hours"), [(hour, 1), (2 * hour, 1)]);
    let only_v2 = IssueQuery { model_id: m.id, version: Some("v2".into()), limit: 10, ..IssueQuery::default() };
    assert_eq!(store.list_issues(&only_v2).expect("list").len(), 1);
    let page =
        IssueQuery { model_id: m.id, before: Some((all[0].last_seen_ms, all[0].id)), limit: 10, ..Default::default() };
    assert_eq!(store.list_issues(&page).expect("page")[0].id, a.id);

    // Resolved, then an older occurrence arrives late: still resolved. A newer one
    // reopens it as a regression.
    let resolved = store.set_issue_status(m.id, a.id, IssueStatus::Resolved, 5 * hour).expect("set").expect("issue");
    assert_eq!(resolved.status, IssueStatus::Resolved);
    commit(store, m.id, vec![error("late", "aaaa", "v2", 4 * hour)]);
    assert_eq!(store.get_issue(m.id, a.id).expect("get").expect("issue").status, IssueStatus::Resolved);
    commit(store, m.id, vec![error("again", "aaaa", "v3", 6 * hour)]);
    let back = store.get_issue(m.id, a.id).expect("get").expect("issue");
    assert_eq!((back.status, back.regressions, back.count), (IssueStatus::Unresolved, 1, 4));
    assert_eq!(store.set_issue_status(m.id, 999_999, IssueStatus::Ignored, 0).expect("set"), None);
    assert_eq!(store.get_issue(m.id + 1_000, a.id).expect("get"), None, "issues belong to their model");

    // Samples stay bounded however often an error recurs.
    let many: Vec<_> =
        (0..(3 * EVENTS_KEPT_PER_ISSUE)).map(|i| error(&format!("n{i}"), "cccc", "v1", 7 * hour + i)).collect();
    commit(store, m.id, many);
    let c = store.list_issues(&IssueQuery { model_id: m.id, limit: 1, ..IssueQuery::default() }).expect("list");
    assert_eq!(c[0].count, 3 * EVENTS_KEPT_PER_ISSUE);
    let kept = store.issue_events(c[0].id, 10_000).expect("events");
    assert!(
        kept.len() as i64 <= 2 * EVENTS_KEPT_PER_ISSUE && kept.len() as i64 >= EVENTS_KEPT_PER_ISSUE,
        "{}",
        kept.len()
    );
    assert_eq!(kept[0].event_id, format!("n{}", 3 * EVENTS_KEPT_PER_ISSUE - 1), "newest first");

    // An error that came with a prediction joins the issues; a duplicate prediction does not count it again.
    let failed = PredictionEvent {
        request_id: "p1".into(),
        timestamp_ms: 8 * hour,
        version: "v1".into(),
        features: vec![(0, FeatureValue::Number(1.0))],
        prediction: None,
        scores: vec![],
        latency_ms: None,
        tags: vec![],
        error: Some(ErrorInfo { kind: "TimeoutError".into(), message: "model took 5003 ms".into() }),
        attributions: vec![],
    };
    let mut writer = store.writer().expect("writer");
    for _ in 0..2 {
        let batch = WriteBatch::Predictions {
            model_id: m.id,
            received_ms: 8 * hour,
            events: vec![PreparedPrediction::new(failed.clone(), m.id, ring).expect("prepare")],
        };
        writer.commit(&[&batch]).expect("commit");
    }
    let timeouts: Vec<_> = store
        .list_issues(&IssueQuery { model_id: m.id, limit: 10, ..IssueQuery::default() })
        .expect("list")
        .into_iter()
        .filter(|i| i.kind == "TimeoutError")
        .collect();
    assert_eq!(timeouts.len(), 1);
    assert_eq!((timeouts[0].count, timeouts[0].title.as_str()), (1, "model took <n> ms"));
    let sample = store.issue_events(timeouts[0].id, 10).expect("events");
    assert_eq!(sample[0].request_id.as_deref(), Some("p1"));
}
