//! Exception reporting end to end: grouping into issues, duplicates, bad input,
//! bounded storage of huge traces, status changes and regressions, metrics, and the
//! errors that arrive with predictions.

use crate::support::{TestServer, credit_model, event, with};
use reqwest::Method;
use serde_json::{Value, json};

fn exception(message: &str, line: u32) -> Value {
    json!({
        "type": "KeyError",
        "message": message,
        "version": "v1",
        "frames": [
            {"file": "app/serve.py", "function": "handle", "line": 10 + line, "in_app": true},
            {"file": "app/features.py", "function": "lookup", "line": 40 + line, "in_app": true},
        ],
        "input": {"customer": "c-17", "amount": 12.5},
    })
}

async fn post_errors(s: &TestServer, events: &[Value]) -> Value {
    let r = s.post_json("/api/v1/models/credit/errors", &json!({ "events": events })).await;
    r.expect_status(200);
    r.json
}

async fn issues(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/models/credit/issues{query}")).await;
    r.expect_status(200);
    r.json["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn occurrences_group_into_issues_with_history_and_samples() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let mut first = exception("missing customer 'c-17'", 0);
    first["event_id"] = json!("occ-1");
    let answer = post_errors(&s, &[first.clone(), exception("missing customer 'c-99231'", 3)]).await;
    assert_eq!((answer["accepted"].as_u64(), answer["duplicates"].as_u64()), (Some(2), Some(0)), "{answer}");
    let again = post_errors(&s, &[first]).await;
    assert_eq!(again["duplicates"], json!(1), "a retried occurrence is not counted twice");
    let mut other = exception("division by zero", 0);
    other["type"] = json!("ZeroDivisionError");
    other["version"] = json!("v2");
    post_errors(&s, &[other]).await;

    let all = issues(&s, "").await;
    assert_eq!(all.len(), 2, "{all:#?}");
    let key_error = all.iter().find(|i| i["type"] == json!("KeyError")).expect("the KeyError issue");
    assert_eq!(key_error["count"], json!(2));
    assert_eq!(key_error["title"], json!("missing customer 'c-<n>'"));
    assert_eq!(key_error["status"], json!("unresolved"));
    assert_eq!(key_error["versions"][0]["version"], json!("v1"));
    assert_eq!(issues(&s, "?version=v2").await.len(), 1);
    assert_eq!(issues(&s, "?status=resolved").await.len(), 0);
    s.get("/api/v1/models/credit/issues?status=open").await.expect_problem(400);

    let id = key_error["id"].as_i64().expect("id");
    let detail = s.get(&format!("/api/v1/models/credit/issues/{id}")).await;
    detail.expect_status(200);
    let sample = &detail.json["events"][0];
    assert_eq!(sample["message"], json!("missing customer 'c-99231'"), "newest first, message as sent");
    assert_eq!(sample["frames"][1]["function"], json!("lookup"));
    assert_eq!(sample["input"], json!({"customer": "c-17", "amount": 12.5}));
    assert_eq!(
        detail.json["hourly"].as_array().expect("hourly").iter().map(|h| h["count"].as_i64().unwrap_or(0)).sum::<i64>(),
        2
    );
    s.get("/api/v1/models/credit/issues/999999").await.expect_problem(404);
    s.get("/api/v1/models/credit/issues/abc").await.expect_problem(404);

    // Inputs are stored sealed.
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(s.data_dir()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() && !path.ends_with("master.key") {
            dump.extend(std::fs::read(&path).expect("read"));
        }
    }
    assert!(!dump.windows(7).any(|w| w == b"c-99231"), "the message and input are not in the files in clear");

    let exceptions = s.metric("sightline_exceptions_total{model=\"credit\",version=\"v1\"}").await;
    assert_eq!(exceptions, Some(2.0));
}

#[tokio::test]
async fn a_resolved_issue_that_recurs_is_a_regression() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    post_errors(&s, &[exception("boom", 0)]).await;
    let id = issues(&s, "").await[0]["id"].as_i64().expect("id");
    let path = format!("/api/v1/models/credit/issues/{id}");
    let patch = |status: &str| {
        let body = json!({ "status": status }).to_string().into_bytes();
        let path = path.clone();
        let s = &s;
        async move { s.request(Method::PATCH, &path, &[("content-type", "application/json")], Some(body)).await }
    };
    let r = patch("resolved").await;
    r.expect_status(200);
    assert_eq!(r.json["status"], json!("resolved"));
    assert_eq!(patch("fixed").await.error_paths(), ["$.status"]);
    // An occurrence from before the resolution (delivered late) leaves it resolved.
    let mut late = exception("boom", 0);
    late["timestamp"] = json!("2020-01-01T00:00:00Z");
    post_errors(&s, &[late]).await;
    assert_eq!(issues(&s, "").await[0]["status"], json!("resolved"));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    post_errors(&s, &[exception("boom", 0)]).await;
    let now = issues(&s, "").await;
    assert_eq!(
        (now[0]["status"].clone(), now[0]["regressions"].clone(), now[0]["count"].clone()),
        (json!("unresolved"), json!(1), json!(3))
    );
    assert_eq!(patch("ignored").await.json["status"], json!("ignored"));
    post_errors(&s, &[exception("boom", 0)]).await;
    assert_eq!(issues(&s, "").await[0]["status"], json!("ignored"), "ignored stays ignored");
}

