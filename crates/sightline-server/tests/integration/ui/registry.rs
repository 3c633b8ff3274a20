//! The registry pages (a model's registry, a version's page) on the demo's registry
//! entries, their stage and alias forms, and the settings page's channel form: pages
//! present, forms done, refused with the API's message naming the field, refused
//! without the session's CSRF token, and audited.

use super::Demo;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, LOCATION};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Demo {
    /// An API document read with the demo's bearer token.
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, self.url(&format!("/api/v1{path}")))
            .header(AUTHORIZATION, format!("Bearer {}", self.token));
        if let Some(body) = body {
            r = r.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let r = r.send().await.expect("an answer");
        let status = r.status();
        (status, serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null))
    }
}

/// Waits for the demo's registry entries, the gate's report on v1 last.
async fn wait_for_registry(d: &Demo) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, reports) = d.api(reqwest::Method::GET, "/models/credit-risk/versions/v1/promotion-reports", None).await;
        if reports["items"].as_array().is_some_and(|items| !items.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "the demo's gate report did not arrive: {reports}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The text of the page's problem box.
fn problem(page: &str) -> &str {
    let start = page.find("class=\"problem\"").unwrap_or_else(|| panic!("a problem on the page: {page}"));
    let end = page[start..].find("</div>").map_or(page.len(), |e| start + e);
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_pages_show_the_demo_versions_and_their_forms_move_them() {
    let d = Demo::start().await;
    let (cookies, csrf) = d.sign_in().await;
    wait_for_registry(&d).await;

    // The model's registry: every version with its stage and aliases, linking to its page.
    let (status, page, _) = d.get("/ui/models/credit-risk/registry", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "href=\"/ui/models/credit-risk/versions/v1\"",
        "href=\"/ui/models/credit-risk/versions/v2\"",
        "@champion",
        "@challenger",
        "@production",
        "Production",
        "Staging",
        "performance.roc_auc",
    ] {
        assert!(page.contains(text), "{text} is on the registry page");
    }

    // v2's page: facts recorded by the demo, its file with a download link a browser
    // session can follow, links to its explanations and its monitoring.
    let (status, page, _) = d.get("/ui/models/credit-risk/versions/v2", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "gradient-boosted challenger",
        "holdout_roc_auc",
        "max_depth",
        "trained_by",
        "href=\"/ui/models/credit-risk/versions/v2/explain\"",
        "href=\"/ui/models/credit-risk?version=v2\"",
        "id=\"set-stage\"",
        "id=\"set-alias\"",
    ] {
        assert!(page.contains(text), "{text} is on v2's page");
    }
    let download = "/api/v1/models/credit-risk/versions/v2/artifacts/model/credit_risk_v2.json";
    assert!(page.contains(&format!("href=\"{download}\"")), "the artifact's download link");
    let r = d.http.get(d.url(download)).header(reqwest::header::COOKIE, &cookies).send().await.expect("an answer");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.expect("the file").starts_with(b"{"), "the model file itself");

    // v1's page: the gate's report from the demo's move of @production, check by check.
    let (_, page, _) = d.get("/ui/models/credit-risk/versions/v1", &cookies).await;
    assert!(page.contains("Latest gate reports") && page.contains("share_drifted"), "v1's gate report");
    assert!(page.contains("the champion, checked against the promotion gate"), "the move's reason in the history");
    let (status, _, _) = d.get("/ui/models/credit-risk/versions/v9", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = d.get("/ui/models/no-such-model/registry", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Aliases: refused without the session's token, set, refused with the API's
    // message, removed.
    let v2 = "/ui/models/credit-risk/versions/v2";
    let r = d.post_form(&format!("{v2}/aliases"), &cookies, &[("alias", "shadow"), ("csrf", "a guess")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d
        .post_form(&format!("{v2}/aliases"), &cookies, &[("csrf", &csrf), ("alias", "shadow"), ("reason", "ui")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with(&format!("{v2}?done=")), "back to the version: {}", location(&r));
    let (_, aliases) = d.api(reqwest::Method::GET, "/models/credit-risk/aliases", None).await;
    assert!(
        aliases["items"].as_array().expect("aliases").iter().any(|a| a["alias"] == "shadow" && a["version"] == "v2")
    );
    let (_, page, _) = d.get(&location(&r), &cookies).await;
    assert!(page.contains("@shadow now points at v2."), "the notice");
    let r = d.post_form(&format!("{v2}/aliases"), &cookies, &[("csrf", &csrf), ("alias", "Bad Alias")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("a page");
    assert!(problem(&page).contains("alias") && problem(&page).contains("Bad Alias"), "{}", problem(&page));
    // An alias of another version cannot be removed from this one's page.
    let r = d.post_form(&format!("{v2}/aliases/champion/delete"), &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(problem(&r.text().await.expect("a page")).contains("@champion does not point at version"));
    let r = d.post_form(&format!("{v2}/aliases/shadow/delete"), &cookies, &[("csrf", "a guess")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d.post_form(&format!("{v2}/aliases/shadow/delete"), &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, aliases) = d.api(reqwest::Method::GET, "/models/credit-risk/aliases", None).await;
    assert!(!aliases["items"].as_array().expect("aliases").iter().any(|a| a["alias"] == "shadow"));

    // Stages: refused without the token, a bad stage named, a move recorded with its
    // reason, a move to production refused by a failing gate with its report kept.
    let r = d.post_form(&format!("{v2}/stage"), &cookies, &[("stage", "Archived")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d.post_form(&format!("{v2}/stage"), &cookies, &[("csrf", &csrf), ("stage", "Live")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem(&r.text().await.expect("a page")).contains("$.stage"));
    let form = [("csrf", csrf.as_str()), ("stage", "Archived"), ("reason", "retired from the UI")];
    let r = d.post_form(&format!("{v2}/stage"), &cookies, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, details) = d.api(reqwest::Method::GET, "/models/credit-risk/versions/v2", None).await;
    assert_eq!(details["stage"], "Archived");
    let (_, page, _) = d.get(v2, &cookies).await;
    assert!(page.contains("retired from the UI"), "the reason in the history");
    let strict = json!({"lookback_hours": 1, "performance": {"roc_auc": {"min": 0.999}}});
    let (status, _) = d.api(reqwest::Method::PUT, "/models/credit-risk/promotion-gate", Some(strict)).await;
    assert_eq!(status, StatusCode::OK);
    let r = d.post_form(&format!("{v2}/stage"), &cookies, &[("csrf", &csrf), ("stage", "Production")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.expect("a page");
    assert!(problem(&page).contains("failed its promotion gate: performance.roc_auc"), "{}", problem(&page));
    assert!(page.contains("Latest gate reports") && page.contains("badge bad"), "the failed report is shown");
    let (_, details) = d.api(reqwest::Method::GET, "/models/credit-risk/versions/v2", None).await;
    assert_eq!(details["stage"], "Archived", "the refused move changed nothing");

    // A viewer of the project reads the pages but has no forms, and a form sent anyway
    // is refused as the API refuses it.
    let (admin_cookies, admin_csrf) = (cookies.clone(), csrf.clone());
    let as_admin = |method: reqwest::Method, path: &str, body: Value| {
        d.http
            .request(method, d.url(&format!("/api/v1{path}")))
            .header(reqwest::header::COOKIE, &admin_cookies)
            .header("x-csrf-token", &admin_csrf)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
    };
    let password = "a viewer's long password";
    let r = as_admin(reqwest::Method::POST, "/users", json!({"name": "reader", "password": password}))
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
    let r = as_admin(reqwest::Method::PUT, "/projects/default/members/reader", json!({"role": "viewer"}))
        .await
        .expect("an answer");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    let r = d.post_form("/ui/sign-in", "", &[("username", "reader"), ("password", password), ("next", "/ui/")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pairs: Vec<String> = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect();
    let reader_csrf =
        pairs.iter().find_map(|p| p.strip_prefix("__Host-sightline_csrf=")).expect("a CSRF cookie").to_owned();
    let reader = pairs.join("; ");
    let (status, page, _) = d.get(v2, &reader).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("gradient-boosted challenger") && !page.contains("id=\"set-stage\""),
        "no forms for a viewer"
    );
    let r = d.post_form(&format!("{v2}/aliases"), &reader, &[("csrf", &reader_csrf), ("alias", "sneaky")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(problem(&r.text().await.expect("a page")).contains("needs edit access"));
    let (status, page, _) = d.get("/ui/settings", &reader).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("id=\"new-channel\""), "no channel form without an administrator role");
    let mut by_reader = vec![("csrf", reader_csrf.as_str()), ("name", "sneaky"), ("project", "default")];
    by_reader.extend([("kind", "slack"), ("url", "https://hooks.example.com/x")]);
    let r = d.post_form("/ui/settings/channels", &reader, &by_reader).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Channels from the settings page.
    let (_, page, _) = d.get("/ui/settings", &cookies).await;
    assert!(page.contains("id=\"new-channel\""), "the channel form");
    let webhook = [
        ("name", "ui-hook"),
        ("project", "default"),
        ("kind", "webhook"),
        ("min_severity", "high"),
        ("url", "https://hooks.example.com/sightline"),
        ("secret", "a-secret-of-enough-length"),
    ];
    let r = d.post_form("/ui/settings/channels", &cookies, &webhook).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut missing_url = webhook.to_vec();
    missing_url.retain(|(k, _)| *k != "url");
    missing_url.push(("csrf", &csrf));
    let r = d.post_form("/ui/settings/channels", &cookies, &missing_url).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("a page");
    assert!(problem(&page).contains("config.url: required"), "{}", problem(&page));
    assert!(page.contains("value=\"ui-hook\""), "the form keeps what was typed");
    assert!(!page.contains("a-secret-of-enough-length"), "but never a secret");
    let mut good = webhook.to_vec();
    good.push(("csrf", &csrf));
    let r = d.post_form("/ui/settings/channels", &cookies, &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Channels are listed to project administrators: the demo user, not its editor token.
    let (_, text, _) = d.get("/api/v1/channels", &cookies).await;
    let channels: Value = serde_json::from_str(&text).expect("a channel list");
    let made = channels["items"].as_array().expect("channels").iter().find(|c| c["name"] == "ui-hook").cloned();
    let made = made.expect("the channel is made");
    assert_eq!((made["kind"].as_str(), made["min_severity"].as_str()), (Some("webhook"), Some("high")));
    let (_, page, _) = d.get(&location(&r), &cookies).await;
    assert!(page.contains("Channel ui-hook (webhook) made in default."), "the notice");
    let email = [
        ("csrf", csrf.as_str()),
        ("name", "ui-mail"),
        ("project", "default"),
        ("kind", "email"),
        ("host", "smtp.example.com"),
        ("port", "twenty-five"),
        ("from", "sightline@example.com"),
        ("to", "oncall@example.com, risk@example.com"),
    ];
    let r = d.post_form("/ui/settings/channels", &cookies, &email).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem(&r.text().await.expect("a page")).contains("config.port: must be a port number"));

    // Every form sent with a session is in the audit log with its outcome, as the API's
    // requests are: the channels made and refused, the viewer's refused alias.
    let (_, text, _) = d.get("/api/v1/audit?action=POST%20/ui/&limit=200", &cookies).await;
    let audit: Value = serde_json::from_str(&text).expect("the audit log");
    let entries: Vec<(String, String, String)> = audit["items"]
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("actor"), text("action"), text("outcome"))
        })
        .collect();
    for (actor, action, outcome) in [
        ("user:demo", "POST /ui/settings/channels", "303"),
        ("user:demo", "POST /ui/settings/channels", "422"),
        ("user:demo", "POST /ui/models/{model}/versions/{version}/stage", "409"),
        ("user:reader", "POST /ui/models/{model}/versions/{version}/aliases", "403"),
    ] {
        let wanted = (actor.to_owned(), action.to_owned(), outcome.to_owned());
        assert!(entries.contains(&wanted), "{wanted:?} is audited: {entries:?}");
    }

    d.stop().await;
}
