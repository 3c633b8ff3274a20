//! The happy paths of the API: models, versions, ingest in every format, listing and
//! fetching predictions with their labels, request ids, health, routing errors and
//! the Prometheus metrics.

use crate::support::{TestServer, batch, credit_model, event, gzip, metric_value, ndjson, with, without, zstd};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PREDICTIONS: &str = "/api/v1/models/credit/predictions";
const FEEDBACK: &str = "/api/v1/models/credit/feedback";

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| OffsetDateTime::parse(s, &Rfc3339).is_ok())
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|p| p["request_id"].as_str().expect("a prediction has a request id").to_owned()).collect()
}

/// Asserts a 400 for a bad query parameter whose detail names the parameter.
async fn bad_query(server: &TestServer, path: &str, param: &str) {
    let r = server.get(path).await;
    let detail = r.expect_problem(400);
    assert!(detail.contains(param), "{path}: {detail}");
}

/// Every item of a paginated list endpoint, following `next_cursor`.
async fn all_pages(server: &TestServer, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let r = server.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        pages += 1;
        let page = r.json["items"].as_array().expect("items");
        assert!(page.len() <= limit, "{url}: {}", r.text);
        items.extend(page.iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    (items, pages)
}

#[tokio::test]
async fn models_are_created_listed_and_fetched() {
    let server = TestServer::start().await;
    let r = server.post_json("/api/v1/models", &credit_model("credit")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["name"], "credit");
    assert_eq!(r.json["task"], "binary_classification");
    assert_eq!(r.json["classes"], json!(["good", "bad"]));
    assert_eq!(r.json["positive_class"], "bad");
    assert_eq!(r.json["description"], "credit risk");
    assert_eq!(
        r.json["features"],
        json!([
            {"name": "age", "type": "numeric", "nullable": false},
            {"name": "city", "type": "categorical", "nullable": true},
            {"name": "member", "type": "boolean", "nullable": true},
            {"name": "note", "type": "text", "nullable": true},
        ])
    );
    assert!(is_rfc3339(&r.json["created_at"]), "{}", r.text);
    let created = r.json.clone();

    let r = server.post_json("/api/v1/models", &credit_model("credit")).await;
    let detail = r.expect_problem(409);
    assert!(detail.contains("credit"), "{detail}");

    // Invalid specs: 422 with the path of the offending member.
    let invalid = [
        (with(credit_model("bad-1"), "/positive_class", json!("meh")), "$.positive_class"),
        (without(credit_model("bad-2"), "/positive_class"), "$.positive_class"),
        (with(without(credit_model("bad-3"), "/positive_class"), "/task", json!("regression")), "$.classes"),
        (credit_model("a b"), "$.name"),
        (with(credit_model("bad-4"), "/task", json!("clustering")), "$.task"),
        (with(credit_model("bad-5"), "/features/1/name", json!("age")), "$.features[1].name"),
        (with(credit_model("bad-6"), "/features/0/type", json!("float")), "$.features[0].type"),
        (without(credit_model("bad-7"), "/name"), "name"),
        (with(credit_model("bad-8"), "/colour", json!("red")), "colour"),
    ];
    for (spec, path) in &invalid {
        let r = server.post_json("/api/v1/models", spec).await;
        let detail = r.expect_problem(422).to_owned();
        assert!(
            detail.contains(path) || r.error_paths().iter().any(|p| p.contains(path)),
            "{spec}: nothing names {path}: {}",
            r.text
        );
    }
    let r = server.post_raw("/api/v1/models", Some("application/json"), None, b"{\"name\": ".to_vec()).await;
    r.expect_problem(400);
    // Deep nesting where any JSON value is accepted (a class label may be of several
    // types, so the value is buffered first) must not exhaust the stack.
    let deep = format!(
        r#"{{"name": "deep", "task": "binary_classification", "positive_class": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let r = server.post_raw("/api/v1/models", Some("application/json"), None, deep.into_bytes()).await;
    assert!(r.expect_problem(400).contains("recursion limit"), "{}", r.text);
    let r = server
        .post_raw("/api/v1/models", Some("text/plain"), None, serde_json::to_vec(&credit_model("plain")).expect("json"))
        .await;
    r.expect_problem(415);
    // A gzip-encoded spec is fine.
    let r = server
        .post_raw(
            "/api/v1/models",
            Some("application/json"),
            Some("gzip"),
            gzip(&serde_json::to_vec(&credit_model("zipped")).expect("json")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = server.get("/api/v1/models/credit").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, created);
    let detail = server.get("/api/v1/models/nope").await;
    assert!(detail.expect_problem(404).contains("nope"));

    for name in ["m-a", "m-b", "m-c", "m-d"] {
        server.create_model(&credit_model(name)).await;
    }
    let expected = ["credit", "m-a", "m-b", "m-c", "m-d", "zipped"];
    for limit in [1, 2, 4, 6, 100] {
        let (items, pages) = all_pages(&server, "/api/v1/models", limit).await;
        let names: Vec<&str> = items.iter().map(|m| m["name"].as_str().expect("a name")).collect();
        assert_eq!(names, expected, "limit {limit}: every model once, by name");
        assert_eq!(pages, expected.len().div_ceil(limit), "limit {limit}");
    }
    let r = server.get("/api/v1/models").await;
    assert_eq!(r.json["items"].as_array().map(Vec::len), Some(6));
    assert_eq!(r.json["next_cursor"], Value::Null);

    bad_query(&server, "/api/v1/models?limit=0", "limit").await;
    bad_query(&server, "/api/v1/models?limit=1001", "limit").await;
    bad_query(&server, "/api/v1/models?limit=ten", "limit").await;
    bad_query(&server, "/api/v1/models?cursor=%25%25", "cursor").await;
    bad_query(&server, "/api/v1/models?colour=red", "colour").await;
}

#[tokio::test]
async fn versions_are_registered_explicitly_and_by_events() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let versions = "/api/v1/models/credit/versions";

    let r = server.post_json(versions, &json!({"name": "v1", "description": "first"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["name"], "v1");
    assert_eq!(r.json["description"], "first");
    assert!(is_rfc3339(&r.json["created_at"]), "{}", r.text);

    let r = server.post_json(versions, &json!({"name": "v1"})).await;
    assert!(r.expect_problem(409).contains("v1"));
    let r = server.post_json(versions, &json!({"name": "v 2"})).await;
    r.expect_problem(422);
    assert_eq!(r.error_paths(), ["$.name"]);
    let r = server.post_json(versions, &json!({"name": "v2", "colour": "red"})).await;
    assert!(r.expect_problem(422).contains("colour"));
    let r = server.post_json("/api/v1/models/nope/versions", &json!({"name": "v1"})).await;
    r.expect_problem(404);

    // An event naming an unknown version registers it.
    server.ingest("credit", &[with(event("e-1"), "/version", json!("v7"))]).await;
    server.ingest("credit", &[event("e-2")]).await;
    server.post_json(versions, &json!({"name": "v3"})).await.expect_status(201);

    let (items, pages) = all_pages(&server, versions, 1).await;
    let names: Vec<&str> = items.iter().map(|v| v["name"].as_str().expect("a name")).collect();
    assert_eq!(names, ["v1", "v3", "v7"]);
    assert_eq!(pages, 3);
    assert!(items.iter().all(|v| is_rfc3339(&v["created_at"])));
    assert_eq!(items[0]["description"], "first");

    // The version the event registered cannot be registered again.
    let r = server.post_json(versions, &json!({"name": "v7"})).await;
    r.expect_problem(409);
    bad_query(&server, &format!("{versions}?limit=0"), "limit").await;
}

#[tokio::test]
async fn ingest_accepts_json_ndjson_gzip_and_zstd() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    type Encode = fn(&[u8]) -> Vec<u8>;
    let identity: Encode = <[u8]>::to_vec;
    let formats: [(&str, Option<&str>, Option<&str>, Encode); 9] = [
        ("json", Some("application/json"), None, identity),
        ("ndjson", Some("application/x-ndjson"), None, identity),
        ("json-gzip", Some("application/json"), Some("gzip"), gzip),
        ("nd-gzip", Some("application/x-ndjson"), Some("gzip"), gzip),
        ("json-zstd", Some("application/json"), Some("zstd"), zstd),
        ("nd-zstd", Some("application/x-ndjson"), Some("zstd"), zstd),
        ("charset", Some("application/json; charset=utf-8"), None, identity),
        ("no-type", None, None, identity),
        ("identity", Some("application/json"), Some("identity"), identity),
    ];
    for (name, content_type, encoding, encode) in formats {
        let events = [event(&format!("{name}-1")), event(&format!("{name}-2"))];
        let body = if content_type.is_some_and(|c| c.contains("ndjson")) { ndjson(&events) } else { batch(&events) };
        let r = server.post_raw(PREDICTIONS, content_type, encoding, encode(&body)).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(r.json, json!({"accepted": 2, "duplicates": 0, "rejected": []}), "{name}");
        for e in &events {
            let id = e["request_id"].as_str().expect("id");
            let got = server.get(&format!("{PREDICTIONS}/{id}")).await;
            assert_eq!(got.status, 200, "{name}: {}", got.text);
            assert_eq!(got.json["request_id"], id);
        }
    }
    // NDJSON with CRLF line ends and blank lines.
    let r = server
        .post_raw(
            PREDICTIONS,
            Some("application/x-ndjson"),
            None,
            [
                serde_json::to_vec(&event("crlf-1")).expect("json"),
                b"\r\n\r\n  \n".to_vec(),
                serde_json::to_vec(&event("crlf-2")).expect("json"),
                b"\r\n".to_vec(),
            ]
            .concat(),
        )
        .await;
    assert_eq!(r.json, json!({"accepted": 2, "duplicates": 0, "rejected": []}), "{}", r.text);
    // An empty batch is a valid no-op in both formats.
    let r = server.post_json(PREDICTIONS, &json!({"events": []})).await;
    assert_eq!(r.json, json!({"accepted": 0, "duplicates": 0, "rejected": []}));
    let r = server.post_raw(PREDICTIONS, Some("application/x-ndjson"), None, Vec::new()).await;
    assert_eq!(r.json, json!({"accepted": 0, "duplicates": 0, "rejected": []}));
    let stored = server.all_predictions("credit", "", 1000).await;
    assert_eq!(stored.len(), 2 * formats.len() + 2);
    assert_eq!(
        server.metric(r#"sightline_predictions_total{model="credit",version="v1"}"#).await,
        Some((2 * formats.len() + 2) as f64)
    );
}

/// 25 events, two per timestamp (ties broken by arrival), versions v1/v2/v3 in turn.
fn timeline() -> Vec<Value> {
    (0..25)
        .map(|i| {
            let mut e = event(&format!("t-{i:02}"));
            e["timestamp"] = json!(BASE_MS + (i / 2) * 1000);
            e["version"] = json!(format!("v{}", i % 3 + 1));
            e
        })
        .collect()
}

const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[tokio::test]
async fn predictions_list_newest_first_with_cursor_and_filters() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let events = timeline();
    // Arrival order differs from time order: the later part first, splitting the pair
    // of events 10 and 11, which share a timestamp, so that 11 arrives before 10.
    server.ingest("credit", &events[11..]).await;
    server.ingest("credit", &events[..11]).await;

    // Newest first; among equal timestamps, the later arrival first.
    let arrival = |i: i64| if i >= 11 { i - 11 } else { i + 14 };
    let mut order: Vec<i64> = (0..25).collect();
    order.sort_by_key(|i| std::cmp::Reverse((i / 2, arrival(*i))));
    let name = |i: &i64| format!("t-{i:02}");
    let expected: Vec<String> = order.iter().map(name).collect();

    for limit in [1, 2, 7, 25, 1000] {
        let items = server.all_predictions("credit", "", limit).await;
        assert_eq!(ids(&items), expected, "limit {limit}");
    }
    let r = server.get(PREDICTIONS).await;
    assert_eq!(r.json["items"].as_array().map(Vec::len), Some(25));
    assert_eq!(r.json["next_cursor"], Value::Null);

    // `from` is inclusive, `to` exclusive; both take RFC 3339 or epoch milliseconds.
    let from = "2026-01-01T00:00:03Z";
    let to = BASE_MS + 8000;
    let window: Vec<String> = order.iter().filter(|i| (3..8).contains(&(*i / 2))).map(name).collect();
    assert_eq!(window.len(), 10);
    for limit in [3, 1000] {
        let items = server.all_predictions("credit", &format!("&from={from}&to={to}"), limit).await;
        assert_eq!(ids(&items), window, "window, limit {limit}");
    }
    let v2: Vec<String> = order.iter().filter(|i| *i % 3 == 1).map(name).collect();
    let items = server.all_predictions("credit", "&version=v2", 2).await;
    assert_eq!(ids(&items), v2);
    let both: Vec<String> = order.iter().filter(|i| *i % 3 == 1 && (3..8).contains(&(*i / 2))).map(name).collect();
    let items = server.all_predictions("credit", &format!("&version=v2&from={}&to={to}", BASE_MS + 3000), 1).await;
    assert_eq!(ids(&items), both);
    let items = server.all_predictions("credit", "&version=v9", 10).await;
    assert!(items.is_empty());

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=-5", "from"),
        ("cursor=%25%25%25", "cursor"),
        ("cursor=YWJj", "cursor"), // base64 of "abc": not a cursor this server made
        ("colour=red", "colour"),
    ] {
        bad_query(&server, &format!("{PREDICTIONS}?{query}"), param).await;
    }
    server.get("/api/v1/models/nope/predictions").await.expect_problem(404);
}

#[tokio::test]
async fn predictions_list_filters_by_tag_across_pages() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    // Regions alternate; every fifth event is also a canary; some have no tags at all.
    let events: Vec<Value> = (0..40)
        .map(|i| {
            let mut e = event(&format!("g-{i:02}"));
            e["timestamp"] = json!(BASE_MS + i * 1000);
            e["tags"] = match i {
                _ if i % 7 == 6 => json!({}),
                _ if i % 5 == 0 => json!({"region": if i % 2 == 0 { "eu" } else { "us" }, "canary": "yes"}),
                _ => json!({"region": if i % 2 == 0 { "eu" } else { "us" }}),
            };
            e
        })
        .collect();
    server.ingest("credit", &events).await;
    let newest_first = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
        (0..40).rev().filter(|i| keep(*i)).map(|i| format!("g-{i:02}")).collect()
    };
    let us = newest_first(&|i| i % 7 != 6 && i % 2 == 1);
    for limit in [1, 3, 1000] {
        let items = server.all_predictions("credit", "&tag=region%3Dus", limit).await;
        assert_eq!(ids(&items), us, "region=us, limit {limit}");
    }
    // A name alone matches any value; spaces around the parts do not count.
    let canaries = newest_first(&|i| i % 7 != 6 && i % 5 == 0);
    assert_eq!(ids(&server.all_predictions("credit", "&tag=canary", 2).await), canaries);
    assert_eq!(ids(&server.all_predictions("credit", "&tag=%20canary%20%3D%20yes", 2).await), canaries);
    // Combined with the other filters.
    let window: Vec<String> = us.iter().filter(|id| id.as_str() < "g-20").cloned().collect();
    let to = BASE_MS + 20_000;
    assert_eq!(ids(&server.all_predictions("credit", &format!("&tag=region%3Dus&to={to}"), 4).await), window);
    assert!(server.all_predictions("credit", "&tag=region%3Dmars", 5).await.is_empty());
    for query in ["tag=", "tag=%3Deu", "tag=%20"] {
        bad_query(&server, &format!("{PREDICTIONS}?{query}"), "tag").await;
    }
}

