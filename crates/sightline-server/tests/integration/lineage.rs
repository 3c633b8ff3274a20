//! OpenLineage events in, Marquez-shaped graphs, column lineage and impact analysis out:
//! a feature pipeline feeding a training job that produced a monitored model version.

use crate::support::{TestServer, credit_model};
use serde_json::{Value, json};
use std::time::Duration;

const LOANS: &str = "dataset:postgres://db:5432:public.loans";
const FEATURES: &str = "dataset:s3://lake:features/loans";

fn run(state: &str, time: &str, run_id: &str, job: &str, inputs: Value, outputs: Value) -> Value {
    json!({
        "eventType": state, "eventTime": time, "producer": "https://example.com/pipeline",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": { "runId": run_id, "facets": {} },
        "job": { "namespace": "etl", "name": job, "facets": {} },
        "inputs": inputs, "outputs": outputs,
    })
}

fn features_output() -> Value {
    json!([{ "namespace": "s3://lake", "name": "features/loans", "facets": {
        "version": { "datasetVersion": "v7" },
        "schema": { "fields": [{ "name": "income", "type": "double" }, { "name": "age", "type": "int" }] },
        "columnLineage": { "fields": {
            "income": { "inputFields": [{ "namespace": "postgres://db:5432", "name": "public.loans", "field": "salary",
                "transformations": [{ "type": "DIRECT", "subtype": "TRANSFORMATION" }] }] },
            "age": { "inputFields": [{ "namespace": "postgres://db:5432", "name": "public.loans", "field": "birth_date",
                "transformations": [{ "type": "DIRECT", "subtype": "TRANSFORMATION" }] }] },
        }},
    }}])
}

fn ids(graph: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        graph["graph"].as_array().expect("graph").iter().map(|n| n["id"].as_str().expect("id").to_owned()).collect();
    ids.sort();
    ids
}

async fn post(s: &TestServer, event: &Value) {
    let r = s.post_json("/api/v1/lineage", event).await;
    r.expect_status(201);
}

