//! The model registry and experiment tracking on SQLite (tables of migrations 11 and 12).

use super::{SqliteStore, is_unique_violation};
use crate::record::VersionRecord;
use crate::registry::{
    AliasRecord, ArtifactRecord, DataVersion, ExperimentRecord, MetricPoint, NO_STAGE, NewRun, PromotionReport,
    RegistryStore, RunInput, RunLog, RunRecord, Transition, TransitionRecord, VersionChange, VersionDetails,
};
use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

type Pairs = Vec<(String, String)>;

fn pairs(c: &Connection, sql: &str, key: &dyn rusqlite::ToSql) -> Result<Pairs> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// SQLite turns NaN into NULL; NULL reads back as NaN.
fn real(r: &Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
}

fn finite(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

const EXPERIMENT_COLUMNS: &str = "id, project_id, name, lifecycle, created_ms, updated_ms";

fn experiment(c: &Connection, r: &Row<'_>) -> Result<ExperimentRecord> {
    let id: i64 = r.get(0)?;
    Ok(ExperimentRecord {
        id,
        project_id: r.get(1)?,
        name: r.get(2)?,
        lifecycle: r.get(3)?,
        created_ms: r.get(4)?,
        updated_ms: r.get(5)?,
        tags: pairs(c, "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key", &id)?,
    })
}

fn experiments_where(c: &Connection, clause: &str, key: &dyn rusqlite::ToSql) -> Result<Vec<ExperimentRecord>> {
    let mut stmt =
        c.prepare_cached(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE {clause} ORDER BY id"))?;
    let mut rows = stmt.query([key])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(experiment(c, r)?);
    }
    Ok(out)
}

const RUN_COLUMNS: &str = "r.run_id, r.experiment_id, e.project_id, r.name, r.user_id, r.status, r.start_ms, r.end_ms, \
                           r.lifecycle";

fn run(c: &Connection, r: &Row<'_>) -> Result<RunRecord> {
    let run_id: String = r.get(0)?;
    let mut metrics = c.prepare_cached(
        "SELECT key, value, ts_ms, step FROM run_metrics WHERE run_id = ?1 ORDER BY key, step, ts_ms, seq",
    )?;
    let mut latest: Vec<MetricPoint> = Vec::new();
    let points = metrics.query_map([&run_id], |m| {
        Ok(MetricPoint { key: m.get(0)?, value: real(m, 1)?, ts_ms: m.get(2)?, step: m.get(3)? })
    })?;
    for p in points {
        let p = p?;
        // Ordered by key then step and time: the last point of each key is its latest.
        match latest.last_mut() {
            Some(last) if last.key == p.key => *last = p,
            _ => latest.push(p),
        }
    }
    let mut inputs = c.prepare_cached(
        "SELECT name, digest, source_type, source, schema, profile, context FROM run_inputs WHERE run_id = ?1
         ORDER BY name, digest",
    )?;
    let inputs = inputs
        .query_map([&run_id], |i| {
            Ok(RunInput {
                name: i.get(0)?,
                digest: i.get(1)?,
                source_type: i.get(2)?,
                source: i.get(3)?,
                schema: i.get(4)?,
                profile: i.get(5)?,
                context: i.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(RunRecord {
        experiment_id: r.get(1)?,
        project_id: r.get(2)?,
        name: r.get(3)?,
        user_id: r.get(4)?,
        status: r.get(5)?,
        start_ms: r.get(6)?,
        end_ms: r.get(7)?,
        lifecycle: r.get(8)?,
        params: pairs(c, "SELECT key, value FROM run_params WHERE run_id = ?1 ORDER BY key", &run_id)?,
        metrics: latest,
        tags: pairs(c, "SELECT key, value FROM run_tags WHERE run_id = ?1 ORDER BY key", &run_id)?,
        inputs,
        run_id,
    })
}

fn set_tag(c: &Connection, table: &str, owner: &str, id: &dyn rusqlite::ToSql, key: &str, value: &str) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO {table} ({owner}, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT ({owner}, key) DO UPDATE SET value = excluded.value"
    ))?
    .execute(params![id, key, value])?;
    Ok(())
}

fn version_record(r: &Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        id: r.get(0)?,
        model_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        created_ms: r.get(4)?,
    })
}

const DETAIL_COLUMNS: &str = "v.id, v.model_id, v.name, v.description, v.created_ms, \
    COALESCE(g.source, ''), COALESCE(g.run_id, ''), COALESCE(g.git_commit, ''), COALESCE(g.stage, 'None'), \
    COALESCE(g.user_id, ''), COALESCE(g.updated_ms, v.created_ms)";

fn details(c: &Connection, r: &Row<'_>) -> Result<VersionDetails> {
    let version = version_record(r)?;
    let id = version.id;
    let mut metrics = c.prepare_cached("SELECT key, value FROM version_metrics WHERE version_id = ?1 ORDER BY key")?;
    let metrics = metrics.query_map([id], |m| Ok((m.get(0)?, real(m, 1)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut data =
        c.prepare_cached("SELECT kind, name, version FROM version_data WHERE version_id = ?1 ORDER BY kind, name")?;
    let data = data
        .query_map([id], |d| Ok(DataVersion { kind: d.get(0)?, name: d.get(1)?, version: d.get(2)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let mut aliases = c.prepare_cached("SELECT alias FROM model_aliases WHERE version_id = ?1 ORDER BY alias")?;
    let aliases = aliases.query_map([id], |a| a.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(VersionDetails {
        source: r.get(5)?,
        run_id: r.get(6)?,
        git_commit: r.get(7)?,
        stage: r.get(8)?,
        user_id: r.get(9)?,
        updated_ms: r.get(10)?,
        params: pairs(c, "SELECT key, value FROM version_params WHERE version_id = ?1 ORDER BY key", &id)?,
        metrics,
        tags: pairs(c, "SELECT key, value FROM version_tags WHERE version_id = ?1 ORDER BY key", &id)?,
        data,
        aliases,
        version,
    })
}

fn details_where(c: &Connection, clause: &str, key: i64) -> Result<Vec<VersionDetails>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DETAIL_COLUMNS} FROM versions v LEFT JOIN version_registry g ON g.version_id = v.id
         WHERE {clause} ORDER BY v.id"
    ))?;
    let mut rows = stmt.query([key])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(details(c, r)?);
    }
    Ok(out)
}

/// Applies a change to a version (inside the caller's transaction).
fn apply_change(c: &Connection, version_id: i64, change: &VersionChange, now_ms: i64) -> Result<()> {
    if let Some(d) = &change.description {
        c.execute("UPDATE versions SET description = ?2 WHERE id = ?1", params![version_id, d])?;
    }
    c.execute(
        "INSERT INTO version_registry (version_id, updated_ms) VALUES (?1, ?2)
         ON CONFLICT (version_id) DO UPDATE SET updated_ms = excluded.updated_ms",
        params![version_id, now_ms],
    )?;
    for (column, value) in [
        ("source", &change.source),
        ("run_id", &change.run_id),
        ("git_commit", &change.git_commit),
        ("user_id", &change.user_id),
    ] {
        if let Some(v) = value {
            c.execute(
                &format!("UPDATE version_registry SET {column} = ?2 WHERE version_id = ?1"),
                params![version_id, v],
            )?;
        }
    }
    for (k, v) in &change.params {
        set_tag(c, "version_params", "version_id", &version_id, k, v)?;
    }
    for (k, v) in &change.tags {
        set_tag(c, "version_tags", "version_id", &version_id, k, v)?;
    }
    for (k, v) in &change.metrics {
        c.prepare_cached(
            "INSERT INTO version_metrics (version_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (version_id, key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![version_id, k, finite(*v)])?;
    }
    for d in &change.data {
        c.prepare_cached(
            "INSERT INTO version_data (version_id, kind, name, version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version_id, kind, name) DO UPDATE SET version = excluded.version",
        )?
        .execute(params![version_id, d.kind, d.name, d.version])?;
    }
    Ok(())
}

fn record_transition(
    c: &Connection,
    model_id: i64,
    kind: &str,
    name: &str,
    from: Option<&str>,
    to: Option<&str>,
    t: &Transition<'_>,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO registry_transitions (model_id, kind, name, from_value, to_value, actor, reason, ts_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![model_id, kind, name, from, to, t.actor, t.reason, t.ts_ms])?;
    Ok(())
}

fn immediate(c: &Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?)
}

fn count(c: &Connection, sql: &str, id: i64) -> Result<i64> {
    Ok(c.query_row(sql, [id], |r| r.get(0))?)
}

impl RegistryStore for SqliteStore {
    fn create_experiment(&self, project_id: i64, name: &str, tags: &[(String, String)], now_ms: i64) -> Result<i64> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            match tx.execute(
                "INSERT INTO experiments (project_id, name, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?3)",
                params![project_id, name, now_ms],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(format!("experiment {name:?}"))),
                Err(e) => return Err(e.into()),
            }
            let id = tx.last_insert_rowid();
            for (k, v) in tags {
                set_tag(&tx, "experiment_tags", "experiment_id", &id, k, v)?;
            }
            tx.commit()?;
            Ok(id)
        })
    }

    fn get_experiment(&self, id: i64) -> Result<Option<ExperimentRecord>> {
        self.with_reader(|c| Ok(experiments_where(c, "id = ?1", &id)?.pop()))
    }

    fn experiment_by_name(&self, name: &str) -> Result<Option<ExperimentRecord>> {
        self.with_reader(|c| Ok(experiments_where(c, "name = ?1", &name)?.pop()))
    }

    fn list_experiments(&self, projects: Option<&[i64]>) -> Result<Vec<ExperimentRecord>> {
        self.with_reader(|c| {
            let all = experiments_where(c, "?1 = ?1", &0)?;
            Ok(all.into_iter().filter(|e| projects.is_none_or(|p| p.contains(&e.project_id))).collect())
        })
    }

    fn update_experiment(&self, id: i64, name: Option<&str>, lifecycle: Option<&str>, now_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            if let Some(name) = name {
                match c.execute(
                    "UPDATE experiments SET name = ?2, updated_ms = ?3 WHERE id = ?1",
                    params![id, name, now_ms],
                ) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!("experiment {name:?}")));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(l) = lifecycle {
                c.execute(
                    "UPDATE experiments SET lifecycle = ?2, updated_ms = ?3 WHERE id = ?1",
                    params![id, l, now_ms],
                )?;
            }
            Ok(())
        })
    }

    fn set_experiment_tag(&self, id: i64, key: &str, value: &str) -> Result<()> {
        self.with_reader(|c| set_tag(c, "experiment_tags", "experiment_id", &id, key, value))
    }

    fn create_run(&self, r: &NewRun) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            match tx.execute(
                "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_ms) VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5)",
                params![r.run_id, r.experiment_id, r.name, r.user_id, r.start_ms],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(format!("run {:?}", r.run_id))),
                Err(e) => return Err(e.into()),
            }
            for (k, v) in &r.tags {
                set_tag(&tx, "run_tags", "run_id", &r.run_id, k, v)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.run_id = ?1"
            ))?;
            let mut rows = stmt.query([run_id])?;
            match rows.next()? {
                Some(r) => Ok(Some(run(c, r)?)),
                None => Ok(None),
            }
        })
    }

    fn list_runs(&self, experiment_ids: &[i64], limit: usize) -> Result<Vec<RunRecord>> {
        self.with_reader(|c| {
            let ids = serde_json::to_string(experiment_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id
                 WHERE r.experiment_id IN (SELECT value FROM json_each(?1))
                 ORDER BY r.start_ms DESC, r.run_id LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![ids, i64::try_from(limit).unwrap_or(i64::MAX)])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(run(c, r)?);
            }
            Ok(out)
        })
    }

    fn update_run(
        &self,
        run_id: &str,
        status: Option<&str>,
        end_ms: Option<i64>,
        name: Option<&str>,
        lifecycle: Option<&str>,
    ) -> Result<()> {
        self.with_reader(|c| {
            c.execute(
                "UPDATE runs SET status = COALESCE(?2, status), end_ms = COALESCE(?3, end_ms),
                 name = COALESCE(?4, name), lifecycle = COALESCE(?5, lifecycle) WHERE run_id = ?1",
                params![run_id, status, end_ms, name, lifecycle],
            )?;
            Ok(())
        })
    }

    fn log_run(&self, run_id: &str, log: &RunLog) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            for (k, v) in &log.params {
                let old: Option<String> = tx
                    .query_row("SELECT value FROM run_params WHERE run_id = ?1 AND key = ?2", params![run_id, k], |r| {
                        r.get(0)
                    })
                    .optional()?;
                match old {
                    Some(old) if &old != v => {
                        return Err(StoreError::Conflict(format!(
                            "param {k:?} with value {old:?} (a param is logged once; the new value was {v:?})"
                        )));
                    }
                    Some(_) => {}
                    None => {
                        tx.execute(
                            "INSERT INTO run_params (run_id, key, value) VALUES (?1, ?2, ?3)",
                            params![run_id, k, v],
                        )?;
                    }
                }
            }
            for m in &log.metrics {
                tx.prepare_cached(
                    "INSERT INTO run_metrics (run_id, key, value, ts_ms, step) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![run_id, m.key, finite(m.value), m.ts_ms, m.step])?;
            }
            for (k, v) in &log.tags {
                set_tag(&tx, "run_tags", "run_id", &run_id, k, v)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.with_reader(|c| {
            c.execute("DELETE FROM run_tags WHERE run_id = ?1 AND key = ?2", params![run_id, key])?;
            Ok(())
        })
    }

    fn log_run_inputs(&self, run_id: &str, inputs: &[RunInput]) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            for i in inputs {
                tx.prepare_cached(
                    "INSERT INTO run_inputs (run_id, name, digest, source_type, source, schema, profile, context)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (run_id, name, digest) DO UPDATE SET context = excluded.context",
                )?
                .execute(params![
                    run_id,
                    i.name,
                    i.digest,
                    i.source_type,
                    i.source,
                    i.schema,
                    i.profile,
                    i.context
                ])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, value, ts_ms, step FROM run_metrics WHERE run_id = ?1 AND key = ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![run_id, key], |m| {
                Ok(MetricPoint { key: m.get(0)?, value: real(m, 1)?, ts_ms: m.get(2)?, step: m.get(3)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn model_tags(&self, model_id: i64) -> Result<Vec<(String, String)>> {
        self.with_reader(|c| pairs(c, "SELECT key, value FROM model_tags WHERE model_id = ?1 ORDER BY key", &model_id))
    }

    fn set_model_tag(&self, model_id: i64, key: &str, value: Option<&str>) -> Result<()> {
        self.with_reader(|c| match value {
            Some(v) => set_tag(c, "model_tags", "model_id", &model_id, key, v),
            None => {
                c.execute("DELETE FROM model_tags WHERE model_id = ?1 AND key = ?2", params![model_id, key])?;
                Ok(())
            }
        })
    }

    fn rename_model(&self, model_id: i64, new_name: &str) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            // Monitors and policies name their model in their definitions, and clients
            // log to a model by name: such a model keeps its name.
            for (sql, what) in [
                ("SELECT COUNT(*) FROM predictions WHERE model_id = ?1", "the model has logged predictions"),
                ("SELECT COUNT(*) FROM monitors WHERE model_id = ?1", "monitors refer to the model"),
                (
                    "SELECT COUNT(*) FROM retraining_policies WHERE model_id = ?1",
                    "retraining policies refer to the model",
                ),
            ] {
                if count(&tx, sql, model_id)? > 0 {
                    return Err(StoreError::InUse(what.into()));
                }
            }
            match tx.execute(
                "UPDATE models SET name = ?2, spec = json_set(spec, '$.name', ?2) WHERE id = ?1",
                params![model_id, new_name],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(format!("model {new_name:?}"))),
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn delete_model(&self, model_id: i64) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            if count(&tx, "SELECT COUNT(*) FROM predictions WHERE model_id = ?1", model_id)? > 0 {
                return Err(StoreError::InUse("the model has logged predictions".into()));
            }
            for sql in [
                "DELETE FROM registry_transitions WHERE model_id = ?1",
                "DELETE FROM model_aliases WHERE model_id = ?1",
                "DELETE FROM model_tags WHERE model_id = ?1",
                "DELETE FROM promotion_gates WHERE model_id = ?1",
            ] {
                tx.execute(sql, [model_id])?;
            }
            let versions: Vec<i64> = tx
                .prepare("SELECT id FROM versions WHERE model_id = ?1")?
                .query_map([model_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for v in versions {
                delete_version_rows(&tx, v)?;
            }
            let fk = |e: rusqlite::Error| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::InUse("the model has monitoring data (references, monitors, policies...)".into())
                }
                e => e.into(),
            };
            tx.execute("DELETE FROM versions WHERE model_id = ?1", [model_id]).map_err(fk)?;
            // Other tables that refer to the model (references, monitors...) make the
            // delete fail on their foreign key: such a model is monitored, not deleted.
            match tx.execute("DELETE FROM models WHERE id = ?1", [model_id]) {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::InUse(
                        "the model has monitoring data (references, monitors, policies...)".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn create_registry_version(
        &self,
        model_id: i64,
        name: Option<&str>,
        change: &VersionChange,
        now_ms: i64,
    ) -> Result<VersionRecord> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            let name = match name {
                Some(n) => n.to_owned(),
                None => {
                    // MLflow numbers versions 1, 2, 3...: the next after the highest
                    // all-digit name (names such as "v2" are not counted).
                    let max: i64 = tx.query_row(
                        "SELECT COALESCE(MAX(CAST(name AS INTEGER)), 0) FROM versions
                         WHERE model_id = ?1 AND name != '' AND name NOT GLOB '*[^0-9]*' AND length(name) < 18",
                        [model_id],
                        |r| r.get(0),
                    )?;
                    (max + 1).to_string()
                }
            };
            let description = change.description.clone().unwrap_or_default();
            match tx.execute(
                "INSERT INTO versions (model_id, name, description, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![model_id, name, description, now_ms],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(format!("version {name:?}"))),
                Err(e) => return Err(e.into()),
            }
            let id = tx.last_insert_rowid();
            apply_change(&tx, id, change, now_ms)?;
            tx.commit()?;
            Ok(VersionRecord { id, model_id, name, description, created_ms: now_ms })
        })
    }

    fn version_details(&self, version_id: i64) -> Result<Option<VersionDetails>> {
        self.with_reader(|c| Ok(details_where(c, "v.id = ?1", version_id)?.pop()))
    }

    fn model_version_details(&self, model_id: i64) -> Result<Vec<VersionDetails>> {
        self.with_reader(|c| details_where(c, "v.model_id = ?1", model_id))
    }

    fn update_version(&self, version_id: i64, change: &VersionChange, now_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            apply_change(&tx, version_id, change, now_ms)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn delete_version_tag(&self, version_id: i64, key: &str) -> Result<()> {
        self.with_reader(|c| {
            c.execute("DELETE FROM version_tags WHERE version_id = ?1 AND key = ?2", params![version_id, key])?;
            Ok(())
        })
    }

    fn delete_version(&self, version_id: i64) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            if count(&tx, "SELECT COUNT(*) FROM predictions WHERE version_id = ?1", version_id)? > 0 {
                return Err(StoreError::InUse("the version served predictions".into()));
            }
            delete_version_rows(&tx, version_id)?;
            match tx.execute("DELETE FROM versions WHERE id = ?1", [version_id]) {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::InUse("the version has monitoring data".into()));
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn set_stage(
        &self,
        model_id: i64,
        version_id: i64,
        stage: &str,
        archive_others: bool,
        t: &Transition<'_>,
    ) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            let mut moves = vec![(version_id, stage)];
            if archive_others && stage != NO_STAGE && stage != "Archived" {
                let others: Vec<i64> = tx
                    .prepare(
                        "SELECT v.id FROM versions v JOIN version_registry g ON g.version_id = v.id
                         WHERE v.model_id = ?1 AND g.stage = ?2 AND v.id != ?3",
                    )?
                    .query_map(params![model_id, stage, version_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                moves.extend(others.into_iter().map(|id| (id, "Archived")));
            }
            for (id, to) in moves {
                let (name, from): (String, String) = tx.query_row(
                    "SELECT v.name, COALESCE(g.stage, 'None') FROM versions v
                     LEFT JOIN version_registry g ON g.version_id = v.id WHERE v.id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                tx.execute(
                    "INSERT INTO version_registry (version_id, stage, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (version_id) DO UPDATE SET stage = excluded.stage, updated_ms = excluded.updated_ms",
                    params![id, to, t.ts_ms],
                )?;
                record_transition(&tx, model_id, "stage", &name, Some(&from), Some(to), t)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn set_alias(&self, model_id: i64, alias: &str, version_id: Option<i64>, t: &Transition<'_>) -> Result<()> {
        self.with_reader(|c| {
            let tx = immediate(c)?;
            let from: Option<String> = tx
                .query_row(
                    "SELECT v.name FROM model_aliases a JOIN versions v ON v.id = a.version_id
                     WHERE a.model_id = ?1 AND a.alias = ?2",
                    params![model_id, alias],
                    |r| r.get(0),
                )
                .optional()?;
            let to: Option<String> = match version_id {
                Some(id) => {
                    tx.execute(
                        "INSERT INTO model_aliases (model_id, alias, version_id, updated_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id,
                         updated_ms = excluded.updated_ms",
                        params![model_id, alias, id, t.ts_ms],
                    )?;
                    Some(tx.query_row("SELECT name FROM versions WHERE id = ?1", [id], |r| r.get(0))?)
                }
                None => {
                    tx.execute(
                        "DELETE FROM model_aliases WHERE model_id = ?1 AND alias = ?2",
                        params![model_id, alias],
                    )?;
                    None
                }
            };
            if from != to {
                record_transition(&tx, model_id, "alias", alias, from.as_deref(), to.as_deref(), t)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn aliases(&self, model_id: i64) -> Result<Vec<AliasRecord>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.alias, a.version_id, v.name, a.updated_ms FROM model_aliases a
                 JOIN versions v ON v.id = a.version_id WHERE a.model_id = ?1 ORDER BY a.alias",
            )?;
            let rows = stmt.query_map([model_id], |r| {
                Ok(AliasRecord { alias: r.get(0)?, version_id: r.get(1)?, version: r.get(2)?, updated_ms: r.get(3)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn transitions(&self, model_id: i64) -> Result<Vec<TransitionRecord>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, kind, name, from_value, to_value, actor, reason, ts_ms FROM registry_transitions
                 WHERE model_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([model_id], |r| {
                Ok(TransitionRecord {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    from: r.get(3)?,
                    to: r.get(4)?,
                    actor: r.get(5)?,
                    reason: r.get(6)?,
                    ts_ms: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn put_artifact(&self, a: &ArtifactRecord) -> Result<()> {
        self.with_reader(|c| {
            c.execute(
                "INSERT INTO artifacts (path, sha256, size, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
                 created_ms = excluded.created_ms",
                params![a.path, a.sha256, a.size, a.created_ms],
            )?;
            Ok(())
        })
    }

    fn get_artifact(&self, path: &str) -> Result<Option<ArtifactRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT path, sha256, size, created_ms FROM artifacts WHERE path = ?1", [path], artifact)
                .optional()?)
        })
    }

    fn list_artifacts(&self, prefix: &str) -> Result<Vec<ArtifactRecord>> {
        self.with_reader(|c| {
            // A range scan on the primary key, not LIKE (paths may hold '%' and '_').
            let mut end = prefix.to_owned();
            end.push(char::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT path, sha256, size, created_ms FROM artifacts WHERE path >= ?1 AND path < ?2 ORDER BY path",
            )?;
            let rows = stmt.query_map(params![prefix, end], artifact)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_promotion_gate(&self, model_id: i64, spec: Option<&str>, now_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            match spec {
                Some(spec) => c.execute(
                    "INSERT INTO promotion_gates (model_id, spec, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model_id) DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms",
                    params![model_id, spec, now_ms],
                )?,
                None => c.execute("DELETE FROM promotion_gates WHERE model_id = ?1", [model_id])?,
            };
            Ok(())
        })
    }

    fn promotion_gate(&self, model_id: i64) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT spec FROM promotion_gates WHERE model_id = ?1", [model_id], |r| r.get(0))
                .optional()?)
        })
    }

    fn add_promotion_report(&self, model_id: i64, r: &PromotionReport) -> Result<i64> {
        self.with_reader(|c| {
            c.execute(
                "INSERT INTO promotion_reports (model_id, version_id, passed, report, actor, ts_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![model_id, r.version_id, r.passed, r.report, r.actor, r.ts_ms],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn promotion_reports(&self, version_id: i64) -> Result<Vec<PromotionReport>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, version_id, passed, report, actor, ts_ms FROM promotion_reports
                 WHERE version_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([version_id], |r| {
                Ok(PromotionReport {
                    seq: r.get(0)?,
                    version_id: r.get(1)?,
                    passed: r.get(2)?,
                    report: r.get(3)?,
                    actor: r.get(4)?,
                    ts_ms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn artifact(r: &Row<'_>) -> rusqlite::Result<ArtifactRecord> {
    Ok(ArtifactRecord { path: r.get(0)?, sha256: r.get(1)?, size: r.get(2)?, created_ms: r.get(3)? })
}

fn delete_version_rows(c: &Connection, version_id: i64) -> Result<()> {
    for sql in [
        "DELETE FROM version_params WHERE version_id = ?1",
        "DELETE FROM version_metrics WHERE version_id = ?1",
        "DELETE FROM version_tags WHERE version_id = ?1",
        "DELETE FROM version_data WHERE version_id = ?1",
        "DELETE FROM model_aliases WHERE version_id = ?1",
        "DELETE FROM version_registry WHERE version_id = ?1",
        "DELETE FROM promotion_reports WHERE version_id = ?1",
    ] {
        c.execute(sql, [version_id])?;
    }
    Ok(())
}
