//! Monitors, alerts, alert history and silences on SQLite. These are small, rare
//! writes (an evaluation round, an API call), so they go straight through a pooled
//! connection like the access layer's, not through the event writer.

use super::{SqliteStore, is_unique_violation};
use crate::alerting::{AlertEventRecord, AlertQuery, AlertRecord, AlertingStore, MonitorRecord, SilenceRecord};
use crate::{Page, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Alert events kept per alert; older ones are pruned (a flapping alert must not grow
/// its history without bound).
const EVENTS_KEPT_PER_ALERT: i64 = 1_000;

const MONITOR_COLUMNS: &str = "m.id, m.model_id, mo.project_id, m.spec, m.from_file, m.created_ms, m.updated_ms";

fn monitor_from_row(r: &Row<'_>) -> rusqlite::Result<MonitorRecord> {
    Ok(MonitorRecord {
        id: r.get(0)?,
        model_id: r.get(1)?,
        project_id: r.get(2)?,
        spec: r.get(3)?,
        from_file: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn fetch_monitor(c: &Connection, id: &str) -> Result<Option<MonitorRecord>> {
    Ok(c.query_row(
        &format!("SELECT {MONITOR_COLUMNS} FROM monitors m JOIN models mo ON mo.id = m.model_id WHERE m.id = ?1"),
        [id],
        monitor_from_row,
    )
    .optional()?)
}

const ALERT_COLUMNS: &str = "a.fingerprint, a.monitor_id, a.labels, a.state, a.since_ms, a.fired_ms, a.resolved_ms,
    a.last_eval_ms, a.value, a.silenced, a.acknowledged_ms, a.acknowledged_by";

fn alert_from_row(r: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        fingerprint: r.get(0)?,
        monitor_id: r.get(1)?,
        labels: r.get(2)?,
        state: r.get(3)?,
        since_ms: r.get(4)?,
        fired_ms: r.get(5)?,
        resolved_ms: r.get(6)?,
        last_eval_ms: r.get(7)?,
        value: r.get(8)?,
        silenced: r.get(9)?,
        acknowledged_ms: r.get(10)?,
        acknowledged_by: r.get(11)?,
    })
}

fn fetch_alert(c: &Connection, fingerprint: &str) -> Result<Option<AlertRecord>> {
    Ok(c.query_row(&format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.fingerprint = ?1"), [fingerprint], |r| {
        alert_from_row(r)
    })
    .optional()?)
}

const SILENCE_COLUMNS: &str = "id, project_id, matchers, starts_ms, ends_ms, comment, created_by, created_ms";

fn silence_from_row(r: &Row<'_>) -> rusqlite::Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        matchers: r.get(2)?,
        starts_ms: r.get(3)?,
        ends_ms: r.get(4)?,
        comment: r.get(5)?,
        created_by: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

fn fetch_silence(c: &Connection, id: i64) -> Result<Option<SilenceRecord>> {
    Ok(c.query_row(&format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"), [id], silence_from_row)
        .optional()?)
}

/// A project filter as a JSON array, so one statement serves any number of projects.
pub(crate) fn project_filter(projects: Option<&[i64]>) -> Option<String> {
    projects.map(|p| serde_json::Value::from(p.to_vec()).to_string())
}

impl AlertingStore for SqliteStore {
    fn create_monitor(
        &self,
        id: &str,
        model_id: i64,
        spec: &str,
        from_file: bool,
        now_ms: i64,
    ) -> Result<MonitorRecord> {
        self.with_reader(|c| {
            match c.execute(
                "INSERT INTO monitors (id, model_id, spec, from_file, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![id, model_id, spec, from_file, now_ms],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) || is_primary_key_violation(&e) => {
                    return Err(StoreError::Conflict(format!("monitor {id:?}")));
                }
                Err(e) => return Err(e.into()),
            }
            fetch_monitor(c, id)?.ok_or_else(|| StoreError::Corrupt(format!("monitor {id:?} vanished")))
        })
    }

    fn upsert_file_monitor(&self, id: &str, model_id: i64, spec: &str, now_ms: i64) -> Result<MonitorRecord> {
        self.with_reader(|c| {
            c.execute(
                "INSERT INTO monitors (id, model_id, spec, from_file, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, 1, ?4, ?4)
                 ON CONFLICT (id) DO UPDATE SET model_id = excluded.model_id, spec = excluded.spec, from_file = 1,
                     updated_ms = CASE WHEN spec = excluded.spec AND model_id = excluded.model_id
                                       THEN updated_ms ELSE excluded.updated_ms END",
                params![id, model_id, spec, now_ms],
            )?;
            fetch_monitor(c, id)?.ok_or_else(|| StoreError::Corrupt(format!("monitor {id:?} vanished")))
        })
    }

    fn update_monitor(&self, id: &str, model_id: i64, spec: &str, now_ms: i64) -> Result<Option<MonitorRecord>> {
        self.with_reader(|c| {
            c.execute(
                "UPDATE monitors SET model_id = ?2, spec = ?3, updated_ms = ?4 WHERE id = ?1",
                params![id, model_id, spec, now_ms],
            )?;
            fetch_monitor(c, id)
        })
    }

    fn get_monitor(&self, id: &str) -> Result<Option<MonitorRecord>> {
        self.with_reader(|c| fetch_monitor(c, id))
    }

    fn list_monitors(&self, projects: Option<&[i64]>, page: &Page<String>) -> Result<Vec<MonitorRecord>> {
        let filter = project_filter(projects);
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MONITOR_COLUMNS} FROM monitors m JOIN models mo ON mo.id = m.model_id
                 WHERE (?1 IS NULL OR mo.project_id IN (SELECT value FROM json_each(?1)))
                   AND (?2 IS NULL OR m.id > ?2)
                 ORDER BY m.id LIMIT ?3"
            ))?
            .query_map(params![filter, page.after, page.sql_limit()], monitor_from_row)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_monitor(&self, id: &str) -> Result<bool> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute("DELETE FROM monitors WHERE id = ?1", [id])?;
            tx.execute("DELETE FROM alerts WHERE monitor_id = ?1", [id])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn save_alert(&self, a: &AlertRecord) -> Result<()> {
        self.with_reader(|c| {
            c.prepare_cached(
                "INSERT INTO alerts (fingerprint, monitor_id, labels, state, since_ms, fired_ms, resolved_ms,
                                     last_eval_ms, value, silenced)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (fingerprint) DO UPDATE SET
                     labels = excluded.labels, state = excluded.state, fired_ms = excluded.fired_ms,
                     resolved_ms = excluded.resolved_ms, last_eval_ms = excluded.last_eval_ms,
                     value = excluded.value, silenced = excluded.silenced,
                     acknowledged_ms = CASE WHEN excluded.since_ms IS since_ms THEN acknowledged_ms END,
                     acknowledged_by = CASE WHEN excluded.since_ms IS since_ms THEN acknowledged_by END,
                     since_ms = excluded.since_ms",
            )?
            .execute(params![
                a.fingerprint,
                a.monitor_id,
                a.labels,
                a.state,
                a.since_ms,
                a.fired_ms,
                a.resolved_ms,
                a.last_eval_ms,
                a.value,
                a.silenced
            ])?;
            Ok(())
        })
    }

    fn get_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>> {
        self.with_reader(|c| fetch_alert(c, fingerprint))
    }

    fn list_alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>> {
        let filter = project_filter(q.projects.as_deref());
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN monitors m ON m.id = a.monitor_id
                 JOIN models mo ON mo.id = m.model_id
                 WHERE (?1 IS NULL OR mo.project_id IN (SELECT value FROM json_each(?1)))
                   AND (?2 IS NULL OR a.monitor_id = ?2) AND (?3 IS NULL OR a.state = ?3)
                   AND (?4 IS NULL OR (a.monitor_id, a.fingerprint) > (?4, ?5))
                 ORDER BY a.monitor_id, a.fingerprint LIMIT ?6"
            ))?
            .query_map(
                params![
                    filter,
                    q.monitor_id,
                    q.state,
                    q.page.after.as_ref().map(|a| &a.0),
                    q.page.after.as_ref().map(|a| &a.1),
                    q.page.sql_limit()
                ],
                alert_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn acknowledge_alert(&self, fingerprint: &str, by: &str, now_ms: i64) -> Result<Option<AlertRecord>> {
        self.with_reader(|c| {
            c.execute(
                "UPDATE alerts SET acknowledged_ms = ?2, acknowledged_by = ?3
                 WHERE fingerprint = ?1 AND state IN ('pending', 'firing') AND acknowledged_ms IS NULL",
                params![fingerprint, now_ms, by],
            )?;
            fetch_alert(c, fingerprint)
        })
    }

    fn append_alert_event(&self, e: &AlertEventRecord) -> Result<()> {
        self.with_reader(|c| {
            let seq = c
                .prepare_cached(
                    "INSERT INTO alert_events (fingerprint, monitor_id, kind, ts_ms, value, silenced)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
                )?
                .query_row(params![e.fingerprint, e.monitor_id, e.kind, e.ts_ms, e.value, e.silenced], |r| {
                    r.get::<_, i64>(0)
                })?;
            // Pruning now and then keeps the cost off most inserts.
            if seq % 100 == 0 {
                c.prepare_cached(
                    "DELETE FROM alert_events WHERE fingerprint = ?1 AND seq < (
                         SELECT seq FROM alert_events WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                )?
                .execute(params![e.fingerprint, EVENTS_KEPT_PER_ALERT - 1])?;
            }
            Ok(())
        })
    }

    fn alert_events(&self, fingerprint: &str, limit: usize) -> Result<Vec<AlertEventRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT seq, fingerprint, monitor_id, kind, ts_ms, value, silenced FROM alert_events
                 WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT ?2",
            )?
            .query_map(params![fingerprint, limit as i64], |r| {
                Ok(AlertEventRecord {
                    seq: r.get(0)?,
                    fingerprint: r.get(1)?,
                    monitor_id: r.get(2)?,
                    kind: r.get(3)?,
                    ts_ms: r.get(4)?,
                    value: r.get(5)?,
                    silenced: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn create_silence(&self, s: &SilenceRecord) -> Result<SilenceRecord> {
        self.with_reader(|c| {
            c.execute(
                "INSERT INTO silences (project_id, matchers, starts_ms, ends_ms, comment, created_by, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![s.project_id, s.matchers, s.starts_ms, s.ends_ms, s.comment, s.created_by, s.created_ms],
            )?;
            Ok(SilenceRecord { id: c.last_insert_rowid(), ..s.clone() })
        })
    }

    fn get_silence(&self, id: i64) -> Result<Option<SilenceRecord>> {
        self.with_reader(|c| fetch_silence(c, id))
    }

    fn list_silences(
        &self,
        projects: Option<&[i64]>,
        ends_after_ms: i64,
        page: &Page<i64>,
    ) -> Result<Vec<SilenceRecord>> {
        let filter = project_filter(projects);
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences
                 WHERE (?1 IS NULL OR project_id IN (SELECT value FROM json_each(?1))) AND ends_ms > ?2
                   AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ))?
            .query_map(params![filter, ends_after_ms, page.after, page.sql_limit()], silence_from_row)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn expire_silence(&self, id: i64, now_ms: i64) -> Result<Option<SilenceRecord>> {
        self.with_reader(|c| {
            c.execute("UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2", params![id, now_ms])?;
            fetch_silence(c, id)
        })
    }
}

fn is_primary_key_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}
