//! Conformance checks for the model registry and experiment tracking.

use sightline_store::registry::NO_STAGE;
use sightline_store::{
    ArtifactRecord, DataVersion, MetricPoint, NewRun, RunInput, RunLog, Store, StoreError, Transition, VersionChange,
};

fn t(ts_ms: i64) -> Transition<'static> {
    Transition { actor: "alice", reason: "release", ts_ms }
}

pub fn run_all(store: &dyn Store) {
    runs_keep_params_metric_history_tags_and_inputs(store);
    versions_are_numbered_and_carry_registry_facts(store);
    stages_and_aliases_are_recorded(store);
    artifacts_map_paths_to_hashes(store);
    gates_and_reports(store);
}

fn runs_keep_params_metric_history_tags_and_inputs(store: &dyn Store) {
    let default = store.get_experiment(0).expect("get").expect("experiment 0 exists");
    assert_eq!(default.name, "Default");
    let exp = store.create_experiment(1, "exp", &[("k".into(), "v".into())], 5).expect("create");
    assert!(matches!(store.create_experiment(1, "exp", &[], 6), Err(StoreError::Conflict(_))));
    let run = NewRun {
        run_id: "r1".into(),
        experiment_id: exp,
        name: "train".into(),
        user_id: "alice".into(),
        start_ms: 10,
        tags: vec![],
    };
    store.create_run(&run).expect("run");
    let point = |value, step| MetricPoint { key: "loss".into(), value, ts_ms: 20 + step, step };
    let log = RunLog {
        params: vec![("lr".into(), "0.1".into())],
        metrics: vec![point(0.9, 0), point(f64::NAN, 1), point(0.2, 2)],
        tags: vec![("team".into(), "risk".into())],
    };
    store.log_run("r1", &log).expect("log");
    // Logging the same param value again is fine; another value is refused whole.
    store.log_run("r1", &RunLog { params: log.params.clone(), ..RunLog::default() }).expect("same value");
    let changed =
        RunLog { params: vec![("lr".into(), "0.2".into())], tags: vec![("x".into(), "y".into())], ..RunLog::default() };
    assert!(matches!(store.log_run("r1", &changed), Err(StoreError::Conflict(_))));
    let input =
        RunInput { name: "train".into(), digest: "d1".into(), context: "training".into(), ..RunInput::default() };
    store.log_run_inputs("r1", &[input]).expect("inputs");
    store.update_run("r1", Some("FINISHED"), Some(30), None, None).expect("update");

    let got = store.get_run("r1").expect("get").expect("exists");
    assert_eq!((got.status.as_str(), got.end_ms, got.project_id), ("FINISHED", Some(30), 1));
    assert_eq!(got.params, vec![("lr".to_owned(), "0.1".to_owned())]);
    assert_eq!(got.tags, vec![("team".to_owned(), "risk".to_owned())], "the refused batch left nothing");
    assert_eq!(got.metrics.len(), 1);
    assert_eq!(got.metrics[0].value, 0.2, "the latest step");
    assert_eq!(got.inputs[0].digest, "d1");
    let history = store.metric_history("r1", "loss").expect("history");
    assert_eq!(history.len(), 3);
    assert!(history[1].value.is_nan(), "NaN round-trips");
    assert_eq!(store.list_runs(&[exp], 10).expect("list").len(), 1);
    assert!(store.list_runs(&[0], 10).expect("list").is_empty());
}

fn versions_are_numbered_and_carry_registry_facts(store: &dyn Store) {
    let m = store.create_model(&crate::conformance::binary_model("reg"), 1, 10).expect("model");
    store.create_version(m.id, "v7", "", 11).expect("a named version");
    let change = VersionChange {
        source: Some("runs:/r1/model".into()),
        run_id: Some("r1".into()),
        git_commit: Some("abc".into()),
        params: vec![("lr".into(), "0.1".into())],
        metrics: vec![("auc".into(), 0.9)],
        data: vec![DataVersion { kind: "dvc".into(), name: "train.csv".into(), version: "md5:1".into() }],
        ..VersionChange::default()
    };
    let v1 = store.create_registry_version(m.id, None, &change, 12).expect("v1");
    let v2 = store.create_registry_version(m.id, None, &VersionChange::default(), 13).expect("v2");
    assert_eq!((v1.name.as_str(), v2.name.as_str()), ("1", "2"), "numbered past non-numeric names");
    let d = store.version_details(v1.id).expect("details").expect("exists");
    assert_eq!((d.source.as_str(), d.git_commit.as_str(), d.stage.as_str()), ("runs:/r1/model", "abc", NO_STAGE));
    assert_eq!(d.metrics, vec![("auc".to_owned(), 0.9)]);
    assert_eq!(d.data[0].version, "md5:1");
    // A version created the plain way has registry defaults.
    let plain = store.get_version(m.id, "v7").expect("get").expect("exists");
    let plain = store.version_details(plain.id).expect("details").expect("exists");
    assert_eq!((plain.stage.as_str(), plain.source.as_str()), (NO_STAGE, ""));
    store.rename_model(m.id, "reg2").expect("rename");
    assert_eq!(store.get_model("reg2").expect("get").expect("renamed").spec.name, "reg2");
    store.delete_version(v2.id).expect("delete an unused version");
    assert_eq!(store.model_version_details(m.id).expect("list").len(), 2);
    store.delete_model(m.id).expect("delete an unused model");
    assert!(store.get_model("reg2").expect("get").is_none());
}

