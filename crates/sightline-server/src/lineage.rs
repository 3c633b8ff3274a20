//! Lineage reads: node ids as Marquez writes them (`dataset:<namespace>:<name>`,
//! `job:<namespace>:<name>`), the graph around a node in Marquez's shape, column
//! lineage, and impact analysis — the model versions, monitors and open alerts
//! downstream of a dataset. Model versions are datasets in the `sightline` namespace
//! named `<model>/<version>`: a job that outputs one trained that version.

pub mod openlineage;

use crate::wire::time::format;
use serde_json::{Map, Value, json};
use sightline_store::lineage::Direction;
use sightline_store::{AlertQuery, LineageGraph, LineageNode, LineageRun, NodeKind, Page, Store};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The namespace whose datasets are Sightline model versions.
pub const MODEL_NAMESPACE: &str = "sightline";

/// Most nodes one graph answer holds.
pub const MAX_GRAPH_NODES: usize = 10_000;

/// The Marquez-style id of a node.
pub fn node_id(kind: NodeKind, namespace: &str, name: &str) -> String {
    format!("{}:{namespace}:{name}", kind.as_str())
}

/// Finds the node a Marquez-style id names. Namespaces often hold colons
/// (`postgres://db:5432`), so every split point is tried, the longest namespace last.
pub fn find_node(store: &dyn Store, project_id: i64, id: &str) -> Result<Option<LineageNode>, String> {
    let Some((kind, rest)) = id.split_once(':') else {
        return Err("must look like dataset:<namespace>:<name> or job:<namespace>:<name>".into());
    };
    let Some(kind) = NodeKind::parse(kind) else {
        return Err(format!("{kind:?} is not a node type: use dataset or job"));
    };
    for (i, _) in rest.match_indices(':') {
        let (namespace, name) = (&rest[..i], &rest[i + 1..]);
        if namespace.is_empty() || name.is_empty() {
            continue;
        }
        if let Some(node) = store.lineage_node(project_id, kind, namespace, name).map_err(|e| e.to_string())? {
            return Ok(Some(node));
        }
    }
    Ok(None)
}

/// The model and version a node stands for, if it is a model-version dataset.
pub fn model_version(node: &LineageNode) -> Option<(&str, &str)> {
    if node.kind != NodeKind::Dataset || node.namespace != MODEL_NAMESPACE {
        return None;
    }
    node.name.split_once('/').filter(|(m, v)| !m.is_empty() && !v.is_empty())
}

fn facets(node: &LineageNode) -> Value {
    serde_json::from_str(&node.facets).unwrap_or_else(|_| json!({}))
}

/// In- and out-edges per node id.
type Adjacency = HashMap<i64, (Vec<i64>, Vec<i64>)>;

/// What rendering a graph needs besides its nodes and edges: each job's latest run and
/// the names of the datasets those runs touched.
struct Context<'a> {
    adjacency: Adjacency,
    by_id: HashMap<i64, &'a LineageNode>,
    runs: HashMap<i64, LineageRun>,
    names: HashMap<i64, (String, String)>,
}

/// The node's `data` in a graph answer.
fn node_data(node: &LineageNode, cx: &Context<'_>) -> Value {
    let (adjacency, by_id) = (&cx.adjacency, &cx.by_id);
    let f = facets(node);
    let key = |id: &i64| by_id.get(id).map(|n| json!({"namespace": n.namespace, "name": n.name}));
    // Built member by member: `json!` would copy every nested value once more, which
    // dominates the time of a 10,000-node answer.
    let mut data = Map::new();
    data.insert("id".into(), json!({"namespace": node.namespace, "name": node.name}));
    data.insert("namespace".into(), Value::String(node.namespace.clone()));
    data.insert("name".into(), Value::String(node.name.clone()));
    data.insert("createdAt".into(), Value::String(format(node.created_ms)));
    data.insert("updatedAt".into(), Value::String(format(node.updated_ms)));
    match node.kind {
        NodeKind::Dataset => {
            data.insert("type".into(), Value::String("DATASET".into()));
            data.insert(
                "fields".into(),
                f.pointer("/schema/fields").cloned().unwrap_or_else(|| Value::Array(Vec::new())),
            );
            if let Some((model, version)) = model_version(node) {
                data.insert("model".into(), json!({"name": model, "version": version}));
            }
        }
        NodeKind::Job => {
            data.insert("type".into(), Value::String("JOB".into()));
            let (ins, outs) = adjacency.get(&node.id).map(|(i, o)| (i.as_slice(), o.as_slice())).unwrap_or_default();
            data.insert("inputs".into(), Value::Array(ins.iter().filter_map(key).collect()));
            data.insert("outputs".into(), Value::Array(outs.iter().filter_map(key).collect()));
            data.insert("latestRun".into(), cx.runs.get(&node.id).map_or(Value::Null, |r| run_json(r, &cx.names)));
        }
    }
    data.insert("facets".into(), f);
    Value::Object(data)
}

