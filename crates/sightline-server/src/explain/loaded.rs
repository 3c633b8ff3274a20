//! Versions' explainers as parsed and held in memory: a model file is parsed once, not
//! per request. This server is the only writer of explainers, so setting or removing one
//! drops its cached copy and the cache never serves a stale one.

use super::endpoint::Endpoint;
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use sightline_explain::Ensemble;
use sightline_explain::formats::Format;
use sightline_store::{ExplainerRecord, ExplainerSource, VersionRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Loaded {
    /// The Sightline features the model reads, in its column order.
    pub features: Vec<String>,
    pub kind: Kind,
    pub updated_ms: i64,
    pub updated_by: String,
}

pub enum Kind {
    Trees { ensemble: Ensemble, format: Format, sha256: String, bytes: usize },
    Endpoint(Endpoint),
}

impl Loaded {
    /// Parses a stored explainer; an error only if a stored model file no longer loads
    /// (it was checked on upload, so the database was changed by something else).
    pub fn from_record(record: ExplainerRecord) -> Result<Loaded, String> {
        let kind = match record.source {
            ExplainerSource::ModelFile { format, sha256, bytes } => {
                let file = Format::ALL
                    .into_iter()
                    .find(|f| f.name() == format)
                    .ok_or_else(|| format!("stored model file has the unknown format {format:?}"))?;
                let ensemble = file.load(&bytes).map_err(|e| format!("stored model file no longer loads: {e}"))?;
                Kind::Trees { ensemble, format: file, sha256, bytes: bytes.len() }
            }
            ExplainerSource::Endpoint { url, timeout_ms, max_calls, batch_rows } => {
                Kind::Endpoint(Endpoint::new(url, timeout_ms, max_calls, batch_rows, record.features.clone()))
            }
        };
        Ok(Loaded { features: record.features, kind, updated_ms: record.updated_ms, updated_by: record.updated_by })
    }

    /// What identifies the explainer's behaviour, for result caching.
    pub fn fingerprint(&self) -> String {
        match &self.kind {
            Kind::Trees { sha256, .. } => format!("file:{sha256}:{}", self.features.join(",")),
            Kind::Endpoint(e) => format!("endpoint:{}:{}:{}", e.url, self.updated_ms, self.features.join(",")),
        }
    }

    /// The explainer as the API describes it.
    pub fn describe(&self) -> serde_json::Value {
        use crate::wire::time::format;
        let mut out = match &self.kind {
            Kind::Trees { ensemble, format, sha256, bytes } => serde_json::json!({
                "kind": "model_file",
                "format": format.name(),
                "sha256": sha256,
                "size_bytes": bytes,
                "objective": ensemble.objective(),
                "trees": ensemble.trees().len(),
                "outputs": ensemble.num_outputs(),
                "methods": ["treeshap", "interventional", "kernelshap", "lime"],
            }),
            Kind::Endpoint(e) => serde_json::json!({
                "kind": "endpoint",
                "url": e.url,
                "timeout_ms": e.timeout_ms,
                "max_calls": e.max_calls,
                "batch_rows": e.batch_rows,
                "methods": ["kernelshap", "lime"],
            }),
        };
        out["features"] = serde_json::json!(self.features);
        out["updated_at"] = serde_json::json!(format(self.updated_ms));
        out["updated_by"] = serde_json::json!(self.updated_by);
        out
    }
}

/// Loaded explainers by version id.
#[derive(Default)]
pub struct Explainers {
    loaded: Mutex<HashMap<i64, Arc<Loaded>>>,
}

/// Explainers kept parsed at once; past it the map is emptied (a model file parses in
/// milliseconds, so a rare reload costs less than tracking recency).
const MAX_LOADED: usize = 64;

impl Explainers {
    pub fn get(&self, version_id: i64) -> Option<Arc<Loaded>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&version_id).cloned()
    }

    pub fn insert(&self, version_id: i64, loaded: Arc<Loaded>) {
        let mut map = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_LOADED {
            map.clear();
        }
        map.insert(version_id, loaded);
    }

    pub fn forget(&self, version_id: i64) {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).remove(&version_id);
    }
}

/// The version's explainer, parsed once; `explainer_not_found` when it has none.
pub async fn for_version(app: &Arc<AppState>, version: &VersionRecord) -> Result<Arc<Loaded>, ApiError> {
    if let Some(loaded) = app.explainers.get(version.id) {
        return Ok(loaded);
    }
    let (store, id) = (app.store.clone(), version.id);
    let record = blocking(move || store.get_explainer(id)).await??.ok_or_else(|| {
        ApiError::new(
            Code::ExplainerNotFound,
            format!(
                "version {:?} has no explainer: upload its model file (PUT …/explainer/model-file) or set its \
                 prediction endpoint (PUT …/explainer/endpoint)",
                version.name
            ),
        )
    })?;
    let loaded = Arc::new(blocking(move || Loaded::from_record(record)).await?.map_err(ApiError::internal)?);
    app.explainers.insert(id, loaded.clone());
    Ok(loaded)
}
