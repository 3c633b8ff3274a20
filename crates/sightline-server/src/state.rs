//! Shared server state: configuration limits, the store, the model cache, the ingest
//! queue, metrics and readiness.

use crate::auth::limiter::LoginLimiter;
use crate::auth::session::Authenticator;
use crate::encryption::Encryption;
use crate::error::{ApiError, Code};
use crate::ingest::{Job, SubmitError, WriteQueue};
use crate::metrics::Metrics;
use sightline_core::ModelIndex;
use sightline_store::{BatchOutcome, KeyRing, Keys, ModelRecord, Store, WriteBatch};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Request limits; see `ServerConfig` for their meaning and defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_batch_events: usize,
    pub max_body_bytes: usize,
}

/// Drift and quality settings.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    pub aggregator: crate::aggregate::AggregatorConfig,
    /// The trailing window the drift gauges describe.
    pub drift_window: std::time::Duration,
    /// How often the drift gauges are recomputed.
    pub drift_gauge_interval: std::time::Duration,
    /// How often retraining policies are checked for being due.
    pub retraining_tick: std::time::Duration,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            aggregator: Default::default(),
            drift_window: std::time::Duration::from_secs(3_600),
            drift_gauge_interval: std::time::Duration::from_secs(60),
            retraining_tick: std::time::Duration::from_secs(15),
        }
    }
}

impl AnalysisConfig {
    pub fn retention(&self) -> crate::analysis::Retention {
        let keep = |r: sightline_store::Resolution| {
            self.aggregator.retention.iter().find(|(x, _)| *x == r).and_then(|(_, k)| *k)
        };
        crate::analysis::Retention {
            minute: keep(sightline_store::Resolution::Minute),
            hour: keep(sightline_store::Resolution::Hour),
        }
    }
}

/// A model as the API layer needs it on every request.
#[derive(Debug)]
pub struct LoadedModel {
    pub id: i64,
    pub name: Arc<str>,
    pub index: ModelIndex,
    pub record: ModelRecord,
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub queue: Arc<WriteQueue>,
    /// The key ring payloads are sealed with (the same one the store opens with).
    pub keys: Arc<Keys>,
    pub encryption: Arc<Encryption>,
    pub auth: Authenticator,
    pub login_limiter: LoginLimiter,
    pub ingest_audit: crate::auth::ingest_audit::IngestAudit,
    /// The aggregator's controls (layouts changed, position flushed).
    pub aggregator: Arc<crate::aggregate::Control>,
    /// How drift and quality queries and the drift gauges run.
    pub analysis: AnalysisConfig,
    /// Versions' explainers, parsed once.
    pub explainers: crate::explain::loaded::Explainers,
    /// Computed explanations, by explainer, request and rows.
    pub explanations: crate::explain::cache::ResultCache,
    /// CBPE estimators fitted for pages and queries, by what they were fitted on.
    pub estimators: crate::performance::estimate::FitCache,
    /// Where artifact bytes are kept (under the data dir).
    pub blobs: crate::artifacts::BlobStore,
    /// How webhooks sent beside the notification workers (retraining triggers) retry.
    pub outbound_retry: crate::notify::worker::RetrySettings,
    /// `ServerConfig::public_url`, checked and without a trailing `/`.
    pub public_url: Option<String>,
    /// Held while a retraining policy is measured and decided, so that two evaluations
    /// of one policy never both fire (`retraining::evaluate`).
    pub retraining_decisions: tokio::sync::Mutex<()>,
    /// Deliveries retried in the background; aborted at shutdown (what they still owe
    /// is in the store and taken up at the next start).
    retries: Mutex<tokio::task::JoinSet<()>>,
    models: RwLock<HashMap<String, Arc<LoadedModel>>>,
    /// Project names by id; projects are never renamed, so entries never go stale.
    project_names: RwLock<HashMap<i64, Arc<str>>>,
    ready: AtomicBool,
}

