//! The lineage view: the graph around one dataset or job drawn as SVG — upstream to the
//! left, downstream to the right, one column per step — each node a link that centres
//! the view on it, model versions linking to their model's page.

use super::layout;
use super::{PageResult, Viewer, html, segment};
use crate::error::{ApiError, Code};
use crate::lineage::{MODEL_NAMESPACE, find_node, model_version, node_id};
use crate::state::{AppState, blocking};
use axum::extract::{Query, State};
use maud::{Markup, html};
use sightline_core::Need;
use sightline_store::lineage::Direction;
use sightline_store::{LineageGraph, LineageNode, NodeKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Most nodes drawn.
const MAX_DRAWN: usize = 200;
const BOX_W: i64 = 200;
const BOX_H: i64 = 34;
const COL_GAP: i64 = 70;
const ROW_GAP: i64 = 14;

/// Each node's column: steps from the root, negative upstream (a breadth-first walk
/// over the edges either way, so every drawn node gets one).
fn columns(graph: &LineageGraph, root: i64) -> HashMap<i64, i64> {
    let mut level = HashMap::from([(root, 0)]);
    let mut queue = VecDeque::from([root]);
    while let Some(at) = queue.pop_front() {
        let here = level[&at];
        for (s, d) in &graph.edges {
            let (next, step) = if *s == at {
                (*d, 1)
            } else if *d == at {
                (*s, -1)
            } else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(e) = level.entry(next) {
                e.insert(here + step);
                queue.push_back(next);
            }
        }
    }
    level
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

fn href(node: &LineageNode) -> String {
    format!("/ui/lineage?{}", super::session::encode(&[("nodeId", &node_id(node.kind, &node.namespace, &node.name))]))
}

/// The SVG of the graph.
fn drawing(graph: &LineageGraph, root: i64) -> Markup {
    let level = columns(graph, root);
    let mut by_column: BTreeMap<i64, Vec<&LineageNode>> = BTreeMap::new();
    for n in &graph.nodes {
        if let Some(l) = level.get(&n.id) {
            by_column.entry(*l).or_default().push(n);
        }
    }
    let first = by_column.keys().next().copied().unwrap_or(0);
    let mut at: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut height = 0;
    for (col, nodes) in &mut by_column {
        nodes.sort_by(|a, b| (a.namespace.as_str(), a.name.as_str()).cmp(&(b.namespace.as_str(), b.name.as_str())));
        for (row, n) in nodes.iter().enumerate() {
            let (x, y) = ((col - first) * (BOX_W + COL_GAP) + 10, row as i64 * (BOX_H + ROW_GAP) + 10);
            at.insert(n.id, (x, y));
            height = height.max(y + BOX_H + 10);
        }
    }
    let width = (by_column.len() as i64) * (BOX_W + COL_GAP) - COL_GAP + 20;
    html! {
        svg #lineage-graph xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="lineage graph" {
            @for (s, d) in &graph.edges {
                @if let (Some((x1, y1)), Some((x2, y2))) = (at.get(s), at.get(d)) {
                    line x1=(x1 + BOX_W) y1=(y1 + BOX_H / 2) x2=(x2) y2=(y2 + BOX_H / 2) stroke="#8a94a6" stroke-width="1.5" {}
                }
            }
            @for n in &graph.nodes {
                @if let Some((x, y)) = at.get(&n.id) {
                    @let fill = match (n.id == root, n.kind, n.namespace == MODEL_NAMESPACE) {
                        (true, _, _) => "#fde68a",
                        (_, NodeKind::Job, _) => "#dbeafe",
                        (_, _, true) => "#dcfce7",
                        _ => "#f3f4f6",
                    };
                    a href=(href(n)) {
                        title { (node_id(n.kind, &n.namespace, &n.name)) }
                        rect x=(x) y=(y) width=(BOX_W) height=(BOX_H) rx="5" fill=(fill) stroke="#475569" {}
                        text x=(x + 8) y=(y + 14) font-size="10" fill="#475569" { (if n.kind == NodeKind::Job { "job · " } else { "dataset · " }) (short(&n.namespace, 24)) }
                        text x=(x + 8) y=(y + 27) font-size="12" fill="#0f172a" { (short(&n.name, 28)) }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let Some(id) = q.get("nodeId").cloned() else {
        return Err(ApiError::new(Code::InvalidQuery, "nodeId: required, e.g. dataset:<namespace>:<name>").into());
    };
    let depth = match q.get("depth").map(|d| d.parse::<usize>()) {
        None => 3,
        Some(Ok(d)) if d <= 10 => d,
        Some(_) => return Err(ApiError::new(Code::InvalidQuery, "depth: a whole number up to 10").into()),
    };
    let project = crate::routes::models::owning_project(&app, &viewer.principal, q.get("project").cloned()).await?;
    let not_found = || ApiError::new(Code::NotFound, format!("no lineage node {id:?}"));
    crate::auth::gate::check_project(&viewer.principal, project.id, Need::Read, not_found)?;
    let store = app.store.clone();
    let wanted = id.clone();
    let (root, graph) = blocking(move || {
        let node = find_node(store.as_ref(), project.id, &wanted)
            .map_err(|m| ApiError::new(Code::InvalidQuery, format!("nodeId: {m}")))?;
        let Some(node) = node else { return Ok::<_, ApiError>(None) };
        let graph = store.lineage_graph(node.id, depth, Direction::Both, None, MAX_DRAWN)?;
        Ok(Some((node, graph)))
    })
    .await??
    .ok_or_else(not_found)?;
    let model_link = model_version(&root)
        .map(|(m, v)| format!("/ui/models/{}?{}", segment(m), super::session::encode(&[("version", v)])));
    let title = format!("Lineage of {}", root.name);
    let body = html! {
        h1 { (title) }
        p.muted { code { (id) } " · " (graph.nodes.len()) " nodes within " (depth) " steps"
            @if graph.nodes.len() >= MAX_DRAWN { " (the first " (MAX_DRAWN) ")" }
            ". Click a node to centre on it. "
            a href={ "/api/v1/lineage?" (super::session::encode(&[("nodeId", id.as_str()), ("depth", &depth.to_string())])) } { "As JSON" } }
        @if let Some(link) = model_link { p { "This node is a model version: " a href=(link) { "its model page" } "." } }
        div.lineage { (drawing(&graph, root.id)) }
    };
    let crumbs = [("Lineage", format!("/ui/lineage?{}", super::session::encode(&[("nodeId", id.as_str())])))];
    Ok(html(layout::page(&viewer, &title, &crumbs, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, name: &str) -> LineageNode {
        LineageNode {
            id,
            project_id: 1,
            kind: if name.starts_with('j') { NodeKind::Job } else { NodeKind::Dataset },
            namespace: "ns".into(),
            name: name.into(),
            facets: "{}".into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn upstream_is_left_and_downstream_right() {
        // a → j1 → b → j2 → c, centred on b.
        let graph = LineageGraph {
            nodes: vec![node(1, "a"), node(2, "j1"), node(3, "b"), node(4, "j2"), node(5, "c")],
            edges: vec![(1, 2), (2, 3), (3, 4), (4, 5)],
        };
        let level = columns(&graph, 3);
        assert_eq!([level[&1], level[&2], level[&3], level[&4], level[&5]], [-2, -1, 0, 1, 2]);
        let svg = drawing(&graph, 3).into_string();
        assert_eq!(svg.matches("<rect").count(), 5);
        assert_eq!(svg.matches("<line").count(), 4);
        assert!(svg.contains("href=\"/ui/lineage?nodeId=dataset%3Ans%3Aa\""), "{svg}");
    }
}
