//! Error groups in the UI: the demo's failed predictions reported as exceptions, listed
//! by status, one issue with its hourly chart, stack trace, input and the prediction that
//! failed, and its status form (CSRF-checked, a bad status named, the API agreeing);
//! incidents link to the groups' pages.

use super::{Demo, svgs};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The demo's issues, once its backfilled bursts of errors have been grouped.
async fn wait_for_issues(d: &Demo, cookies: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, text, _) = d.get("/api/v1/models/credit-risk/issues", cookies).await;
        let doc: Value = serde_json::from_str(&text).unwrap_or_default();
        let items = doc["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 2 {
            return items;
        }
        assert!(Instant::now() < deadline, "the demo's exceptions did not arrive: {doc}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_groups_have_pages_and_a_status_form() {
    let d = Demo::start().await;
    let (cookies, csrf) = d.sign_in().await;
    let issues = wait_for_issues(&d, &cookies).await;
    let timeout = issues.iter().find(|i| i["type"] == "TimeoutError").expect("the demo's timeouts");
    let id = timeout["id"].as_i64().expect("an id");
    let link = format!("/ui/models/credit-risk/issues/{id}");

    // The model page lists the groups, each linking to its page, and links to the list.
    let (status, page, _) = d.get("/ui/models/credit-risk", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("href=\"{link}\"")), "the issue's link on the model page");
    assert!(page.contains("href=\"/ui/models/credit-risk/issues\""), "the list's link");

    // An incident linking the group leads to its page; a link to no group says so.
    let incident = serde_json::json!({"title": "timeouts", "severity": "high",
        "links": {"issues": [id.to_string(), "999999"]}});
    let (status, doc) = d.post_json("/api/v1/incidents", &incident).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, page, _) = d.get(&format!("/ui/incidents/{}", doc["id"]), &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("href=\"{link}\"")), "the linked group's page: {page}");
    assert!(page.contains("999999</code><span class=\"muted\"> (error group not found)"), "{page}");

    // The list, filtered by status.
    let (status, page, _) = d.get("/ui/models/credit-risk/issues", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("TimeoutError") && page.contains("KeyError"), "both groups are listed");
    let (_, page, _) = d.get("/ui/models/credit-risk/issues?status=resolved", &cookies).await;
    assert!(page.contains("No error groups resolved."), "nothing resolved yet");
    let (status, page, _) = d.get("/ui/models/credit-risk/issues?status=fixed", &cookies).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("status"), "the bad filter is named");

    // One issue: figures, a non-empty hourly chart, versions, samples with their stack,
    // input snapshot and a link to the failed prediction, which opens.
    let (status, page, _) = d.get(&link, &cookies).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "feature store did not answer within 250 ms",
        "fetch_online",
        "serving/feature_store.py",
        "occurrences",
        "credit_score",
        "id=\"issue-versions\"",
        "href=\"/ui/models/credit-risk/versions/v1\"",
        "id=\"issue-status\"",
    ] {
        assert!(page.contains(text), "{text} is on the issue page");
    }
    let chart = svgs(&page);
    assert!(chart.iter().any(|s| s.contains("<path") || s.contains("<polyline")), "the hourly chart has a line");
    let prediction = page
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.starts_with("/ui/models/credit-risk/predictions/"))
        .expect("a link to a failed prediction")
        .to_owned();
    // The demo reports an exception just before its prediction: the newest sample's
    // prediction may be a moment behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (status, page, _) = d.get(&prediction, &cookies).await;
        if status == StatusCode::OK {
            break page;
        }
        assert!(Instant::now() < deadline, "{prediction}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(page.contains("TimeoutError"), "the prediction shows its error");

    // The status form: refused without the session's token, a bad status named, then
    // resolved (the API agrees, the list filters it) and reopened.
    let form = format!("{link}/status");
    let r = d.post_form(&form, &cookies, &[("status", "resolved"), ("csrf", "a guess")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d.post_form(&form, &cookies, &[("csrf", &csrf), ("status", "fixed")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("a page");
    assert!(page.contains("status: &quot;fixed&quot; is not one of unresolved, resolved, ignored"), "named: {page}");
    let r = d.post_form(&form, &cookies, &[("csrf", &csrf), ("status", "resolved")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(back.starts_with(&format!("{link}?done=")), "back to the issue: {back}");
    let (_, page, _) = d.get(&back, &cookies).await;
    assert!(page.contains("The issue is now resolved."), "the notice");
    let (_, text, _) = d.get(&format!("/api/v1/models/credit-risk/issues/{id}"), &cookies).await;
    let doc: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(doc["status"], "resolved", "{doc}");
    let (_, page, _) = d.get("/ui/models/credit-risk/issues?status=resolved", &cookies).await;
    assert!(page.contains(&format!("href=\"{link}\"")), "listed as resolved");
    let r = d.post_form(&form, &cookies, &[("csrf", &csrf), ("status", "unresolved")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Unknown issues and models are not found.
    for path in ["/ui/models/credit-risk/issues/999999", "/ui/models/credit-risk/issues/abc", "/ui/models/nope/issues"]
    {
        let (status, _, _) = d.get(path, &cookies).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    d.stop().await;
}
