//! The predictions explorer's tag search on the demo's traffic (tagged by channel):
//! every listed prediction carries the tag, "older" keeps the search, a bad tag is named.

use super::{Demo, wait_for_data};
use reqwest::StatusCode;
use serde_json::Value;

/// The request ids linked from a predictions page, in order.
fn listed(page: &str) -> Vec<String> {
    page.split("href=\"/ui/models/credit-risk/predictions/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_explorer_searches_by_tag() {
    let d = Demo::start().await;
    let (cookies, _) = d.sign_in().await;
    wait_for_data(&d, &cookies).await;
    let (status, page, _) = d.get("/ui/models/credit-risk/predictions?tag=channel%3Dbranch", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("value=\"channel=branch\""), "the form keeps the search");
    let ids = listed(&page);
    assert_eq!(ids.len(), 50, "a full page of branch predictions");
    for id in ids.iter().take(5) {
        let (_, text, _) = d.get(&format!("/api/v1/models/credit-risk/predictions/{id}"), &cookies).await;
        let p: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(p["tags"]["channel"], "branch", "{p}");
    }
    // The next page goes on with the same search, after the last one shown.
    let older = page
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains("before="))
        .expect("a link to older predictions")
        .replace("&amp;", "&");
    assert!(older.contains("tag=channel%3Dbranch"), "{older}");
    let (status, next, _) = d.get(&older, &cookies).await;
    assert_eq!(status, StatusCode::OK);
    let next_ids = listed(&next);
    assert!(!next_ids.is_empty() && next_ids.iter().all(|id| !ids.contains(id)), "a new page");
    let (status, page, _) = d.get("/ui/models/credit-risk/predictions?tag=%3Dbranch", &cookies).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("tag: write name=value"), "the bad tag is named");
    d.stop().await;
}