/// A run with its inputs and outputs (and the versions it read and wrote); `names`
/// holds (namespace, name) of the datasets.
fn run_json(run: &LineageRun, names: &HashMap<i64, (String, String)>) -> Value {
    let side = |direction: &str| -> Vec<Value> {
        run.io
            .iter()
            .filter(|(_, d, _)| d == direction)
            .filter_map(|(id, _, version)| {
                names.get(id).map(|(ns, name)| json!({"namespace": ns, "name": name, "version": version}))
            })
            .collect()
    };
    json!({
        "id": run.run_id,
        "state": run.state,
        "startedAt": run.started_ms.map(format),
        "endedAt": run.ended_ms.map(format),
        "updatedAt": format(run.updated_ms),
        "inputVersions": side("input"),
        "outputVersions": side("output"),
    })
}

/// The graph as Marquez answers it: `{"graph": [{id, type, data, inEdges, outEdges}]}`.
pub fn graph_json(store: &dyn Store, graph: &LineageGraph) -> Result<Value, sightline_store::StoreError> {
    let by_id: HashMap<i64, &LineageNode> = graph.nodes.iter().map(|n| (n.id, n)).collect();
    let mut adjacency: Adjacency = HashMap::new();
    for (s, d) in &graph.edges {
        adjacency.entry(*d).or_default().0.push(*s);
        adjacency.entry(*s).or_default().1.push(*d);
    }
    let jobs: Vec<i64> = graph.nodes.iter().filter(|n| n.kind == NodeKind::Job).map(|n| n.id).collect();
    let runs: HashMap<i64, LineageRun> = store.latest_runs(&jobs)?.into_iter().map(|r| (r.job_id, r)).collect();
    let mut names: HashMap<i64, (String, String)> =
        graph.nodes.iter().map(|n| (n.id, (n.namespace.clone(), n.name.clone()))).collect();
    let missing: Vec<i64> =
        runs.values().flat_map(|r| r.io.iter().map(|(id, _, _)| *id)).filter(|id| !names.contains_key(id)).collect();
    if !missing.is_empty() {
        names.extend(store.lineage_nodes(&missing)?.into_iter().map(|n| (n.id, (n.namespace, n.name))));
    }
    let cx = Context { adjacency, by_id, runs, names };
    let id_of = |id: i64| cx.by_id.get(&id).map(|n| node_id(n.kind, &n.namespace, &n.name));
    let edge = |s: i64, d: i64| Some(json!({"origin": id_of(s)?, "destination": id_of(d)?}));
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            let (ins, outs) = cx.adjacency.get(&n.id).map(|(i, o)| (i.as_slice(), o.as_slice())).unwrap_or_default();
            let mut out = Map::new();
            out.insert("id".into(), Value::String(node_id(n.kind, &n.namespace, &n.name)));
            out.insert("type".into(), Value::String(if n.kind == NodeKind::Job { "JOB" } else { "DATASET" }.into()));
            out.insert("data".into(), node_data(n, &cx));
            out.insert("inEdges".into(), Value::Array(ins.iter().filter_map(|s| edge(*s, n.id)).collect()));
            out.insert("outEdges".into(), Value::Array(outs.iter().filter_map(|d| edge(n.id, *d)).collect()));
            Value::Object(out)
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("graph".into(), Value::Array(nodes));
    Ok(Value::Object(answer))
}

