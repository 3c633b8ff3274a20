//! A model version's page: its registry facts (description, source, run, params,
//! metrics, tags, data versions), stage and aliases, files with download links, its
//! stage and alias history, the model's promotion gate with this version's latest
//! reports, and for editors the forms that move its stage and aliases
//! (`version_forms.rs`).

use super::layout;
use super::registry::{gate_section, history_table, parse_gate, registry_link, version_link};
use super::{Failure, PageResult, Viewer, readable_model, segment};
use crate::gate::GateSpec;
use crate::routes::registry as api;
use crate::state::{AppState, blocking};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use maud::{Markup, html};
use serde_json::Value;
use sightline_core::Need;
use sightline_store::{ArtifactRecord, PromotionReport, TransitionRecord, VersionDetails};
use std::collections::HashMap;
use std::sync::Arc;

/// Gate reports shown, newest first (the API's `promotion-reports` has them all).
const REPORTS_SHOWN: usize = 5;

/// What the page says above everything after a form: what was done, or why not.
#[derive(Default)]
pub struct Notice {
    pub message: Option<String>,
    pub problem: Option<String>,
}

struct Data {
    d: VersionDetails,
    /// Data versions recorded with the version and those the lineage graph knows.
    data: Vec<(String, String, String)>,
    artifacts: Vec<(String, ArtifactRecord)>,
    history: Vec<TransitionRecord>,
    gate: Option<Result<GateSpec, String>>,
    reports: Vec<PromotionReport>,
    has_explainer: bool,
    editable: bool,
}

async fn load(app: &Arc<AppState>, viewer: &Viewer, model: &str, version: &str) -> Result<Data, Failure> {
    let model = readable_model(app, &viewer.principal, model).await?;
    let d = api::version(app, &model, version).await?;
    let mut data: Vec<(String, String, String)> =
        d.data.iter().map(|x| (x.kind.clone(), x.name.clone(), x.version.clone())).collect();
    for x in api::lineage_data(app, &model, version).await? {
        let text = |k: &str| x[k].as_str().unwrap_or_default().to_owned();
        data.push((text("kind"), text("name"), text("version")));
    }
    let artifacts = api::artifacts_of(app, &d).await?;
    let (store, model_id, version_id, name) = (app.store.clone(), model.id, d.version.id, d.version.name.clone());
    let (history, gate, reports, has_explainer) = blocking(move || -> sightline_store::Result<_> {
        // This version's stage changes, and alias moves to or from it.
        let mine = |t: &TransitionRecord| match t.kind.as_str() {
            "alias" => t.from.as_deref() == Some(&name) || t.to.as_deref() == Some(&name),
            _ => t.name == name,
        };
        let mut history: Vec<TransitionRecord> = store.transitions(model_id)?.into_iter().filter(mine).collect();
        history.reverse();
        let mut reports = store.promotion_reports(version_id)?;
        reports.reverse();
        reports.truncate(REPORTS_SHOWN);
        let gate = parse_gate(store.promotion_gate(model_id)?);
        Ok((history, gate, reports, store.get_explainer(version_id)?.is_some()))
    })
    .await??;
    let editable = viewer.principal.allows(model.record.project_id, Need::Edit);
    Ok(Data { d, data, artifacts, history, gate, reports, has_explainer, editable })
}

/// Bytes as B, KiB, MiB or GiB.
fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// What a step of an artifact path keeps as it is: `segment`'s characters and dots
/// (stored paths passed `check_path`, so no step is `.` or `..`), so that file names
/// read as they are.
const PATH_STEP: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~').remove(b'.');

/// The API route that downloads one of a version's files (a browser session may GET it).
fn download_link(model: &str, version: &str, path: &str) -> String {
    let step = |s: &str| percent_encoding::utf8_percent_encode(s, PATH_STEP).to_string();
    let path = path.split('/').map(step).collect::<Vec<_>>().join("/");
    format!("/api/v1/models/{}/versions/{}/artifacts/{path}", segment(model), segment(version))
}

