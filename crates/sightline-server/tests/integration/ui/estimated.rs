//! The model page over 30 days: a month of traffic of a calibrated binary classifier,
//! labelled in its first half only. The page's estimated-performance chart (CBPE,
//! calibrated on the range's earliest labelled predictions) draws its three series and
//! estimates every window, the unlabelled ones included, at the values a perfectly
//! calibrated model implies; the realized chart has values only where labels are; the
//! range picker offers 30 days and an unknown range falls back to one hour, as documented.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use sightline_server::ui::charts::number;
use sightline_stats::performance::{BinaryRecord, Calibration, CalibrationSplits, Cbpe, Decision, ScoredRecord};
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// One burst: each score ten times, with exactly `10 × score` positive labels, so the
/// model is perfectly calibrated and every burst is whole in any window (bursts last
/// under a second, at half past an hour, never across a window's edge).
const SCORES: [f64; 4] = [0.1, 0.3, 0.7, 0.9];

fn burst() -> Vec<(f64, bool)> {
    SCORES.iter().flat_map(|&s| (0..10).map(move |i| (s, f64::from(i) < s * 10.0))).collect()
}

fn model() -> Value {
    json!({"name": "month", "task": "binary_classification", "classes": ["no", "yes"], "positive_class": "yes",
           "features": [{"name": "x", "type": "numeric"}]})
}

/// An administrator's session cookie, opened through the JSON login (pages accept it).
async fn session(server: &TestServer) -> String {
    let user = json!({"name": "ann", "password": "ann's long password", "admin": true});
    server.post_json("/api/v1/users", &user).await.expect_status(201);
    let login = json!({"username": "ann", "password": "ann's long password"});
    let r = server.request_as(None, Method::POST, "/api/v1/auth/login", Some(&login)).await;
    r.expect_status(200);
    r.header("set-cookie").and_then(|c| c.split(';').next()).expect("a session cookie").to_owned()
}

async fn page(server: &TestServer, cookie: &str, path: &str) -> String {
    let r = server.request_as_headers(Method::GET, path, &[("cookie", cookie)], None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.text
}

/// The figure `id` of a page: its SVG and its hover readouts (one per window).
fn figure(html: &str, id: &str) -> (String, Vec<String>) {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("figure {id} is on the page"));
    let end = html[start..].find("</figure>").map_or(html.len(), |e| start + e);
    let fig = &html[start..end];
    let svg = fig.find("<svg").and_then(|a| fig[a..].find("</svg>").map(|b| fig[a..a + b].to_owned()));
    let attr = "data-hover=\"";
    let hover = fig.find(attr).map(|a| &fig[a + attr.len()..]).and_then(|h| h.find('"').map(|b| &h[..b]));
    let hover = hover.expect("hover data").replace("&quot;", "\"").replace("&amp;", "&");
    let readouts: Vec<String> = serde_json::from_str(&hover).expect("hover data is a JSON list");
    (svg.unwrap_or_else(|| panic!("{id} has an SVG")), readouts)
}