/// Seconds a client should wait after a 429 from a full queue: the queue drains in
/// well under a second at the rates it is sized for.
const RETRY_AFTER_FULL: u32 = 1;

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        limits: Limits,
        metrics: Arc<Metrics>,
        queue: Arc<WriteQueue>,
        encryption: Arc<Encryption>,
        auth: Authenticator,
        login_limiter: LoginLimiter,
    ) -> AppState {
        AppState {
            store,
            limits,
            metrics,
            queue,
            keys: encryption.keys.clone(),
            encryption,
            auth,
            login_limiter,
            ingest_audit: Default::default(),
            aggregator: Default::default(),
            analysis: AnalysisConfig::default(),
            explainers: Default::default(),
            explanations: Default::default(),
            estimators: Default::default(),
            blobs: crate::artifacts::BlobStore::new(std::path::Path::new("sightline-data")),
            outbound_retry: Default::default(),
            public_url: None,
            retraining_decisions: tokio::sync::Mutex::new(()),
            retries: Mutex::new(tokio::task::JoinSet::new()),
            models: RwLock::new(HashMap::new()),
            project_names: RwLock::new(HashMap::new()),
            ready: AtomicBool::new(false),
        }
    }

    /// Keeps artifacts under this data dir.
    pub fn with_data_dir(mut self, data_dir: &std::path::Path) -> AppState {
        self.blobs = crate::artifacts::BlobStore::new(data_dir);
        self
    }

    /// How outgoing webhooks retry and which address their links start with.
    pub fn with_outbound(
        mut self,
        retry: crate::notify::worker::RetrySettings,
        public_url: Option<String>,
    ) -> AppState {
        self.outbound_retry = retry;
        self.public_url = public_url;
        self
    }

    /// Runs a delivery's further attempts in the background, until shutdown.
    pub fn spawn_retries(&self, attempts: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = self.retries.lock().unwrap_or_else(|p| p.into_inner());
        // Reap the finished ones so the set holds only what still runs.
        while set.try_join_next().is_some() {}
        set.spawn(attempts);
    }

    /// Stops the background deliveries (at shutdown).
    pub fn abort_retries(&self) {
        self.retries.lock().unwrap_or_else(|p| p.into_inner()).abort_all();
    }

    /// Replaces the default drift and quality settings.
    pub fn with_analysis(mut self, analysis: AnalysisConfig) -> AppState {
        self.analysis = analysis;
        self
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn remember(&self, record: ModelRecord) -> Arc<LoadedModel> {
        let loaded = Arc::new(LoadedModel {
            id: record.id,
            name: Arc::from(record.spec.name.as_str()),
            index: ModelIndex::new(record.spec.clone()),
            record,
        });
        self.models.write().unwrap_or_else(|p| p.into_inner()).insert(loaded.record.spec.name.clone(), loaded.clone());
        loaded
    }

    /// Drops a model from the cache; the next request reads it from the store.
    pub fn forget(&self, name: &str) {
        self.models.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// The named model, from the cache or the store (another replica may have made it);
    /// 404 if it does not exist.
    pub async fn model(self: &Arc<Self>, name: &str) -> Result<Arc<LoadedModel>, ApiError> {
        if let Some(m) = self.models.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(m.clone());
        }
        let store = self.store.clone();
        let owned = name.to_owned();
        let found = blocking(move || store.get_model(&owned)).await??;
        match found {
            Some(record) => Ok(self.remember(record)),
            None => Err(ApiError::new(Code::ModelNotFound, format!("model {name:?} does not exist"))),
        }
    }

    /// The name of a project, for documents that show it.
    pub async fn project_name(&self, id: i64) -> Result<Arc<str>, ApiError> {
        if let Some(name) = self.project_names.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(name.clone());
        }
        let store = self.store.clone();
        let project = blocking(move || store.get_project_by_id(id)).await??;
        let name: Arc<str> = Arc::from(project.map_or_else(|| format!("#{id}"), |p| p.name).as_str());
        self.project_names.write().unwrap_or_else(|p| p.into_inner()).insert(id, name.clone());
        Ok(name)
    }

    /// Queues a validated batch, sealed with `sealed_with`, and waits until it is
    /// durably committed.
    pub async fn write(
        &self,
        model: &LoadedModel,
        batch: WriteBatch,
        sealed_with: Arc<KeyRing>,
    ) -> Result<BatchOutcome, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job { batch, model: model.name.clone(), reply, sealed_with: Some(sealed_with) };
        match self.queue.submit(job) {
            Ok(depth) => self.metrics.queue_depth.set(depth as i64),
            Err((SubmitError::Full, _)) => {
                return Err(ApiError::new(
                    Code::Overloaded,
                    "the write queue is full; retry after the Retry-After delay",
                )
                .retry_after(RETRY_AFTER_FULL));
            }
            Err((SubmitError::Closed, _)) => {
                return Err(ApiError::new(Code::NotReady, "the server is shutting down").retry_after(5));
            }
        }
        match answer.await.map(|reply| reply.result) {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(cause)) => Err(ApiError::internal(format!("commit failed: {cause}")).retry_after(5)),
            Err(_) => Err(ApiError::internal("the writer stopped before answering")),
        }
    }
}

/// Runs blocking work (SQLite, decompression, parsing) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)
}
