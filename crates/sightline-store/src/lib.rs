//! Sightline storage: the [`Store`] trait that the server programs against, and its
//! backends. Only this crate knows SQL.
//!
//! Writes go through a [`StoreWriter`]: one per process, owned by the ingest pipeline's
//! single writer thread, which hands it many requests' batches at once so that they
//! share one durable commit (group commit).
//!
//! Raw event payloads are encrypted at rest ([`crypto`], [`sealed`]): a store is opened
//! with the [`Keys`] it decrypts with, and writers only ever see sealed payloads.

pub mod access;
pub mod alerting;
pub mod audit;
pub mod channels;
pub mod crypto;
pub mod explainers;
pub mod incidents;
pub mod issues;
pub mod lineage;
pub mod outcomes;
pub mod page;
pub mod profiles;
pub mod record;
pub mod registry;
pub mod retraining;
pub mod sealed;
pub mod signals;
pub mod sqlite;

pub use access::{
    AccessStore, DEFAULT_PROJECT, Membership, NewToken, NewUser, ProjectRecord, SessionRecord, TokenFilter,
    TokenRecord, UserChange, UserRecord,
};
pub use alerting::{AlertEventRecord, AlertQuery, AlertRecord, AlertingStore, MonitorRecord, SilenceRecord};
pub use audit::{AuditEntry, AuditQuery, AuditRecord, AuditStore};
pub use channels::{ChannelRecord, ChannelStore, DeliveryRecord};
pub use crypto::{CryptoError, KeyFileError, KeyId, KeyRing, Keys};
pub use explainers::{ExplainerRecord, ExplainerSource, ExplainerStore};
pub use incidents::{
    IncidentChange, IncidentRecord, IncidentStats, IncidentStatus, IncidentStore, NewIncident, TimelineEntry,
};
pub use issues::{IssueQuery, IssueRecord, IssueStatus, IssueStore, PreparedError, StoredErrorEvent};
pub use lineage::{
    ColumnEdge, ColumnSource, DatasetRef, LineageGraph, LineageNode, LineageRun, LineageStore, LineageUpdate, NodeKind,
    RunRef,
};
pub use outcomes::{LateLabel, OutcomeQuery, OutcomeRow, OutcomeStore, TallyEvent, TallyStore, TallyWindowQuery};
pub use page::Page;
pub use profiles::{
    FoldEvent, ProfileKey, ProfileQuery, ProfileStore, ProfileWrite, ReferenceRecord, Resolution, StoredProfile,
};
pub use record::{
    BatchOutcome, LabelInsert, ModelRecord, PredictionQuery, PreparedPrediction, StoredLabel, StoredPrediction,
    VersionRecord, WriteBatch,
};
pub use registry::{
    AliasRecord, ArtifactRecord, DataVersion, ExperimentRecord, MetricPoint, NewRun, PromotionReport, RegistryStore,
    RunInput, RunLog, RunRecord, Transition, TransitionRecord, VersionChange, VersionDetails,
};
pub use retraining::{PolicyRecord, RETRYING_PREFIX, RetrainingStore, TriggerRecord};
pub use sealed::{EncryptionState, ResealProgress, Resealed, StoredPayload};
pub use signals::{SignalStore, WindowCounts};
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The object already exists (a model or version name is taken).
    #[error("{0} already exists")]
    Conflict(String),
    /// The object changed between read and write (optimistic concurrency); retry.
    #[error("{0} was changed by another request at the same time")]
    Changed(String),
    /// The object cannot be deleted: other data refers to it (the message says what).
    #[error("{0}")]
    InUse(String),
    /// A stored value could not be decoded: the database was written by something else
    /// or damaged.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the server needs from storage. Methods block; async callers run them on
/// blocking threads. Times are parameters (epoch milliseconds): a store has no clock.
pub trait Store:
    AccessStore
    + AuditStore
    + IssueStore
    + ProfileStore
    + OutcomeStore
    + TallyStore
    + AlertingStore
    + ChannelStore
    + ExplainerStore
    + IncidentStore
    + LineageStore
    + SignalStore
    + RetrainingStore
    + RegistryStore
    + Send
    + Sync
    + 'static
{
    /// Creates a model in a project; `Conflict` if the name is taken (model names are
    /// unique across projects: they are the key of every model URL).
    fn create_model(&self, spec: &sightline_core::ModelSpec, project_id: i64, now_ms: i64) -> Result<ModelRecord>;
    fn get_model(&self, name: &str) -> Result<Option<ModelRecord>>;
    fn model_by_id(&self, id: i64) -> Result<Option<ModelRecord>>;
    /// Models ordered by name, strictly after `after`; only those of `projects` when given.
    fn list_models(&self, after: Option<&str>, limit: usize, projects: Option<&[i64]>) -> Result<Vec<ModelRecord>>;

    /// Replaces a model's spec with `spec` (same name) if its stored spec still has
    /// `expected_features` features — optimistic concurrency for appending features:
    /// `Conflict` if another writer changed it first. `None` if the model is gone.
    fn update_model_spec(
        &self,
        spec: &sightline_core::ModelSpec,
        expected_features: usize,
    ) -> Result<Option<ModelRecord>>;

    /// Registers a version; `Conflict` if the model already has one of that name.
    fn create_version(&self, model_id: i64, name: &str, description: &str, now_ms: i64) -> Result<VersionRecord>;
    fn get_version(&self, model_id: i64, name: &str) -> Result<Option<VersionRecord>>;
    fn version_by_id(&self, id: i64) -> Result<Option<VersionRecord>>;
    /// Versions ordered by name, strictly after `after`.
    fn list_versions(&self, model_id: i64, after: Option<&str>, limit: usize) -> Result<Vec<VersionRecord>>;

    /// Predictions newest first, with their labels.
    fn list_predictions(&self, query: &PredictionQuery) -> Result<Vec<StoredPrediction>>;
    fn get_prediction(&self, model_id: i64, request_id: &str) -> Result<Option<StoredPrediction>>;

    /// Where re-encryption stands; see [`EncryptionState`].
    fn encryption_state(&self) -> Result<EncryptionState>;
    /// Predictions' sealed payloads as stored, `seq` ascending, strictly after `after_seq`
    /// (the re-encryption pass reads through these).
    fn payloads(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredPayload>>;
    /// What readers decrypt with right now (the current key ring and the plaintext bound).
    fn opener(&self) -> sealed::Opener;

    /// Background maintenance the server runs every second or so, off the write path
    /// (for SQLite: checkpointing the write-ahead log into the database file, so the
    /// writer's commits never pay for it).
    fn maintain(&self) -> Result<()>;

    /// The one writer. Calling it twice is allowed but defeats group commit.
    fn writer(&self) -> Result<Box<dyn StoreWriter>>;
}

/// Writes batches of events; see the crate docs.
pub trait StoreWriter: Send {
    /// Stores all batches in one transaction and makes it durable before returning.
    /// Per event, reports whether it was new or a duplicate of a stored one
    /// (same model and request id). On error nothing of these batches is stored.
    fn commit(&mut self, batches: &[&WriteBatch]) -> Result<Vec<BatchOutcome>>;
}
