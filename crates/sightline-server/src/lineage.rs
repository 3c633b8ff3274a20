//! Lineage reads: node ids as Marquez writes them (`dataset:<namespace>:<name>`,
//! `job:<namespace>:<name>`), the graph around a node in Marquez's shape, column
//! lineage, and impact analysis — the model versions, monitors and open alerts
//! downstream of a dataset. Model versions are datasets in the `sightline` namespace
//! named `<model>/<version>`: a job that outputs one trained that version.

pub mod openlineage;

use crate::wire::time::format;
use serde_json::{Value, json};
use sightline_store::lineage::Direction;
use sightline_store::{AlertQuery, LineageGraph, LineageNode, NodeKind, Page, Store};
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

/// The node's `data` in a graph answer.
fn node_data(
    store: &dyn Store,
    node: &LineageNode,
    adjacency: &Adjacency,
    by_id: &HashMap<i64, &LineageNode>,
) -> Value {
    let f = facets(node);
    let key = |id: &i64| by_id.get(id).map(|n| json!({"namespace": n.namespace, "name": n.name}));
    let mut data = json!({
        "id": {"namespace": node.namespace, "name": node.name},
        "namespace": node.namespace,
        "name": node.name,
        "facets": f,
        "createdAt": format(node.created_ms),
        "updatedAt": format(node.updated_ms),
    });
    match node.kind {
        NodeKind::Dataset => {
            data["type"] = json!("DATASET");
            data["fields"] = f.pointer("/schema/fields").cloned().unwrap_or_else(|| json!([]));
            if let Some((model, version)) = model_version(node) {
                data["model"] = json!({"name": model, "version": version});
            }
        }
        NodeKind::Job => {
            data["type"] = json!("JOB");
            let (ins, outs) = adjacency.get(&node.id).map(|(i, o)| (i.as_slice(), o.as_slice())).unwrap_or_default();
            data["inputs"] = json!(ins.iter().filter_map(key).collect::<Vec<_>>());
            data["outputs"] = json!(outs.iter().filter_map(key).collect::<Vec<_>>());
            data["latestRun"] = match store.lineage_runs(node.id, 1) {
                Ok(runs) => runs.first().map_or(Value::Null, |r| run_json(store, r)),
                Err(_) => Value::Null,
            };
        }
    }
    data
}

/// A run with its inputs and outputs (and the versions it read and wrote).
pub fn run_json(store: &dyn Store, run: &sightline_store::LineageRun) -> Value {
    let ids: Vec<i64> = run.io.iter().map(|(id, _, _)| *id).collect();
    let nodes: HashMap<i64, LineageNode> =
        store.lineage_nodes(&ids).unwrap_or_default().into_iter().map(|n| (n.id, n)).collect();
    let side = |direction: &str| -> Vec<Value> {
        run.io
            .iter()
            .filter(|(_, d, _)| d == direction)
            .filter_map(|(id, _, version)| {
                nodes.get(id).map(|n| json!({"namespace": n.namespace, "name": n.name, "version": version}))
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
pub fn graph_json(store: &dyn Store, graph: &LineageGraph) -> Value {
    let by_id: HashMap<i64, &LineageNode> = graph.nodes.iter().map(|n| (n.id, n)).collect();
    let mut adjacency: Adjacency = HashMap::new();
    for (s, d) in &graph.edges {
        adjacency.entry(*d).or_default().0.push(*s);
        adjacency.entry(*s).or_default().1.push(*d);
    }
    let id_of = |id: i64| by_id.get(&id).map(|n| node_id(n.kind, &n.namespace, &n.name));
    let edge = |s: i64, d: i64| Some(json!({"origin": id_of(s)?, "destination": id_of(d)?}));
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            let (ins, outs) = adjacency.get(&n.id).map(|(i, o)| (i.as_slice(), o.as_slice())).unwrap_or_default();
            json!({
                "id": node_id(n.kind, &n.namespace, &n.name),
                "type": if n.kind == NodeKind::Job { "JOB" } else { "DATASET" },
                "data": node_data(store, n, &adjacency, &by_id),
                "inEdges": ins.iter().filter_map(|s| edge(*s, n.id)).collect::<Vec<_>>(),
                "outEdges": outs.iter().filter_map(|d| edge(n.id, *d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "graph": nodes })
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
