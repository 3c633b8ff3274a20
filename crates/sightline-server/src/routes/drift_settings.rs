//! A model's stored drift settings — the method and threshold for every column and per
//! feature — which drift queries and the drift gauges start from; query parameters
//! override them per request.

use super::support::{invalid, path, read_json};
use crate::analysis::DriftSettings;
use crate::error::ApiError;
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::now_ms;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sightline_core::FeatureType;
use sightline_stats::column_drift::Options;
use sightline_stats::default_method::{ColumnKind, Method};
use sightline_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The stored and exchanged form.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsDoc {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    features: BTreeMap<String, ColumnDoc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDoc {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    threshold: Option<f64>,
}

pub const METHODS: &str = "ks, chisquare, z, wasserstein_normed, jensenshannon, psi, kl_div or hellinger";

pub fn parse_method(value: &str) -> Result<Method, String> {
    Method::from_name(value).ok_or_else(|| format!("unknown drift method {value:?}; use {METHODS}"))
}

pub fn parse_threshold(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 { Ok(value) } else { Err("must be a non-negative number".into()) }
}

/// Checks a document against the model: known methods, thresholds ≥ 0, profiled
/// features, and methods that apply to each feature's kind. Errors name the field.
fn validate(doc: &SettingsDoc, model: &LoadedModel) -> Result<DriftSettings, ApiError> {
    let mut s = DriftSettings::default();
    if let Some(m) = &doc.method {
        s.all.method = Some(parse_method(m).map_err(|e| invalid("$.method", e))?);
    }
    if let Some(t) = doc.threshold {
        s.all.threshold = Some(parse_threshold(t).map_err(|e| invalid("$.threshold", e))?);
    }
    for (name, column) in &doc.features {
        let at = |field: &str| format!("$.features[{}].{field}", serde_json::Value::from(name.as_str()));
        let Some(feature) = model.record.spec.features.iter().find(|f| &f.name == name) else {
            return Err(invalid(&at("method").replace(".method", ""), format!("the model has no feature {name:?}")));
        };
        let kind = match feature.kind {
            FeatureType::Numeric => ColumnKind::Numeric,
            FeatureType::Categorical | FeatureType::Boolean => ColumnKind::Categorical,
            FeatureType::Text => {
                return Err(invalid(&at("method").replace(".method", ""), "text features are not profiled for drift"));
            }
        };
        let mut options = Options::default();
        if let Some(m) = &column.method {
            let method = parse_method(m).map_err(|e| invalid(&at("method"), e))?;
            if !method.accepts(kind) {
                return Err(invalid(&at("method"), format!("{m} does not apply to a {:?} feature", feature.kind)));
            }
            options.method = Some(method);
        }
        if let Some(t) = column.threshold {
            options.threshold = Some(parse_threshold(t).map_err(|e| invalid(&at("threshold"), e))?);
        }
        s.per_feature.insert(name.clone(), options);
    }
    Ok(s)
}

/// A model's stored settings as drift queries use them (defaults when none are stored,
/// or when the stored ones no longer fit the model).
pub fn stored(store: &dyn Store, model: &LoadedModel) -> Result<DriftSettings, sightline_store::StoreError> {
    let doc = load(store, model.id)?;
    Ok(validate(&doc, model).unwrap_or_default())
}

fn load(store: &dyn Store, model_id: i64) -> Result<SettingsDoc, sightline_store::StoreError> {
    Ok(match store.drift_settings(model_id)? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| sightline_store::StoreError::Corrupt(format!("drift settings: {e}")))?,
        None => SettingsDoc::default(),
    })
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let (store, id) = (app.store.clone(), model.id);
    let doc = blocking(move || load(store.as_ref(), id)).await??;
    Ok(Json(serde_json::to_value(doc).map_err(|e| ApiError::internal(e.to_string()))?))
}

pub async fn put(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let doc: SettingsDoc = read_json(&headers, body).await?;
    validate(&doc, &model)?;
    let text = serde_json::to_string(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let (store, id) = (app.store.clone(), model.id);
    blocking(move || store.put_drift_settings(id, &text, now_ms())).await??;
    Ok(Json(serde_json::to_value(doc).map_err(|e| ApiError::internal(e.to_string()))?))
}
