//! The model registry and experiment tracking (MLflow's model): experiments, runs with
//! their parameters, metric history, tags and input datasets; and, on Sightline's own
//! models and versions, tags, aliases, stages, training parameters and metrics, data
//! versions, artifacts and the history of every stage change and alias move.

use crate::Result;
use crate::record::VersionRecord;

/// MLflow's stage of a version when none was set.
pub const NO_STAGE: &str = "None";

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRecord {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub key: String,
    /// NaN when NaN was logged.
    pub value: f64,
    pub ts_ms: i64,
    pub step: i64,
}

/// A dataset a run read (MLflow's `log_inputs`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: String,
    pub profile: String,
    /// The `mlflow.data.context` tag (`training`, `evaluation`...), empty when none.
    pub context: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub experiment_id: i64,
    pub project_id: i64,
    pub name: String,
    pub user_id: String,
    pub status: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub lifecycle: String,
    pub params: Vec<(String, String)>,
    /// The latest point of each metric (highest step, then latest time).
    pub metrics: Vec<MetricPoint>,
    pub tags: Vec<(String, String)>,
    pub inputs: Vec<RunInput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    pub experiment_id: i64,
    pub name: String,
    pub user_id: String,
    pub start_ms: i64,
    pub tags: Vec<(String, String)>,
}

/// What a run's logging call adds; params are write-once (`Conflict` on a different
/// value), tags are replaced, metrics are appended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunLog {
    pub params: Vec<(String, String)>,
    pub metrics: Vec<MetricPoint>,
    pub tags: Vec<(String, String)>,
}

/// A data version a model version was trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct DataVersion {
    /// `dvc`, `openlineage`, `mlflow` or another label.
    pub kind: String,
    pub name: String,
    pub version: String,
}

/// A version with what the registry keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionDetails {
    pub version: VersionRecord,
    pub source: String,
    pub run_id: String,
    pub git_commit: String,
    pub stage: String,
    pub user_id: String,
    pub updated_ms: i64,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<(String, f64)>,
    pub tags: Vec<(String, String)>,
    pub data: Vec<DataVersion>,
    /// The aliases pointing at this version.
    pub aliases: Vec<String>,
}

/// Registry facts set on a version; `None` leaves a field as it is. Params, metrics,
/// tags and data versions given are set (key by key), never removed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionChange {
    pub description: Option<String>,
    pub source: Option<String>,
    pub run_id: Option<String>,
    pub git_commit: Option<String>,
    pub user_id: Option<String>,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<(String, f64)>,
    pub tags: Vec<(String, String)>,
    pub data: Vec<DataVersion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasRecord {
    pub alias: String,
    pub version_id: i64,
    pub version: String,
    pub updated_ms: i64,
}

/// One recorded stage change or alias move.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub seq: i64,
    /// `stage` or `alias`.
    pub kind: String,
    /// The version (a stage change) or the alias (an alias move).
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor: String,
    pub reason: String,
    pub ts_ms: i64,
}

/// Who moved something, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
    pub ts_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRecord {
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: i64,
    pub created_ms: i64,
}

/// One evaluation of a model's promotion gate for a version.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionReport {
    pub seq: i64,
    pub version_id: i64,
    pub passed: bool,
    /// The report (JSON document, as the API shows it).
    pub report: String,
    pub actor: String,
    pub ts_ms: i64,
}

pub trait RegistryStore {
    /// `Conflict` if the name is taken.
    fn create_experiment(&self, project_id: i64, name: &str, tags: &[(String, String)], now_ms: i64) -> Result<i64>;
    fn get_experiment(&self, id: i64) -> Result<Option<ExperimentRecord>>;
    fn experiment_by_name(&self, name: &str) -> Result<Option<ExperimentRecord>>;
    /// Experiments by id; only those of `projects` when given.
    fn list_experiments(&self, projects: Option<&[i64]>) -> Result<Vec<ExperimentRecord>>;
    /// Renames and/or sets the lifecycle; `Conflict` if the new name is taken.
    fn update_experiment(&self, id: i64, name: Option<&str>, lifecycle: Option<&str>, now_ms: i64) -> Result<()>;
    fn set_experiment_tag(&self, id: i64, key: &str, value: &str) -> Result<()>;