fn stages_and_aliases_are_recorded(store: &dyn Store) {
    let m = store.create_model(&crate::conformance::binary_model("stages"), 1, 10).expect("model");
    let a = store.create_registry_version(m.id, None, &VersionChange::default(), 11).expect("1");
    let b = store.create_registry_version(m.id, None, &VersionChange::default(), 12).expect("2");
    store.set_stage(m.id, a.id, "Production", false, &t(20)).expect("stage");
    store.set_stage(m.id, b.id, "Production", true, &t(21)).expect("stage, archiving the other");
    assert_eq!(store.version_details(a.id).expect("d").expect("a").stage, "Archived");
    store.set_alias(m.id, "production", Some(a.id), &t(30)).expect("alias");
    store.set_alias(m.id, "production", Some(b.id), &t(31)).expect("move");
    store.set_alias(m.id, "production", Some(b.id), &t(32)).expect("same target: no new transition");
    store.set_alias(m.id, "production", Some(a.id), &t(33)).expect("rollback");
    let aliases = store.aliases(m.id).expect("aliases");
    assert_eq!((aliases[0].alias.as_str(), aliases[0].version.as_str()), ("production", "1"));
    let history: Vec<(String, String, Option<String>, Option<String>)> =
        store.transitions(m.id).expect("history").into_iter().map(|h| (h.kind, h.name, h.from, h.to)).collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        history,
        vec![
            ("stage".into(), "1".into(), s("None"), s("Production")),
            ("stage".into(), "2".into(), s("None"), s("Production")),
            ("stage".into(), "1".into(), s("Production"), s("Archived")),
            ("alias".into(), "production".into(), None, s("1")),
            ("alias".into(), "production".into(), s("1"), s("2")),
            ("alias".into(), "production".into(), s("2"), s("1")),
        ]
    );
    store.set_alias(m.id, "production", None, &t(40)).expect("unset");
    assert!(store.aliases(m.id).expect("aliases").is_empty());
    assert_eq!(store.transitions(m.id).expect("history").last().and_then(|h| h.to.clone()), None);
}

fn artifacts_map_paths_to_hashes(store: &dyn Store) {
    let a = |path: &str, size| ArtifactRecord { path: path.into(), sha256: "ab".repeat(32), size, created_ms: 1 };
    for art in [a("0/r/artifacts/model/MLmodel", 10), a("0/r/artifacts/model/x%_y", 1), a("0/r/artifactsX/z", 2)] {
        store.put_artifact(&art).expect("put");
    }
    store.put_artifact(&a("0/r/artifacts/model/MLmodel", 11)).expect("replace");
    let listed = store.list_artifacts("0/r/artifacts/").expect("list");
    let paths: Vec<&str> = listed.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(paths, ["0/r/artifacts/model/MLmodel", "0/r/artifacts/model/x%_y"]);
    assert_eq!(store.get_artifact("0/r/artifacts/model/MLmodel").expect("get").expect("exists").size, 11);
    assert!(store.get_artifact("0/r/artifacts/nope").expect("get").is_none());
}

pub fn gates_and_reports(store: &dyn Store) {
    let m = store.create_model(&crate::conformance::binary_model("gated"), 1, 10).expect("model");
    let v = store.create_registry_version(m.id, None, &VersionChange::default(), 11).expect("1");
    assert_eq!(store.promotion_gate(m.id).expect("gate"), None);
    store.set_promotion_gate(m.id, Some("{\"a\":1}"), 12).expect("set");
    assert_eq!(store.promotion_gate(m.id).expect("gate").as_deref(), Some("{\"a\":1}"));
    for (passed, ts) in [(false, 13), (true, 14)] {
        let r = sightline_store::PromotionReport {
            seq: 0,
            version_id: v.id,
            passed,
            report: "{}".into(),
            actor: "alice".into(),
            ts_ms: ts,
        };
        store.add_promotion_report(m.id, &r).expect("report");
    }
    let reports = store.promotion_reports(v.id).expect("reports");
    assert_eq!(reports.iter().map(|r| (r.passed, r.ts_ms)).collect::<Vec<_>>(), [(false, 13), (true, 14)]);
    store.set_promotion_gate(m.id, None, 15).expect("remove");
    assert_eq!(store.promotion_gate(m.id).expect("gate"), None);
    store.delete_model(m.id).expect("a model with reports and no traffic is deleted");
}
