//! Settings: the viewer's projects with their members (administrators change roles),
//! API tokens (made here, shown once, revoked), and notification channels (made
//! through `channel_form.rs`, tested, deleted). Every action goes through the same function as its API route, with the
//! same checks; forms carry the session's CSRF token.

use super::layout;
use super::{Failure, PageResult, Viewer};
use crate::error::{ApiError, Code};
use crate::routes::{channels, projects, tokens};
use crate::state::{AppState, blocking};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use maud::{Markup, html};
use sightline_core::{Need, Role};
use sightline_store::{ChannelRecord, Membership, Page, ProjectRecord, TokenFilter, TokenRecord};
use std::collections::HashMap;
use std::sync::Arc;

/// Tokens listed (newest first).
const TOKENS_SHOWN: usize = 200;

struct Data {
    /// Projects the viewer has a role in (all, for server-wide roles), with the role.
    projects: Vec<(ProjectRecord, Option<Role>)>,
    /// Members of the projects the viewer administers.
    members: HashMap<i64, Vec<Membership>>,
    tokens: Vec<TokenRecord>,
    channels: Vec<ChannelRecord>,
    project_names: HashMap<i64, String>,
}

async fn load(app: &Arc<AppState>, viewer: &Viewer) -> Result<Data, Failure> {
    let p = viewer.principal.clone();
    let store = app.store.clone();
    Ok(blocking(move || -> Result<Data, ApiError> {
        let all = store.list_projects(None, 10_000)?;
        let project_names = all.iter().map(|r| (r.id, r.name.clone())).collect();
        let projects: Vec<(ProjectRecord, Option<Role>)> = all
            .into_iter()
            .filter(|r| p.knows(r.id))
            .map(|r| {
                let role = p.projects.get(&r.id).copied().or(p.server_role);
                (r, role)
            })
            .collect();
        let mut members = HashMap::new();
        let mut tokens = Vec::new();
        for (project, _) in &projects {
            if p.allows(project.id, Need::Admin) {
                members.insert(project.id, store.members_of_project(project.id)?);
                if !p.allows_server(Need::Admin) {
                    tokens.extend(store.list_tokens(TokenFilter::Project(project.id), None, TOKENS_SHOWN)?);
                }
            }
        }
        if p.allows_server(Need::Admin) {
            tokens = store.list_tokens(TokenFilter::All, None, TOKENS_SHOWN)?;
        } else if let Some(user) = p.user_id {
            for t in store.list_tokens(TokenFilter::Owner(user), None, TOKENS_SHOWN)? {
                if !tokens.iter().any(|x| x.id == t.id) {
                    tokens.push(t);
                }
            }
        }
        tokens.sort_by_key(|t| std::cmp::Reverse(t.id));
        let admin_projects = p.projects_allowing(Need::Admin);
        let channels = store.list_channels(admin_projects.as_deref(), &Page::all())?;
        Ok(Data { projects, members, tokens, channels, project_names })
    })
    .await??)
}

/// What the page says above everything: a message, a problem, or a new token's secret;
/// and the channel form's values after a refusal.
#[derive(Default)]
pub(super) struct Notice {
    message: Option<String>,
    problem: Option<String>,
    secret: Option<(String, String)>,
    channel_form: HashMap<String, String>,
}

impl Notice {
    /// For a refused channel form: its values, shown again.
    pub(super) fn keeping_channel_form(values: HashMap<String, String>) -> Notice {
        Notice { channel_form: values, ..Notice::default() }
    }
}