/// The value of `series` in a hover readout (`"07-01 00:00 · accuracy 0.8 · roc_auc …"`).
fn value<'a>(readout: &'a str, series: &str) -> &'a str {
    readout
        .split(" · ")
        .find_map(|part| part.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} in {readout:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_month_page_estimates_unlabelled_windows_with_cbpe() {
    let server = TestServer::start().await;
    server.create_model(&model()).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock").as_millis() as i64;
    // Bursts every six hours at half past, inside the last 29 days (so wholly inside the
    // 30-day range whatever its windows), labelled five minutes later in the first half.
    let first = now - 29 * DAY;
    let first = first - first.rem_euclid(HOUR) + HOUR + HOUR / 2;
    let labelled_until = now - 15 * DAY;
    let (mut events, mut labels) = (Vec::new(), Vec::new());
    let mut t = first;
    while t < now - HOUR {
        for (i, (score, truth)) in burst().into_iter().enumerate() {
            let id = format!("b{t}-{i}");
            let at = t + i as i64 * 10;
            events.push(json!({"request_id": id, "timestamp": at, "version": "v1", "features": {"x": score},
                "prediction": if score >= 0.5 { "yes" } else { "no" }, "scores": {"yes": score}, "latency_ms": 5.0}));
            if t < labelled_until {
                labels.push(
                    json!({"request_id": id, "label": if truth { "yes" } else { "no" }, "timestamp": at + 300_000}),
                );
            }
        }
        t += 6 * HOUR;
    }
    let (predictions, labelled) = (events.len(), labels.len());
    for chunk in events.chunks(2_000) {
        server.ingest("month", chunk).await.expect_status(200);
    }
    for chunk in labels.chunks(2_000) {
        server.post_json("/api/v1/models/month/feedback", &json!({ "labels": chunk })).await.expect_status(200);
    }
    // Wait for the tallies to hold every outcome (the page would add what they lack, but
    // the point is to read a month through day, hour and minute buckets).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get(&format!("/api/v1/models/month/data-quality?from={}&to={now}", first - HOUR)).await;
        if r.json["rows"].as_u64() == Some(predictions as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "profiles never caught up: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cookie = session(&server).await;
    let html = page(&server, &cookie, "/ui/models/month?range=30d").await;

    // The picker offers 30 days and marks it chosen; every prediction is counted.
    assert!(html.contains("class=\"on\" href=\"/ui/models/month?range=30d\""), "30d chosen: {html}");
    assert!(html.contains(&format!("<b>{predictions}</b><span>predictions in 30 days</span>")), "{html}");
    let coverage = format!("{:.2} %", labelled as f64 * 100.0 / predictions as f64);
    assert!(html.contains(&format!("<b>{coverage}</b><span>labelled so far</span>")), "{coverage}: {html}");

    // What CBPE says of a whole burst, fitted on whole bursts: a perfectly calibrated
    // model's expected accuracy and F1 are 0.8 (32 of 40 right, 16 of 20 positives found).
    let reference: Vec<BinaryRecord> = (0..10)
        .flat_map(|_| burst())
        .map(|(score, label)| BinaryRecord { label, prediction: score >= 0.5, score })
        .collect();
    let cbpe = Cbpe::fit(&reference, Decision::Logged, Calibration::Auto(CalibrationSplits::Seeded { seed: 42 }))
        .expect("a fitted CBPE");
    let window: Vec<ScoredRecord> =
        burst().into_iter().map(|(score, _)| ScoredRecord { prediction: score >= 0.5, score }).collect();
    let expected = cbpe.estimate(&window).expect("an estimate");
    assert_eq!((number(expected.accuracy), number(expected.f1)), ("0.8".to_owned(), "0.8".to_owned()));
    let expected_auc = number(expected.roc_auc.expect("an expected ROC AUC"));

    let (svg, estimated) = figure(&html, "estimated-performance");
    assert!(svg.len() > 2000 && svg.contains("<polyline"), "a drawn chart: {svg}");
    for series in ["accuracy", "roc_auc", "f1"] {
        // plotters writes a text element's content on a line of its own.
        assert!(svg.contains(&format!(">\n{series}\n</text>")), "{series} in the legend: {svg}");
    }
    let (_, realized) = figure(&html, "performance");
    let (_, coverage) = figure(&html, "label-coverage");
    assert_eq!(estimated.len(), realized.len(), "the charts share their windows");
    assert!((15..=17).contains(&estimated.len()), "two-day windows over 30 days: {estimated:?}");
    // Every window with traffic is estimated the same, labelled or not; windows before
    // the first burst have nothing to estimate.
    let mut unlabelled = 0;
    for ((e, r), c) in estimated.iter().zip(&realized).zip(&coverage) {
        if value(c, "label coverage") == "–" {
            assert_eq!(value(e, "accuracy"), "–", "no traffic, no estimate: {e}");
            continue;
        }
        assert_eq!(value(e, "accuracy"), "0.8", "{e}");
        assert_eq!(value(e, "f1"), "0.8", "{e}");
        assert_eq!(value(e, "roc_auc"), expected_auc, "{e}");
        if value(c, "label coverage") == "0" {
            unlabelled += 1;
            assert_eq!(value(r, "accuracy"), "–", "no labels, no realized accuracy: {r}");
        } else {
            // Whole bursts labelled: 32 of 40 right, and ROC AUC 340 / 400 pairs.
            assert_eq!((value(r, "accuracy"), value(r, "roc_auc")), ("0.8", "0.85"), "{r}");
        }
    }
    assert!(unlabelled >= 6, "the second half's windows have no labels: {coverage:?}");

    // An unknown range is the default hour, as `Range::parse` documents.
    let html = page(&server, &cookie, "/ui/models/month?range=90d").await;
    assert!(html.contains("class=\"on\" href=\"/ui/models/month?range=1h\""), "1h chosen: {html}");
    assert!(html.contains("predictions in 1 hour"), "{html}");
    assert!(html.contains("href=\"/ui/models/month?range=30d\""), "30d offered: {html}");
}
