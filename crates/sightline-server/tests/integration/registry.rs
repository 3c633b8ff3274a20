//! The model registry end to end: MLflow's REST API (runs, registered models, versions,
//! stages, aliases, artifacts, MLflow-shaped errors), the native registry API over the
//! same objects, the recorded history, and path traversal refused everywhere.

use crate::support::{TestServer, credit_model, event};
use reqwest::Method;
use serde_json::{Value, json};

const M: &str = "/api/2.0/mlflow";

async fn mlflow(s: &TestServer, method: Method, path: &str, body: &Value) -> crate::support::Reply {
    // Paths outside MLflow's API (the artifact proxy) are given whole.
    let full = if path.starts_with("/api/") { path.to_owned() } else { format!("{M}{path}") };
    let body = if body.is_null() { None } else { Some(body) };
    s.request_as(Some(&s.token), method, &full, body).await
}

async fn ok(s: &TestServer, method: Method, path: &str, body: Value) -> Value {
    let r = mlflow(s, method, path, &body).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.json
}

fn error_code(r: &crate::support::Reply) -> &str {
    r.json["error_code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn mlflow_runs_models_versions_aliases_and_artifacts() {
    let s = TestServer::start().await;
    let exp = ok(&s, Method::GET, "/experiments/get?experiment_id=0", Value::Null).await;
    assert_eq!(exp["experiment"]["name"], "Default");

    let run = ok(&s, Method::POST, "/runs/create", json!({"experiment_id": "0", "run_name": "train"})).await;
    let run_id = run["run"]["info"]["run_id"].as_str().expect("run id").to_owned();
    let batch = json!({
        "run_id": run_id,
        "params": [{"key": "lr", "value": "0.1"}],
        "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
                    {"key": "loss", "value": "NaN", "timestamp": 2, "step": 1}],
        "tags": [{"key": "mlflow.source.git.commit", "value": "abc123"}],
    });
    ok(&s, Method::POST, "/runs/log-batch", batch).await;
    let again =
        mlflow(&s, Method::POST, "/runs/log-parameter", &json!({"run_id": run_id, "key": "lr", "value": "0.2"})).await;
    assert_eq!((again.status, error_code(&again)), (400, "INVALID_PARAMETER_VALUE"), "{}", again.text);
    let history =
        ok(&s, Method::GET, &format!("/metrics/get-history?run_id={run_id}&metric_key=loss"), Value::Null).await;
    assert_eq!(history["metrics"][0]["value"], 0.5);
    assert_eq!(history["metrics"][1]["value"], "NaN");

    // An artifact of the run, uploaded, listed and downloaded through the proxy.
    let root = format!("0/{run_id}/artifacts");
    let put = s
        .request(
            Method::PUT,
            &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel"),
            &[],
            Some(b"flavors: {}\n".to_vec()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let list =
        ok(&s, Method::GET, &format!("/api/2.0/mlflow-artifacts/artifacts?path={root}/model"), Value::Null).await;
    assert_eq!(list["files"], json!([{"path": "MLmodel", "is_dir": false, "file_size": 12}]));
    let got = s.get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel")).await;
    assert_eq!((got.status, got.text.as_str()), (200, "flavors: {}\n"));

    let created = ok(&s, Method::POST, "/registered-models/create", json!({"name": "churn"})).await;
    assert_eq!(created["registered_model"]["name"], "churn");
    let dup = mlflow(&s, Method::POST, "/registered-models/create", &json!({"name": "churn"})).await;
    assert_eq!((dup.status, error_code(&dup)), (400, "RESOURCE_ALREADY_EXISTS"));
    let missing = mlflow(&s, Method::GET, "/registered-models/get?name=nope", &Value::Null).await;
    assert_eq!((missing.status, error_code(&missing)), (404, "RESOURCE_DOES_NOT_EXIST"));

    let v = ok(
        &s,
        Method::POST,
        "/model-versions/create",
        json!({"name": "churn", "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
    )
    .await;
    assert_eq!(v["model_version"]["version"], "1");
    let v2 = ok(
        &s,
        Method::POST,
        "/model-versions/create",
        json!({"name": "churn", "source": format!("mlflow-artifacts:/{root}/model")}),
    )
    .await;
    assert_eq!(v2["model_version"]["version"], "2");
    let uri = ok(&s, Method::GET, "/model-versions/get-download-uri?name=churn&version=1", Value::Null).await;
    assert_eq!(uri["artifact_uri"], format!("mlflow-artifacts:/{root}/model"));

    ok(&s, Method::POST, "/registered-models/alias", json!({"name": "churn", "alias": "production", "version": "2"}))
        .await;
    ok(&s, Method::POST, "/registered-models/alias", json!({"name": "churn", "alias": "production", "version": "1"}))
        .await;
    let by_alias = ok(&s, Method::GET, "/registered-models/alias?name=churn&alias=production", Value::Null).await;
    assert_eq!(by_alias["model_version"]["version"], "1");
    ok(
        &s,
        Method::POST,
        "/model-versions/transition-stage",
        json!({"name": "churn", "version": "2", "stage": "staging"}),
    )
    .await;
    let latest =
        ok(&s, Method::POST, "/registered-models/get-latest-versions", json!({"name": "churn", "stages": ["Staging"]}))
            .await;
    assert_eq!(latest["model_versions"][0]["version"], "2");
    let found =
        ok(&s, Method::GET, &format!("/model-versions/search?filter=run_id%3D%27{run_id}%27"), Value::Null).await;
    assert_eq!(found["model_versions"].as_array().map(Vec::len), Some(1));
    let models =
        ok(&s, Method::GET, "/registered-models/search?filter=name%20LIKE%20%27%25hur%25%27", Value::Null).await;
    assert_eq!(models["registered_models"][0]["name"], "churn");
    let bad_filter = mlflow(&s, Method::GET, "/registered-models/search?filter=name%20~%20x", &Value::Null).await;
    assert_eq!((bad_filter.status, error_code(&bad_filter)), (400, "INVALID_PARAMETER_VALUE"));

    // The same objects through the native API.
    let details = s.get("/api/v1/models/churn/versions/1").await;
    assert_eq!(details.status, 200, "{}", details.text);
    assert_eq!(details.json["params"], json!({"lr": "0.1"}));
    assert_eq!(details.json["git_commit"], "abc123");
    assert_eq!(details.json["aliases"], json!(["production"]));
    let files = s.get("/api/v1/models/churn/versions/1/artifacts").await;
    assert_eq!(files.json["items"][0]["path"], "MLmodel");
    let history = s.get("/api/v1/models/churn/registry-history").await;
    let moves: Vec<(Value, Value, Value)> = history.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| (h["kind"].clone(), h["from"].clone(), h["to"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!("alias"), Value::Null, json!("2")),
            (json!("alias"), json!("2"), json!("1")),
            (json!("stage"), json!("None"), json!("Staging")),
        ]
    );

    // Rename and delete (nothing monitored yet).
    ok(&s, Method::POST, "/registered-models/rename", json!({"name": "churn", "new_name": "churn2"})).await;
    assert_eq!(s.get("/api/v1/models/churn2").await.status, 200);
    assert_eq!(s.get("/api/v1/models/churn").await.status, 404);
    ok(&s, Method::DELETE, "/registered-models/delete", json!({"name": "churn2"})).await;
    assert_eq!(s.get("/api/v1/models/churn2").await.status, 404);
}

#[tokio::test]
async fn native_registry_facts_artifacts_stages_and_rollback() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    s.ingest("credit", &[event("r1")]).await.expect_status(200);
    s.post_json("/api/v1/models/credit/versions", &json!({"name": "v2"})).await.expect_status(201);

    let patch = json!({
        "git_commit": "deadbeef", "params": {"depth": "6"}, "metrics": {"auc": 0.9},
        "tags": {"owner": "risk"}, "data": [{"kind": "dvc", "name": "train.csv", "version": "md5:0a1b"}],
    });
    let r = s
        .request(
            Method::PATCH,
            "/api/v1/models/credit/versions/v2",
            &[("content-type", "application/json")],
            Some(patch.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["metrics"], json!({"auc": 0.9}));
    assert_eq!(r.json["data"][0]["version"], "md5:0a1b");

    // A training run that OpenLineage reports as producing v2 adds the versions it read.
    let event = json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "https://example.com/test",
        "run": {"runId": "0193a0c0-0000-7000-8000-000000000009"},
        "job": {"namespace": "ml", "name": "train_credit"},
        "inputs": [{"namespace": "db", "name": "loans", "facets": {"version": {"datasetVersion": "42"}}}],
        "outputs": [{"namespace": "sightline", "name": "credit/v2"}],
    });
    s.post_json("/api/v1/lineage", &event).await.expect_status(201);
    let details = s.get("/api/v1/models/credit/versions/v2").await;
    let expected = json!([
        {"kind": "dvc", "name": "train.csv", "version": "md5:0a1b"},
        {"kind": "openlineage", "name": "db:loans", "version": "42"},
    ]);
    assert_eq!(details.json["data"], expected, "{}", details.text);
    let up = s
        .request(
            Method::PUT,
            "/api/v1/models/credit/versions/v2/artifacts/model/weights.bin",
            &[],
            Some(b"abc".to_vec()),
        )
        .await;
    assert_eq!(up.status, 201, "{}", up.text);
    assert_eq!(up.json["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(up.json["size"], 3);
    let down = s.get("/api/v1/models/credit/versions/v2/artifacts/model/weights.bin").await;
    assert_eq!((down.status, down.text.as_str()), (200, "abc"));

    for (alias, version) in [("production", "v1"), ("production", "v2"), ("production", "v1")] {
        let body = json!({"version": version, "reason": "release"}).to_string().into_bytes();
        let r = s
            .request(
                Method::PUT,
                &format!("/api/v1/models/credit/aliases/{alias}"),
                &[("content-type", "application/json")],
                Some(body),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let aliases = s.get("/api/v1/models/credit/aliases").await;
    assert_eq!(aliases.json["items"][0]["version"], "v1", "rolled back");
    // A reserved alias is refused once, naming the field and the value.
    let body = json!({"version": "v1"}).to_string().into_bytes();
    let r = s
        .request(
            Method::PUT,
            "/api/v1/models/credit/aliases/latest",
            &[("content-type", "application/json")],
            Some(body),
        )
        .await;
    r.expect_problem(422);
    assert_eq!(r.error_paths(), ["alias"]);
    assert_eq!(r.json["errors"][0]["message"], "\"latest\" is reserved", "{}", r.text);
    let stage = json!({"stage": "Production", "reason": "passed review"}).to_string().into_bytes();
    let r = s
        .request(
            Method::PUT,
            "/api/v1/models/credit/versions/v2/stage",
            &[("content-type", "application/json")],
            Some(stage),
        )
        .await;
    assert_eq!(r.json["stage"], "Production", "{}", r.text);
    let history = s.get("/api/v1/models/credit/registry-history").await;
    let items = history.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert_eq!(items[3]["reason"], "passed review");
    assert!(items.iter().all(|h| h["actor"].as_str().is_some_and(|a| !a.is_empty())));

    // A monitored model keeps its name: monitors and clients refer to it by name.
    let rename =
        mlflow(&s, Method::POST, "/registered-models/rename", &json!({"name": "credit", "new_name": "c2"})).await;
    assert_eq!((rename.status, error_code(&rename)), (400, "INVALID_PARAMETER_VALUE"), "{}", rename.text);
    // A version that served predictions is not deleted through MLflow.
    let del = mlflow(&s, Method::DELETE, "/model-versions/delete", &json!({"name": "credit", "version": "v1"})).await;
    assert_eq!((del.status, error_code(&del)), (400, "INVALID_PARAMETER_VALUE"), "{}", del.text);
}

#[tokio::test]
async fn traversal_in_artifact_paths_and_sources_is_refused() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    s.ingest("credit", &[event("r1")]).await.expect_status(200);
    let run = ok(&s, Method::POST, "/runs/create", json!({"experiment_id": "0"})).await;
    let run_id = run["run"]["info"]["run_id"].as_str().expect("run id").to_owned();
    // Sent byte for byte (no client-side normalization of dot segments).
    for path in [
        format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/../../../etc/passwd"),
        format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/%2e%2e/%2e%2e/x"),
        format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/%252e%252e/x"),
        format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/a%00b"),
        "/api/2.0/mlflow-artifacts/artifacts//etc/passwd".to_owned(),
        "/api/2.0/mlflow-artifacts/artifacts/0/x%5C..%5Cy".to_owned(),
        "/api/2.0/mlflow-artifacts/artifacts?path=0/../../etc".to_owned(),
        "/api/v1/models/credit/versions/v1/artifacts/../../../../etc/passwd".to_owned(),
        "/api/v1/models/credit/versions/v1/artifacts/a/%2e%2e/%2e%2e/b".to_owned(),
    ] {
        let r = s.raw_get(&path).await;
        assert!(matches!(r.status, 400 | 422), "{path}: {} {}", r.status, r.text);
    }
    let put = s
        .request(Method::PUT, "/api/v1/models/credit/versions/v1/artifacts/a%2F..%2F..%2Fb", &[], Some(b"x".to_vec()))
        .await;
    assert_eq!(put.status, 422, "{}", put.text);
    s.post_json(&format!("{M}/registered-models/create"), &json!({"name": "m"})).await.expect_status(200);
    for source in [
        "/etc/passwd",
        "file:///etc/passwd",
        "runs:/x/../../y",
        "mlflow-artifacts:/0/%2e%2e/x",
        "s3://b/../k",
        "a\u{0}b",
    ] {
        let r = mlflow(&s, Method::POST, "/model-versions/create", &json!({"name": "m", "source": source})).await;
        assert_eq!((r.status, error_code(&r)), (400, "INVALID_PARAMETER_VALUE"), "{source}: {}", r.text);
    }
    let patch = json!({"source": "../../secret"}).to_string().into_bytes();
    let r = s
        .request(
            Method::PATCH,
            "/api/v1/models/credit/versions/v1",
            &[("content-type", "application/json")],
            Some(patch),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("$.source"), "{}", r.text);
}

#[tokio::test]
async fn mlflow_refusals_keep_mlflow_shape_and_roles() {
    let s = TestServer::start().await;
    let r = s.request_as(Some("wrong"), Method::GET, &format!("{M}/experiments/get?experiment_id=0"), None).await;
    assert_eq!((r.status, error_code(&r)), (401, "UNAUTHENTICATED"), "{}", r.text);
    let r = s.request_as(None, Method::GET, &format!("{M}/experiments/get?experiment_id=0"), None).await;
    assert_eq!((r.status, error_code(&r)), (401, "UNAUTHENTICATED"));
    let viewer = s.post_json("/api/v1/tokens", &json!({"name": "v", "project": "default", "role": "viewer"})).await;
    let token = viewer.json["token"].as_str().expect("token").to_owned();
    let r = s
        .request_as(Some(&token), Method::POST, &format!("{M}/runs/create"), Some(&json!({"experiment_id": "0"})))
        .await;
    assert_eq!((r.status, error_code(&r)), (403, "PERMISSION_DENIED"), "{}", r.text);
    let r = s.request_as(Some(&token), Method::GET, &format!("{M}/experiments/get?experiment_id=0"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = mlflow(&s, Method::POST, "/runs/create", &json!({"experiment_id": "zero"})).await;
    assert_eq!((r.status, error_code(&r)), (400, "INVALID_PARAMETER_VALUE"));
    let r = s
        .request(
            Method::POST,
            &format!("{M}/runs/create"),
            &[("content-type", "application/json")],
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!((r.status, error_code(&r)), (400, "INVALID_PARAMETER_VALUE"));
    let r = mlflow(&s, Method::GET, "/runs/get?run_id=nope", &Value::Null).await;
    assert_eq!((r.status, error_code(&r)), (404, "RESOURCE_DOES_NOT_EXIST"));
}

#[tokio::test]
async fn promotion_gates_block_failing_versions_and_keep_their_reports() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock").as_millis() as i64;
    s.ingest("credit", &[crate::support::with(event("r1"), "/timestamp", json!(now - 60_000))])
        .await
        .expect_status(200);
    let labels = json!({"labels": [{"request_id": "r1", "label": "good"}]});
    s.post_json("/api/v1/models/credit/feedback", &labels).await.expect_status(200);
    let put_json = |path: &'static str, body: Value| {
        let s = &s;
        async move {
            s.request(Method::PUT, path, &[("content-type", "application/json")], Some(body.to_string().into_bytes()))
                .await
        }
    };
    let bad = put_json("/api/v1/models/credit/promotion-gate", json!({"lookback_hours": 0})).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("$.lookback_hours"), "{}", bad.text);

    // Accuracy is 1.0, but there is no reference to measure drift against: blocked.
    let gate = json!({"performance": {"accuracy": {"min": 0.9}}, "max_share_drifted": 0.5});
    put_json("/api/v1/models/credit/promotion-gate", gate).await.expect_status(200);
    let r = put_json("/api/v1/models/credit/versions/v1/stage", json!({"stage": "Production"})).await;
    assert_eq!((r.status, r.json["code"].as_str()), (409, Some("promotion_blocked")), "{}", r.text);
    let checks = r.json["report"]["checks"].as_array().expect("the report is in the answer");
    assert_eq!(checks[0]["check"], "performance.accuracy");
    assert_eq!((checks[0]["value"].as_f64(), &checks[0]["passed"]), (Some(1.0), &json!(true)));
    assert_eq!(checks[1]["passed"], false);
    let alias = mlflow(
        &s,
        Method::POST,
        "/registered-models/alias",
        &json!({"name": "credit", "alias": "production", "version": "v1"}),
    )
    .await;
    assert_eq!((alias.status, error_code(&alias)), (400, "INVALID_PARAMETER_VALUE"), "{}", alias.text);
    assert!(s.get("/api/v1/models/credit/aliases").await.json["items"].as_array().is_some_and(Vec::is_empty));

    // Performance alone: passes, and the move happens.
    put_json("/api/v1/models/credit/promotion-gate", json!({"performance": {"accuracy": {"min": 0.9}}}))
        .await
        .expect_status(200);
    let r = put_json("/api/v1/models/credit/versions/v1/stage", json!({"stage": "Production"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reports = s.get("/api/v1/models/credit/versions/v1/promotion-reports").await;
    let passed: Vec<&Value> = reports.json["items"].as_array().expect("items").iter().map(|i| &i["passed"]).collect();
    assert_eq!(passed, [&json!(false), &json!(false), &json!(true)], "{}", reports.text);
    assert_eq!(s.get("/api/v1/models/credit/promotion-gate").await.json["lookback_hours"], 168);
}