fn pairs(id: &str, rows: &[(String, String)], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { (empty) } } @else {
            table id=(id) { tbody { @for (k, v) in rows { tr { th { (k) } td { (v) } } } } }
        }
    }
}

fn report(r: &PromotionReport) -> Markup {
    let doc: Value = serde_json::from_str(&r.report).unwrap_or(Value::Null);
    let checks = doc["checks"].as_array().cloned().unwrap_or_default();
    html! {
        div.report {
            p {
                @if r.passed { span.badge.ok { "passed" } } @else { span.badge.bad { "failed" } }
                " " (layout::when(r.ts_ms)) " · by " (r.actor)
                @if let (Some(from), Some(to)) = (doc["from"].as_str(), doc["to"].as_str()) {
                    span.muted { " · over " (from) " to " (to) }
                }
            }
            @if checks.is_empty() { p.muted { "The gate had no checks." } } @else {
                table.checks {
                    thead { tr { th { "Check" } th.num { "Value" } th { "Passes when" } th { "Result" } th { "Detail" } } }
                    tbody {
                        @for c in &checks {
                            tr {
                                td { (c["check"].as_str().unwrap_or_default()) }
                                td.num { (layout::opt_number(c["value"].as_f64())) }
                                td { (super::registry::bounds(c["min"].as_f64(), c["max"].as_f64())) }
                                td { @if c["passed"] == Value::Bool(true) { span.badge.ok { "pass" } } @else { span.badge.bad { "fail" } } }
                                td { (c["detail"].as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn forms(viewer: &Viewer, model: &str, d: &VersionDetails) -> Markup {
    let Some(csrf) = viewer.csrf.as_deref() else {
        let next = super::session::encode(&[("next", &version_link(model, &d.version.name))]);
        return html! { p.muted { "Your session was opened outside these pages; " a href={ "/ui/sign-in?" (next) } { "sign in again" } " to move this version." } };
    };
    let base = version_link(model, &d.version.name);
    html! {
        h2 { "Move this version" }
        form.stack #set-stage method="post" action={ (base) "/stage" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Stage" select name="stage" {
                @for s in crate::mlflow::registry::STAGES { option value=(s) selected[s == d.stage] { (s) } }
            } }
            label { "Reason" input name="reason" placeholder="why (kept in the history)"; }
            label { span { input type="checkbox" name="archive_others" value="true"; " archive the other versions in that stage" } }
            button type="submit" { "Set stage" }
        }
        form.stack #set-alias method="post" action={ (base) "/aliases" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Alias" input name="alias" required placeholder="champion"; }
            label { "Reason" input name="reason" placeholder="why (kept in the history)"; }
            button type="submit" { "Point the alias here" }
        }
        @if !d.aliases.is_empty() {
            div #remove-aliases {
                @for a in &d.aliases {
                    form.inline method="post" action={ (base) "/aliases/" (segment(a)) "/delete" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.danger type="submit" { "Remove @" (a) }
                    }
                    " "
                }
            }
        }
        p.muted { "A move to " code { "Production" } " or " code { "@production" } " runs the promotion gate first and is refused when a check fails." }
    }
}

fn body(viewer: &Viewer, model: &str, f: &Data, notice: &Notice) -> Markup {
    let d = &f.d;
    let model_link = format!("/ui/models/{}", segment(model));
    let filtered = format!("{model_link}?{}", super::session::encode(&[("version", &d.version.name)]));
    let explain = format!("{}/explain", version_link(model, &d.version.name));
    let metrics: Vec<(String, String)> =
        d.metrics.iter().map(|(k, v)| (k.clone(), super::charts::number(*v))).collect();
    html! {
        h1 { (model) " " (d.version.name) }
        @if let Some(m) = &notice.message { p.notice role="status" { (m) } }
        @if let Some(m) = &notice.problem { div.problem role="alert" { (m) } }
        div.kpis {
            div.kpi #stage { b { (d.stage) } span { "stage" } }
            div.kpi #version-aliases {
                b { @if d.aliases.is_empty() { "–" } @for a in &d.aliases { code { "@" (a) } " " } }
                span { "aliases" }
            }
            div.kpi { b { (f.artifacts.len()) } span { "files" } }
        }
        p {
            a href=(filtered) { "Monitoring of this version" } " · "
            a href=(explain) { @if f.has_explainer { "Explanations" } @else { "Explanations (no explainer yet)" } } " · "
            a href=(registry_link(model)) { "All versions in the registry" }
        }
        h2 { "Facts" }
        table #facts {
            tbody {
                tr { th { "Description" } td { (d.version.description) } }
                tr { th { "Registered" } td { (layout::when(d.version.created_ms)) } }
                tr { th { "Updated" } td { (layout::when(d.updated_ms)) } }
                tr { th { "Registered by" } td { (d.user_id) } }
                tr { th { "Source" } td { @if !d.source.is_empty() { code { (d.source) } } } }
                tr { th { "Run" } td { @if !d.run_id.is_empty() { code { (d.run_id) } } } }
                tr { th { "Git commit" } td { @if !d.git_commit.is_empty() { code { (d.git_commit) } } } }
            }
        }
        div.grid2 {
            div {
                h2 { "Metrics" }
                (pairs("metrics", &metrics, "No metrics recorded."))
            }
            div {
                h2 { "Parameters" }
                (pairs("params", &d.params, "No parameters recorded."))
            }
        }
        h2 { "Tags" }
        (pairs("tags", &d.tags, "No tags."))
        h2 { "Data versions" }
        @if f.data.is_empty() { p.muted { "No data versions recorded, and no lineage run outputs this version." } } @else {
            table #data-versions {
                thead { tr { th { "Kind" } th { "Name" } th { "Version" } } }
                tbody { @for (kind, name, version) in &f.data { tr { td { (kind) } td { (name) } td { code { (version) } } } } }
            }
        }
        h2 { "Files" }
        @if f.artifacts.is_empty() { p.muted { "No files (PUT /api/v1/models/{model}/versions/{version}/artifacts/{path} uploads one)." } } @else {
            table #artifacts {
                thead { tr { th { "Path" } th.num { "Size" } th { "SHA-256" } th { "Stored" } } }
                tbody {
                    @for (path, a) in &f.artifacts {
                        tr {
                            td { a href=(download_link(model, &d.version.name, path)) download { (path) } }
                            td.num { (size(a.size)) }
                            td { code title=(a.sha256) { (a.sha256.get(..12).unwrap_or(&a.sha256)) "…" } }
                            td { (layout::when(a.created_ms)) }
                        }
                    }
                }
            }
        }
        h2 { "Promotion gate" }
        (gate_section(&f.gate))
        @if !f.reports.is_empty() {
            h2 { "Latest gate reports" }
            @for r in &f.reports { (report(r)) }
        }
        h2 { "History" }
        (history_table(model, &f.history.iter().collect::<Vec<_>>()))
        @if f.editable { (forms(viewer, model, d)) }
    }
}

/// The page, with a notice, answered with `status` (a refused form keeps its status).
pub async fn render(
    app: &Arc<AppState>,
    viewer: &Viewer,
    model: &str,
    version: &str,
    notice: Notice,
    status: StatusCode,
) -> PageResult {
    let f = load(app, viewer, model, version).await?;
    let (model, version) = (model.to_owned(), f.d.version.name.clone());
    let crumbs = [
        (model.as_str(), format!("/ui/models/{}", segment(&model))),
        ("registry", registry_link(&model)),
        (version.as_str(), version_link(&model, &version)),
    ];
    let page = layout::page(viewer, &format!("{model} {version}"), &crumbs, body(viewer, &model, &f, &notice));
    Ok((status, Html(page.into_string())).into_response())
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((model, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let notice = Notice { message: q.get("done").cloned(), problem: None };
    render(&app, &viewer, &model, &version, notice, StatusCode::OK).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::size(0), "0 B");
        assert_eq!(super::size(1023), "1023 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn download_links_keep_the_path_steps_and_encode_each() {
        assert_eq!(
            super::download_link("m", "v 1", "model/a b.json"),
            "/api/v1/models/m/versions/v%201/artifacts/model/a%20b.json"
        );
    }
}
