//! Authentication and authorization end to end: the role matrix over every route the
//! router serves, sessions and CSRF, login throttling, what a database dump reveals,
//! and the audit trail of it all.

use crate::support::{Reply, TestServer, credit_model, event};
use reqwest::Method;
use serde_json::{Value, json};
use sightline_server::routes::route_list;
use std::collections::BTreeMap;

/// The callers the matrix tries. `OtherAdmin` administers another project; `ServerViewer`
/// is a server-wide read-only token (what Prometheus scrapes with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Ingest,
    Viewer,
    Editor,
    Admin,
    OtherAdmin,
    ServerViewer,
    ServerAdmin,
}

use Who::*;
const EVERYONE: [Who; 8] = [Anonymous, Ingest, Viewer, Editor, Admin, OtherAdmin, ServerViewer, ServerAdmin];

/// Who may call each route, written out by hand (not derived from the route table, so
/// that the two check each other). A route missing here fails the test.
fn expected_access() -> BTreeMap<(&'static str, &'static str), Vec<Who>> {
    let public = EVERYONE.to_vec();
    let authenticated = vec![Ingest, Viewer, Editor, Admin, OtherAdmin, ServerViewer, ServerAdmin];
    let read = vec![Viewer, Editor, Admin, ServerViewer, ServerAdmin];
    let ingest = vec![Ingest, Editor, Admin, ServerAdmin];
    let edit = vec![Editor, Admin, ServerAdmin];
    let admin = vec![Admin, ServerAdmin];
    let server_admin = vec![ServerAdmin];
    let mut map = BTreeMap::from([
        (("GET", "/healthz"), public.clone()),
        (("GET", "/readyz"), public.clone()),
        (("GET", "/api/v1/openapi.json"), public.clone()),
        (("GET", "/metrics"), vec![ServerViewer, ServerAdmin]),
        (("POST", "/api/v1/auth/login"), public),
        (("POST", "/api/v1/auth/logout"), authenticated.clone()),
        (("GET", "/api/v1/auth/me"), authenticated.clone()),
        // A user's own password and second factor: sessions only, never tokens.
        (("POST", "/api/v1/auth/password"), vec![]),
        (("POST", "/api/v1/auth/totp/setup"), vec![]),
        (("POST", "/api/v1/auth/totp/enable"), vec![]),
        (("POST", "/api/v1/auth/totp/disable"), vec![]),
        // Lists answer everyone authenticated, filtered to what they may read.
        (("GET", "/api/v1/projects"), authenticated.clone()),
        (("POST", "/api/v1/projects"), server_admin.clone()),
        (("GET", "/api/v1/projects/{project}"), read.clone()),
        (("GET", "/api/v1/projects/{project}/members"), admin.clone()),
        (("PUT", "/api/v1/projects/{project}/members/{user}"), admin.clone()),
        (("DELETE", "/api/v1/projects/{project}/members/{user}"), admin.clone()),
        (("GET", "/api/v1/users"), server_admin.clone()),
        (("POST", "/api/v1/users"), server_admin.clone()),
        (("GET", "/api/v1/users/{user}"), server_admin.clone()),
        (("PATCH", "/api/v1/users/{user}"), server_admin.clone()),
        // Tokens without a user list by project; only server admins list everything.
        (("GET", "/api/v1/tokens"), server_admin.clone()),
        (("POST", "/api/v1/tokens"), vec![Viewer, Editor, Admin, ServerAdmin]),
        (("DELETE", "/api/v1/tokens/{token}"), admin.clone()),
        (("GET", "/api/v1/audit"), server_admin.clone()),
        (("GET", "/api/v1/audit/export"), server_admin.clone()),
        // Master keys: reloading the key file and re-encrypting is a server-wide change.
        (("GET", "/api/v1/admin/keys"), server_admin.clone()),
        (("POST", "/api/v1/admin/keys/rotate"), server_admin),
        (("GET", "/api/v1/models"), authenticated.clone()),
        (("POST", "/api/v1/models"), edit.clone()),
        (("GET", "/api/v1/models/{model}"), read.clone()),
        (("POST", "/api/v1/models/{model}/features"), edit.clone()),
        (("GET", "/api/v1/models/{model}/versions"), read.clone()),
        (("POST", "/api/v1/models/{model}/versions"), edit.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}/explainer"), read.clone()),
        (("DELETE", "/api/v1/models/{model}/versions/{version}/explainer"), edit.clone()),
        (("PUT", "/api/v1/models/{model}/versions/{version}/explainer/model-file"), edit.clone()),
        (("PUT", "/api/v1/models/{model}/versions/{version}/explainer/endpoint"), edit.clone()),
        (("POST", "/api/v1/models/{model}/versions/{version}/explain"), read.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}/importance"), read.clone()),
        (("POST", "/api/v1/models/{model}/versions/{version}/partial-dependence"), read.clone()),
        (("POST", "/api/v1/models/{model}/versions/{version}/permutation-importance"), read.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}"), read.clone()),
        (("PATCH", "/api/v1/models/{model}/versions/{version}"), edit.clone()),
        (("PUT", "/api/v1/models/{model}/versions/{version}/stage"), edit.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}/artifacts"), read.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}/artifacts/{*path}"), read.clone()),
        (("PUT", "/api/v1/models/{model}/versions/{version}/artifacts/{*path}"), edit.clone()),
        (("GET", "/api/v1/models/{model}/aliases"), read.clone()),
        (("PUT", "/api/v1/models/{model}/aliases/{alias}"), edit.clone()),
        (("DELETE", "/api/v1/models/{model}/aliases/{alias}"), edit.clone()),
        (("GET", "/api/v1/models/{model}/registry-history"), read.clone()),
        (("GET", "/api/v1/models/{model}/promotion-gate"), read.clone()),
        (("PUT", "/api/v1/models/{model}/promotion-gate"), edit.clone()),
        (("GET", "/api/v1/models/{model}/versions/{version}/promotion-reports"), read.clone()),
        (("GET", "/api/v1/models/{model}/predictions"), read.clone()),
        (("POST", "/api/v1/models/{model}/predictions"), ingest.clone()),
        (("GET", "/api/v1/models/{model}/predictions/{request_id}"), read.clone()),
        (("POST", "/api/v1/models/{model}/feedback"), ingest.clone()),
        (("POST", "/api/v1/models/{model}/errors"), ingest.clone()),
        (("GET", "/api/v1/models/{model}/issues"), read.clone()),
        (("GET", "/api/v1/models/{model}/reference"), read.clone()),
        (("PUT", "/api/v1/models/{model}/reference"), edit.clone()),
        (("DELETE", "/api/v1/models/{model}/reference"), edit.clone()),
        (("POST", "/api/v1/models/{model}/reference/from-logs"), edit.clone()),
        (("GET", "/api/v1/models/{model}/drift"), read.clone()),
        (("GET", "/api/v1/models/{model}/drift-settings"), read.clone()),
        (("PUT", "/api/v1/models/{model}/drift-settings"), edit.clone()),
        (("GET", "/api/v1/models/{model}/data-quality"), read.clone()),
        (("GET", "/api/v1/models/{model}/performance"), read.clone()),
        (("GET", "/api/v1/models/{model}/compare"), read.clone()),
        (("GET", "/api/v1/models/{model}/export"), read.clone()),
        (("GET", "/api/v1/models/{model}/export/schema"), read.clone()),
        (("GET", "/api/v1/models/{model}/retraining-policies"), read.clone()),
        (("GET", "/api/v1/models/{model}/retraining-policies/{policy}"), read.clone()),
        (("PUT", "/api/v1/models/{model}/retraining-policies/{policy}"), edit.clone()),
        (("DELETE", "/api/v1/models/{model}/retraining-policies/{policy}"), edit.clone()),
        (("POST", "/api/v1/models/{model}/retraining-policies/{policy}/evaluate"), edit.clone()),
        (("GET", "/api/v1/models/{model}/retraining-triggers"), read.clone()),
        (("GET", "/api/v1/models/{model}/issues/{issue}"), read.clone()),
        (("PATCH", "/api/v1/models/{model}/issues/{issue}"), edit.clone()),
        // Alerting: lists answer everyone authenticated, filtered to what they may read
        // (channels: to the projects they administer).
        (("GET", "/api/v1/monitors"), authenticated.clone()),
        (("POST", "/api/v1/monitors"), edit.clone()),
        (("GET", "/api/v1/monitors/{monitor}"), read.clone()),
        (("PUT", "/api/v1/monitors/{monitor}"), edit.clone()),
        (("DELETE", "/api/v1/monitors/{monitor}"), edit.clone()),
        (("GET", "/api/v1/alerts"), authenticated.clone()),
        (("GET", "/api/v1/alerts/{alert}"), read.clone()),
        (("POST", "/api/v1/alerts/{alert}/acknowledge"), edit.clone()),
        (("GET", "/api/v1/silences"), authenticated.clone()),
        (("POST", "/api/v1/silences"), edit.clone()),
        (("DELETE", "/api/v1/silences/{silence}"), edit.clone()),
        (("GET", "/api/v1/channels"), authenticated.clone()),
        (("POST", "/api/v1/channels"), admin.clone()),
        (("GET", "/api/v1/channels/{channel}"), admin.clone()),
        (("DELETE", "/api/v1/channels/{channel}"), admin.clone()),
        (("POST", "/api/v1/channels/{channel}/test"), admin.clone()),
        (("GET", "/api/v1/incidents"), authenticated.clone()),
        (("POST", "/api/v1/incidents"), edit.clone()),
        (("GET", "/api/v1/incidents/stats"), authenticated.clone()),
        (("GET", "/api/v1/incidents/{incident}"), read.clone()),
        (("PATCH", "/api/v1/incidents/{incident}"), edit.clone()),
        (("POST", "/api/v1/incidents/{incident}/notes"), edit.clone()),
        // Lineage: in the project named by ?project=.
        (("POST", "/api/v1/lineage"), ingest.clone()),
        (("GET", "/api/v1/lineage"), read.clone()),
        (("GET", "/api/v1/lineage/columns"), read.clone()),
        (("GET", "/api/v1/lineage/impact"), read.clone()),
    ]);
    // MLflow's API: the need in the project of the experiment, run or model named in
    // the query or body; new experiments and models go to the caller's own project.
    let creators = vec![Editor, Admin, OtherAdmin, ServerAdmin];
    for (method, path) in MLFLOW_ROUTES {
        let who = match *path {
            "/api/2.0/mlflow/experiments/create" | "/api/2.0/mlflow/registered-models/create" => creators.clone(),
            "/api/2.0/mlflow/experiments/search"
            | "/api/2.0/mlflow/registered-models/search"
            | "/api/2.0/mlflow/model-versions/search" => authenticated.clone(),
            _ if MLFLOW_READS.contains(&(*method, *path)) => read.clone(),
            _ => edit.clone(),
        };
        map.insert((*method, *path), who);
    }
    map
}