    /// `Conflict` if the run id is taken.
    fn create_run(&self, run: &NewRun) -> Result<()>;
    fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>>;
    /// Runs of the experiments, newest first, at most `limit`.
    fn list_runs(&self, experiment_ids: &[i64], limit: usize) -> Result<Vec<RunRecord>>;
    fn update_run(
        &self,
        run_id: &str,
        status: Option<&str>,
        end_ms: Option<i64>,
        name: Option<&str>,
        lifecycle: Option<&str>,
    ) -> Result<()>;
    /// `Conflict` naming the param if a param is logged again with another value.
    fn log_run(&self, run_id: &str, log: &RunLog) -> Result<()>;
    fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()>;
    fn log_run_inputs(&self, run_id: &str, inputs: &[RunInput]) -> Result<()>;
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>>;

    fn model_tags(&self, model_id: i64) -> Result<Vec<(String, String)>>;
    fn set_model_tag(&self, model_id: i64, key: &str, value: Option<&str>) -> Result<()>;
    /// Renames a model (its spec's name too); `Conflict` if the name is taken, `InUse`
    /// if predictions, monitors or retraining policies refer to it.
    fn rename_model(&self, model_id: i64, new_name: &str) -> Result<()>;
    /// Deletes a model and its registry data if nothing else refers to it (no
    /// predictions, references, monitors...); `InUse` when something does.
    fn delete_model(&self, model_id: i64) -> Result<()>;

    /// Registers a version named `name`, or the next integer after the model's numeric
    /// version names when `None`; `Conflict` if the name is taken.
    fn create_registry_version(
        &self,
        model_id: i64,
        name: Option<&str>,
        change: &VersionChange,
        now_ms: i64,
    ) -> Result<VersionRecord>;
    fn version_details(&self, version_id: i64) -> Result<Option<VersionDetails>>;
    /// Every version of a model with its details, by creation order.
    fn model_version_details(&self, model_id: i64) -> Result<Vec<VersionDetails>>;
    fn update_version(&self, version_id: i64, change: &VersionChange, now_ms: i64) -> Result<()>;
    fn delete_version_tag(&self, version_id: i64, key: &str) -> Result<()>;
    /// Deletes a version that served no predictions; `InUse` when it did.
    fn delete_version(&self, version_id: i64) -> Result<()>;
    /// Moves a version to a stage, recorded; with `archive_others`, the model's other
    /// versions in that stage move to `Archived` (each recorded too).
    fn set_stage(
        &self,
        model_id: i64,
        version_id: i64,
        stage: &str,
        archive_others: bool,
        t: &Transition<'_>,
    ) -> Result<()>;
    /// Points an alias at a version (`None` removes it), recorded.
    fn set_alias(&self, model_id: i64, alias: &str, version_id: Option<i64>, t: &Transition<'_>) -> Result<()>;
    fn aliases(&self, model_id: i64) -> Result<Vec<AliasRecord>>;
    /// The model's transitions, oldest first.
    fn transitions(&self, model_id: i64) -> Result<Vec<TransitionRecord>>;

    /// Maps an artifact path to stored bytes (replacing what it mapped to).
    fn put_artifact(&self, artifact: &ArtifactRecord) -> Result<()>;
    fn get_artifact(&self, path: &str) -> Result<Option<ArtifactRecord>>;
    /// Artifacts whose path starts with `prefix` (a directory path ending in `/`, or
    /// empty for all), by path.
    fn list_artifacts(&self, prefix: &str) -> Result<Vec<ArtifactRecord>>;

    /// A model's promotion gate (JSON document), if one is set; `None` removes it.
    fn set_promotion_gate(&self, model_id: i64, spec: Option<&str>, now_ms: i64) -> Result<()>;
    fn promotion_gate(&self, model_id: i64) -> Result<Option<String>>;
    /// Keeps a gate evaluation with the version; returns its sequence number.
    fn add_promotion_report(&self, model_id: i64, report: &PromotionReport) -> Result<i64>;
    /// A version's gate evaluations, oldest first.
    fn promotion_reports(&self, version_id: i64) -> Result<Vec<PromotionReport>>;
}
