//! Conformance checks for retraining policies and triggers.

use sightline_store::{PolicyRecord, Store, TriggerRecord};

pub fn run_all(store: &dyn Store) {
    let m = store.create_model(&crate::conformance::binary_model("retrain"), 1, 10).expect("model");
    let mut p = PolicyRecord {
        id: "nightly".into(),
        model_id: m.id,
        spec: "{\"a\":1}".into(),
        created_ms: 100,
        updated_ms: 100,
        last_evaluated_ms: None,
        last_fired_ms: None,
    };
    assert!(store.put_policy(&p).expect("create"), "created");
    store.mark_policy_evaluated("nightly", 150).expect("evaluated");
    // Replacing keeps the creation and evaluation times.
    p.spec = "{\"a\":2}".into();
    p.created_ms = 999;
    p.updated_ms = 200;
    assert!(!store.put_policy(&p).expect("replace"), "replaced");
    let got = store.get_policy("nightly").expect("get").expect("exists");
    assert_eq!((got.spec.as_str(), got.created_ms, got.updated_ms), ("{\"a\":2}", 100, 200));
    assert_eq!(got.last_evaluated_ms, Some(150));
    assert_eq!(store.list_policies(Some(m.id)).expect("list").len(), 1);
    assert_eq!(store.list_policies(Some(m.id + 1000)).expect("list").len(), 0);

    let t = TriggerRecord {
        seq: 0,
        policy_id: "nightly".into(),
        model_id: m.id,
        version: Some("v1".into()),
        from_ms: 1,
        to_ms: 2,
        reasons: "[\"why\"]".into(),
        export_path: "/api/v1/models/retrain/export?from=1&to=2".into(),
        fired_ms: 300,
        delivery: None,
    };
    let first = store.record_trigger(&t).expect("trigger");
    let second = store.record_trigger(&TriggerRecord { fired_ms: 400, ..t.clone() }).expect("trigger");
    assert!(second > first);
    store.set_trigger_delivery(first, "retrying: attempt 1 of 5 failed: HTTP 503").expect("delivery");
    store.set_trigger_delivery(second, "failed: gave up after 5 attempts: HTTP 503").expect("delivery");
    let retried = store.triggers_being_retried().expect("being retried");
    assert_eq!(retried.iter().map(|t| t.seq).collect::<Vec<_>>(), [first], "only the one still retrying");
    store.set_trigger_delivery(first, "delivered").expect("delivery");
    assert!(store.triggers_being_retried().expect("being retried").is_empty());
    let triggers = store.list_triggers(m.id, 10).expect("triggers");
    assert_eq!(triggers.iter().map(|t| t.seq).collect::<Vec<_>>(), [second, first], "newest first");
    assert_eq!(triggers[1], TriggerRecord { seq: first, delivery: Some("delivered".into()), ..t });
    assert_eq!(store.list_triggers(m.id, 1).expect("triggers").len(), 1);
    assert_eq!(store.get_policy("nightly").expect("get").expect("exists").last_fired_ms, Some(400));

    assert!(store.delete_policy("nightly").expect("delete"));
    assert!(!store.delete_policy("nightly").expect("delete"));
    assert_eq!(store.get_policy("nightly").expect("get"), None);
    assert_eq!(store.list_triggers(m.id, 10).expect("triggers").len(), 2, "triggers outlive their policy");
}
