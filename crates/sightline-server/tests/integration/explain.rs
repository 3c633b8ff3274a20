//! Explanations through the API: a version's XGBoost model file explains given and
//! logged rows exactly as xgboost's `pred_contribs` (the committed fixture), global
//! importance, partial dependence and permutation importance run over logged traffic,
//! and a prediction endpoint on loopback is explained with KernelSHAP, its failures and
//! budget answered as 502s. Bad input is refused with the field named.

use crate::support::TestServer;
use axum::body::Bytes;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const MODEL_FILE: &[u8] = include_bytes!("../../../sightline-explain/tests/fixtures/binary.model.json");
const CASE: &str = include_str!("../../../sightline-explain/tests/fixtures/binary.case.json");
const FEATURES: [&str; 6] = ["f0", "f1", "f2", "f3", "f4", "f5"];

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970").as_millis() as i64
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{what}: {got} vs {want}");
}

async fn put_raw(server: &TestServer, path: &str, bytes: &[u8]) -> crate::support::Reply {
    server.request(Method::PUT, path, &[("content-type", "application/octet-stream")], Some(bytes.to_vec())).await
}

async fn put_json(server: &TestServer, path: &str, body: &Value) -> crate::support::Reply {
    let bytes = serde_json::to_vec(body).expect("JSON");
    server.request(Method::PUT, path, &[("content-type", "application/json")], Some(bytes)).await
}

/// The fixture's rows as feature objects (missing values as null).
fn row_objects(case: &Value) -> Vec<Value> {
    case["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let values = row.as_array().expect("row");
            Value::Object(FEATURES.iter().zip(values).map(|(f, v)| ((*f).to_owned(), v.clone())).collect())
        })
        .collect()
}

async fn risk_model(server: &TestServer) {
    let features: Vec<Value> = FEATURES.iter().map(|f| json!({"name": f, "type": "numeric"})).collect();
    let spec = json!({"name": "risk", "task": "binary_classification", "features": features,
        "classes": ["no", "yes"], "positive_class": "yes"});
    server.create_model(&spec).await;
    server.post_json("/api/v1/models/risk/versions", &json!({"name": "v1"})).await.expect_status(201);
}

