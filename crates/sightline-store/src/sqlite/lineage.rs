//! The lineage graph on SQLite: raw events, nodes with merged facets, edges with the
//! time they were first and last seen, runs with their inputs and outputs, column edges.
//! Graph walks go level by level (one query per level and direction), so their cost
//! follows the part of the graph reached, not its size.

use super::SqliteStore;
use crate::Result;
use crate::lineage::{
    ColumnEdge, DatasetRef, Direction, LineageGraph, LineageNode, LineageRun, LineageStore, LineageUpdate, NodeKind,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::{HashMap, HashSet};

/// (project id, run id).
type RunKey = (i64, String);
/// (dataset node id, `input` or `output`, dataset version).
type RunIo = (i64, String, Option<String>);

const NODE_COLUMNS: &str = "id, project_id, kind, namespace, name, facets, created_ms, updated_ms";

fn node_from_row(r: &Row<'_>) -> rusqlite::Result<LineageNode> {
    let kind: String = r.get(2)?;
    let kind = NodeKind::parse(&kind)
        .ok_or_else(|| rusqlite::Error::InvalidColumnType(2, "kind".into(), rusqlite::types::Type::Text))?;
    Ok(LineageNode {
        id: r.get(0)?,
        project_id: r.get(1)?,
        kind,
        namespace: r.get(3)?,
        name: r.get(4)?,
        facets: r.get(5)?,
        created_ms: r.get(6)?,
        updated_ms: r.get(7)?,
    })
}

/// `old` with every facet of `new` put over it (facets are replaced whole, as
/// OpenLineage consumers do). Anything that is not an object leaves `old` as it was.
fn merge_facets(old: &str, new: &str) -> String {
    let (Ok(serde_json::Value::Object(mut old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::from_str::<serde_json::Value>(old), serde_json::from_str::<serde_json::Value>(new))
    else {
        return old.to_owned();
    };
    if new.is_empty() {
        return serde_json::Value::Object(old).to_string();
    }
    for (k, v) in new {
        old.insert(k, v);
    }
    serde_json::Value::Object(old).to_string()
}

/// The node's id, created or with its facets merged.
fn upsert_node(
    c: &Connection,
    project_id: i64,
    kind: NodeKind,
    namespace: &str,
    name: &str,
    facets: &str,
    at_ms: i64,
) -> Result<i64> {
    let existing: Option<(i64, String)> = c
        .prepare_cached(
            "SELECT id, facets FROM lineage_nodes WHERE project_id = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
        )?
        .query_row(params![project_id, kind.as_str(), namespace, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match existing {
        Some((id, old)) => {
            let merged = merge_facets(&old, facets);
            if merged != old {
                c.prepare_cached(
                    "UPDATE lineage_nodes SET facets = ?2, updated_ms = max(updated_ms, ?3) WHERE id = ?1",
                )?
                .execute(params![id, merged, at_ms])?;
            }
            Ok(id)
        }
        None => {
            let facets = merge_facets("{}", facets);
            c.prepare_cached(
                "INSERT INTO lineage_nodes (project_id, kind, namespace, name, facets, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![project_id, kind.as_str(), namespace, name, facets, at_ms])?;
            Ok(c.last_insert_rowid())
        }
    }
}

fn upsert_edge(c: &Connection, src: i64, dst: i64, at_ms: i64) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO lineage_edges (src, dst, first_ms, last_ms) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (src, dst) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms),
             last_ms = max(last_ms, excluded.last_ms)",
    )?
    .execute(params![src, dst, at_ms])?;
    Ok(())
}

fn dataset(c: &Connection, project_id: i64, d: &DatasetRef, at_ms: i64) -> Result<i64> {
    upsert_node(c, project_id, NodeKind::Dataset, &d.namespace, &d.name, &d.facets, at_ms)
}

fn fold(c: &Connection, u: &LineageUpdate, at: i64) -> Result<()> {
    let job = match &u.job {
        Some((namespace, name, facets)) => {
            Some(upsert_node(c, u.project_id, NodeKind::Job, namespace, name, facets, at)?)
        }
        None => None,
    };
    let mut io = Vec::new();
    for d in &u.inputs {
        let id = dataset(c, u.project_id, d, at)?;
        if let Some(job) = job {
            upsert_edge(c, id, job, at)?;
        }
        io.push((id, "input", d.version.clone()));
    }
    for d in &u.outputs {
        let id = dataset(c, u.project_id, d, at)?;
        if let Some(job) = job {
            upsert_edge(c, job, id, at)?;
        }
        io.push((id, "output", d.version.clone()));
        for col in &d.columns {
            let source =
                upsert_node(c, u.project_id, NodeKind::Dataset, &col.source_namespace, &col.source_name, "{}", at)?;
            c.prepare_cached(
                "INSERT INTO lineage_columns (dataset_id, field, source_id, source_field, transformation, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (dataset_id, field, source_id, source_field)
                 DO UPDATE SET transformation = excluded.transformation, updated_ms = excluded.updated_ms",
            )?
            .execute(params![id, col.field, source, col.source_field, col.transformation, at])?;
        }
    }
    if let (Some(run), Some(job)) = (&u.run, job) {
        let started = (run.state == "START").then_some(at);
        let ended = matches!(run.state.as_str(), "COMPLETE" | "FAIL" | "ABORT").then_some(at);
        // Events of a run may arrive out of order: the state is the latest event's.
        c.prepare_cached(
            "INSERT INTO lineage_runs (project_id, run_id, job_id, state, started_ms, ended_ms, updated_ms, facets)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (project_id, run_id) DO UPDATE SET
                 state = CASE WHEN excluded.updated_ms >= updated_ms THEN excluded.state ELSE state END,
                 started_ms = coalesce(started_ms, excluded.started_ms),
                 ended_ms = coalesce(excluded.ended_ms, ended_ms),
                 updated_ms = max(updated_ms, excluded.updated_ms)",
        )?
        .execute(params![u.project_id, run.run_id, job, run.state, started, ended, at, run.facets])?;
        let facets: String = c
            .prepare_cached("SELECT facets FROM lineage_runs WHERE project_id = ?1 AND run_id = ?2")?
            .query_row(params![u.project_id, run.run_id], |r| r.get(0))?;
        let merged = merge_facets(&facets, &run.facets);
        if merged != facets {
            c.prepare_cached("UPDATE lineage_runs SET facets = ?3 WHERE project_id = ?1 AND run_id = ?2")?
                .execute(params![u.project_id, run.run_id, merged])?;
        }
        for (dataset_id, direction, version) in io {
            c.prepare_cached(
                "INSERT INTO lineage_run_io (project_id, run_id, dataset_id, direction, version) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project_id, run_id, dataset_id, direction)
                 DO UPDATE SET version = coalesce(excluded.version, version)",
            )?
            .execute(params![u.project_id, run.run_id, dataset_id, direction, version])?;
        }
    }
    Ok(())
}

fn ids_json(ids: &[i64]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

impl LineageStore for SqliteStore {
    fn record_lineage(&self, u: &LineageUpdate, now_ms: i64) -> Result<i64> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO lineage_events (project_id, received_ms, event_time_ms, kind, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![u.project_id, now_ms, u.event_time_ms, u.kind, u.raw])?;
            let seq = tx.last_insert_rowid();
            fold(&tx, u, u.event_time_ms)?;
            tx.commit()?;
            Ok(seq)
        })
    }

    fn lineage_node(
        &self,
        project_id: i64,
        kind: NodeKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<LineageNode>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {NODE_COLUMNS} FROM lineage_nodes
                 WHERE project_id = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4"
            ))?
            .query_row(params![project_id, kind.as_str(), namespace, name], node_from_row)
            .optional()?)
        })
    }

    fn lineage_graph(
        &self,
        root: i64,
        depth: usize,
        direction: Direction,
        at_ms: Option<i64>,
        max_nodes: usize,
    ) -> Result<LineageGraph> {
        self.with_reader(|c| {
            let mut seen: HashSet<i64> = HashSet::from([root]);
            let mut order = vec![root];
            let mut edges: HashSet<(i64, i64)> = HashSet::new();
            let mut frontier = vec![root];
            let mut down = c.prepare_cached(
                "SELECT src, dst FROM lineage_edges
                 WHERE src IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR first_ms <= ?2)",
            )?;
            let mut up = c.prepare_cached(
                "SELECT src, dst FROM lineage_edges
                 WHERE dst IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR first_ms <= ?2)",
            )?;
            'levels: for _ in 0..depth {
                if frontier.is_empty() {
                    break;
                }
                let ids = ids_json(&frontier);
                let mut found: Vec<(i64, i64)> = Vec::new();
                if matches!(direction, Direction::Downstream | Direction::Both) {
                    found.extend(
                        down.query_map(params![ids, at_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                    );
                }
                if matches!(direction, Direction::Upstream | Direction::Both) {
                    found.extend(
                        up.query_map(params![ids, at_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                    );
                }
                frontier.clear();
                found.sort_unstable();
                for (src, dst) in found {
                    // One end is on the frontier (seen); the other may be new.
                    for next in [src, dst] {
                        if !seen.contains(&next) {
                            if seen.len() >= max_nodes {
                                break 'levels;
                            }
                            seen.insert(next);
                            order.push(next);
                            frontier.push(next);
                        }
                    }
                    edges.insert((src, dst));
                }
            }
            // Edges among the nodes kept only.
            let mut edges: Vec<(i64, i64)> =
                edges.into_iter().filter(|(s, d)| seen.contains(s) && seen.contains(d)).collect();
            edges.sort_unstable();
            let rank: HashMap<i64, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            let mut nodes = fetch_nodes(c, &order)?;
            nodes.sort_by_key(|n| rank.get(&n.id).copied().unwrap_or(usize::MAX));
            Ok(LineageGraph { nodes, edges })
        })
    }

    fn latest_runs(&self, job_ids: &[i64]) -> Result<Vec<LineageRun>> {
        self.with_reader(|c| {
            // One query for the runs and one for their inputs and outputs, whatever the
            // number of jobs: a graph answer renders thousands of them.
            let mut runs: Vec<(i64, LineageRun)> = c
                .prepare_cached(
                    "SELECT r.project_id, r.run_id, r.job_id, r.state, r.started_ms, r.ended_ms, r.updated_ms
                     FROM lineage_runs r
                     WHERE r.job_id IN (SELECT value FROM json_each(?1))
                       AND r.updated_ms = (SELECT max(r2.updated_ms) FROM lineage_runs r2 WHERE r2.job_id = r.job_id)
                     ORDER BY r.job_id, r.run_id",
                )?
                .query_map([ids_json(job_ids)], |r| {
                    Ok((
                        r.get(0)?,
                        LineageRun {
                            run_id: r.get(1)?,
                            job_id: r.get(2)?,
                            state: r.get(3)?,
                            started_ms: r.get(4)?,
                            ended_ms: r.get(5)?,
                            updated_ms: r.get(6)?,
                            io: Vec::new(),
                        },
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            // Runs of one job ending at the same millisecond: one of them.
            runs.dedup_by_key(|(_, r)| r.job_id);
            let keys: Vec<serde_json::Value> = runs.iter().map(|(p, r)| serde_json::json!([p, r.run_id])).collect();
            let mut io: HashMap<RunKey, Vec<RunIo>> = HashMap::new();
            let rows = c
                .prepare_cached(
                    "SELECT project_id, run_id, dataset_id, direction, version FROM lineage_run_io
                     WHERE (project_id, run_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
                     ORDER BY direction, dataset_id",
                )?
                .query_map([serde_json::Value::Array(keys).to_string()], |r| {
                    Ok(((r.get::<_, i64>(0)?, r.get::<_, String>(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (key, row) in rows {
                io.entry(key).or_default().push(row);
            }
            for (project_id, run) in &mut runs {
                run.io = io.remove(&(*project_id, run.run_id.clone())).unwrap_or_default();
            }
            Ok(runs.into_iter().map(|(_, r)| r).collect())
        })
    }

    fn column_lineage(&self, dataset_ids: &[i64]) -> Result<Vec<ColumnEdge>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT dataset_id, field, source_id, source_field, transformation FROM lineage_columns
                 WHERE dataset_id IN (SELECT value FROM json_each(?1)) ORDER BY dataset_id, field, source_id, source_field",
            )?
            .query_map([ids_json(dataset_ids)], |r| {
                Ok(ColumnEdge {
                    dataset_id: r.get(0)?,
                    field: r.get(1)?,
                    source_id: r.get(2)?,
                    source_field: r.get(3)?,
                    transformation: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn lineage_nodes(&self, ids: &[i64]) -> Result<Vec<LineageNode>> {
        self.with_reader(|c| fetch_nodes(c, ids))
    }
}

fn fetch_nodes(c: &Connection, ids: &[i64]) -> Result<Vec<LineageNode>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {NODE_COLUMNS} FROM lineage_nodes WHERE id IN (SELECT value FROM json_each(?1))"
    ))?
    .query_map([ids_json(ids)], node_from_row)?
    .collect::<rusqlite::Result<_>>()?)
}
