//! Conformance of the alerting tables: monitors (file-owned ones), alert state and
//! acknowledgement per episode, history, silences, channels and deliveries, incidents
//! with their timeline and MTTA/MTTR, and the signal queries over the event log.

use sightline_core::{ErrorInfo, LabelEvent, Target};
use sightline_store::{
    AlertEventRecord, AlertQuery, AlertRecord, ChannelRecord, DeliveryRecord, IncidentChange, IncidentStatus,
    NewIncident, Page, PreparedPrediction, SilenceRecord, Store, StoreError, WriteBatch,
};

fn alert(fp: &str, state: &str, since: Option<i64>, eval: i64) -> AlertRecord {
    AlertRecord {
        fingerprint: fp.into(),
        monitor_id: "m1".into(),
        labels: r#"{"monitor":"m1"}"#.into(),
        state: state.into(),
        since_ms: since,
        fired_ms: None,
        resolved_ms: None,
        last_eval_ms: eval,
        value: Some(1.0),
        silenced: false,
        acknowledged_ms: None,
        acknowledged_by: None,
    }
}

pub fn run_all(store: &dyn Store) {
    let model = store.create_model(&crate::conformance::binary_model("alerting-model"), 1, 0).expect("model");

    // Monitors: ids are unique; file monitors are upserted and marked.
    let m = store.create_monitor("m1", model.id, "{}", false, 10).expect("create");
    assert_eq!((m.project_id, m.from_file), (1, false));
    assert!(matches!(store.create_monitor("m1", model.id, "{}", false, 11), Err(StoreError::Conflict(_))));
    let f = store.upsert_file_monitor("f1", model.id, "{\"a\":1}", 20).expect("upsert");
    assert!(f.from_file);
    let f = store.upsert_file_monitor("f1", model.id, "{\"a\":1}", 30).expect("upsert again");
    assert_eq!(f.updated_ms, 20, "an unchanged definition keeps its update time");
    let listed: Vec<String> =
        store.list_monitors(None, &Page::all()).expect("list").into_iter().map(|m| m.id).collect();
    assert_eq!(listed, ["f1", "m1"]);
    assert!(store.list_monitors(Some(&[99]), &Page::all()).expect("list").is_empty());
    let updated = store.update_monitor("m1", model.id, "{\"b\":2}", 40).expect("update").expect("exists");
    assert_eq!((updated.spec.as_str(), updated.updated_ms), ("{\"b\":2}", 40));

    // Alerts: acknowledgement belongs to the episode.
    store.save_alert(&alert("aa", "inactive", None, 100)).expect("save");
    assert_eq!(store.acknowledge_alert("aa", "user:x", 101).expect("ack").and_then(|a| a.acknowledged_ms), None);
    store.save_alert(&alert("aa", "firing", Some(200), 200)).expect("save");
    let acked = store.acknowledge_alert("aa", "user:x", 201).expect("ack").expect("exists");
    assert_eq!((acked.acknowledged_ms, acked.acknowledged_by.as_deref()), (Some(201), Some("user:x")));
    store.save_alert(&alert("aa", "firing", Some(200), 300)).expect("same episode");
    assert_eq!(store.get_alert("aa").expect("get").and_then(|a| a.acknowledged_ms), Some(201));
    store.save_alert(&alert("aa", "pending", Some(400), 400)).expect("new episode");
    assert_eq!(store.get_alert("aa").expect("get").and_then(|a| a.acknowledged_ms), None);
    let firing = AlertQuery { state: Some("pending".into()), ..AlertQuery::default() };
    assert_eq!(store.list_alerts(&firing).expect("list").len(), 1);
    for (i, kind) in ["pending", "firing", "resolved"].iter().enumerate() {
        let e = AlertEventRecord {
            seq: 0,
            fingerprint: "aa".into(),
            monitor_id: "m1".into(),
            kind: (*kind).into(),
            ts_ms: i as i64,
            value: None,
            silenced: false,
        };
        store.append_alert_event(&e).expect("event");
    }
    let kinds: Vec<String> = store.alert_events("aa", 10).expect("events").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["resolved", "firing", "pending"]);

    // Silences: listed until they end; expiring ends them now.
    let s = SilenceRecord {
        id: 0,
        project_id: 1,
        matchers: "[]".into(),
        starts_ms: 0,
        ends_ms: 1_000,
        comment: "deploy".into(),
        created_by: "user:x".into(),
        created_ms: 0,
    };
    let s = store.create_silence(&s).expect("silence");
    assert_eq!(store.list_silences(None, 500, &Page::all()).expect("list").len(), 1);
    let expired = store.expire_silence(s.id, 600).expect("expire").expect("exists");
    assert_eq!(expired.ends_ms, 600);
    assert!(store.list_silences(None, 700, &Page::all()).expect("list").is_empty());
    assert_eq!(store.expire_silence(s.id, 900).expect("again").map(|s| s.ends_ms), Some(600), "no later end");

    // Channels and deliveries.
    let ch = ChannelRecord {
        id: 0,
        project_id: 1,
        name: "hook".into(),
        kind: "webhook".into(),
        min_severity: "info".into(),
        config: vec![1, 2, 3],
        created_ms: 0,
    };
    let ch = store.create_channel(&ch).expect("channel");
    assert!(matches!(store.create_channel(&ch), Err(StoreError::Conflict(_))));
    for attempt in 1..=2 {
        let d = DeliveryRecord {
            seq: 0,
            channel_id: ch.id,
            notification: "n1".into(),
            fingerprint: "aa".into(),
            kind: "firing".into(),
            attempt,
            status: if attempt == 1 { "failed" } else { "delivered" }.into(),
            error: (attempt == 1).then(|| "connection refused".into()),
            ts_ms: attempt,
        };
        store.record_delivery(&d).expect("delivery");
    }
    let log = store.deliveries(ch.id, 10).expect("log");
    assert_eq!(log.iter().map(|d| d.status.as_str()).collect::<Vec<_>>(), ["delivered", "failed"]);
    assert!(store.delete_channel(ch.id).expect("delete"));
    assert!(store.get_channel(ch.id).expect("get").is_none());

    // Incidents: status flow, acknowledgement and resolution times, timeline, stats.
    let inc = store
        .create_incident(&NewIncident {
            project_id: 1,
            title: "latency".into(),
            severity: "high".into(),
            assignee: None,
            monitor_id: Some("m1".into()),
            runbook_url: None,
            links: vec![("alert".into(), "aa".into())],
            opened_ms: 1_000,
            actor: "sightline".into(),
        })
        .expect("incident");
    assert_eq!(store.open_incident_of_monitor("m1").expect("open").map(|i| i.id), Some(inc.id));
    let change = IncidentChange {
        status: Some(IncidentStatus::Investigating),
        assignee: Some(Some("carol".into())),
        ..IncidentChange::default()
    };
    let inc2 = store.update_incident(inc.id, &change, "user:x", 1_500).expect("update").expect("exists");
    assert_eq!((inc2.acknowledged_ms, inc2.assignee.as_deref()), (Some(1_500), Some("carol")));
    store.add_timeline(inc.id, "note", "user:x", "looking", 1_600).expect("note");
    let resolve = IncidentChange { status: Some(IncidentStatus::Resolved), ..IncidentChange::default() };
    let done = store.update_incident(inc.id, &resolve, "user:x", 4_000).expect("update").expect("exists");
    assert_eq!(done.resolved_ms, Some(4_000));
    assert!(store.open_incident_of_monitor("m1").expect("open").is_none());
    let kinds: Vec<String> = store.timeline(inc.id).expect("timeline").into_iter().map(|t| t.kind).collect();
    assert_eq!(kinds, ["opened", "status", "assignee", "note", "status"]);
    let stats = store.incident_stats(None).expect("stats");
    assert_eq!((stats.count, stats.open, stats.resolved), (1, 0, 1));
    assert_eq!((stats.mean_ack_ms, stats.mean_resolve_ms), (Some(500.0), Some(3_000.0)));
    assert_eq!(store.list_incidents(Some(&[1]), Some(IncidentStatus::Resolved), None, 10).expect("list").len(), 1);

    // Signals: counts per version in a window, latencies newest first.
    let ring = store.opener().ring;
    let mut events = Vec::new();
    for i in 0..4i64 {
        let mut e = crate::conformance::raw_event(&format!("s{i}"), 10_000 + i, if i < 3 { "v1" } else { "v2" });
        e.latency_ms = Some(10.0 * (i + 1) as f64);
        if i == 0 {
            e.error = Some(ErrorInfo { kind: "E".into(), message: "m".into() });
        }
        events.push(PreparedPrediction::new(e, model.id, &ring).expect("seal"));
    }
    let label = LabelEvent { request_id: "s1".into(), label: Target::Class("yes".into()), timestamp_ms: 10_001 };
    let mut writer = store.writer().expect("writer");
    let batch = WriteBatch::Predictions { model_id: model.id, received_ms: 10_000, events };
    writer.commit(&[&batch]).expect("commit");
    let labels = WriteBatch::Labels { model_id: model.id, received_ms: 10_002, events: vec![label] };
    writer.commit(&[&labels]).expect("commit labels");
    let counts = store.window_counts(model.id, None, 10_000, 10_004).expect("counts");
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (counts[0].version.as_str(), counts[0].predictions, counts[0].errors, counts[0].labelled),
        ("v1", 3, 1, 1)
    );
    assert_eq!(store.window_counts(model.id, Some("v2"), 10_000, 10_003).expect("counts").len(), 0, "end excluded");
    let lat = store.window_latencies(model.id, Some("v1"), 0, 20_000).expect("latencies");
    assert_eq!(lat, vec![("v1".to_owned(), vec![30.0, 20.0, 10.0])]);

    assert!(store.delete_monitor("m1").expect("delete"));
    assert!(store.get_alert("aa").expect("get").is_none(), "its alerts go with it");
}
