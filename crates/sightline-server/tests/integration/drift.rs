//! Drift and data quality from the aggregator's profiles: reference upload (CSV, NDJSON,
//! Parquet-less here; gzip), drift against scipy-equal exact results within the sketch
//! bounds, exact binned methods on the reference bins, data quality figures, time
//! series, the drift gauges, restarts that neither lose nor double events, and bad input.

use crate::support::{TestServer, metric_value};
use reqwest::Method;
use serde_json::{Value, json};
use sightline_server::ServerConfig;
use sightline_stats::drift;
use std::io::Write;
use std::time::Duration;

fn fast(config: &mut ServerConfig) {
    config.analysis.aggregator.flush_interval = Duration::from_millis(50);
    config.analysis.aggregator.poll_interval = Duration::from_millis(20);
    config.analysis.drift_gauge_interval = Duration::from_millis(200);
}

fn model() -> Value {
    json!({
        "name": "credit",
        "task": "binary_classification",
        "features": [
            {"name": "age", "type": "numeric"},
            {"name": "income", "type": "numeric"},
            {"name": "city", "type": "categorical"},
            {"name": "member", "type": "boolean"},
            {"name": "note", "type": "text"},
        ],
        "classes": ["good", "bad"],
        "positive_class": "bad",
    })
}

/// A seeded generator (xorshift64*) with normal deviates (Box–Muller).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        mean + sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const CITIES: [&str; 4] = ["Paris", "Lyon", "Nice", "Lille"];

struct Row {
    age: f64,
    income: Option<f64>,
    city: &'static str,
    member: bool,
}

fn rows(seed: u64, n: usize, age_shift: f64) -> Vec<Row> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| Row {
            // Rounded to cents: exact in decimal text, so CSV and JSON carry the same value.
            age: (rng.normal(40.0 + age_shift, 10.0) * 100.0).round() / 100.0,
            income: (i % 10 != 0).then(|| (rng.normal(3_000.0, 500.0) * 100.0).round() / 100.0),
            city: CITIES[(rng.uniform() * 4.0) as usize % 4],
            member: rng.uniform() < 0.3,
        })
        .collect()
}

fn csv(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from("age,income,city,member,prediction,unused\n");
    for r in rows {
        let income = r.income.map(|x| x.to_string()).unwrap_or_default();
        out.push_str(&format!("{},{income},{},{},good,x\n", r.age, r.city, r.member));
    }
    out.into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

async fn upload(
    server: &TestServer,
    query: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> crate::support::Reply {
    let mut headers = vec![("content-type", content_type)];
    if let Some(e) = encoding {
        headers.push(("content-encoding", e));
    }
    server.request(Method::PUT, &format!("/api/v1/models/credit/reference{query}"), &headers, Some(body)).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("a valid time");
    t.format(&time::format_description::well_known::Rfc3339).expect("formats")
}

/// Logs `rows` as predictions of `version`, 20 ms apart from `start_ms`.
async fn log(server: &TestServer, version: &str, rows: &[Row], start_ms: i64, id: &str) {
    for (chunk_index, chunk) in rows.chunks(500).enumerate() {
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let n = chunk_index * 500 + i;
                let mut features = json!({"age": r.age, "city": r.city, "member": r.member, "note": "x"});
                if let Some(income) = r.income {
                    features["income"] = json!(income);
                }
                json!({
                    "request_id": format!("{id}-{n}"),
                    "timestamp": iso(start_ms + n as i64 * 20),
                    "version": version,
                    "features": features,
                    "prediction": if r.age > 50.0 { "bad" } else { "good" },
                    "scores": {"good": 0.7, "bad": 0.3},
                })
            })
            .collect();
        server.ingest("credit", &events).await;
    }
}

