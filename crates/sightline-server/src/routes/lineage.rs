//! The lineage API: OpenLineage events in (`POST /lineage`, as Marquez takes them, so
//! emitters need only a URL and a token), the graph around a node, column lineage and
//! impact analysis out. Every node belongs to a project: `?project=`, else the
//! caller's only project, else `default`.

use super::models::owning_project;
use super::support::{invalid, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::lineage::{self, MAX_GRAPH_NODES, openlineage};
use crate::state::{AppState, blocking};
use crate::wire::time::{now_ms, parse_query};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_store::lineage::Direction;
use sightline_store::{LineageNode, ProjectRecord};
use std::sync::Arc;

/// Deepest walk a graph query may ask for (Marquez's default depth is 20).
const MAX_DEPTH: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectQuery {
    project: Option<String>,
}

/// The project of a lineage call, if the caller has `need` in it.
async fn project(
    app: &Arc<AppState>,
    principal: &Principal,
    named: Option<String>,
    need: Need,
) -> Result<ProjectRecord, ApiError> {
    let name = named.clone();
    let project = owning_project(app, principal, named).await?;
    check_project(principal, project.id, need, || {
        super::models::project_not_found(name.as_deref().unwrap_or("default"))
    })?;
    Ok(project)
}

/// Takes one OpenLineage RunEvent, JobEvent or DatasetEvent.
pub async fn ingest(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<ProjectQuery>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q = query(q)?;
    let project = project(&app, &principal, q.project, Need::Ingest).await?;
    let event: Value = read_json(&headers, body).await?;
    let update = openlineage::parse(project.id, &event).map_err(|(path, message)| invalid(&path, message))?;
    let kind = update.kind;
    let store = app.store.clone();
    let seq = blocking(move || store.record_lineage(&update, now_ms())).await??;
    Ok((StatusCode::CREATED, Json(json!({ "seq": seq, "kind": kind, "project": project.name }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    #[serde(rename = "nodeId")]
    node_id: Option<String>,
    depth: Option<usize>,
    direction: Option<String>,
    /// The graph as it was at this time (edges first seen later are left out).
    at: Option<String>,
    project: Option<String>,
}

struct Located {
    node: LineageNode,
    depth: usize,
    at_ms: Option<i64>,
}

async fn locate(
    app: &Arc<AppState>,
    principal: &Principal,
    q: GraphQuery,
    default_depth: usize,
) -> Result<Located, ApiError> {
    let project = project(app, principal, q.project, Need::Read).await?;
    let Some(id) = q.node_id else {
        return Err(ApiError::new(Code::InvalidQuery, "nodeId: required, e.g. dataset:<namespace>:<name>"));
    };
    let depth = q.depth.unwrap_or(default_depth);
    if depth > MAX_DEPTH {
        return Err(ApiError::new(Code::InvalidQuery, format!("depth: at most {MAX_DEPTH}")));
    }
    let at_ms =
        q.at.as_deref()
            .map(|t| parse_query(t).map_err(|m| ApiError::new(Code::InvalidQuery, format!("at: {m}"))))
            .transpose()?;
    let store = app.store.clone();
    let wanted = id.clone();
    let node = blocking(move || lineage::find_node(store.as_ref(), project.id, &wanted))
        .await?
        .map_err(|m| ApiError::new(Code::InvalidQuery, format!("nodeId: {m}")))?;
    let node = node.ok_or_else(|| ApiError::new(Code::NotFound, format!("no lineage node {id:?} in this project")))?;
    Ok(Located { node, depth, at_ms })
}

/// The graph around a node, in Marquez's shape.
pub async fn graph(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut q = query(q)?;
    let direction = match q.direction.take().as_deref() {
        None | Some("both") => Direction::Both,
        Some("upstream") => Direction::Upstream,
        Some("downstream") => Direction::Downstream,
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!("direction: {other:?} is not one of both, upstream, downstream"),
            ));
        }
    };
    let located = locate(&app, &principal, q, 20).await?;
    let store = app.store.clone();
    let answer = blocking(move || {
        let graph = store.lineage_graph(located.node.id, located.depth, direction, located.at_ms, MAX_GRAPH_NODES)?;
        lineage::graph_json(store.as_ref(), &graph)
    })
    .await??;
    Ok(Json(answer))
}

/// Column lineage upstream of a dataset's fields.
pub async fn columns(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    if q.direction.is_some() {
        return Err(ApiError::new(Code::InvalidQuery, "direction: column lineage is always upstream"));
    }
    let located = locate(&app, &principal, q, 20).await?;
    let store = app.store.clone();
    let answer = blocking(move || lineage::column_graph(store.as_ref(), &located.node, located.depth))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(answer))
}

/// What is downstream of a node: datasets, jobs, model versions, their monitors and
/// open alerts.
pub async fn impact(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    if q.direction.is_some() || q.depth.is_some() {
        return Err(ApiError::new(
            Code::InvalidQuery,
            "impact always walks everything downstream: no depth or direction",
        ));
    }
    let located = locate(&app, &principal, q, MAX_DEPTH).await?;
    let store = app.store.clone();
    let answer = blocking(move || lineage::impact(store.as_ref(), &located.node, located.at_ms))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(answer))
}