#[tokio::test]
async fn a_pipeline_graph_its_columns_and_what_a_broken_table_hits() {
    let s = TestServer::start_with(|c| c.alerting.tick = Duration::from_millis(50)).await;
    s.create_model(&credit_model("credit")).await;
    let busy = json!({
        "id": "credit-any", "model": "credit", "version": "v2", "signal": "throughput",
        "condition": { "op": ">=", "value": 0.0 }, "window": "1m", "interval": "1s", "severity": "low",
    });
    s.post_json("/api/v1/monitors", &busy).await.expect_status(201);

    let loans = json!([{ "namespace": "postgres://db:5432", "name": "public.loans",
        "facets": { "version": { "datasetVersion": "1042" } } }]);
    let features_in = json!([{ "namespace": "s3://lake", "name": "features/loans" }]);
    let model_out = json!([{ "namespace": "sightline", "name": "credit/v2" }]);
    post(&s, &run("START", "2026-11-27T10:00:00Z", "run-f1", "build_features", loans.clone(), json!([]))).await;
    post(&s, &run("COMPLETE", "2026-11-27T10:05:00Z", "run-f1", "build_features", loans, features_output())).await;
    post(&s, &run("COMPLETE", "2026-11-27T11:00:00Z", "run-t1", "train_credit", features_in, model_out)).await;

    // The whole chain from the source table, with Marquez's ids and edges.
    let r = s.get(&format!("/api/v1/lineage?nodeId={LOANS}&depth=10")).await;
    r.expect_status(200);
    assert_eq!(
        ids(&r.json),
        [
            "dataset:postgres://db:5432:public.loans",
            "dataset:s3://lake:features/loans",
            "dataset:sightline:credit/v2",
            "job:etl:build_features",
            "job:etl:train_credit"
        ]
    );
    let node = |id: &str| r.json["graph"].as_array().expect("graph").iter().find(|n| n["id"] == id).cloned().expect(id);
    let job = node("job:etl:build_features");
    assert_eq!(job["type"], "JOB");
    assert_eq!(job["inEdges"][0]["origin"], LOANS);
    assert_eq!(job["outEdges"][0]["destination"], FEATURES);
    assert_eq!(job["data"]["latestRun"]["state"], "COMPLETE");
    assert_eq!(job["data"]["latestRun"]["startedAt"], "2026-11-27T10:00:00.000Z");
    assert_eq!(job["data"]["latestRun"]["inputVersions"][0]["version"], "1042");
    assert_eq!(job["data"]["latestRun"]["outputVersions"][0]["version"], "v7");
    let features = node(FEATURES);
    assert_eq!(features["data"]["fields"][0]["name"], "income");
    assert_eq!(node("dataset:sightline:credit/v2")["data"]["model"], json!({"name": "credit", "version": "v2"}));

    // Depth and direction bound the walk; `at` shows the graph as it was.
    let r = s.get(&format!("/api/v1/lineage?nodeId={FEATURES}&depth=1&direction=upstream")).await;
    assert_eq!(ids(&r.json), ["dataset:s3://lake:features/loans", "job:etl:build_features"]);
    let r = s.get(&format!("/api/v1/lineage?nodeId={LOANS}&depth=10&at=2026-11-27T10:30:00Z")).await;
    assert_eq!(
        ids(&r.json),
        ["dataset:postgres://db:5432:public.loans", "dataset:s3://lake:features/loans", "job:etl:build_features"]
    );

    // Column lineage of the features.
    let r = s.get(&format!("/api/v1/lineage/columns?nodeId={FEATURES}")).await;
    r.expect_status(200);
    let income = r.json["graph"]
        .as_array()
        .expect("graph")
        .iter()
        .find(|n| n["id"] == "datasetField:s3://lake:features/loans:income")
        .cloned()
        .expect("income");
    assert_eq!(income["inEdges"][0]["origin"], "datasetField:postgres://db:5432:public.loans:salary");
    assert_eq!(income["inEdges"][0]["transformation"], "DIRECT/TRANSFORMATION");

    // The source table breaks: which model versions, monitors and open alerts are hit?
    let mut impact = Value::Null;
    for _ in 0..100 {
        impact = s.get(&format!("/api/v1/lineage/impact?nodeId={LOANS}")).await.json;
        if impact["models"][0]["open_alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(impact["jobs"], json!(["job:etl:build_features", "job:etl:train_credit"]), "{impact}");
    let hit = &impact["models"][0];
    assert_eq!((hit["model"].as_str(), hit["version"].as_str()), (Some("credit"), Some("v2")), "{impact}");
    assert_eq!(hit["monitors"], json!(["credit-any"]));
    assert_eq!(hit["open_alerts"][0]["monitor"], "credit-any", "{impact}");
}

#[tokio::test]
async fn bad_events_and_queries_name_the_problem() {
    let s = TestServer::start().await;
    let no_job = json!({ "eventTime": "2026-11-27T10:00:00Z", "producer": "p", "run": { "runId": "r" } });
    let r = s.post_json("/api/v1/lineage", &no_job).await;
    r.expect_problem(422);
    assert!(r.text.contains("$.job"), "{}", r.text);
    let r = s
        .post_json(
            "/api/v1/lineage?project=nope",
            &run("START", "2026-11-27T10:00:00Z", "r", "j", json!([]), json!([])),
        )
        .await;
    r.expect_problem(404);
    let dataset_event = json!({ "eventTime": "2026-11-27T10:00:00Z", "producer": "p",
        "dataset": { "namespace": "db", "name": "t", "facets": { "schema": { "fields": [] } } } });
    s.post_json("/api/v1/lineage", &dataset_event).await.expect_status(201);
    for (query, needle) in [
        ("/api/v1/lineage", "nodeId"),
        ("/api/v1/lineage?nodeId=table:db:t", "nodeId"),
        ("/api/v1/lineage?nodeId=dataset:db:t&depth=1000", "depth"),
        ("/api/v1/lineage?nodeId=dataset:db:t&direction=sideways", "direction"),
        ("/api/v1/lineage?nodeId=dataset:db:t&at=yesterday", "at"),
        ("/api/v1/lineage/impact?nodeId=dataset:db:t&depth=3", "depth"),
    ] {
        let r = s.get(query).await;
        r.expect_problem(400);
        assert!(r.text.contains(needle), "{query}: {}", r.text);
    }
    s.get("/api/v1/lineage?nodeId=dataset:db:missing").await.expect_problem(404);
    let r = s.get("/api/v1/lineage?nodeId=dataset:db:t").await;
    assert_eq!(ids(&r.json), ["dataset:db:t"]);
}