fn body(viewer: &Viewer, d: &Data, notice: &Notice) -> Markup {
    let csrf = viewer.csrf.as_deref();
    let name_of =
        |id: Option<i64>| id.and_then(|i| d.project_names.get(&i).cloned()).unwrap_or_else(|| "server-wide".into());
    html! {
        h1 { "Settings" }
        @if let Some(m) = &notice.message { p.notice role="status" { (m) } }
        @if let Some(m) = &notice.problem { div.problem role="alert" { (m) } }
        @if let Some((name, secret)) = &notice.secret {
            div.notice #new-token role="status" {
                "Token " strong { (name) } " — copy it now, it is not shown again: " code #token-secret { (secret) }
            }
        }
        @if csrf.is_none() {
            p.muted { "Your session was opened outside these pages; " a href="/ui/sign-in?next=/ui/settings" { "sign in again" } " to use the forms." }
        }
        h2 { "Projects and members" }
        table #projects {
            thead { tr { th { "Project" } th { "Your role" } th { "Members" } } }
            tbody {
                @for (project, role) in &d.projects {
                    tr {
                        td { (project.name) }
                        td { (role.map_or("–", Role::as_str)) }
                        td {
                            @if let Some(members) = d.members.get(&project.id) {
                                @for m in members { span.member { (m.user) " (" (m.role.as_str()) ") " } }
                            } @else { span.muted { "visible to its administrators" } }
                        }
                    }
                }
            }
        }
        @if let Some(csrf) = csrf && !d.members.is_empty() {
            form.stack #set-member method="post" action="/ui/settings/members" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Project" select name="project" {
                    @for (p, _) in &d.projects { @if d.members.contains_key(&p.id) { option value=(p.name) { (p.name) } } }
                } }
                label { "User" input name="user" required; }
                label { "Role" select name="role" {
                    @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
                    option value="none" { "no role (remove)" }
                } }
                button type="submit" { "Set role" }
            }
        }
        h2 { "API tokens" }
        @if d.tokens.is_empty() { p.muted { "No tokens you can see." } } @else {
            table #tokens {
                thead { tr { th { "Name" } th { "Starts with" } th { "Project" } th { "Role" } th { "Created" } th { "Expires" } th { "State" } th {} } }
                tbody {
                    @for t in &d.tokens {
                        tr {
                            td { (t.name) }
                            td { code { (t.display_prefix) "…" } }
                            td { (name_of(t.project_id)) }
                            td { (t.role.as_str()) }
                            td { (layout::when(t.created_ms)) }
                            td { (t.expires_ms.map(layout::when).unwrap_or_default()) }
                            td { @if let Some(r) = t.revoked_ms { "revoked " (layout::when(r)) } @else { "active" } }
                            td { @if let (Some(csrf), None) = (csrf, t.revoked_ms) {
                                form method="post" action={ "/ui/settings/tokens/" (t.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.danger type="submit" { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            }
        }
        @if let Some(csrf) = csrf {
            form.stack #new-token-form method="post" action="/ui/settings/tokens" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Name" input name="name" required placeholder="fraud-model-serving"; }
                label { "Project" select name="project" {
                    @for (p, _) in &d.projects { option value=(p.name) { (p.name) } }
                    @if viewer.principal.allows_server(Need::Admin) { option value="" { "server-wide" } }
                } }
                label { "Role" select name="role" {
                    @for r in Role::ALL { option value=(r.as_str()) selected[r == Role::Ingest] { (r.as_str()) } }
                } }
                button type="submit" { "Make token" }
            }
        }
        h2 { "Notification channels" }
        @if d.channels.is_empty() { p.muted { "No channels in projects you administer." } } @else {
            table #channels {
                thead { tr { th { "Name" } th { "Kind" } th { "Project" } th { "At least" } th { "Created" } th {} } }
                tbody {
                    @for c in &d.channels {
                        tr {
                            td { (c.name) }
                            td { (c.kind) }
                            td { (name_of(Some(c.project_id))) }
                            td { (c.min_severity) }
                            td { (layout::when(c.created_ms)) }
                            td { @if let Some(csrf) = csrf {
                                form.inline method="post" action={ "/ui/settings/channels/" (c.id) "/test" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Send a test" }
                                }
                                form.inline method="post" action={ "/ui/settings/channels/" (c.id) "/delete" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.danger type="submit" { "Delete" }
                                }
                            } }
                        }
                    }
                }
            }
        }
        @let admin_projects: Vec<String> = d.projects.iter().filter(|(p, _)| viewer.principal.allows(p.id, Need::Admin)).map(|(p, _)| p.name.clone()).collect();
        @if let (Some(csrf), false) = (csrf, admin_projects.is_empty()) {
            (super::channel_form::form(csrf, &admin_projects, &notice.channel_form))
        }
    }
}

async fn render(app: &Arc<AppState>, viewer: &Viewer, notice: Notice, status: StatusCode) -> PageResult {
    let d = load(app, viewer).await?;
    let page = layout::page(viewer, "Settings", &[("settings", "/ui/settings".to_owned())], body(viewer, &d, &notice));
    Ok((status, Html(page.into_string())).into_response())
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let message = q.get("done").cloned();
    render(&app, &viewer, Notice { message, ..Notice::default() }, StatusCode::OK).await
}

pub(super) fn done(message: &str) -> axum::response::Response {
    Redirect::to(&format!("/ui/settings?{}", super::session::encode(&[("done", message)]))).into_response()
}

/// An action's refusal shown on the page; a server fault stays an error page.
async fn refused(app: &Arc<AppState>, viewer: &Viewer, e: ApiError) -> PageResult {
    refused_with(app, viewer, e, Notice::default()).await
}

/// A refusal with the API's message and each field it names (`config.url: required`),
/// over `notice`.
pub(super) async fn refused_with(app: &Arc<AppState>, viewer: &Viewer, e: ApiError, notice: Notice) -> PageResult {
    if e.code == Code::Internal {
        return Err(e.into());
    }
    let status = e.code.status();
    let mut problem = e.detail;
    // A single field's refusal already says it in its detail (`$.name: …`).
    let fields: Vec<String> = e
        .errors
        .iter()
        .filter(|x| !problem.contains(&format!("{}: {}", x.path, x.message)))
        .map(|x| format!("{}: {}", x.path.trim_start_matches("$."), x.message))
        .collect();
    if !fields.is_empty() {
        problem = format!("{problem}: {}", fields.join("; "));
    }
    render(app, viewer, Notice { problem: Some(problem), ..notice }, status).await
}

pub async fn set_member(State(app): State<Arc<AppState>>, viewer: Viewer, request: Request) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let field = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (project, user, role) = (field("project"), field("user"), field("role"));
    let role = match role.as_str() {
        "none" => None,
        r => match Role::parse(r) {
            Some(role) => Some(role),
            None => {
                return refused(&app, &viewer, ApiError::new(Code::InvalidQuery, format!("role: {r:?} is not a role")))
                    .await;
            }
        },
    };
    match projects::set_membership_for(&app, &viewer.principal, &project, &user, role).await {
        Ok(()) => Ok(done(&match role {
            Some(r) => format!("{user} is now {} in {project}.", r.as_str()),
            None => format!("{user} no longer has a role in {project}."),
        })),
        Err(e) => refused(&app, &viewer, e).await,
    }
}

pub async fn make_token(State(app): State<Arc<AppState>>, viewer: Viewer, request: Request) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let field = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let Some(role) = Role::parse(&field("role")) else {
        return refused(&app, &viewer, ApiError::new(Code::InvalidQuery, "role: not a role")).await;
    };
    let project = Some(field("project")).filter(|p| !p.is_empty());
    let request = tokens::CreateToken { name: field("name"), project, role, expires_at: None };
    match tokens::create_for(&app, &viewer.principal, request).await {
        // The secret goes into this answer only, never into a URL.
        Ok((record, secret)) => {
            let notice = Notice { secret: Some((record.name, secret)), ..Notice::default() };
            render(&app, &viewer, notice, StatusCode::CREATED).await
        }
        Err(e) => refused(&app, &viewer, e).await,
    }
}

pub async fn revoke_token(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    // The body is only the CSRF token.
    viewer.checked_form(request).await?;
    match tokens::revoke_for(&app, &viewer.principal, &id).await {
        Ok(()) => Ok(done(&format!("Token {id} revoked."))),
        Err(e) => refused(&app, &viewer, e).await,
    }
}

pub async fn test_channel(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    // The body is only the CSRF token.
    viewer.checked_form(request).await?;
    match channels::test_for(&app, &viewer.principal, &id).await {
        Ok(answer) if answer["delivered"] == true => Ok(done(&format!("Channel {id}: the test was delivered."))),
        Ok(answer) => Ok(done(&format!(
            "Channel {id}: the test was not delivered ({}).",
            answer["error"].as_str().unwrap_or("no reason given")
        ))),
        Err(e) => refused(&app, &viewer, e).await,
    }
}

pub async fn delete_channel(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    // The body is only the CSRF token.
    viewer.checked_form(request).await?;
    match channels::delete_for(&app, &viewer.principal, &id).await {
        Ok(()) => Ok(done(&format!("Channel {id} deleted."))),
        Err(e) => refused(&app, &viewer, e).await,
    }
}