#[tokio::test]
async fn bad_errors_are_rejected_by_path_and_huge_ones_are_bounded() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let r = s
        .post_json(
            "/api/v1/models/credit/errors",
            &json!({ "events": [
                {"message": "no type"},
                {"type": "E", "message": "m", "frames": "not a list"},
                {"type": "E", "message": "m", "frames": [{"file": "a.py", "line": -3}]},
                {"type": "E", "message": "m", "version": "no spaces allowed"},
                {"type": "E", "message": "m", "colour": "red"},
                {"type": "E", "message": "fine"},
            ]}),
        )
        .await;
    r.expect_status(200);
    assert_eq!(r.json["accepted"], json!(1));
    let paths: Vec<String> = r.json["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .flat_map(|x| {
            x["errors"].as_array().expect("errors").iter().map(|e| e["path"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(
        paths,
        [
            "$.events[0].type",
            "$.events[1].frames",
            "$.events[2].frames[0].line",
            "$.events[3].version",
            "$.events[4].colour"
        ]
    );

    let frames: Vec<Value> =
        (0..10_000).map(|i| json!({"file": format!("deep{i}.py"), "function": "recurse", "line": i})).collect();
    let huge = json!({
        "type": "RecursionError",
        "message": "x".repeat(100_000),
        "frames": frames,
        "input": {"blob": "y".repeat(200_000)},
    });
    post_errors(&s, &[huge]).await;
    let issue = issues(&s, "?limit=1").await[0].clone();
    let detail = s.get(&format!("/api/v1/models/credit/issues/{}", issue["id"])).await;
    let sample = &detail.json["events"][0];
    assert_eq!(sample["frames"].as_array().expect("frames").len(), 100);
    assert_eq!(sample["frames_dropped"], json!(9_900));
    assert_eq!(sample["frames"][99]["file"], json!("deep9999.py"), "the innermost frame is kept");
    assert!(sample["message"].as_str().expect("message").len() < 9_000);
    assert!(sample["input"]["omitted"].as_str().expect("a note").contains("limit is 65536"));
}

#[tokio::test]
async fn errors_reported_with_predictions_join_the_issues() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let failed = |id: &str, ms: u32| {
        with(
            with(event(id), "/prediction", Value::Null),
            "/error",
            json!({"type": "TimeoutError", "message": format!("model took {ms} ms")}),
        )
    };
    s.ingest("credit", &[failed("t1", 5003), failed("t2", 6120)]).await;
    let found = issues(&s, "").await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!((found[0]["type"].clone(), found[0]["count"].clone()), (json!("TimeoutError"), json!(2)));
    let detail = s.get(&format!("/api/v1/models/credit/issues/{}", found[0]["id"])).await;
    let ids: Vec<&str> =
        detail.json["events"].as_array().expect("events").iter().filter_map(|e| e["request_id"].as_str()).collect();
    assert_eq!(ids, ["t2", "t1"]);
}

#[tokio::test]
async fn a_reported_exception_and_its_failed_prediction_are_one_occurrence() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let failed = |id: &str| {
        with(with(event(id), "/prediction", Value::Null), "/error", json!({"type": "KeyError", "message": "'score'"}))
    };
    let reported = |id: &str| {
        let mut e = exception("'score'", 0);
        e["request_id"] = json!(id);
        e["event_id"] = json!(format!("exc-{id}"));
        e
    };
    // The prediction first (as the SDK's queue usually sends them), then its exception,
    // which takes the prediction's place in the issues; then the other way round.
    s.ingest("credit", &[failed("r1"), failed("r2")]).await;
    assert_eq!(issues(&s, "").await.len(), 1, "the predictions' errors group until the exceptions come");
    post_errors(&s, &[reported("r1"), reported("r2")]).await;
    post_errors(&s, &[reported("r3")]).await;
    s.ingest("credit", &[failed("r3")]).await;
    let found = issues(&s, "").await;
    assert_eq!(found.len(), 1, "one issue, the exceptions': {found:#?}");
    assert_eq!(found[0]["count"], 3);
    assert_eq!(found[0]["versions"][0]["count"], 3);
    let detail = s.get(&format!("/api/v1/models/credit/issues/{}", found[0]["id"])).await;
    let events = detail.json["events"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["frames"].as_array().is_some_and(|f| f.len() == 2)), "{events:#?}");
    let hourly: i64 = detail.json["hourly"].as_array().expect("hours").iter().filter_map(|h| h["count"].as_i64()).sum();
    assert_eq!(hourly, 3);
    // A failed prediction without a reported exception is still an issue of its own.
    s.ingest("credit", &[failed("r4")]).await;
    let found = issues(&s, "").await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found.iter().map(|i| i["count"].as_i64().unwrap_or(0)).sum::<i64>(), 4);
    // The failed predictions themselves are all stored, with their errors.
    for id in ["r1", "r2", "r3", "r4"] {
        let p = s.get(&format!("/api/v1/models/credit/predictions/{id}")).await;
        assert_eq!(p.json["error"]["type"], "KeyError", "{id}");
    }
}