#[tokio::test]
async fn a_model_file_explains_rows_as_xgboost_and_logged_traffic_globally() {
    let server = TestServer::start().await;
    risk_model(&server).await;
    let case: Value = serde_json::from_str(CASE).expect("fixture");
    let base = "/api/v1/models/risk/versions/v1";

    let r = server.get(&format!("{base}/explainer")).await;
    assert_eq!(r.json["code"], "explainer_not_found", "{}", r.text);
    r.expect_problem(404);
    let r = put_raw(&server, &format!("{base}/explainer/model-file"), b"{\"not\": \"a model\"}").await;
    assert!(r.expect_problem(422).contains("xgboost-json"), "{}", r.text);
    assert_eq!(r.error_paths(), vec!["body"]);
    let r = put_raw(&server, &format!("{base}/explainer/model-file?features=f0,f1"), MODEL_FILE).await;
    assert!(r.expect_problem(400).contains("reads 6 features and 2 are named"), "{}", r.text);
    let r = put_raw(&server, &format!("{base}/explainer/model-file?features=f0,zz"), MODEL_FILE).await;
    assert!(r.expect_problem(400).contains("no feature \"zz\""), "{}", r.text);
    let r = put_raw(&server, &format!("{base}/explainer/model-file"), MODEL_FILE).await;
    r.expect_status(200);
    assert_eq!(r.json["kind"], "model_file");
    assert_eq!(r.json["format"], "xgboost-json");
    assert_eq!(r.json["features"], json!(FEATURES));
    assert_eq!(r.json["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(server.get(&format!("{base}/explainer")).await.json["sha256"], r.json["sha256"]);

    // Given rows: TreeSHAP equals xgboost's pred_contribs (last column: the bias).
    let rows = row_objects(&case);
    let r = server.post_json(&format!("{base}/explain"), &json!({"rows": rows})).await;
    r.expect_status(200);
    assert_eq!(r.json["method"], "treeshap");
    assert_eq!(r.json["outputs"], json!(["yes"]));
    assert_eq!(r.json["cached"], json!(false));
    let explanations = r.json["explanations"].as_array().expect("explanations");
    assert_eq!(explanations.len(), rows.len());
    for (i, e) in explanations.iter().enumerate() {
        let out = &e["outputs"][0];
        let contribs = case["contribs"][i][0].as_array().expect("contribs");
        for (f, want) in contribs[..6].iter().enumerate() {
            close(out["attributions"][f].as_f64().expect("number"), want.as_f64().expect("number"), "attribution");
        }
        close(out["expected_value"].as_f64().expect("ev"), contribs[6].as_f64().expect("bias"), "expected value");
        close(out["margin"].as_f64().expect("margin"), case["margin"][i][0].as_f64().expect("margin"), "margin");
    }

    // The same rows logged as predictions with labels, explained by request id (cached
    // the second time: same model, same rows).
    let now = now_ms();
    let events: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let p = case["prediction"][i][0].as_f64().expect("prediction");
            json!({"request_id": format!("r{i}"), "timestamp": now - 60_000 + i as i64, "version": "v1",
                "features": row, "prediction": if p > 0.5 { "yes" } else { "no" }, "scores": {"yes": p}})
        })
        .collect();
    server.ingest("risk", &events).await.expect_status(200);
    let labels: Vec<Value> = (0..rows.len())
        .map(|i| json!({"request_id": format!("r{i}"), "label": if i % 3 == 0 { "yes" } else { "no" }}))
        .collect();
    server.post_json("/api/v1/models/risk/feedback", &json!({"labels": labels})).await.expect_status(200);
    let ids = json!({"request_ids": ["r0", "r5"]});
    let r = server.post_json(&format!("{base}/explain"), &ids).await;
    r.expect_status(200);
    assert_eq!(r.json["explanations"][1]["request_id"], "r5");
    assert_eq!(r.json["explanations"][1]["outputs"], explanations[5]["outputs"]);
    assert_eq!(server.post_json(&format!("{base}/explain"), &ids).await.json["cached"], json!(true));

    // Interventional TreeSHAP against logged background rows: additive on every row.
    let body = json!({"method": "interventional", "request_ids": ["r1"], "background": {"size": 20}});
    let r = server.post_json(&format!("{base}/explain"), &body).await;
    r.expect_status(200);
    assert_eq!(r.json["background_rows"], 20);
    let out = &r.json["explanations"][0]["outputs"][0];
    let sum: f64 = out["attributions"].as_array().expect("values").iter().filter_map(Value::as_f64).sum();
    close(
        out["expected_value"].as_f64().expect("ev") + sum,
        case["margin"][1][0].as_f64().expect("margin"),
        "additivity",
    );

    // KernelSHAP needs complete rows: the logged background leaves out incomplete ones.
    let r = server.post_json(&format!("{base}/explain"), &json!({"method": "kernelshap", "request_ids": ["r0"]})).await;
    r.expect_status(200);
    let complete = rows.iter().filter(|r| r.as_object().expect("row").values().all(|v| !v.is_null())).count();
    assert_eq!(r.json["background_rows"], complete.min(100));
    let out = &r.json["explanations"][0]["outputs"][0];
    let sum: f64 = out["attributions"].as_array().expect("values").iter().filter_map(Value::as_f64).sum();
    close(
        out["expected_value"].as_f64().expect("ev") + sum,
        case["margin"][0][0].as_f64().expect("margin"),
        "additivity",
    );

    // Global importance: mean |SHAP| over the logged rows, as the fixture's contribs give it.
    let from = now - 3_600_000;
    let r = server.get(&format!("{base}/importance?from={from}&to={}&sample=1000", now + 1)).await;
    r.expect_status(200);
    assert_eq!(r.json["overall"]["rows"], rows.len());
    for f in 0..6 {
        let want: f64 = (0..rows.len()).map(|i| case["contribs"][i][0][f].as_f64().expect("c").abs()).sum::<f64>()
            / rows.len() as f64;
        close(r.json["overall"]["outputs"][0]["mean_abs_shap"][f].as_f64().expect("mean"), want, "importance");
    }
    assert_eq!(r.json["windows"][0]["drift"].as_f64(), Some(0.0), "the only window is its own baseline");
    let r = server.get(&format!("{base}/importance?from={from}&to={now}&step=30m")).await;
    r.expect_status(200);
    let windows = r.json["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0]["rows"], 0);
    assert_eq!(windows[0]["drift"], Value::Null);
    assert_eq!(windows[1]["rows"], rows.len());

    // Partial dependence over the logged rows: ICE curves average to the PD curve.
    let body = json!({"feature": "f2", "grid_resolution": 7, "individual": true});
    let r = server.post_json(&format!("{base}/partial-dependence"), &body).await;
    r.expect_status(200);
    let grid = r.json["grid"].as_array().expect("grid");
    assert_eq!(grid.len(), 7);
    let used = r.json["rows"].as_u64().expect("rows") as usize;
    let ice = r.json["outputs"][0]["individual"].as_array().expect("ice");
    assert_eq!(ice.len(), used);
    for g in 0..grid.len() {
        let mean = ice.iter().map(|c| c[g].as_f64().expect("v")).sum::<f64>() / used as f64;
        close(r.json["outputs"][0]["average"][g].as_f64().expect("pd"), mean, "pd");
    }

    // Permutation importance over the labelled rows: the baseline is the accuracy of the
    // model's own predictions against the labels.
    let r = server.post_json(&format!("{base}/permutation-importance"), &json!({"n_repeats": 3, "seed": 4})).await;
    r.expect_status(200);
    let right =
        (0..rows.len()).filter(|&i| (case["prediction"][i][0].as_f64().expect("p") > 0.5) == (i % 3 == 0)).count();
    close(r.json["baseline"].as_f64().expect("baseline"), right as f64 / rows.len() as f64, "baseline");
    assert_eq!(r.json["importances_mean"].as_array().map(Vec::len), Some(6));
    assert_eq!(r.json["importances"][0].as_array().map(Vec::len), Some(3));

    // Bad input, each named.
    let cases = [
        (json!({"method": "magic", "rows": [{}]}), "$.method"),
        (json!({"rows": [{"f0": 1}], "request_ids": ["r0"]}), "$"),
        (json!({}), "$.rows"),
        (json!({"rows": [{"f0": "red"}]}), "$.rows[0].f0"),
        (json!({"rows": [{"nope": 1}]}), "$.rows[0].nope"),
        (json!({"method": "kernelshap", "rows": [{"f0": 1}], "background": {"size": 5}}), "$.rows[0].f1"),
        (json!({"method": "lime", "rows": [rows[0]], "lime_samples": 1}), "$.lime_samples"),
    ];
    for (body, path) in cases {
        let r = server.post_json(&format!("{base}/explain"), &body).await;
        r.expect_problem(422);
        assert_eq!(r.error_paths(), vec![path], "{body}: {}", r.text);
    }
    let r = server.post_json(&format!("{base}/explain"), &json!({"request_ids": ["missing"]})).await;
    assert_eq!(r.json["code"], "prediction_not_found", "{}", r.text);
    let r = server.post_json(&format!("{base}/partial-dependence"), &json!({"feature": "zz"})).await;
    assert_eq!(r.error_paths(), vec!["$.feature"], "{}", r.text);
    let r = server.post_json(&format!("{base}/permutation-importance"), &json!({"scoring": "r2"})).await;
    assert_eq!(r.error_paths(), vec!["$.scoring"], "{}", r.text);
    let r = server.post_json("/api/v1/models/risk/versions/v9/explain", &json!({"rows": [{}]})).await;
    assert_eq!(r.json["code"], "version_not_found", "{}", r.text);

    // The model file survives a restart (sealed at rest), and can be removed.
    let server = server.restart().await;
    let r = server.post_json(&format!("{base}/explain"), &json!({"rows": [rows[0]]})).await;
    r.expect_status(200);
    assert_eq!(r.json["explanations"][0]["outputs"], explanations[0]["outputs"]);
    let r = server.request(Method::DELETE, &format!("{base}/explainer"), &[], None).await;
    r.expect_status(204);
    let r = server.post_json(&format!("{base}/explain"), &json!({"rows": [rows[0]]})).await;
    assert_eq!(r.json["code"], "explainer_not_found", "{}", r.text);
}

/// A linear model served on loopback, `2a − 3b + c/2`, counting its calls; `/broken`
/// answers 500, `/garbage` answers a string and `/slow` answers after 3 s.
async fn linear_endpoint() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new()
        .route(
            "/predict",
            axum::routing::post(move |body: Bytes| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let doc: Value = serde_json::from_slice(&body).expect("JSON request");
                    assert_eq!(doc["columns"], json!(["a", "b", "c"]));
                    let predictions: Vec<f64> = doc["rows"]
                        .as_array()
                        .expect("rows")
                        .iter()
                        .map(|r| {
                            let v = |i: usize| r[i].as_f64().expect("number");
                            2.0 * v(0) - 3.0 * v(1) + 0.5 * v(2)
                        })
                        .collect();
                    axum::Json(json!({ "predictions": predictions }))
                }
            }),
        )
        .route("/broken", axum::routing::post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/garbage", axum::routing::post(|| async { axum::Json(json!("nope")) }))
        .route(
            "/slow",
            axum::routing::post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                axum::Json(json!({"predictions": [0.0]}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn a_prediction_endpoint_is_explained_with_kernelshap_and_its_failures_are_502() {
    let server = TestServer::start().await;
    let features: Vec<Value> = ["a", "b", "c"].iter().map(|f| json!({"name": f, "type": "numeric"})).collect();
    server.create_model(&json!({"name": "lin", "task": "regression", "features": features})).await;
    server.post_json("/api/v1/models/lin/versions", &json!({"name": "v1"})).await.expect_status(201);
    let (url, calls) = linear_endpoint().await;
    let base = "/api/v1/models/lin/versions/v1";
    let r = put_json(&server, &format!("{base}/explainer/endpoint"), &json!({"url": "ftp://x"})).await;
    assert_eq!(r.error_paths(), vec!["$.url"], "{}", r.text);
    let r = put_json(&server, &format!("{base}/explainer/endpoint"), &json!({"url": url, "max_calls": 0})).await;
    assert_eq!(r.error_paths(), vec!["$.max_calls"], "{}", r.text);
    let r = put_json(&server, &format!("{base}/explainer/endpoint"), &json!({"url": format!("{url}/predict")})).await;
    r.expect_status(200);
    assert_eq!(r.json["kind"], "endpoint");
    assert_eq!(r.json["methods"], json!(["kernelshap", "lime"]));

    // For a linear model the Shapley values are w·(x − mean of the background).
    let background = json!({"rows": [{"a": 0, "b": 0, "c": 0}, {"a": 2, "b": 2, "c": 2}]});
    let body = json!({"rows": [{"a": 1, "b": 2, "c": 3}], "background": background});
    let r = server.post_json(&format!("{base}/explain"), &body).await;
    r.expect_status(200);
    assert_eq!(r.json["method"], "kernelshap");
    assert_eq!(r.json["outputs"], json!(["prediction"]));
    let out = &r.json["explanations"][0]["outputs"][0];
    let got: Vec<f64> = out["attributions"].as_array().expect("values").iter().filter_map(Value::as_f64).collect();
    for (g, want) in got.iter().zip([0.0, -3.0, 1.0]) {
        assert!((g - want).abs() < 1e-9, "{got:?}");
    }
    assert!((out["expected_value"].as_f64().expect("ev") + 0.5).abs() < 1e-9);
    assert!((out["margin"].as_f64().expect("margin") + 2.5).abs() < 1e-9);
    assert!(r.json["endpoint_calls"].as_u64().expect("calls") >= 2);
    assert_eq!(calls.load(Ordering::Relaxed) as u64, r.json["endpoint_calls"].as_u64().expect("calls"));

    // A summarized background: the distinct rows weighted by their counts.
    let zero = json!({"a": 0, "b": 0, "c": 0});
    let two = json!({"a": 2, "b": 2, "c": 2});
    let repeated = json!({"rows": [zero, zero, zero, two], "summarize": 5});
    let body = json!({"rows": [{"a": 1, "b": 2, "c": 3}], "background": repeated});
    let r = server.post_json(&format!("{base}/explain"), &body).await;
    r.expect_status(200);
    assert_eq!((r.json["background_rows"].as_u64(), r.json["background_weighted"].as_bool()), (Some(2), Some(true)));
    let out = &r.json["explanations"][0]["outputs"][0];
    let got: Vec<f64> = out["attributions"].as_array().expect("values").iter().filter_map(Value::as_f64).collect();
    for (g, want) in got.iter().zip([1.0, -4.5, 1.25]) {
        assert!((g - want).abs() < 1e-9, "{got:?}");
    }
    assert!((out["expected_value"].as_f64().expect("ev") + 0.25).abs() < 1e-9);
    let lime = json!({"method": "lime", "rows": [{"a": 1, "b": 2, "c": 3}], "background": repeated});
    let r = server.post_json(&format!("{base}/explain"), &lime).await;
    assert_eq!(r.error_paths(), vec!["$.background.summarize"], "{}", r.text);

    // LIME through the endpoint; tree methods need the model file.
    let lime =
        json!({"method": "lime", "rows": [{"a": 1, "b": 2, "c": 3}], "background": background, "lime_samples": 200});
    let r = server.post_json(&format!("{base}/explain"), &lime).await;
    r.expect_status(200);
    assert_eq!(r.json["explanations"][0]["outputs"][0]["weights"].as_array().map(Vec::len), Some(3));
    let r = server.post_json(&format!("{base}/explain"), &json!({"method": "treeshap", "rows": [{"a": 1}]})).await;
    assert_eq!(r.error_paths(), vec!["$.method"], "{}", r.text);

    // Partial dependence of a on a linear model: the PD moves by 2 per unit of a.
    let body = json!({"feature": "a", "values": [0.0, 1.0, 3.0], "data": background});
    let r = server.post_json(&format!("{base}/partial-dependence"), &body).await;
    r.expect_status(200);
    let pd: Vec<f64> =
        r.json["outputs"][0]["average"].as_array().expect("pd").iter().filter_map(Value::as_f64).collect();
    assert_eq!(pd, vec![-2.5, -0.5, 3.5]);

    // An endpoint that fails, answers garbage or runs out of budget: 502, named.
    for (path, needle) in [("/broken", "500"), ("/garbage", "predictions")] {
        let r = put_json(&server, &format!("{base}/explainer/endpoint"), &json!({"url": format!("{url}{path}")})).await;
        r.expect_status(200);
        let r = server
            .post_json(
                &format!("{base}/explain"),
                &json!({"rows": [{"a": 1, "b": 2, "c": 3}], "background": background}),
            )
            .await;
        assert_eq!(r.json["code"], "model_endpoint_failed", "{}", r.text);
        assert!(r.expect_problem(502).contains(needle), "{}", r.text);
    }
    // A server too slow for the timeout.
    let slow = json!({"url": format!("{url}/slow"), "timeout_ms": 200});
    put_json(&server, &format!("{base}/explainer/endpoint"), &slow).await.expect_status(200);
    let r = server.post_json(&format!("{base}/explain"), &body_with_new_row(&background)).await;
    assert_eq!(r.json["code"], "model_endpoint_failed", "{}", r.text);
    let r = put_json(
        &server,
        &format!("{base}/explainer/endpoint"),
        &json!({"url": format!("{url}/predict"), "max_calls": 1}),
    )
    .await;
    r.expect_status(200);
    let r = server.post_json(&format!("{base}/explain"), &body_with_new_row(&background)).await;
    assert!(r.expect_problem(502).contains("budget"), "{}", r.text);
}

fn body_with_new_row(background: &Value) -> Value {
    json!({"rows": [{"a": 5, "b": 1, "c": 0}], "background": background})
}

#[tokio::test]
async fn attributions_logged_with_predictions_give_global_importance_without_a_model_file() {
    let server = TestServer::start().await;
    let features: Vec<Value> = ["a", "b", "c"].iter().map(|f| json!({"name": f, "type": "numeric"})).collect();
    server.create_model(&json!({"name": "ext", "task": "regression", "features": features})).await;
    let now = now_ms();
    let events: Vec<Value> = (0..10)
        .map(|i| {
            json!({"request_id": format!("e{i}"), "timestamp": now - 1_000 + i, "version": "v1",
                "features": {"a": i, "b": 1, "c": 2}, "prediction": 1.5,
                "attributions": {"a": if i % 2 == 0 { 1.0 } else { -3.0 }, "c": 0.5}})
        })
        .collect();
    server.ingest("ext", &events).await.expect_status(200);
    let r = server.get("/api/v1/models/ext/predictions/e1").await;
    assert_eq!(r.json["attributions"], json!({"a": -3.0, "c": 0.5}), "{}", r.text);
    let r = server.get("/api/v1/models/ext/versions/v1/importance?source=logged").await;
    r.expect_status(200);
    assert_eq!(r.json["source"], "logged");
    assert_eq!(r.json["features"], json!(["a", "b", "c"]));
    assert_eq!(r.json["overall"]["rows"], 10);
    assert_eq!(r.json["overall"]["outputs"][0]["mean_abs_shap"], json!([2.0, 0.0, 0.5]));
    // Without a model file the logged attributions are the source by default too.
    let r = server.get("/api/v1/models/ext/versions/v1/importance").await;
    assert_eq!(r.json["source"], "logged", "{}", r.text);
    let r = server.get("/api/v1/models/ext/versions/v1/importance?source=magic").await;
    r.expect_problem(400);

    // Bad attributions are refused with the field named; the rest of the batch is stored.
    let bad = [
        json!({"request_id": "x1", "version": "v1", "features": {"a": 1}, "prediction": 1.0, "attributions": {"zz": 1}}),
        json!({"request_id": "x2", "version": "v1", "features": {"a": 1}, "prediction": 1.0, "attributions": {"a": "big"}}),
        json!({"request_id": "x3", "version": "v1", "features": {"a": 1}, "prediction": 1.0, "attributions": [1, 2]}),
        json!({"request_id": "x4", "version": "v1", "features": {"a": 1}, "prediction": 1.0}),
    ];
    let r = server.post_json("/api/v1/models/ext/predictions", &json!({"events": bad})).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    assert!(r.text.contains("attributions.zz") && r.text.contains("attributions.a"), "{}", r.text);
    assert!(r.text.contains("[2].attributions\""), "{}", r.text);
    let r = server.get("/api/v1/models/ext/predictions/x4").await;
    r.expect_status(200);
    assert!(r.json.get("attributions").is_none(), "{}", r.text);
}
