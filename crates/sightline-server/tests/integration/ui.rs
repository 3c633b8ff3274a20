//! The web UI and the demo end to end: a real server with `serve --demo`'s user, model
//! and traffic; pages fetched as a browser would (session cookie, redirects not
//! followed), their content, their SVG charts and the monitor form with its CSRF check.

mod estimated;
mod explorer;
mod issues;
mod registry;
mod retraining;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sightline_server::demo::{self, DemoConfig};
use sightline_server::{Server, ServerConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Demo {
    addr: SocketAddr,
    http: Client,
    password: String,
    /// The demo's server-wide editor token (its traffic generator's).
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    traffic: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            data_dir: dir.path().to_path_buf(),
            ..ServerConfig::default()
        };
        config.analysis.aggregator.flush_interval = Duration::from_millis(100);
        config.analysis.aggregator.poll_interval = Duration::from_millis(50);
        let server = Server::start(config).await.expect("the server starts");
        let credentials = demo::prepare(&server).await.expect("the demo user and token");
        let addr = server.local_addr().expect("an address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        let token = credentials.token.clone();
        let traffic = demo::spawn(addr, credentials.token, DemoConfig { rate: 5.0, seed: 7 });
        let http = Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
        Demo { addr, http, password: credentials.password, token, stop: Some(tx), serving, traffic, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str, cookies: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let r = self.http.get(self.url(path)).header(COOKIE, cookies).send().await.expect("an answer");
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.text().await.expect("a body"), headers)
    }

    async fn post_form(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_urlencoded::to_string(form).expect("a form");
        self.http
            .post(self.url(path))
            .header(COOKIE, cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("an answer")
    }

    /// Signs in through the form; answers the `Cookie` header value and the CSRF token.
    /// POSTs a JSON document to the API with the demo's token: the status and the answer.
    async fn post_json(&self, path: &str, doc: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(doc.to_string())
            .send()
            .await
            .expect("an answer");
        let status = r.status();
        (status, serde_json::from_str(&r.text().await.expect("a body")).unwrap_or_default())
    }

    async fn sign_in(&self) -> (String, String) {
        let r = self
            .post_form("/ui/sign-in", "", &[("username", "demo"), ("password", &self.password), ("next", "/ui/alerts")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/ui/alerts"));
        let pairs: Vec<String> = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(pairs.len(), 2, "the session and the CSRF cookie: {pairs:?}");
        let csrf =
            pairs.iter().find_map(|p| p.strip_prefix("__Host-sightline_csrf=")).expect("the CSRF cookie").to_owned();
        (pairs.join("; "), csrf)
    }

    async fn stop(mut self) {
        self.traffic.abort();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.serving.await.expect("no panic").expect("a clean stop");
    }
}

/// Waits until the demo's history is folded into profiles and some labels arrived.
async fn wait_for_data(d: &Demo, cookies: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text, _) = d.get("/api/v1/models/credit-risk/drift", cookies).await;
        let drift: Value = serde_json::from_str(&text).unwrap_or_default();
        let (_, text, _) = d.get("/api/v1/models/credit-risk/performance", cookies).await;
        let perf: Value = serde_json::from_str(&text).unwrap_or_default();
        if status == StatusCode::OK && drift["rows"].as_u64() > Some(10_000) && perf["labelled"].as_u64() > Some(100) {
            return;
        }
        assert!(Instant::now() < deadline, "the demo data did not arrive: {drift} {perf}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every `<svg …>…</svg>` of a page.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg").filter_map(|(i, _)| html[i..].find("</svg>").map(|end| &html[i..i + end])).collect()
}

fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("figure {id} is on the page"));
    let end = html[start..].find("</figure>").map_or(html.len(), |e| start + e);
    &html[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_fills_every_page_and_the_monitor_form_works() {
    let d = Demo::start().await;

    // Without a session, pages send the browser to sign in and back.
    let (status, _, headers) = d.get("/ui/models/credit-risk?range=6h", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/ui/sign-in?next=%2Fui%2Fmodels%2Fcredit-risk%3Frange%3D6h")
    );
    let (status, _, headers) = d.get("/", "").await;
    assert_eq!((status, headers.get(LOCATION).and_then(|v| v.to_str().ok())), (StatusCode::SEE_OTHER, Some("/ui/")));
    let (status, page, headers) = d.get("/ui/sign-in?next=https://evil.example/", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"password\"") && page.contains("value=\"/ui/\""), "{page}");
    assert!(headers.get("content-security-policy").is_some());
    let r = d.post_form("/ui/sign-in", "", &[("username", "demo"), ("password", "not the password")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.expect("a body").contains("Wrong user name or password"));

    let (cookies, csrf) = d.sign_in().await;
    wait_for_data(&d, &cookies).await;

    let (status, page, _) = d.get("/ui/", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("href=\"/ui/models/credit-risk\""), "{page}");

    // The model page: every chart drawn, with data in it.
    for range in ["1h", "6h", "15m"] {
        let (status, page, _) = d.get(&format!("/ui/models/credit-risk?range={range}"), &cookies).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for id in ["throughput", "latency", "errors", "drift-heatmap", "prediction-distribution", "performance"] {
            let f = figure(&page, id);
            let svg = svgs(f);
            assert_eq!(svg.len(), 1, "{id}: one chart");
            assert!(svg[0].len() > 2000, "{id}: a drawn chart, not an empty frame");
            assert!(f.contains("data-hover=\"["), "{id}: hover data");
        }
        assert!(figure(&page, "throughput").contains("<polyline"));
        assert!(figure(&page, "drift-heatmap").contains("<circle"), "income drifts: a marked cell");
        assert!(page.contains("href=\"/ui/models/credit-risk/features/income?range="), "feature links");
        assert!(page.contains("id=\"issues\"") && page.contains("TimeoutError"), "error groups");
    }
    let (status, page, _) = d.get("/ui/models/credit-risk?version=v2", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("class=\"on\" href=\"/ui/models/credit-risk?range=1h&amp;version=v2\""), "{page}");
    let (status, _, _) = d.get("/ui/models/credit-risk?version=v9", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A feature page.
    let (status, page, _) = d.get("/ui/models/credit-risk/features/purpose?range=1h", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(svgs(figure(&page, "distribution"))[0].contains("<rect"));
    assert!(page.contains("Data quality") && page.contains("debt_consolidation"));
    assert!(svgs(figure(&page, "drift-history"))[0].contains("<polyline"));
    let (status, _, _) = d.get("/ui/models/credit-risk/features/nope", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Predictions: the list, the search by request id, one prediction.
    let (status, page, _) = d.get("/ui/models/credit-risk/predictions?version=v1", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    let start = page.find("/ui/models/credit-risk/predictions/demo-").expect("a prediction link");
    let id: String =
        page[start + "/ui/models/credit-risk/predictions/".len()..].chars().take_while(|c| *c != '"').collect();
    let (status, _, headers) = d.get(&format!("/ui/models/credit-risk/predictions?request_id={id}"), &cookies).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let target = headers.get(LOCATION).and_then(|v| v.to_str().ok()).expect("a location").to_owned();
    let (status, page, _) = d.get(&target, &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&id) && page.contains("debt_to_income") && page.contains(">v1<"), "{page}");
    let (status, page, _) = d.get("/ui/models/credit-risk/predictions/no-such-id", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("no prediction with request id"));

    // Explanations: v2 has the demo's XGBoost model file, v1 none.
    let (status, page, _) = d.get("/ui/models/credit-risk/versions/v2/explain?range=1h", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("xgboost-json") && page.contains("binary:logistic"), "{page}");
    for id in ["importance", "beeswarm", "attribution-drift", "pdp", "tree"] {
        let svg = svgs(figure(&page, id));
        assert_eq!(svg.len(), 1, "{id}: one chart");
        assert!(svg[0].len() > 2000, "{id}: a drawn chart, not an empty frame");
    }
    assert!(svgs(figure(&page, "importance"))[0].contains("<rect"), "importance bars");
    assert!(svgs(figure(&page, "beeswarm"))[0].contains("<circle"), "beeswarm dots");
    assert!(svgs(figure(&page, "pdp"))[0].contains("<polyline"), "pd and ice curves");
    let (status, page, _) =
        d.get("/ui/models/credit-risk/versions/v2/explain?range=1h&feature=income&tree=59", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Tree 59 of 60") && page.contains("as income varies"), "{page}");
    let (status, page, _) = d.get("/ui/models/credit-risk/versions/v1/explain", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"no-explainer\""), "{page}");
    let (status, _, _) = d.get("/ui/models/credit-risk/versions/v9/explain", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let alias = serde_json::json!({"version": "v2", "reason": "challenger wins"}).to_string();
    let r = d
        .http
        .put(d.url("/api/v1/models/credit-risk/aliases/production"))
        .bearer_auth(&d.token)
        .header("content-type", "application/json")
        .body(alias)
        .send()
        .await
        .expect("an answer");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    let (_, page, _) = d.get("/ui/models/credit-risk?range=1h", &cookies).await;
    assert!(page.contains("href=\"/ui/models/credit-risk/versions/v2/explain\""), "the versions table links them");
    assert!(page.contains("<code>@production</code>"), "the versions table shows aliases");
    let (_, page, _) = d.get("/ui/models/credit-risk/predictions?version=v2", &cookies).await;
    let start = page.find("/ui/models/credit-risk/predictions/demo-").expect("a v2 prediction link");
    let link: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let (status, page, _) = d.get(&link, &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(svgs(figure(&page, "waterfall"))[0].contains("<rect"), "the prediction's waterfall: {page}");

    // Alerts and monitors, and the form.
    let (status, page, _) = d.get("/ui/alerts", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("credit-risk-errors") && page.contains("id=\"new-monitor\""));
    let form = [
        ("id", "ui-made"),
        ("model", "credit-risk"),
        ("signal", "latency_quantile"),
        ("quantile", "0.9"),
        ("op", ">"),
        ("value", "40"),
        ("window", "5m"),
        ("interval", "1m"),
        ("for", "0s"),
        ("severity", "low"),
    ];
    let r = d.post_form("/ui/monitors", &cookies, &form).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF field");
    let mut with_csrf = form.to_vec();
    with_csrf.push(("csrf", "a guess"));
    assert_eq!(d.post_form("/ui/monitors", &cookies, &with_csrf).await.status(), StatusCode::FORBIDDEN);
    with_csrf.pop();
    with_csrf.push(("csrf", &csrf));
    let r = d.post_form("/ui/monitors", &cookies, &with_csrf).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/ui/alerts?created=ui-made"));
    let (_, page, _) = d.get("/ui/alerts?created=ui-made", &cookies).await;
    assert!(page.contains("<code>ui-made</code>") && page.contains("latency_quantile(quantile=0.9)"), "{page}");
    let (_, text, _) = d.get("/api/v1/monitors/ui-made", &cookies).await;
    assert!(text.contains("\"quantile\":0.9"), "{text}");
    // Invalid input is shown on the form, which keeps what was typed.
    let mut bad = with_csrf.clone();
    bad[0] = ("id", "ui-bad");
    bad[6] = ("window", "five minutes");
    let r = d.post_form("/ui/monitors", &cookies, &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("a body");
    assert!(page.contains("window") && page.contains("value=\"ui-bad\""), "{page}");

    // Editing and deleting the monitor through its page.
    let (status, page, _) = d.get("/ui/monitors/ui-made", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"edit-monitor\"") && page.contains("value=\"40\""), "{page}");
    let (_, page, _) = d.get("/ui/alerts", &cookies).await;
    assert!(page.contains("href=\"/ui/monitors/ui-made\""), "the monitors table links to it");
    let mut edited = with_csrf.clone();
    edited[5] = ("value", "55");
    let r = d.post_form("/ui/monitors/ui-made", &cookies, &edited[..edited.len() - 1]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF field");
    let r = d.post_form("/ui/monitors/ui-made", &cookies, &edited).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/ui/alerts?updated=ui-made"));
    let (_, text, _) = d.get("/api/v1/monitors/ui-made", &cookies).await;
    assert!(text.contains("\"value\":55"), "{text}");
    let mut broken = edited.clone();
    broken[7] = ("interval", "sometimes");
    let r = d.post_form("/ui/monitors/ui-made", &cookies, &broken).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("a body");
    assert!(page.contains("interval") && page.contains("value=\"sometimes\""), "{page}");
    let r = d.post_form("/ui/monitors/ui-made/delete", &cookies, &[("csrf", "a guess")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d.post_form("/ui/monitors/ui-made/delete", &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, _) = d.get("/api/v1/monitors/ui-made", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = d.get("/ui/monitors/ui-made", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Settings: a token made (its secret shown once) and revoked, a member's role set.
    let (status, page, _) = d.get("/ui/settings", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"projects\"") && page.contains("id=\"tokens\"") && page.contains("demo"), "{page}");
    let r = d
        .post_form("/ui/settings/tokens", &cookies, &[("name", "ui-token"), ("project", "default"), ("role", "ingest")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF field");
    let r = d
        .post_form(
            "/ui/settings/tokens",
            &cookies,
            &[("csrf", &csrf), ("name", "ui-token"), ("project", "default"), ("role", "ingest")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let page = r.text().await.expect("a body");
    let at = page.find("id=\"token-secret\">").expect("the secret, once") + "id=\"token-secret\">".len();
    let secret: String = page[at..].chars().take_while(|c| *c != '<').collect();
    let works = |secret: String| {
        let http = d.http.clone();
        let url = d.url("/api/v1/models/credit-risk/predictions");
        async move {
            let body = serde_json::json!({"events": []}).to_string();
            http.post(url)
                .bearer_auth(secret)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("an answer")
                .status()
        }
    };
    assert_ne!(works(secret.clone()).await, StatusCode::UNAUTHORIZED, "the new token works");
    let (_, page, _) = d.get("/ui/settings", &cookies).await;
    assert!(!page.contains(&secret), "the secret is not shown again");
    let row = page.find("ui-token").expect("the token is listed");
    let start = page[row..].find("/ui/settings/tokens/").expect("a revoke form") + row;
    let revoke: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let r = d.post_form(&revoke, &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(works(secret).await, StatusCode::UNAUTHORIZED, "revoked");
    let r = d
        .post_form(
            "/ui/settings/members",
            &cookies,
            &[("csrf", &csrf), ("project", "default"), ("user", "nobody"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.expect("a body").contains("nobody"), "the refusal names the user");

    // Incidents: the list and one incident with its links and timeline.
    let incident = serde_json::json!({"title": "scores look off", "severity": "high", "assignee": "demo",
        "links": {"versions": ["credit-risk/v2"]}});
    let (status, doc) = d.post_json("/api/v1/incidents", &incident).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = doc["id"].as_i64().expect("an id");
    let (status, page, _) = d.get("/ui/incidents", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("scores look off") && page.contains(&format!("href=\"/ui/incidents/{id}\"")), "{page}");
    let (status, page, _) = d.get(&format!("/ui/incidents/{id}"), &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"timeline\"") && page.contains("opened"), "{page}");
    assert!(page.contains("href=\"/ui/models/credit-risk?version=v2\""), "{page}");
    let (status, _, _) = d.get("/ui/incidents/999999", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = d.get("/ui/incidents?status=sleeping", &cookies).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Lineage: a training job that produced v2 from a feature table.
    let event = serde_json::json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "https://example.com/test",
        "run": {"runId": "r-1"}, "job": {"namespace": "ml", "name": "train_credit"},
        "inputs": [{"namespace": "lake", "name": "features"}],
        "outputs": [{"namespace": "sightline", "name": "credit-risk/v2"}],
    });
    let r = d
        .http
        .post(d.url("/api/v1/lineage"))
        .bearer_auth(&d.token)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, page, _) = d.get("/ui/models/credit-risk", &cookies).await;
    let link = "/ui/lineage?nodeId=dataset%3Asightline%3Acredit-risk%2Fv2&amp;project=default";
    assert!(page.contains(link), "the v2 row links to its lineage: {page}");
    let (status, page, _) = d.get(&link.replace("&amp;", "&"), &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let svg = svgs(&page).into_iter().find(|s| s.contains("lineage-graph")).expect("the lineage graph");
    assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
    assert!(svg.contains("train_credit") && svg.contains("features"), "{svg}");
    let (status, _, _) = d.get("/ui/lineage?nodeId=dataset:lake:nothing", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Assets, unknown pages, signing out.
    let (status, _, headers) = d.get("/ui/assets/favicon.svg", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("image/svg+xml"));
    let (status, js, headers) = d.get("/ui/assets/ui.js", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(js.contains("hoverCharts"));
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/javascript; charset=utf-8"));
    let (status, _, _) = d.get("/ui/models/nope", &cookies).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = d.post_form("/ui/sign-out", &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, _) = d.get("/ui/", &cookies).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session ended");

    d.stop().await;
}
