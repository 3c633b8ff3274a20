//! MLflow's proxied artifacts (`/api/2.0/mlflow-artifacts/artifacts`): upload, list,
//! download. Paths start with the experiment id (`<experiment>/<run>/artifacts/...`,
//! as run artifact URIs say), which decides the project and so the access.

use super::tracking::experiment;
use super::{Params, invalid, not_found};
use crate::artifacts::check_path;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_store::ArtifactRecord;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Checks the path and the caller's access to the experiment it starts with.
async fn authorize(
    app: &Arc<AppState>,
    p: &Principal,
    path: &str,
    need: Need,
    allow_root: bool,
) -> Result<(), ApiError> {
    check_path("path", path, false)?;
    let first = path.split('/').next().unwrap_or_default();
    let id = first.parse::<i64>().map_err(|_| invalid("path", "must start with an experiment id"))?;
    if !allow_root && !path.contains('/') {
        return Err(invalid("path", "names an experiment, not a file"));
    }
    experiment(app, p, id, need).await.map(drop)
}

fn artifact_path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(s)| s).map_err(|e| invalid("path", &format!("is not valid: {}", e.body_text())))
}

pub async fn upload(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let path = artifact_path(path)?;
    authorize(&app, &principal, &path, Need::Edit, false).await?;
    let stored = app.blobs.put(body).await?;
    let record = ArtifactRecord {
        path,
        sha256: stored.sha256,
        size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        created_ms: now_ms(),
    };
    let store = app.store.clone();
    blocking(move || store.put_artifact(&record)).await??;
    Ok(Json(json!({})))
}

pub async fn download(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let path = artifact_path(path)?;
    authorize(&app, &principal, &path, Need::Read, false).await?;
    let store = app.store.clone();
    let lookup = path.clone();
    let found = blocking(move || store.get_artifact(&lookup)).await??;
    let a = found.ok_or_else(|| not_found(format!("artifact {path:?} does not exist")))?;
    let mut response = app.blobs.open(&a.sha256).await?.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", a.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Entries directly under `dir` (files and subdirectories), MLflow's list shape.
pub fn list_entries(dir: &str, artifacts: &[ArtifactRecord]) -> Vec<Value> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let mut entries: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for a in artifacts {
        let Some(rest) = a.path.strip_prefix(&prefix) else { continue };
        match rest.split_once('/') {
            Some((sub, _)) => {
                entries.insert(sub.to_owned(), None);
            }
            None => {
                entries.insert(rest.to_owned(), Some(a.size));
            }
        }
    }
    entries
        .into_iter()
        .map(|(name, size)| match size {
            Some(size) => json!({"path": name, "is_dir": false, "file_size": size}),
            None => json!({"path": name, "is_dir": true}),
        })
        .collect()
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let dir = params.opt("path")?.unwrap_or_default();
    let dir = dir.trim_end_matches('/').to_owned();
    authorize(&app, &principal, &dir, Need::Read, true).await?;
    let store = app.store.clone();
    let prefix = format!("{dir}/");
    let artifacts = blocking(move || store.list_artifacts(&prefix)).await??;
    Ok(Json(json!({"files": list_entries(&dir, &artifacts)})))
}

#[cfg(test)]
mod tests {
    use super::list_entries;
    use sightline_store::ArtifactRecord;

    #[test]
    fn lists_one_level() {
        let a = |p: &str, size| ArtifactRecord { path: p.into(), sha256: String::new(), size, created_ms: 0 };
        let all =
            [a("0/r/artifacts/model/MLmodel", 10), a("0/r/artifacts/model/code/x.py", 3), a("0/r/artifacts/y", 1)];
        let got = list_entries("0/r/artifacts/model", &all);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["path"], "MLmodel");
        assert_eq!(got[1]["is_dir"], true);
    }
}