/// Polls the drift endpoint until its window holds `rows` events.
async fn drift_when(server: &TestServer, query: &str, rows: u64) -> Value {
    for _ in 0..500 {
        let r = server.get(&format!("/api/v1/models/credit/drift{query}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.json["rows"] == json!(rows) {
            return r.json;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the drift window never held {rows} events");
}

fn column<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["columns"].as_array().expect("columns").iter().find(|c| c["name"] == name).expect("the column is reported")
}

#[tokio::test]
async fn drift_and_quality_from_profiles_agree_with_exact_results() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    let reference = rows(1, 3_000, 0.0);
    let r = upload(&server, "", "text/csv", Some("gzip"), gzip(&csv(&reference))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["rows"], json!(3_000));
    assert_eq!(r.json["upload"]["ignored_columns"], json!(["unused"]));
    assert_eq!(r.json["upload"]["missing_features"], json!([]));
    assert_eq!(r.json["upload"]["prediction"], json!(true));
    let edges: Vec<f64> = r.json["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == "age")
        .and_then(|c| c["bin_edges"].as_array())
        .expect("age has reference bins")
        .iter()
        .map(|e| e.as_f64().expect("a number"))
        .collect();
    assert_eq!(edges.len(), 11);

    let start = now_ms() - 30 * 60_000;
    let current = rows(2, 3_000, 6.0);
    log(&server, "v1", &current, start, "a").await;
    let window = format!("?from={}&to={}", start - 60_000, start + 3_000 * 20 + 60_000);
    let report = drift_when(&server, &window, 3_000).await;

    // Evidently's defaults for more than 1,000 reference values: normed Wasserstein for
    // numbers, Jensen–Shannon for categories; the shifted feature drifts, the rest not.
    let age = column(&report, "age");
    assert_eq!(age["method"], "wasserstein_normed", "{report}");
    assert_eq!(age["drifted"], true, "{report}");
    for name in ["income", "city", "member"] {
        assert_eq!(column(&report, name)["drifted"], false, "{name}: {report}");
    }
    assert!(report["columns"].as_array().expect("columns").iter().all(|c| c["name"] != "note"), "text is not profiled");
    assert_eq!(column(&report, "city")["method"], "jensenshannon");
    assert_eq!(report["share_drifted"], json!(0.25));
    assert_eq!(report["dataset_drifted"], false);
    assert_eq!(report["prediction"]["name"], "prediction");
    assert_eq!(report["reference"]["rows"], json!(3_000));

    // KS from the sketches is within the documented bound of scipy's on the raw values.
    let ref_age: Vec<f64> = reference.iter().map(|r| r.age).collect();
    let cur_age: Vec<f64> = current.iter().map(|r| r.age).collect();
    let exact = drift::ks_2samp(&ref_age, &cur_age).expect("ks");
    let ks = drift_when(&server, &format!("{window}&method=ks"), 3_000).await;
    let d = column(&ks, "age")["score"].as_f64().expect("a score");
    assert!((d - exact.score).abs() <= 0.02, "sketch KS {d} vs exact {}", exact.score);
    assert_eq!(column(&ks, "age")["method"], "ks");
    assert!(column(&ks, "age")["p_value"].as_f64().expect("a p-value") < 0.05);

    // PSI on the reference's own bins is exact: count the raw values in the same bins.
    let psi = drift_when(&server, &format!("{window}&method:age=psi&threshold:age=0.5"), 3_000).await;
    let counts = |values: &[f64]| {
        let mut c = vec![0.0; edges.len() + 1];
        for v in values {
            let b = if *v < edges[0] {
                0
            } else if *v > edges[edges.len() - 1] {
                edges.len()
            } else {
                1 + (edges.partition_point(|e| e <= v) - 1).min(edges.len() - 2)
            };
            c[b] += 1.0;
        }
        c
    };
    let expected = drift::psi(&counts(&ref_age), &counts(&cur_age)).expect("psi").score;
    let age = column(&psi, "age");
    assert_eq!(age["method"], "psi");
    assert_eq!(age["threshold"], json!(0.5));
    let got = age["score"].as_f64().expect("a score");
    assert!((got - expected).abs() <= 1e-12 * expected.abs().max(1.0), "PSI {got} vs exact {expected}");
    assert_eq!(column(&psi, "income")["method"], "wasserstein_normed", "other features keep their default");

    // Data quality: missing income every tenth row, no unseen city, age out of range.
    let q = server.get(&format!("/api/v1/models/credit/data-quality{window}")).await;
    assert_eq!(q.status, 200, "{}", q.text);
    let col = |name: &str| {
        q.json["columns"].as_array().expect("columns").iter().find(|c| c["name"] == name).expect("column").clone()
    };
    assert_eq!(col("income")["missing"], json!(300));
    assert_eq!(col("income")["missing_share"], json!(0.1));
    assert_eq!(col("city")["unseen"], json!(0));
    assert_eq!(col("city")["unseen_exact"], true);
    let (ref_min, ref_max) = ref_age.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let outside = cur_age.iter().filter(|v| **v < ref_min || **v > ref_max).count() as f64;
    let reported = col("age")["out_of_range"].as_f64().expect("a count");
    // From the window's sketch: within its rank error (1.65 %) of the exact count.
    assert!((reported - outside).abs() <= 0.0165 * 3_000.0, "out of range {reported} vs {outside}");
    assert_eq!(col("member")["type"], "categorical");

    // A series with one-minute steps covers the same events.
    let series = server.get(&format!("/api/v1/models/credit/drift{window}&step=1m")).await;
    assert_eq!(series.status, 200, "{}", series.text);
    let windows = series.json["windows"].as_array().expect("windows");
    let total: u64 = windows.iter().map(|w| w["rows"].as_u64().expect("rows")).sum();
    assert_eq!(total, 3_000);
    assert_eq!(series.json["step"], "1m");

    // The gauges on /metrics describe the trailing hour.
    let mut gauge = None;
    for _ in 0..200 {
        gauge = server
            .metric(
                r#"sightline_feature_drifted{feature="age",method="wasserstein_normed",model="credit",version="v1"}"#,
            )
            .await;
        if gauge.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(gauge, Some(1.0));
    assert_eq!(server.metric(r#"sightline_dataset_drift_share{model="credit",version="v1"}"#).await, Some(0.25));
    // Another method for age in the model's settings: its gauge replaces the old one.
    let settings = json!({"features": {"age": {"method": "psi"}}}).to_string().into_bytes();
    let json_type = [("content-type", "application/json")];
    let r = server.request(Method::PUT, "/api/v1/models/credit/drift-settings", &json_type, Some(settings)).await;
    r.expect_status(200);
    let psi = r#"sightline_feature_drift_score{feature="age",method="psi",model="credit",version="v1"}"#;
    let mut replaced = false;
    for _ in 0..200 {
        let text = server.metrics().await;
        if metric_value(&text, psi).is_some() {
            assert!(!text.contains(r#"feature="age",method="wasserstein_normed""#), "{text}");
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(replaced, "the psi gauge of age appears");

    // A restart neither loses nor doubles folded events, and folds new ones.
    let server = server.restart().await;
    let report = drift_when(&server, &window, 3_000).await;
    assert_eq!(column(&report, "age")["drifted"], true);
    log(&server, "v1", &rows(3, 500, 0.0), start + 3_000 * 20, "b").await;
    drift_when(&server, &window, 3_500).await;
}

#[tokio::test]
async fn a_version_reference_and_a_logged_range_reference() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    let start = now_ms() - 20 * 60_000;
    log(&server, "v1", &rows(5, 1_000, 0.0), start, "a").await;
    log(&server, "v2", &rows(6, 1_000, 0.0), start + 60_000, "b").await;
    // The drift of v2 against v1's logged traffic: designated as v2's reference.
    // Times as RFC 3339 or as epoch milliseconds, as everywhere in the API.
    let body = json!({"version": "v2", "source_version": "v1", "from": iso(start - 60_000), "to": start + 60_000 * 3});
    let mut made = None;
    for _ in 0..300 {
        let r = server.post_json("/api/v1/models/credit/reference/from-logs", &body).await;
        if r.status == 201 && r.json["rows"] == json!(1_000) {
            made = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let made = made.expect("a reference from the logged range");
    let bad = json!({"from": 1.5, "to": iso(start)});
    let r = server.post_json("/api/v1/models/credit/reference/from-logs", &bad).await;
    r.expect_problem(422);
    assert!(r.text.contains("$.from"), "{}", r.text);
    assert_eq!(made.json["version"], "v2");
    assert_eq!(made.json["source"]["kind"], "logged_range");
    let window = format!("?version=v2&from={}&to={}", start - 60_000, start + 60_000 * 3);
    let report = drift_when(&server, &window, 1_000).await;
    assert_eq!(report["reference"]["version"], "v2");
    assert_eq!(column(&report, "age")["drifted"], false, "{report}");
    // v1 has no reference of its own and the model has no default one.
    let r = server.get("/api/v1/models/credit/drift?version=v1").await;
    r.expect_problem(404);
    assert!(r.text.contains("reference_not_found"), "{}", r.text);
    // Listing and deleting.
    let list = server.get("/api/v1/models/credit/reference").await;
    assert_eq!(list.json["items"].as_array().map(Vec::len), Some(1), "{}", list.text);
    let gone = server.request(Method::DELETE, "/api/v1/models/credit/reference?version=v2", &[], None).await;
    gone.expect_status(204);
    let again = server.request(Method::DELETE, "/api/v1/models/credit/reference?version=v2", &[], None).await;
    again.expect_problem(404);
}

#[tokio::test]
async fn ndjson_upload_equals_csv_upload() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    let data = rows(9, 400, 0.0);
    let csv_made = upload(&server, "?version=a", "text/csv", None, csv(&data)).await;
    csv_made.expect_status(201);
    let mut ndjson = String::new();
    for r in &data {
        ndjson.push_str(&json!({"age": r.age, "income": r.income, "city": r.city, "member": r.member}).to_string());
        ndjson.push('\n');
    }
    let zstd_body = zstd::encode_all(ndjson.as_bytes(), 3).expect("zstd");
    let nd_made = upload(&server, "?version=b", "application/x-ndjson", Some("zstd"), zstd_body).await;
    nd_made.expect_status(201);
    // The CSV had a prediction column and NDJSON none; every feature column is equal.
    let features = |r: &Value| -> Vec<Value> {
        r["columns"].as_array().expect("columns").iter().filter(|c| c["name"] != "prediction").cloned().collect()
    };
    assert_eq!(features(&csv_made.json), features(&nd_made.json));
    assert_eq!(features(&csv_made.json).len(), 4);
    let list = server.get("/api/v1/models/credit/reference").await;
    assert_eq!(list.json["items"].as_array().map(Vec::len), Some(2), "{}", list.text);
}

#[tokio::test]
async fn bad_drift_queries_and_uploads_are_clear_errors() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    let no_reference = server.get("/api/v1/models/credit/drift").await;
    no_reference.expect_problem(404);
    assert!(no_reference.text.contains("PUT /api/v1/models/credit/reference"), "{}", no_reference.text);
    upload(&server, "", "text/csv", None, csv(&rows(1, 50, 0.0))).await.expect_status(201);
    for (query, needle) in [
        ("?version=nope", "version"),
        ("?step=30s", "step"),
        ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("?method=magic", "method"),
        ("?threshold=-1", "threshold"),
        ("?method:nosuch=ks", "nosuch"),
        ("?colour=red", "colour"),
        ("?from=yesterday", "from"),
        ("?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=1m", "step"),
    ] {
        let r = server.get(&format!("/api/v1/models/credit/drift{query}")).await;
        let status = if query.contains("nope") { 404 } else { 400 };
        let detail = r.expect_problem(status);
        assert!(detail.contains(needle), "{query}: {detail}");
    }
    let bad = [
        ("text/csv", b"age,city\n12,Paris\nabc,Lyon\n".to_vec(), 422, "row 2, column \"age\""),
        ("text/csv", b"colour,size\nred,1\n".to_vec(), 422, "no column names a feature"),
        ("text/csv", b"age,city\n".to_vec(), 422, "no rows"),
        ("text/csv", b"age,city\n1,2,3\n".to_vec(), 422, "malformed CSV"),
        ("text/csv", b"age,member\n1,maybe\n".to_vec(), 422, "not a boolean"),
        ("application/x-ndjson", b"{\"age\": [1]}\n".to_vec(), 422, "arrays and objects"),
        ("application/x-ndjson", b"not json\n".to_vec(), 422, "malformed JSON"),
        ("application/vnd.apache.parquet", b"PAR1 not really".to_vec(), 422, "not a readable Parquet file"),
        ("text/plain", b"age\n1\n".to_vec(), 415, "content-type"),
    ];
    for (content_type, body, status, needle) in bad {
        let r = upload(&server, "", content_type, None, body).await;
        let detail = r.expect_problem(status);
        assert!(detail.contains(needle), "{content_type}: {detail}");
    }
    let r = upload(&server, "", "text/csv", Some("gzip"), b"not gzip".to_vec()).await;
    r.expect_problem(422);
    let r = upload(&server, "?version=..", "text/csv", None, csv(&rows(1, 5, 0.0))).await;
    r.expect_problem(400);
    // The earlier reference is still there and whole.
    let list = server.get("/api/v1/models/credit/reference").await;
    assert_eq!(list.json["items"][0]["rows"], json!(50));
}

#[tokio::test]
async fn wrong_types_of_rejected_events_are_counted_per_feature() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    let now = now_ms();
    let event = |i: usize, age: Value, city: Value| {
        json!({"request_id": format!("r{i}"), "timestamp": iso(now), "version": "v1",
               "features": {"age": age, "city": city}, "prediction": "good"})
    };
    let events = vec![
        event(0, json!(30), json!("Paris")),
        event(1, json!("old"), json!("Paris")),
        event(2, json!("older"), json!(7.5)),
        event(3, json!(true), json!("Lyon")),
    ];
    let r = server.post_json("/api/v1/models/credit/predictions", &json!({ "events": events })).await;
    assert_eq!(r.json["accepted"], json!(1), "{}", r.text);
    let window = format!("?from={}&to={}", now - 120_000, now + 120_000);
    for query in [window.clone(), format!("{window}&version=v1")] {
        let mut found = None;
        for _ in 0..300 {
            let q = server.get(&format!("/api/v1/models/credit/data-quality{query}")).await;
            assert_eq!(q.status, 200, "{}", q.text);
            let columns = q.json["columns"].as_array().cloned().unwrap_or_default();
            let age = columns.iter().find(|c| c["name"] == "age").cloned();
            if let Some(age) = age
                && age["type_mismatches"] == json!(3)
            {
                found = Some(columns);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let columns = found.unwrap_or_else(|| panic!("age never showed 3 type mismatches ({query})"));
        let city = columns.iter().find(|c| c["name"] == "city").expect("city");
        assert_eq!(city["type_mismatches"], json!(1));
        assert_eq!(columns.iter().find(|c| c["name"] == "income").expect("income")["type_mismatches"], json!(0));
    }
}

#[tokio::test]
async fn stored_drift_settings_apply_under_query_overrides() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    upload(&server, "", "text/csv", None, csv(&rows(1, 500, 0.0))).await.expect_status(201);
    let start = now_ms() - 10 * 60_000;
    log(&server, "v1", &rows(2, 500, 0.0), start, "a").await;
    let settings = json!({"method": "ks", "features": {"city": {"method": "chisquare", "threshold": 0.01}}});
    let put = server
        .request(
            Method::PUT,
            "/api/v1/models/credit/drift-settings",
            &[("content-type", "application/json")],
            Some(settings.to_string().into_bytes()),
        )
        .await;
    put.expect_status(200);
    let got = server.get("/api/v1/models/credit/drift-settings").await;
    assert_eq!(got.json["features"]["city"]["method"], "chisquare", "{}", got.text);
    let window = format!("?from={}&to={}", start - 60_000, start + 500 * 20 + 60_000);
    let report = drift_when(&server, &window, 500).await;
    assert_eq!(column(&report, "age")["method"], "ks");
    assert_eq!(column(&report, "income")["method"], "ks");
    assert_eq!(column(&report, "city")["method"], "chisquare");
    assert_eq!(column(&report, "city")["threshold"], json!(0.01));
    // A query's settings beat the stored ones: its per-feature ones, then its global ones
    // (for every column); what it leaves unset comes from the stored settings.
    let report = drift_when(&server, &format!("{window}&method:age=wasserstein_normed&threshold=0.2"), 500).await;
    assert_eq!(column(&report, "age")["method"], "wasserstein_normed");
    assert_eq!(column(&report, "age")["threshold"], json!(0.2));
    assert_eq!(column(&report, "city")["threshold"], json!(0.2));
    assert_eq!(column(&report, "city")["method"], "chisquare", "the stored feature method stays");
    assert_eq!(column(&report, "income")["method"], "ks", "the stored global method stays");
    for (body, path) in [
        (json!({"method": "magic"}), "$.method"),
        (json!({"threshold": -1}), "$.threshold"),
        (json!({"features": {"nosuch": {"method": "ks"}}}), "$.features[\"nosuch\"]"),
        (json!({"features": {"note": {"method": "ks"}}}), "$.features[\"note\"]"),
        (json!({"features": {"age": {"method": "z"}}}), "$.features[\"age\"].method"),
        (json!({"colour": "red"}), "$"),
    ] {
        let r = server
            .request(
                Method::PUT,
                "/api/v1/models/credit/drift-settings",
                &[("content-type", "application/json")],
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.text);
        assert!(
            r.text.contains(&path.replace('"', "\\\"")) || r.error_paths().iter().any(|p| p == path),
            "{body}: {}",
            r.text
        );
    }
    // The stored settings are unchanged by the refused documents.
    assert_eq!(server.get("/api/v1/models/credit/drift-settings").await.json, got.json);
}

#[tokio::test]
async fn drift_and_quality_monitors_fire_from_profiles() {
    let server = TestServer::start_with(|c| {
        fast(c);
        c.alerting.tick = Duration::from_millis(50);
    })
    .await;
    server.create_model(&model()).await;
    upload(&server, "", "text/csv", None, csv(&rows(1, 1_000, 0.0))).await.expect_status(201);
    let start = now_ms() - 5 * 60_000;
    log(&server, "v1", &rows(2, 1_000, 8.0), start, "a").await;
    let monitor = |id: &str, signal: Value, value: f64| {
        json!({"id": id, "model": "credit", "signal": signal, "condition": {"op": ">", "value": value},
               "window": "1h", "interval": "1s", "severity": "low"})
    };
    for (id, signal, value) in [
        ("age-psi", json!({"kind": "drift_score", "feature": "age", "method": "psi"}), 0.2),
        ("any-psi", json!({"kind": "drift_score", "feature": "*", "method": "psi"}), 0.2),
        ("city-psi", json!({"kind": "drift_score", "feature": "city", "method": "psi"}), 0.2),
        ("income-missing", json!({"kind": "data_quality_rate", "feature": "income", "check": "missing"}), 0.05),
    ] {
        server.post_json("/api/v1/monitors", &monitor(id, signal, value)).await.expect_status(201);
    }
    let state = |id: &'static str| {
        let server = &server;
        async move {
            let r = server.get(&format!("/api/v1/alerts?monitor={id}")).await;
            r.json["items"][0]["state"].as_str().map(str::to_owned)
        }
    };
    for id in ["age-psi", "any-psi", "income-missing"] {
        let mut fired = false;
        for _ in 0..200 {
            if state(id).await.as_deref() == Some("firing") {
                fired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(fired, "{id} never fired");
    }
    assert_ne!(state("city-psi").await.as_deref(), Some("firing"), "city did not drift");
    for (signal, path) in [
        (json!({"kind": "drift_score", "feature": "age", "method": "magic"}), "$.signal.method"),
        (json!({"kind": "data_quality_rate", "feature": "age", "check": "vibes"}), "$.signal.check"),
    ] {
        let r = server.post_json("/api/v1/monitors", &monitor("bad", signal, 0.1)).await;
        r.expect_problem(422);
        assert!(r.error_paths().contains(&path.to_owned()), "{}", r.text);
    }
}

#[tokio::test]
async fn a_drift_retraining_policy_counts_drifted_features_per_window() {
    let server = TestServer::start_with(fast).await;
    server.create_model(&model()).await;
    upload(&server, "", "text/csv", None, csv(&rows(1, 3_000, 0.0))).await.expect_status(201);
    // A minute ago: ages shifted by 1.5 standard deviations.
    log(&server, "v1", &rows(2, 1_000, 15.0), now_ms() - 60_000, "late").await;
    let report = drift_when(&server, "", 1_000).await;
    let drifted = report["columns"].as_array().expect("columns").iter().filter(|c| c["drifted"] == json!(true)).count();
    assert!(column(&report, "age")["drifted"] == json!(true), "{report}");

    let put = |id: &str, windows: u64| {
        let body = json!({"conditions": [{"kind": "drift", "features": 1, "windows": windows}], "window": "10m"});
        let path = format!("/api/v1/models/credit/retraining-policies/{id}");
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let server = &server;
        async move { server.request(Method::PUT, &path, &[("content-type", "application/json")], Some(bytes)).await }
    };
    put("one-window", 1).await.expect_status(201);
    let r = server.post_json("/api/v1/models/credit/retraining-policies/one-window/evaluate", &json!({})).await;
    r.expect_status(200);
    // The policy counts what the drift endpoint reports for the same data.
    assert_eq!(r.json["conditions"][0]["drifted_features"], json!([drifted]), "{}", r.json);
    assert_eq!(r.json["fired"], json!(true));
    assert_eq!(r.json["trigger"]["delivery"], Value::Null, "no channel: recorded only");

    // Two windows back, the older one has no traffic: the streak is broken.
    put("two-windows", 2).await.expect_status(201);
    let r = server.post_json("/api/v1/models/credit/retraining-policies/two-windows/evaluate", &json!({})).await;
    assert_eq!(r.json["conditions"][0]["drifted_features"], json!([null, drifted]), "{}", r.json);
    assert_eq!(r.json["fired"], json!(false));
}
