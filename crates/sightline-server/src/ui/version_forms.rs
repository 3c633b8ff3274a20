//! The version page's forms: set a stage, point an alias at the version, remove one of
//! its aliases. Each checks the session's CSRF token and edit access to the model's
//! project (as the API's route table does), then runs the same function as its API
//! route in `routes/registry.rs` (the promotion gate included); a refusal is shown on
//! the version page with the API's message.

use super::version::{Notice, render};
use super::{Failure, PageResult, Viewer, readable_model};
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::routes::registry as api;
use crate::state::{AppState, LoadedModel};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use sightline_core::Need;
use std::collections::HashMap;
use std::sync::Arc;

/// The model if the viewer may edit it (registry entries, issues): 404 without a role in its
/// project, 403 (shown on the page) with a role short of editor.
pub(super) async fn editable(
    app: &Arc<AppState>,
    viewer: &Viewer,
    name: &str,
) -> Result<Result<Arc<LoadedModel>, ApiError>, Failure> {
    let model = readable_model(app, &viewer.principal, name).await?;
    let not_found = || ApiError::new(Code::ModelNotFound, format!("model {name:?} does not exist"));
    Ok(check_project(&viewer.principal, model.record.project_id, Need::Edit, not_found).map(|()| model))
}

fn field(form: &HashMap<String, String>, key: &str) -> String {
    form.get(key).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// After a change: back to the version page, saying what was done.
fn done(model: &str, version: &str, message: &str) -> axum::response::Response {
    let link = super::registry::version_link(model, version);
    Redirect::to(&format!("{link}?{}", super::session::encode(&[("done", message)]))).into_response()
}

/// A refusal shown on the version page with its status; a server fault stays an error page.
async fn refused(app: &Arc<AppState>, viewer: &Viewer, model: &str, version: &str, e: ApiError) -> PageResult {
    if e.code == Code::Internal {
        return Err(e.into());
    }
    let status: StatusCode = e.code.status();
    render(app, viewer, model, version, Notice { message: None, problem: Some(e.detail) }, status).await
}

pub async fn set_stage(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((model, version)): Path<(String, String)>,
    request: Request,
) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let loaded = match editable(&app, &viewer, &model).await? {
        Ok(m) => m,
        Err(e) => return refused(&app, &viewer, &model, &version, e).await,
    };
    let req =
        api::StageIn::new(field(&form, "stage"), field(&form, "reason"), field(&form, "archive_others") == "true");
    match api::set_stage_for(&app, &viewer.principal, &loaded, &version, &req).await {
        Ok(d) => Ok(done(&model, &version, &format!("Version {} is now in stage {}.", d.version.name, d.stage))),
        Err(e) => refused(&app, &viewer, &model, &version, e).await,
    }
}

pub async fn set_alias(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((model, version)): Path<(String, String)>,
    request: Request,
) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let loaded = match editable(&app, &viewer, &model).await? {
        Ok(m) => m,
        Err(e) => return refused(&app, &viewer, &model, &version, e).await,
    };
    let alias = field(&form, "alias");
    let req = api::AliasIn::new(version.clone(), field(&form, "reason"));
    match api::set_alias_for(&app, &viewer.principal, &loaded, &alias, &req).await {
        Ok(name) => Ok(done(&model, &version, &format!("@{alias} now points at {name}."))),
        Err(e) => refused(&app, &viewer, &model, &version, e).await,
    }
}

pub async fn remove_alias(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((model, version, alias)): Path<(String, String, String)>,
    request: Request,
) -> PageResult {
    // The body is only the CSRF token.
    viewer.checked_form(request).await?;
    let loaded = match editable(&app, &viewer, &model).await? {
        Ok(m) => m,
        Err(e) => return refused(&app, &viewer, &model, &version, e).await,
    };
    // The button belongs to this version: if the alias moved since the page was drawn,
    // removing it would take it from another version, so the form is refused.
    let d = match api::version(&app, &loaded, &version).await {
        Ok(d) => d,
        Err(e) => return Err(e.into()),
    };
    if !d.aliases.contains(&alias) {
        let e = ApiError::new(Code::NotFound, format!("@{alias} does not point at version {version:?} (any more)"));
        return refused(&app, &viewer, &model, &version, e).await;
    }
    match api::delete_alias_for(&app, &viewer.principal, &loaded, &alias).await {
        Ok(()) => Ok(done(&model, &version, &format!("@{alias} removed."))),
        Err(e) => refused(&app, &viewer, &model, &version, e).await,
    }
}
