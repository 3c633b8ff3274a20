//! Master keys: the status of the key ring and of re-encryption, and online rotation.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;

/// The key ids, the active one, which old keys may be removed, and the progress of the
/// re-encryption pass.
pub async fn status(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(app.encryption.describe())
}

/// Reloads the key file (whose last key becomes active) and starts re-encrypting every
/// stored payload under it in the background. Answers once the new key is in use.
pub async fn rotate(State(app): State<Arc<AppState>>) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.encryption.reload(&app).await?;
    Ok((StatusCode::ACCEPTED, Json(app.encryption.describe())))
}