/// MLflow's routes, written out by hand as the matrix above is.
const MLFLOW_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("GET", "/api/2.0/mlflow/experiments/get"),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
    ("GET", "/api/2.0/mlflow/experiments/search"),
    ("POST", "/api/2.0/mlflow/experiments/update"),
    ("POST", "/api/2.0/mlflow/experiments/delete"),
    ("POST", "/api/2.0/mlflow/experiments/restore"),
    ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("GET", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/update"),
    ("POST", "/api/2.0/mlflow/runs/delete"),
    ("POST", "/api/2.0/mlflow/runs/restore"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("POST", "/api/2.0/mlflow/runs/log-parameter"),
    ("POST", "/api/2.0/mlflow/runs/log-metric"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("POST", "/api/2.0/mlflow/runs/set-tag"),
    ("POST", "/api/2.0/mlflow/runs/delete-tag"),
    ("POST", "/api/2.0/mlflow/runs/log-inputs"),
    ("GET", "/api/2.0/mlflow/metrics/get-history"),
    ("POST", "/api/2.0/mlflow/logged-models/search"),
    ("POST", "/api/2.0/mlflow/registered-models/create"),
    ("GET", "/api/2.0/mlflow/registered-models/get"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    ("PATCH", "/api/2.0/mlflow/registered-models/update"),
    ("POST", "/api/2.0/mlflow/registered-models/rename"),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete"),
    ("POST", "/api/2.0/mlflow/registered-models/set-tag"),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete-tag"),
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("POST", "/api/2.0/mlflow/registered-models/alias"),
    ("DELETE", "/api/2.0/mlflow/registered-models/alias"),
    ("GET", "/api/2.0/mlflow/registered-models/alias"),
    ("POST", "/api/2.0/mlflow/model-versions/create"),
    ("GET", "/api/2.0/mlflow/model-versions/get"),
    ("GET", "/api/2.0/mlflow/model-versions/search"),
    ("PATCH", "/api/2.0/mlflow/model-versions/update"),
    ("DELETE", "/api/2.0/mlflow/model-versions/delete"),
    ("POST", "/api/2.0/mlflow/model-versions/set-tag"),
    ("DELETE", "/api/2.0/mlflow/model-versions/delete-tag"),
    ("POST", "/api/2.0/mlflow/model-versions/transition-stage"),
    ("GET", "/api/2.0/mlflow/model-versions/get-download-uri"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{*path}"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{*path}"),
];

/// The MLflow routes that only read (some by POST, as MLflow has them).
const MLFLOW_READS: &[(&str, &str)] = &[
    ("GET", "/api/2.0/mlflow/experiments/get"),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ("GET", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("GET", "/api/2.0/mlflow/metrics/get-history"),
    ("POST", "/api/2.0/mlflow/logged-models/search"),
    ("GET", "/api/2.0/mlflow/registered-models/get"),
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("GET", "/api/2.0/mlflow/registered-models/alias"),
    ("GET", "/api/2.0/mlflow/model-versions/get"),
    ("GET", "/api/2.0/mlflow/model-versions/get-download-uri"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{*path}"),
];

/// Project `alpha` (model `ma`, prediction `r1`, user `carol`, monitor `wm` with a
/// firing alert, a silence, a channel, an incident), project `beta` (model `mb`), and a
/// token for every caller.
struct World {
    server: TestServer,
    tokens: BTreeMap<Who, String>,
    /// Path parameter values of alpha's alerting objects (`{alert}`, `{silence}`...).
    ids: BTreeMap<&'static str, String>,
}

/// A monitor of `ma` whose condition always holds, so it fires at its first evaluation.
fn always_firing(id: &str) -> Value {
    json!({
        "id": id, "model": "ma", "version": "v1", "signal": "throughput", "condition": { "op": ">=", "value": 0.0 },
        "window": "1m", "interval": "1s", "severity": "low",
    })
}

fn webhook_channel(name: &str) -> Value {
    json!({
        "project": "alpha", "name": name, "kind": "webhook",
        "config": { "url": "http://127.0.0.1:9/hook", "secret": "a-long-enough-secret" },
    })
}

async fn make_token(server: &TestServer, project: Option<&str>, role: &str) -> (i64, String) {
    let r = server
        .post_json("/api/v1/tokens", &json!({ "name": format!("{role} token"), "project": project, "role": role }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.json["id"].as_i64().expect("id"), r.json["token"].as_str().expect("token").to_owned())
}

async fn world() -> World {
    let server = TestServer::start().await;
    for p in ["alpha", "beta"] {
        server.post_json("/api/v1/projects", &json!({ "name": p })).await.expect_status(201);
    }
    let mut ma = credit_model("ma");
    ma["project"] = json!("alpha");
    server.create_model(&ma).await;
    let mut mb = credit_model("mb");
    mb["project"] = json!("beta");
    server.create_model(&mb).await;
    server.ingest("ma", &[event("r1")]).await;
    let error = json!({ "events": [{ "type": "KeyError", "message": "missing 'x'" }] });
    server.post_json("/api/v1/models/ma/errors", &error).await.expect_status(200);
    let carol = json!({ "name": "carol", "password": "carols long password" });
    server.post_json("/api/v1/users", &carol).await.expect_status(201);
    let mut tokens = BTreeMap::from([(ServerAdmin, server.token.clone())]);
    for (who, project, role) in [
        (Ingest, Some("alpha"), "ingest"),
        (Viewer, Some("alpha"), "viewer"),
        (Editor, Some("alpha"), "editor"),
        (Admin, Some("alpha"), "admin"),
        (OtherAdmin, Some("beta"), "admin"),
        (ServerViewer, None, "viewer"),
    ] {
        tokens.insert(who, make_token(&server, project, role).await.1);
    }
    let mut ids = BTreeMap::new();
    server.post_json("/api/v1/monitors", &always_firing("wm")).await.expect_status(201);
    ids.insert("{monitor}", "wm".to_owned());
    let mut fingerprint = None;
    for _ in 0..100 {
        let r = server.get("/api/v1/alerts?monitor=wm").await;
        if let Some(fp) = r.json["items"][0]["fingerprint"].as_str() {
            fingerprint = Some(fp.to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ids.insert("{alert}", fingerprint.expect("the scheduler evaluated the monitor"));
    let silence = json!({ "project": "alpha", "matchers": [{ "name": "team", "value": "x" }], "duration": "1h" });
    let r = server.post_json("/api/v1/silences", &silence).await;
    r.expect_status(201);
    ids.insert("{silence}", r.json["id"].to_string());
    let r = server.post_json("/api/v1/channels", &webhook_channel("hook")).await;
    r.expect_status(201);
    ids.insert("{channel}", r.json["id"].to_string());
    let r =
        server.post_json("/api/v1/incidents", &json!({ "project": "alpha", "title": "t", "severity": "high" })).await;
    r.expect_status(201);
    ids.insert("{incident}", r.json["id"].to_string());
    let r = server.post_json("/api/v1/lineage?project=alpha", &lineage_event()).await;
    r.expect_status(201);
    // MLflow objects in alpha: an experiment and a run (created with alpha's editor
    // token, so they land in alpha), a version of `ma` from the run with an alias, and
    // an artifact.
    let editor = tokens.get(&Editor).map(String::as_str);
    let mlflow = "/api/2.0/mlflow";
    let r = server
        .request_as(editor, Method::POST, &format!("{mlflow}/experiments/create"), Some(&json!({"name": "alpha-exp"})))
        .await;
    r.expect_status(200);
    let exp = r.json["experiment_id"].as_str().expect("experiment id").to_owned();
    let r = server
        .request_as(editor, Method::POST, &format!("{mlflow}/runs/create"), Some(&json!({"experiment_id": exp})))
        .await;
    r.expect_status(200);
    let run = r.json["run"]["info"]["run_id"].as_str().expect("run id").to_owned();
    let version = json!({"name": "ma", "source": format!("runs:/{run}/model")});
    server
        .request_as(editor, Method::POST, &format!("{mlflow}/model-versions/create"), Some(&version))
        .await
        .expect_status(200);
    let alias = json!({"name": "ma", "alias": "champion", "version": "1"});
    server
        .request_as(editor, Method::POST, &format!("{mlflow}/registered-models/alias"), Some(&alias))
        .await
        .expect_status(200);
    let file = format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/x.txt");
    server.request_as(editor, Method::PUT, &file, Some(&json!("x"))).await.expect_status(200);
    ids.insert("{exp}", exp);
    ids.insert("{run}", run);
    World { server, tokens, ids }
}

/// A run of a job reading one dataset and writing another.
fn lineage_event() -> Value {
    json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "https://example.com/test",
        "run": { "runId": "0193a0c0-0000-7000-8000-000000000001" },
        "job": { "namespace": "etl", "name": "features" },
        "inputs": [{ "namespace": "db", "name": "loans" }],
        "outputs": [{ "namespace": "lake", "name": "features" }],
    })
}

/// A request for a route: concrete path and, for routes whose handler checks access
/// against the body, a valid body (otherwise validation would answer first).
async fn concrete(world: &World, method: &str, template: &str, n: usize) -> (String, Option<Value>) {
    let mut path = template
        .replace("{model}", "ma")
        .replace("{project}", "alpha")
        .replace("{user}", "carol")
        .replace("{request_id}", "r1")
        .replace("{issue}", "1")
        .replace("{policy}", "p1")
        .replace("{version}", "v1")
        .replace("{alias}", "staging")
        .replace("{*path}", "model/MLmodel");
    for (param, value) in &world.ids {
        path = path.replace(param, value);
    }
    if method == "DELETE" && template == "/api/v1/monitors/{monitor}" {
        // A fresh victim for every caller, as for tokens.
        let id = format!("victim-{n}");
        world.server.post_json("/api/v1/monitors", &always_firing(&id)).await.expect_status(201);
        path = format!("/api/v1/monitors/{id}");
    }
    if method == "DELETE" && template == "/api/v1/channels/{channel}" {
        let r = world.server.post_json("/api/v1/channels", &webhook_channel(&format!("victim-{n}"))).await;
        r.expect_status(201);
        path = format!("/api/v1/channels/{}", r.json["id"]);
    }
    if template.starts_with("/api/2.0/") {
        return mlflow_request(world, method, template, n);
    }
    if path.starts_with("/api/v1/lineage") {
        path.push_str(if method == "GET" { "?project=alpha&nodeId=dataset:db:loans" } else { "?project=alpha" });
    }
    if path.contains("{token}") {
        // A fresh victim for every caller: revoking is not repeatable on one token.
        let (id, _) = make_token(&world.server, Some("alpha"), "viewer").await;
        path = path.replace("{token}", &id.to_string());
    }
    let body = match (method, template) {
        ("POST", "/api/v1/models") => {
            let mut m = credit_model(&format!("new-{n}"));
            m["project"] = json!("alpha");
            Some(m)
        }
        ("POST", "/api/v1/tokens") => Some(json!({ "name": "t", "project": "alpha", "role": "viewer" })),
        ("POST", "/api/v1/monitors") => Some(always_firing(&format!("new-{n}"))),
        ("POST", "/api/v1/silences") => {
            Some(json!({ "project": "alpha", "matchers": [{ "name": "team", "value": "y" }], "duration": "1h" }))
        }
        ("POST", "/api/v1/channels") => Some(webhook_channel(&format!("new-{n}"))),
        ("POST", "/api/v1/incidents") => Some(json!({ "project": "alpha", "title": "t", "severity": "low" })),
        ("POST", "/api/v1/lineage") => Some(lineage_event()),
        ("POST", "/api/v1/models/{model}/predictions") => Some(json!({ "events": [event(&format!("m{n}"))] })),
        ("POST", "/api/v1/models/{model}/feedback") => {
            Some(json!({ "labels": [{ "request_id": format!("m{n}"), "label": "good" }] }))
        }
        // Everything else is checked at the gate, before the body is read: an empty
        // document is enough (allowed callers then get a validation error).
        ("POST" | "PUT" | "PATCH", _) => Some(json!({})),
        _ => None,
    };
    (path, body)
}

/// An MLflow request naming alpha's objects: its query (GET) or body.
fn mlflow_request(world: &World, method: &str, template: &str, n: usize) -> (String, Option<Value>) {
    let (e, r) = (world.ids["{exp}"].as_str(), world.ids["{run}"].as_str());
    let root = format!("{e}/{r}/artifacts");
    let name = template.rsplit("/mlflow/").next().unwrap_or_default();
    let args = match name {
        "experiments/create" => json!({"name": format!("exp-{n}")}),
        "experiments/get" | "experiments/update" | "experiments/delete" | "experiments/restore" => {
            json!({"experiment_id": e})
        }
        "experiments/get-by-name" => json!({"experiment_name": "alpha-exp"}),
        "experiments/set-experiment-tag" => json!({"experiment_id": e, "key": "k", "value": "v"}),
        "runs/create" => json!({"experiment_id": e}),
        "runs/search" | "logged-models/search" => json!({"experiment_ids": [e]}),
        "runs/log-parameter" => json!({"run_id": r, "key": format!("p{n}"), "value": "1"}),
        "runs/log-metric" => json!({"run_id": r, "key": "m", "value": 1.0}),
        "runs/set-tag" | "runs/delete-tag" => json!({"run_id": r, "key": "k", "value": "v"}),
        "runs/log-inputs" => json!({"run_id": r, "datasets": []}),
        "metrics/get-history" => json!({"run_id": r, "metric_key": "m"}),
        n if n.starts_with("runs/") => json!({"run_id": r}),
        "registered-models/create" => json!({"name": format!("reg-{n}")}),
        // An invalid new name: the access check comes first, and `ma` keeps its name.
        "registered-models/rename" => json!({"name": "ma", "new_name": "not a name"}),
        "registered-models/set-tag" | "registered-models/delete-tag" => json!({"name": "ma", "key": "k", "value": "v"}),
        "registered-models/alias" if method == "DELETE" => json!({"name": "ma", "alias": "other"}),
        "registered-models/alias" => json!({"name": "ma", "alias": "champion", "version": "1"}),
        "model-versions/create" => json!({"name": "ma", "source": format!("runs:/{r}/model")}),
        "model-versions/delete" => json!({"name": "ma", "version": "v1"}),
        "model-versions/set-tag" | "model-versions/delete-tag" => {
            json!({"name": "ma", "version": "1", "key": "k", "value": "v"})
        }
        "model-versions/transition-stage" => json!({"name": "ma", "version": "1", "stage": "Staging"}),
        "model-versions/get" | "model-versions/update" | "model-versions/get-download-uri" => {
            json!({"name": "ma", "version": "1"})
        }
        n if n.ends_with("/search") => json!({}),
        n if n.starts_with("registered-models/") => json!({"name": "ma"}),
        _ => json!({}),
    };
    if template == "/api/2.0/mlflow-artifacts/artifacts" {
        return (format!("{template}?path={root}"), None);
    }
    if template.ends_with("{*path}") {
        let body = (method == "PUT").then(|| json!("bytes"));
        return (template.replace("{*path}", &format!("{root}/x.txt")), body);
    }
    if method == "GET" {
        let query: Vec<String> = args
            .as_object()
            .map(|o| o.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
            .unwrap_or_default();
        return (format!("{template}?{}", query.join("&")), None);
    }
    (template.to_owned(), Some(args))
}

fn denied(r: &Reply) -> bool {
    r.json["error_code"] == json!("RESOURCE_DOES_NOT_EXIST")
        || matches!(r.status, 401 | 403)
        || matches!(
            r.json["code"].as_str(),
            Some(
                "model_not_found"
                    | "project_not_found"
                    | "token_not_found"
                    | "monitor_not_found"
                    | "alert_not_found"
                    | "silence_not_found"
                    | "channel_not_found"
                    | "incident_not_found"
            )
        )
}

#[tokio::test]
async fn every_route_against_every_role() {
    let world = world().await;
    let expected = expected_access();
    let routes = route_list();
    for (method, path, _) in &routes {
        let key = (method.as_str(), path.as_str());
        assert!(
            expected.keys().any(|(m, p)| (*m, *p) == key),
            "{method} {path} is served but missing from the access matrix of this test"
        );
    }
    assert_eq!(expected.len(), routes.len(), "the matrix lists a route the server does not serve");

    let mut failures = Vec::new();
    let mut n = 0;
    for ((method, template), allowed) in &expected {
        for who in EVERYONE {
            n += 1;
            let (path, body) = concrete(&world, method, template, n).await;
            let token = world.tokens.get(&who).map(String::as_str);
            let m = Method::from_bytes(method.as_bytes()).expect("a method");
            let r = world.server.request_as(token, m, &path, body.as_ref()).await;
            let should = allowed.contains(&who);
            if should == denied(&r) || r.status >= 500 {
                failures.push(format!(
                    "{who:?} {method} {path}: expected {}, got {} {}",
                    if should { "access" } else { "denial" },
                    r.status,
                    r.text
                ));
            }
            if !should {
                // No role in alpha at all: its objects, named in the path or the body,
                // do not exist for them.
                let names_alpha = ["{model}", "{project}", "{token}"].iter().any(|p| template.contains(p))
                    || world.ids.keys().any(|p| template.contains(p))
                    || body.as_ref().is_some_and(|b| b["project"] == json!("alpha") || b["model"] == json!("ma"))
                    || path.contains("project=alpha")
                    || template.starts_with("/api/2.0/");
                let expected_status = match who {
                    Anonymous => 401,
                    OtherAdmin if names_alpha => 404,
                    _ => 403,
                };
                if r.status != expected_status {
                    failures.push(format!(
                        "{who:?} {method} {path}: denied with {} instead of {expected_status}: {}",
                        r.status, r.text
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} access failures:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn lists_show_only_what_the_caller_may_read() {
    let world = world().await;
    let s = &world.server;
    let names = |r: &Reply| -> Vec<String> {
        r.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let viewer = world.tokens[&Viewer].as_str();
    let r = s.request_as(Some(viewer), Method::GET, "/api/v1/models", None).await;
    assert_eq!(names(&r), ["ma"]);
    assert_eq!(r.json["items"][0]["project"], json!("alpha"));
    let other = world.tokens[&OtherAdmin].as_str();
    assert_eq!(names(&s.request_as(Some(other), Method::GET, "/api/v1/models", None).await), ["mb"]);
    let ingest = world.tokens[&Ingest].as_str();
    assert!(
        names(&s.request_as(Some(ingest), Method::GET, "/api/v1/models", None).await).is_empty(),
        "ingest reads nothing"
    );
    assert_eq!(names(&s.request_as(Some(viewer), Method::GET, "/api/v1/projects", None).await), ["alpha"]);
    let all = names(&s.get("/api/v1/projects").await);
    assert_eq!(all, ["alpha", "beta", "default"]);

    // A project-scoped token's model lands in its project without naming it.
    let editor = world.tokens[&Editor].as_str();
    let r = s.request_as(Some(editor), Method::POST, "/api/v1/models", Some(&credit_model("scoped"))).await;
    r.expect_status(201);
    assert_eq!(r.json["project"], json!("alpha"));
    // And cannot put one into another project.
    let mut elsewhere = credit_model("elsewhere");
    elsewhere["project"] = json!("beta");
    let r = s.request_as(Some(editor), Method::POST, "/api/v1/models", Some(&elsewhere)).await;
    assert_eq!(r.expect_problem(404), "project \"beta\" does not exist");
}

#[tokio::test]
async fn tokens_are_checked_revoked_and_expire() {
    let world = world().await;
    let s = &world.server;
    let me = |t: &str| {
        let t = t.to_owned();
        async move { s.request_as(Some(&t), Method::GET, "/api/v1/auth/me", None).await }
    };
    let (id, token) = make_token(s, Some("alpha"), "viewer").await;
    let r = me(&token).await;
    r.expect_status(200);
    assert_eq!(r.json["actor"], json!(format!("token:{id}")));
    assert_eq!(r.json["projects"], json!([{ "project": "alpha", "role": "viewer" }]));

    // Malformed, mistyped (checksum), unknown: all 401 with a Bearer challenge.
    let mut typo = token.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let unknown = sightline_server::auth::secret::generate_token();
    for bad in ["", "nonsense", typo.as_str(), unknown.as_str()] {
        let r = me(bad).await;
        r.expect_problem(401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"sightline\""));
    }
    let r =
        s.request(Method::GET, "/api/v1/auth/me", &[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")], None).await;
    assert!(r.expect_problem(401).contains("Bearer"));

    // Listing never shows the secret; revocation takes effect at once.
    let listed = s.get("/api/v1/tokens?project=alpha").await;
    listed.expect_status(200);
    assert!(!listed.text.contains(&token), "a token list must not contain token text");
    assert!(listed.json["items"].as_array().expect("items").iter().all(|t| t.get("token").is_none()));
    s.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None).await.expect_status(204);
    me(&token).await.expect_problem(401);
    s.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None).await.expect_status(204);
    s.request(Method::DELETE, "/api/v1/tokens/999999", &[], None).await.expect_problem(404);

    // Expiry: in the past is refused; a near expiry lapses.
    let past = json!({ "name": "old", "project": "alpha", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z" });
    let r = s.post_json("/api/v1/tokens", &past).await;
    r.expect_problem(422);
    assert_eq!(r.error_paths(), ["$.expires_at"]);
    let soon = sightline_server::wire::time::now_ms() + 1_500;
    let r = s
        .post_json(
            "/api/v1/tokens",
            &json!({ "name": "brief", "project": "alpha", "role": "viewer", "expires_at": soon.to_string() }),
        )
        .await;
    r.expect_status(201);
    let brief = r.json["token"].as_str().expect("token").to_owned();
    me(&brief).await.expect_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(1_600 + 5_000)).await; // past expiry and the cache
    me(&brief).await.expect_problem(401);

    // A viewer cannot mint an editor token, nor a server-wide one; an ingest token
    // mints nothing.
    let viewer = world.tokens[&Viewer].as_str();
    let r = s
        .request_as(
            Some(viewer),
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({ "name": "x", "project": "alpha", "role": "editor" })),
        )
        .await;
    r.expect_problem(403);
    let r = s
        .request_as(Some(viewer), Method::POST, "/api/v1/tokens", Some(&json!({ "name": "x", "role": "viewer" })))
        .await;
    r.expect_problem(403);
    let ingest = world.tokens[&Ingest].as_str();
    let r = s
        .request_as(
            Some(ingest),
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({ "name": "x", "project": "alpha", "role": "ingest" })),
        )
        .await;
    r.expect_problem(403);
}

/// Logs in and returns (session cookie pair, CSRF token, answer).
pub async fn login(s: &TestServer, user: &str, password: &str) -> (Option<String>, Option<String>, Reply) {
    let r = s
        .request_as(None, Method::POST, "/api/v1/auth/login", Some(&json!({ "username": user, "password": password })))
        .await;
    let cookie = r.header("set-cookie").map(|c| c.split(';').next().expect("a pair").to_owned());
    let csrf = r.json["csrf_token"].as_str().map(str::to_owned);
    (cookie, csrf, r)
}

#[tokio::test]
async fn sessions_need_csrf_for_changes_and_end_at_logout() {
    let world = world().await;
    let s = &world.server;
    s.request(
        Method::PUT,
        "/api/v1/projects/alpha/members/carol",
        &[("content-type", "application/json")],
        Some(br#"{"role":"editor"}"#.to_vec()),
    )
    .await
    .expect_status(200);
    let (cookie, csrf, r) = login(s, "carol", "carols long password").await;
    r.expect_status(200);
    let set_cookie = r.header("set-cookie").expect("a cookie");
    for attribute in ["__Host-sightline_session=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing from {set_cookie}");
    }
    let cookie = cookie.expect("cookie");
    let csrf = csrf.expect("csrf");
    let value = cookie.split_once('=').expect("pair").1;
    assert!(value.len() >= 22, "at least 128 random bits");

    let with = |extra: &[(&'static str, String)]| {
        let mut h = vec![("cookie", cookie.clone())];
        h.extend(extra.iter().cloned());
        h
    };
    let send = |method: Method, path: &'static str, headers: Vec<(&'static str, String)>, body: Option<Value>| {
        let headers: Vec<(String, String)> = headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        async move {
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut all = refs.clone();
            if body.is_some() {
                all.push(("content-type", "application/json"));
            }
            let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
            // Through the anonymous client: only the cookie authenticates.
            s.request_as_headers(method, path, &all, bytes).await
        }
    };
    let r = send(Method::GET, "/api/v1/auth/me", with(&[]), None).await;
    r.expect_status(200);
    assert_eq!(r.json["actor"], json!("user:carol"));
    let version = json!({ "name": "v9" });
    let r = send(Method::POST, "/api/v1/models/ma/versions", with(&[]), Some(version.clone())).await;
    assert!(r.expect_problem(403).contains("x-csrf-token"));
    let r = send(
        Method::POST,
        "/api/v1/models/ma/versions",
        with(&[("x-csrf-token", "wrong".into())]),
        Some(version.clone()),
    )
    .await;
    r.expect_problem(403);
    let r =
        send(Method::POST, "/api/v1/models/ma/versions", with(&[("x-csrf-token", csrf.clone())]), Some(version)).await;
    r.expect_status(201);

    // Logging in again gives a new session; the one presented at login ends.
    let r = s
        .request_as_headers(
            Method::POST,
            "/api/v1/auth/login",
            &[("cookie", cookie.as_str()), ("content-type", "application/json")],
            Some(br#"{"username":"carol","password":"carols long password"}"#.to_vec()),
        )
        .await;
    r.expect_status(200);
    let renewed = r.header("set-cookie").expect("cookie").split(';').next().expect("pair").to_owned();
    assert_ne!(renewed, cookie);
    send(Method::GET, "/api/v1/auth/me", with(&[]), None).await.expect_problem(401);

    let (cookie, csrf, _) = login(s, "carol", "carols long password").await;
    let (cookie, csrf) = (cookie.expect("cookie"), csrf.expect("csrf"));
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    s.request_as_headers(Method::POST, "/api/v1/auth/logout", &h, None).await.expect_status(204);
    s.request_as_headers(Method::GET, "/api/v1/auth/me", &h[..1], None).await.expect_problem(401);

    // Disabling the account ends its sessions.
    let (cookie, _, _) = login(s, "carol", "carols long password").await;
    let cookie = cookie.expect("cookie");
    let patch = br#"{"disabled":true}"#.to_vec();
    s.request(Method::PATCH, "/api/v1/users/carol", &[("content-type", "application/json")], Some(patch))
        .await
        .expect_status(200);
    s.request_as_headers(Method::GET, "/api/v1/auth/me", &[("cookie", cookie.as_str())], None)
        .await
        .expect_problem(401);
    let (_, _, r) = login(s, "carol", "carols long password").await;
    r.expect_problem(401);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_per_address() {
    let server = TestServer::start_with(|c| {
        c.login_limits.per_account = 3;
        c.login_limits.per_address = 6;
    })
    .await;
    server
        .post_json("/api/v1/users", &json!({ "name": "dave", "password": "daves long password" }))
        .await
        .expect_status(201);
    for _ in 0..3 {
        let (_, _, r) = login(&server, "dave", "wrong password!").await;
        r.expect_problem(401);
    }
    // Even the right password is refused while the account is throttled.
    let (_, _, r) = login(&server, "dave", "daves long password").await;
    r.expect_problem(429);
    let wait: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=900).contains(&wait), "{wait}");
    // Unknown names count against the address too.
    for i in 0..3 {
        let (_, _, r) = login(&server, &format!("ghost{i}"), "whatever password").await;
        r.expect_problem(401);
    }
    let (_, _, r) = login(&server, "someone", "whatever password").await;
    r.expect_problem(429);
}

#[tokio::test]
async fn no_admin_means_no_api_until_one_exists() {
    let server = TestServer::start_with(|c| c.bootstrap_token = None).await;
    server.get("/healthz").await.expect_status(200);
    let r = server.request_as(None, Method::GET, "/api/v1/models", None).await;
    assert!(r.expect_problem(503).contains("sightline admin create-user"));
    assert_eq!(r.json["code"], json!("no_admin"));
    // An admin appears (as the CLI would make it, beside the running server).
    let keys = sightline_server::encryption::load(None, server.data_dir()).expect("the server's keys");
    let keys = std::sync::Arc::new(sightline_store::Keys::new(keys.ring));
    let store = sightline_store::SqliteStore::open(&server.data_dir().join("sightline.db"), Default::default(), keys)
        .expect("open");
    let hash = sightline_server::auth::secret::hash_password("an admin password").expect("hash");
    use sightline_store::AccessStore;
    store
        .create_user(&sightline_store::NewUser { name: "root".into(), password_hash: hash, is_admin: true }, 0)
        .expect("user");
    server.request_as(None, Method::GET, "/api/v1/models", None).await.expect_problem(401);
    let (_, _, r) = login(&server, "root", "an admin password").await;
    r.expect_status(200);
    assert_eq!(r.json["admin"], json!(true));
}

#[tokio::test]
async fn a_database_dump_holds_no_token_or_password() {
    let world = world().await;
    let s = &world.server;
    let (_, extra) = make_token(s, Some("alpha"), "ingest").await;
    let (_, _, r) = login(s, "carol", "carols long password").await;
    let csrf = r.json["csrf_token"].as_str().expect("csrf").to_owned();
    let cookie = r.header("set-cookie").expect("cookie").split(';').next().expect("pair").to_owned();
    let session = cookie.split_once('=').expect("pair").1.to_owned();
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(s.data_dir()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            dump.extend(std::fs::read(&path).expect("read"));
        }
    }
    let mut secrets: Vec<String> = world.tokens.values().cloned().collect();
    secrets.extend([extra, session, csrf, "carols long password".to_owned()]);
    for secret in &secrets {
        assert!(!dump.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} is in the database files");
    }
}

#[tokio::test]
async fn changes_and_security_events_are_audited() {
    let world = world().await;
    let s = &world.server;
    let (_, _, _) = login(s, "carol", "not the password").await;
    let (_, _, _) = login(s, "carol", "carols long password").await;
    let viewer = world.tokens[&Viewer].as_str();
    s.request_as(Some(viewer), Method::POST, "/api/v1/projects", Some(&json!({ "name": "sneaky" })))
        .await
        .expect_problem(403);
    let r = s.get("/api/v1/audit?limit=1000").await;
    r.expect_status(200);
    let entries = r.json["items"].as_array().expect("items").clone();
    let find = |action: &str, outcome: &str| {
        entries
            .iter()
            .any(|e| e["action"] == json!(action) && e["outcome"].as_str().is_some_and(|o| o.starts_with(outcome)))
    };
    assert!(find("token.bootstrap", "success"), "{entries:#?}");
    assert!(find("server.start", "success: tls=false insecure_http=false"), "{entries:#?}");
    assert!(find("POST /api/v1/projects", "201"));
    assert!(find("POST /api/v1/users", "201"));
    assert!(find("POST /api/v1/tokens", "201"));
    assert!(find("auth.login", "failure"));
    assert!(find("auth.login", "success"));
    assert!(find("POST /api/v1/projects", "refused: 403"), "refusals of changes are audited");
    let project_entry = entries.iter().find(|e| e["action"] == json!("POST /api/v1/projects")).expect("entry");
    assert_eq!(project_entry["target"], json!("/api/v1/projects"), "the target is the path the client asked for");
    assert!(
        !entries.iter().any(|e| e["action"] == json!("POST /api/v1/models/{model}/predictions")),
        "ingest is not audited request by request"
    );
    for e in &entries {
        for field in ["time", "actor", "source", "action", "target", "outcome", "hash"] {
            assert!(e[field].as_str().is_some_and(|v| !v.is_empty()), "{field} in {e}");
        }
    }
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    let logins = s.get("/api/v1/audit?action=auth.").await;
    assert!(logins.json["items"].as_array().expect("items").iter().all(|e| e["action"] == json!("auth.login")));
    let export = s.get("/api/v1/audit/export").await;
    export.expect_status(200);
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = export.text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(lines.len() > entries.len(), "the export has everything, and more since");
    assert_eq!(lines[..entries.len()], entries[..]);
    let after = s.get("/api/v1/audit?action=audit.export").await;
    assert_eq!(after.json["items"].as_array().expect("items").len(), 1, "the export itself is audited");
}

/// Path parameters are names looked up in the database, never file paths: traversal
/// payloads, encoded or not, find nothing and break nothing.
#[tokio::test]
async fn traversal_payloads_in_paths_find_nothing() {
    let world = world().await;
    let s = &world.server;
    let payloads = [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "%2e%2e%2f%2e%2e%2fsightline.db",
        "%252e%252e%252fsightline.db",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Cwindows%5Cwin.ini",
        "ma%00",
        "ma%2F..%2Fmb",
    ];
    for p in payloads {
        for template in [
            "/api/v1/models/{}",
            "/api/v1/models/{}/predictions",
            "/api/v1/models/ma/predictions/{}",
            "/api/v1/projects/{}",
            "/api/v1/users/{}",
        ] {
            let path = template.replace("{}", p);
            let r = s.raw_get(&path).await;
            assert!(matches!(r.status, 400 | 404), "{path}: {} {}", r.status, r.text);
            assert!(!r.text.contains("root:"), "{path} leaked a file");
        }
    }
    // Unnormalized dot segments sent as-is (no client tidies them up).
    for path in ["/api/v1/models/../../../etc/passwd", "/api/v1/models/ma/../../../sightline.db", "/../../etc/passwd"] {
        let r = s.raw_get(path).await;
        assert!(matches!(r.status, 400 | 404), "{path}: {} {}", r.status, r.text);
    }
    s.get("/healthz").await.expect_status(200);
}

#[tokio::test]
async fn a_second_factor_is_enrolled_required_and_not_replayable() {
    use sightline_server::auth::totp;
    let world = world().await;
    let s = &world.server;
    let (cookie, csrf, _) = login(s, "carol", "carols long password").await;
    let (cookie, csrf) = (cookie.expect("cookie"), csrf.expect("csrf"));
    let json_headers =
        [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), ("content-type", "application/json")];
    let setup = s.request_as_headers(Method::POST, "/api/v1/auth/totp/setup", &json_headers[..2], None).await;
    setup.expect_status(200);
    let secret_text = setup.json["secret"].as_str().expect("secret").to_owned();
    assert!(setup.json["otpauth_uri"].as_str().expect("uri").starts_with("otpauth://totp/Sightline:carol?secret="));
    let secret = totp::from_base32(&secret_text).expect("base32");
    let now = sightline_server::wire::time::now_ms() as u64 / 1000;
    let code = totp::code_at(&secret, now).expect("code");

    let enable = |body: Value| {
        let h = json_headers;
        async move {
            s.request_as_headers(Method::POST, "/api/v1/auth/totp/enable", &h, Some(body.to_string().into_bytes()))
                .await
        }
    };
    let r = enable(json!({ "secret": secret_text, "code": "000000", "password": "carols long password" })).await;
    assert_eq!(r.error_paths(), ["$.code"], "{}", r.text);
    let r = enable(json!({ "secret": secret_text, "code": code, "password": "not it" })).await;
    assert_eq!(r.error_paths(), ["$.password"], "{}", r.text);
    let r = enable(json!({ "secret": "!!", "code": code, "password": "carols long password" })).await;
    assert_eq!(r.error_paths(), ["$.secret"], "{}", r.text);
    enable(json!({ "secret": secret_text, "code": code, "password": "carols long password" })).await.expect_status(204);
    let user = s.get("/api/v1/users/carol").await;
    assert_eq!(user.json["totp"], json!(true));

    // Now the password alone is not enough; the code is, once.
    let (_, _, r) = login(s, "carol", "carols long password").await;
    r.expect_problem(401);
    assert_eq!(r.json["code"], json!("second_factor_required"));
    let with_code = |code: String| {
        let body = json!({ "username": "carol", "password": "carols long password", "totp_code": code });
        async move { s.request_as(None, Method::POST, "/api/v1/auth/login", Some(&body)).await }
    };
    with_code("123456".into()).await.expect_problem(401);
    let next = totp::code_at(&secret, now + 30).expect("code");
    with_code(next.clone()).await.expect_status(200);
    let replay = with_code(next).await;
    assert!(replay.expect_problem(401).contains("already used"), "{}", replay.text);

    // The secret is stored sealed: neither its text nor its bytes are in the files.
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(s.data_dir()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() && !path.ends_with("master.key") {
            dump.extend(std::fs::read(&path).expect("read"));
        }
    }
    assert!(!dump.windows(secret.len()).any(|w| w == secret.as_slice()), "the raw secret is in the database");
    assert!(!dump.windows(secret_text.len()).any(|w| w == secret_text.as_bytes()));

    // A lost device: an administrator removes the second factor.
    let patch = br#"{"totp":false}"#.to_vec();
    s.request(Method::PATCH, "/api/v1/users/carol", &[("content-type", "application/json")], Some(patch))
        .await
        .expect_status(200);
    let (_, _, r) = login(s, "carol", "carols long password").await;
    r.expect_status(200);
}

#[tokio::test]
async fn ingest_is_audited_in_summaries() {
    let world = world().await;
    let ingest = world.tokens[&Ingest].clone();
    let viewer = world.tokens[&Viewer].clone();
    let s = &world.server;
    for i in 0..3 {
        let body = json!({ "events": [event(&format!("sum-{i}"))] });
        s.request_as(Some(&ingest), Method::POST, "/api/v1/models/ma/predictions", Some(&body))
            .await
            .expect_status(200);
    }
    let bad = json!({ "events": [{ "request_id": "x" }] });
    s.request_as(Some(&ingest), Method::POST, "/api/v1/models/ma/predictions", Some(&bad)).await.expect_problem(422);
    let body = json!({ "events": [event("v")] });
    s.request_as(Some(&viewer), Method::POST, "/api/v1/models/ma/predictions", Some(&body)).await.expect_problem(403);
    // Graceful shutdown appends the tallies; read them after a restart.
    let server = world.server.restart().await;
    let r = server.get("/api/v1/audit?action=POST%20/api/v1/models/%7Bmodel%7D/predictions").await;
    let items = r.json["items"].as_array().expect("items").clone();
    let outcome = |actor: &str| {
        items.iter().find(|e| e["actor"] == json!(actor)).and_then(|e| e["outcome"].as_str().map(str::to_owned))
    };
    let ingest_actor = items.iter().find(|e| e["outcome"].as_str().is_some_and(|o| o.starts_with("4 requests")));
    let ingest_actor = ingest_actor.unwrap_or_else(|| panic!("no tally of the ingest token: {items:#?}"));
    assert!(ingest_actor["outcome"].as_str().expect("outcome").ends_with(": 200×3 422×1"), "{ingest_actor}");
    assert_eq!(ingest_actor["target"], json!("/api/v1/models/ma/predictions"));
    let refused = items.iter().filter_map(|e| e["outcome"].as_str()).filter(|o| o.ends_with(": 403×1")).count();
    assert_eq!(refused, 1, "the viewer's refused batch is tallied: {items:#?}");
    assert!(outcome("token:1").is_some_and(|o| o.starts_with("1 requests")), "the admin's setup batch: {items:#?}");
}