/// Column lineage upstream of a dataset's fields, `depth` hops, in Marquez's shape:
/// nodes `datasetField:<namespace>:<name>:<field>`.
pub fn column_graph(store: &dyn Store, root: &LineageNode, depth: usize) -> Result<Value, String> {
    let mut seen: HashSet<i64> = HashSet::from([root.id]);
    let mut frontier = vec![root.id];
    let mut edges = Vec::new();
    for _ in 0..depth {
        if frontier.is_empty() {
            break;
        }
        let found = store.column_lineage(&frontier).map_err(|e| e.to_string())?;
        frontier = found.iter().map(|e| e.source_id).filter(|id| seen.insert(*id)).collect();
        edges.extend(found);
        if seen.len() > MAX_GRAPH_NODES {
            break;
        }
    }
    let ids: Vec<i64> = seen.into_iter().collect();
    let nodes: HashMap<i64, LineageNode> =
        store.lineage_nodes(&ids).map_err(|e| e.to_string())?.into_iter().map(|n| (n.id, n)).collect();
    let field_id = |dataset: i64, field: &str| {
        nodes.get(&dataset).map(|n| format!("datasetField:{}:{}:{field}", n.namespace, n.name))
    };
    // Every field that appears, with its in- and out-edges.
    let mut fields: BTreeMap<String, (Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for e in &edges {
        let (Some(to), Some(from)) = (field_id(e.dataset_id, &e.field), field_id(e.source_id, &e.source_field)) else {
            continue;
        };
        for (id, dataset, field) in [(&to, e.dataset_id, &e.field), (&from, e.source_id, &e.source_field)] {
            if let Some(n) = nodes.get(&dataset) {
                fields.entry(id.clone()).or_insert_with(|| {
                    (json!({"namespace": n.namespace, "dataset": n.name, "field": field}), Vec::new(), Vec::new())
                });
            }
        }
        let edge = json!({"origin": from, "destination": to, "transformation": e.transformation});
        if let Some(entry) = fields.get_mut(&to) {
            entry.1.push(edge.clone());
        }
        if let Some(entry) = fields.get_mut(&from) {
            entry.2.push(edge);
        }
    }
    let graph: Vec<Value> = fields
        .into_iter()
        .map(|(id, (data, ins, outs))| {
            json!({"id": id, "type": "DATASET_FIELD", "data": data, "inEdges": ins, "outEdges": outs})
        })
        .collect();
    Ok(json!({ "graph": graph }))
}

/// Everything downstream of a node: datasets and jobs, and for each Sightline model
/// version among them, the model's monitors and their open (pending or firing) alerts.
pub fn impact(store: &dyn Store, root: &LineageNode, at_ms: Option<i64>) -> Result<Value, String> {
    let graph = store
        .lineage_graph(root.id, usize::MAX, Direction::Downstream, at_ms, MAX_GRAPH_NODES)
        .map_err(|e| e.to_string())?;
    let mut datasets = Vec::new();
    let mut jobs = Vec::new();
    let mut models = Vec::new();
    let monitors = store.list_monitors(Some(&[root.project_id]), &Page::all()).map_err(|e| e.to_string())?;
    for n in graph.nodes.iter().filter(|n| n.id != root.id) {
        let id = node_id(n.kind, &n.namespace, &n.name);
        match n.kind {
            NodeKind::Job => jobs.push(id.clone()),
            NodeKind::Dataset => datasets.push(id.clone()),
        }
        let Some((model_name, version)) = model_version(n) else { continue };
        let model = store.get_model(model_name).map_err(|e| e.to_string())?.filter(|m| m.project_id == root.project_id);
        let Some(model) = model else {
            models.push(json!({"node": id, "model": model_name, "version": version, "registered": false}));
            continue;
        };
        let mut watching = Vec::new();
        let mut open_alerts = Vec::new();
        for m in monitors.iter().filter(|m| m.model_id == model.id) {
            watching.push(m.id.clone());
            let query = AlertQuery { monitor_id: Some(m.id.clone()), ..AlertQuery::default() };
            for a in store.list_alerts(&query).map_err(|e| e.to_string())? {
                let labels: BTreeMap<String, String> = serde_json::from_str(&a.labels).unwrap_or_default();
                let for_version = labels.get("version").is_none_or(|v| v == version);
                if matches!(a.state.as_str(), "pending" | "firing") && for_version {
                    open_alerts.push(json!({"fingerprint": a.fingerprint, "monitor": a.monitor_id, "state": a.state}));
                }
            }
        }
        models.push(json!({
            "node": id, "model": model_name, "version": version, "registered": true,
            "monitors": watching, "open_alerts": open_alerts,
        }));
    }
    Ok(json!({
        "node": node_id(root.kind, &root.namespace, &root.name),
        "datasets": datasets,
        "jobs": jobs,
        "models": models,
        "truncated": graph.nodes.len() >= MAX_GRAPH_NODES,
    }))
}
