//! Data lineage as OpenLineage describes it: datasets, jobs and their runs, per project.
//! Each accepted event is kept as received, and folded into a graph — dataset → job for
//! a job's inputs, job → dataset for its outputs — with the latest facets of each node,
//! the dataset versions each run read and wrote, and column-level lineage.

use crate::Result;

/// What a node is. Model versions are datasets in the `sightline` namespace named
/// `<model>/<version>`: a training job that outputs one produced that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    Dataset,
    Job,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Dataset => "dataset",
            NodeKind::Job => "job",
        }
    }

    pub fn parse(s: &str) -> Option<NodeKind> {
        match s {
            "dataset" => Some(NodeKind::Dataset),
            "job" => Some(NodeKind::Job),
            _ => None,
        }
    }
}

/// A dataset or job as the graph stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageNode {
    pub id: i64,
    pub project_id: i64,
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// The latest facets, merged facet by facet (JSON object).
    pub facets: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A dataset named in an event, with what the event says about it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DatasetRef {
    pub namespace: String,
    pub name: String,
    /// Its facets (JSON object; `{}` when none).
    pub facets: String,
    /// The dataset version, from the `version` facet (or a `datasetVersion` input/output
    /// facet), if any.
    pub version: Option<String>,
    /// Column lineage: (output field, input namespace, input name, input field,
    /// transformation description).
    pub columns: Vec<ColumnSource>,
}

/// One input column of an output column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnSource {
    pub field: String,
    pub source_namespace: String,
    pub source_name: String,
    pub source_field: String,
    pub transformation: String,
}

/// A run of a job: its state from the latest event that named it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRef {
    pub run_id: String,
    /// `START`, `RUNNING`, `COMPLETE`, `ABORT`, `FAIL`, `OTHER`.
    pub state: String,
    pub facets: String,
}

/// One validated OpenLineage event, ready to fold into the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageUpdate {
    pub project_id: i64,
    /// `run`, `job` or `dataset` (which kind of OpenLineage event).
    pub kind: &'static str,
    pub event_time_ms: i64,
    /// The event as received (JSON).
    pub raw: String,
    /// (namespace, name, facets JSON) of the job, absent in a dataset event.
    pub job: Option<(String, String, String)>,
    pub run: Option<RunRef>,
    pub inputs: Vec<DatasetRef>,
    pub outputs: Vec<DatasetRef>,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageRun {
    pub run_id: String,
    pub job_id: i64,
    pub state: String,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub updated_ms: i64,
    /// (dataset node id, `input` or `output`, dataset version).
    pub io: Vec<(i64, String, Option<String>)>,
}

/// A column edge: `field` of dataset `dataset_id` comes from `source_field` of
/// `source_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnEdge {
    pub dataset_id: i64,
    pub field: String,
    pub source_id: i64,
    pub source_field: String,
    pub transformation: String,
}

/// Which way to walk from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

/// Nodes reached from a root and the edges between them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineageGraph {
    pub nodes: Vec<LineageNode>,
    /// (source id, destination id).
    pub edges: Vec<(i64, i64)>,
}

pub trait LineageStore {
    /// Stores the raw event and folds it into the graph, in one transaction; the
    /// event's sequence number.
    fn record_lineage(&self, update: &LineageUpdate, now_ms: i64) -> Result<i64>;
    /// A node by its key.
    fn lineage_node(&self, project_id: i64, kind: NodeKind, namespace: &str, name: &str)
    -> Result<Option<LineageNode>>;
    /// Nodes within `depth` edges of `root` walking `direction`, and the edges among
    /// them. With `at_ms`, only edges first seen at or before it (the graph as it was).
    /// At most `max_nodes` nodes (nearest first).
    fn lineage_graph(
        &self,
        root: i64,
        depth: usize,
        direction: Direction,
        at_ms: Option<i64>,
        max_nodes: usize,
    ) -> Result<LineageGraph>;
    /// The latest run of each of these jobs that has one (in any order).
    fn latest_runs(&self, job_ids: &[i64]) -> Result<Vec<LineageRun>>;
    /// Column lineage into the given datasets.
    fn column_lineage(&self, dataset_ids: &[i64]) -> Result<Vec<ColumnEdge>>;
    /// Nodes by id (in any order).
    fn lineage_nodes(&self, ids: &[i64]) -> Result<Vec<LineageNode>>;
}