#[tokio::test]
async fn one_prediction_has_everything() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let before = OffsetDateTime::now_utc();
    server
        .ingest(
            "credit",
            &[
                json!({
                    "request_id": "full",
                    "timestamp": 1_700_000_000_123i64,
                    "version": "v1",
                    "features": {"age": 41.5, "city": 40213, "member": false, "note": "first loan"},
                    "prediction": "bad",
                    "scores": {"good": 0.25, "bad": 0.75},
                    "latency_ms": 12.5,
                    "tags": {"region": "eu", "shard": 3, "canary": true},
                }),
                json!({
                    "request_id": "offset",
                    "timestamp": "2023-11-14T23:13:20.123+01:00",
                    "version": "v1",
                    "features": {"age": 30, "city": null},
                    "prediction": "good",
                    "scores": 0.3,
                }),
                json!({
                    "request_id": "failed",
                    "version": "v2",
                    "features": {"age": 50},
                    "error": {"type": "Timeout", "message": "upstream took too long"},
                }),
                json!({
                    "request_id": "failed-text",
                    "version": "v2",
                    "features": {"age": 50},
                    "error": "boom",
                }),
                json!({
                    "request_id": 12345,
                    "version": "v1",
                    "features": {"age": 1},
                    "prediction": "good",
                }),
                json!({
                    "request_id": "order 42/β?",
                    "version": "v1",
                    "features": {"age": 2},
                    "prediction": "good",
                }),
            ],
        )
        .await;
    let after = OffsetDateTime::now_utc();

    let r = server.get(&format!("{PREDICTIONS}/full")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = &r.json;
    assert_eq!(p["request_id"], "full");
    assert_eq!(p["timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(p["version"], "v1");
    assert_eq!(p["features"], json!({"age": 41.5, "city": "40213", "member": false, "note": "first loan"}));
    assert_eq!(p["prediction"], "bad");
    assert_eq!(p["scores"], json!({"good": 0.25, "bad": 0.75}));
    assert_eq!(p["latency_ms"], json!(12.5));
    assert_eq!(p["tags"], json!({"region": "eu", "shard": "3", "canary": "true"}));
    assert_eq!(p["error"], Value::Null);
    assert_eq!(p["label"], Value::Null);
    let received = p["received_at"].as_str().expect("received_at");
    let received = OffsetDateTime::parse(received, &Rfc3339).expect("RFC 3339");
    assert!(
        received >= before - time::Duration::milliseconds(1) && received <= after + time::Duration::milliseconds(1),
        "{received} not within the request"
    );

    let r = server.get(&format!("{PREDICTIONS}/offset")).await;
    assert_eq!(r.json["timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(
        r.json["features"],
        json!({"age": 30.0, "city": null, "member": null, "note": null}),
        "every declared feature appears, null where absent"
    );
    assert_eq!(r.json["scores"], json!({"bad": 0.3}), "a bare score is the positive class's");
    assert_eq!(r.json["latency_ms"], Value::Null);
    assert_eq!(r.json["tags"], json!({}));

    let r = server.get(&format!("{PREDICTIONS}/failed")).await;
    assert_eq!(r.json["prediction"], Value::Null);
    assert_eq!(r.json["error"], json!({"type": "Timeout", "message": "upstream took too long"}));
    assert_eq!(r.json["version"], "v2");
    assert_eq!(r.json["timestamp"], r.json["received_at"], "no timestamp means the receive time");
    let r = server.get(&format!("{PREDICTIONS}/failed-text")).await;
    assert_eq!(r.json["error"], json!({"type": "Error", "message": "boom"}));

    let r = server.get(&format!("{PREDICTIONS}/12345")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["request_id"], "12345");
    let r = server.get(&format!("{PREDICTIONS}/order%2042%2F%CE%B2%3F")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["request_id"], "order 42/β?");

    let r = server.get(&format!("{PREDICTIONS}/missing-one")).await;
    assert!(r.expect_problem(404).contains("missing-one"));
    server.get("/api/v1/models/nope/predictions/full").await.expect_problem(404);
}

#[tokio::test]
async fn labels_before_and_after_their_prediction() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;

    // A label for a prediction that has not arrived yet.
    let r = server
        .post_json(
            FEEDBACK,
            &json!({"labels": [{"request_id": "late", "label": "bad", "timestamp": "2026-02-01T00:00:00Z"}]}),
        )
        .await;
    // Accepted, and reported as not matching any stored prediction (yet).
    assert_eq!(r.json, json!({"accepted": 1, "duplicates": 0, "unmatched": 1, "rejected": []}), "{}", r.text);
    server.ingest("credit", &[event("early"), event("late")]).await;
    let r = server
        .post_raw(
            FEEDBACK,
            Some("application/x-ndjson"),
            Some("gzip"),
            gzip(&ndjson(&[json!({"request_id": "early", "label": "good", "timestamp": 1_769_904_000_000i64})])),
        )
        .await;
    assert_eq!(r.json, json!({"accepted": 1, "duplicates": 0, "unmatched": 0, "rejected": []}), "{}", r.text);

    let late = server.get(&format!("{PREDICTIONS}/late")).await;
    assert_eq!(late.json["label"]["label"], "bad", "{}", late.text);
    assert_eq!(late.json["label"]["timestamp"], "2026-02-01T00:00:00.000Z");
    assert!(is_rfc3339(&late.json["label"]["received_at"]));
    let early = server.get(&format!("{PREDICTIONS}/early")).await;
    assert_eq!(early.json["label"]["label"], "good", "{}", early.text);
    assert_eq!(early.json["label"]["timestamp"], "2026-02-01T00:00:00.000Z");

    // Labels already stored are duplicates; the first label stands.
    let r = server
        .post_json(
            FEEDBACK,
            &json!({"labels": [
                {"request_id": "early", "label": "bad"},
                {"request_id": "late", "label": "good"},
                {"request_id": "orphan", "label": "good"},
            ]}),
        )
        .await;
    assert_eq!(r.json, json!({"accepted": 1, "duplicates": 2, "unmatched": 1, "rejected": []}), "{}", r.text);
    let early = server.get(&format!("{PREDICTIONS}/early")).await;
    assert_eq!(early.json["label"]["label"], "good");
    let late = server.get(&format!("{PREDICTIONS}/late")).await;
    assert_eq!(late.json["label"]["label"], "bad");

    // Listed predictions carry their labels too.
    let items = server.all_predictions("credit", "", 10).await;
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| p["label"]["label"].is_string()));

    // Labels count under their prediction's version, or "" if it had not arrived.
    let text = server.metrics().await;
    assert_eq!(metric_value(&text, r#"sightline_labels_total{model="credit",version="v1"}"#), Some(1.0), "{text}");
    assert_eq!(metric_value(&text, r#"sightline_labels_total{model="credit",version=""}"#), Some(2.0), "{text}");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/api/v1/models/credit"),
        (Method::GET, "/api/v1/models/nope"),
        (Method::GET, "/no/such/route"),
    ] {
        let r = server.request(method.clone(), path, &[("x-request-id", "trace-abc.123")], None).await;
        assert_eq!(r.header("x-request-id"), Some("trace-abc.123"), "{path}");
    }
    let r = server
        .request(
            Method::POST,
            PREDICTIONS,
            &[("x-request-id", "ingest-42"), ("content-type", "application/json")],
            Some(batch(&[event("x-1")])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-request-id"), Some("ingest-42"));

    let a = server.get("/healthz").await;
    let b = server.get("/healthz").await;
    let (a, b) = (
        a.header("x-request-id").expect("generated").to_owned(),
        b.header("x-request-id").expect("generated").to_owned(),
    );
    assert!(!a.is_empty() && a != b, "fresh ids: {a} {b}");
    // An id with characters unsafe for logs is replaced, not echoed.
    let r = server.request(Method::GET, "/healthz", &[("x-request-id", "a b")], None).await;
    let id = r.header("x-request-id").expect("an id");
    assert!(id != "a b" && !id.is_empty(), "{id}");
}

#[tokio::test]
async fn health_and_routing_errors() {
    let server = TestServer::start().await;
    let r = server.get("/healthz").await;
    assert_eq!((r.status, r.text.trim()), (200, "ok"));
    let r = server.get("/readyz").await;
    assert_eq!((r.status, r.text.trim()), (200, "ready"));

    for path in ["/nope", "/api/v1/nothing", "/api/v2/models"] {
        let r = server.get(path).await;
        assert!(r.expect_problem(404).contains(path), "{}", r.text);
    }
    for (method, path, allowed) in [
        (Method::DELETE, "/api/v1/models", "GET,POST"),
        (Method::PUT, "/api/v1/models/credit", "GET"),
        (Method::GET, "/api/v1/models/credit/feedback", "POST"),
        (Method::POST, "/healthz", "GET"),
    ] {
        let r = server.request(method.clone(), path, &[], None).await;
        let detail = r.expect_problem(405);
        assert!(detail.contains(method.as_str()), "{detail}");
        let allow: HashSet<String> = r.header("allow").unwrap_or("").split(',').map(|m| m.trim().to_owned()).collect();
        for m in allowed.split(',') {
            assert!(allow.contains(m), "{method} {path}: Allow {:?} lacks {m}", r.header("allow"));
        }
    }
}

#[tokio::test]
async fn metrics_count_what_was_stored() {
    let server = TestServer::start().await;
    let spec = json!({
        "name": "risk",
        "task": "multiclass_classification",
        "features": [
            {"name": "applicant_income_zq", "type": "numeric", "nullable": false},
            {"name": "home_city_zq", "type": "categorical"},
        ],
        "classes": ["low", "mid", "high"],
    });
    server.create_model(&spec).await;
    let ev = |id: &str, version: &str, latency: Option<f64>| {
        json!({
            "request_id": id,
            "version": version,
            "features": {"applicant_income_zq": 52000, "home_city_zq": "Zqville"},
            "prediction": "mid",
            "scores": {"low": 0.2, "mid": 0.5, "high": 0.3},
            "latency_ms": latency,
        })
    };
    let path = "/api/v1/models/risk/predictions";
    let mut ok_requests = 0;
    let first = [
        ev("rid-zq-1", "v1", Some(4.0)),
        ev("rid-zq-2", "v1", Some(40.0)),
        ev("rid-zq-3", "v1", Some(400.0)),
        ev("rid-zq-4", "v2", None),
        ev("rid-zq-5", "v2", Some(1.0)),
    ];
    server.ingest("risk", &first).await;
    ok_requests += 1;
    // A retry of the same batch stores (and counts) nothing new.
    let r = server.post_json(path, &json!({"events": first})).await;
    assert_eq!(r.json["duplicates"], 5, "{}", r.text);
    ok_requests += 1;
    // One event with an error, one with an unknown feature.
    let failed = json!({
        "request_id": "rid-zq-6", "version": "v1",
        "features": {"applicant_income_zq": 1}, "error": "Timeout",
    });
    let unknown = with(ev("rid-zq-7", "v1", None), "/features/zq_secret", json!(1));
    let r = server.post_json(path, &json!({"events": [failed, unknown]})).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    ok_requests += 1;
    // All rejected: 422.
    let r = server
        .post_json(path, &json!({"events": [with(ev("rid-zq-8", "v1", None), "/prediction", json!("extreme"))]}))
        .await;
    r.expect_problem(422);
    server
        .post_json(
            "/api/v1/models/risk/feedback",
            &json!({"labels": [
                {"request_id": "rid-zq-1", "label": "high"},
                {"request_id": "rid-zq-4", "label": "low"},
                {"request_id": "rid-zq-5", "label": "low"},
            ]}),
        )
        .await
        .expect_status(200);

    let text = server.metrics().await;
    let value = |series: &str| metric_value(&text, series);
    assert_eq!(value(r#"sightline_predictions_total{model="risk",version="v1"}"#), Some(4.0), "{text}");
    assert_eq!(value(r#"sightline_predictions_total{model="risk",version="v2"}"#), Some(2.0));
    assert_eq!(value(r#"sightline_prediction_errors_total{model="risk",version="v1"}"#), Some(1.0));
    assert_eq!(value(r#"sightline_labels_total{model="risk",version="v1"}"#), Some(1.0));
    assert_eq!(value(r#"sightline_labels_total{model="risk",version="v2"}"#), Some(2.0));
    let bucket = |version: &str, le: &str| {
        value(&format!(r#"sightline_prediction_latency_seconds_bucket{{model="risk",version="{version}",le="{le}"}}"#))
    };
    assert_eq!(bucket("v1", "0.0025"), Some(0.0));
    assert_eq!(bucket("v1", "0.005"), Some(1.0));
    assert_eq!(bucket("v1", "0.05"), Some(2.0));
    assert_eq!(bucket("v1", "0.5"), Some(3.0));
    assert_eq!(bucket("v1", "+Inf"), Some(3.0));
    assert_eq!(bucket("v2", "0.001"), Some(1.0));
    assert_eq!(value(r#"sightline_prediction_latency_seconds_count{model="risk",version="v1"}"#), Some(3.0));
    let sum = value(r#"sightline_prediction_latency_seconds_sum{model="risk",version="v1"}"#).expect("a latency sum");
    assert!((sum - 0.444).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(r#"sightline_ingest_requests_total{endpoint="predictions",status="200"}"#),
        Some(f64::from(ok_requests))
    );
    assert_eq!(value(r#"sightline_ingest_requests_total{endpoint="predictions",status="422"}"#), Some(1.0));
    assert_eq!(value(r#"sightline_ingest_requests_total{endpoint="feedback",status="200"}"#), Some(1.0));
    assert_eq!(
        value(r#"sightline_ingest_rejected_events_total{endpoint="predictions",reason="unknown_feature"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(r#"sightline_ingest_rejected_events_total{endpoint="predictions",reason="unknown_class"}"#),
        Some(1.0)
    );
    for secret in ["applicant_income", "home_city", "zq_secret", "Zqville", "rid-zq"] {
        assert!(!text.contains(secret), "/metrics leaks {secret:?}:\n{text}");
    }
}

#[tokio::test]
async fn metric_series_are_capped() {
    let server = TestServer::start_with(|c| c.metrics_max_series = 2).await;
    server.create_model(&credit_model("credit")).await;
    let events: Vec<Value> = ["v1", "v2", "v3", "v4", "v1"]
        .iter()
        .enumerate()
        .map(|(i, v)| with(event(&format!("cap-{i}")), "/version", json!(v)))
        .collect();
    server.ingest("credit", &events).await;
    let text = server.metrics().await;
    let series =
        |v: &str| metric_value(&text, &format!(r#"sightline_predictions_total{{model="credit",version="{v}"}}"#));
    assert_eq!(series("v1"), Some(2.0), "{text}");
    assert_eq!(series("v2"), Some(1.0), "{text}");
    assert_eq!(series("__other__"), Some(2.0), "{text}");
    assert!(!text.contains("v3") && !text.contains("v4"), "{text}");
    // The store keeps the real versions.
    let r = server.get(&format!("{PREDICTIONS}/cap-3")).await;
    assert_eq!(r.json["version"], "v4");
}

/// A model grows a feature: events may carry it from then on, and events stored before
/// read back with it as null.
#[tokio::test]
async fn features_can_be_appended_to_a_model() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    server.ingest("credit", &[event("before")]).await;

    let r = server
        .post_json("/api/v1/models/credit/features", &json!({"features": [{"name": "income", "type": "numeric"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> =
        r.json["features"].as_array().expect("features").iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["age", "city", "member", "note", "income"]);

    let mut with_income = event("after");
    with_income["features"]["income"] = json!(52_000);
    let r = server.ingest("credit", &[with_income]).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    let after = server.get(&format!("{PREDICTIONS}/after")).await;
    assert_eq!(after.json["features"]["income"], 52_000.0, "{}", after.text);
    let before = server.get(&format!("{PREDICTIONS}/before")).await;
    assert_eq!(before.json["features"]["income"], Value::Null, "{}", before.text);
    assert_eq!(before.json["features"]["age"], 41.0, "old events keep their values");

    // An existing name, a repeated name, an empty list, an unknown field: 422 naming it.
    for (body, path) in [
        (json!({"features": [{"name": "age", "type": "numeric"}]}), "$.features[0].name"),
        (json!({"features": [{"name": "x", "type": "numeric"}, {"name": "x", "type": "text"}]}), "$.features[1].name"),
        (json!({"features": []}), "$.features"),
        (json!({"features": [{"name": "y", "type": "numeric", "unit": "usd"}]}), "$.features[0]"),
    ] {
        let r = server.post_json("/api/v1/models/credit/features", &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert!(r.error_paths().iter().any(|p| p.starts_with(path)), "{body}: {}", r.text);
    }
    let r =
        server.post_json("/api/v1/models/nope/features", &json!({"features": [{"name": "z", "type": "text"}]})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let model = server.get("/api/v1/models/credit").await;
    assert_eq!(model.json["features"].as_array().map(Vec::len), Some(5), "failed requests changed nothing");
}
