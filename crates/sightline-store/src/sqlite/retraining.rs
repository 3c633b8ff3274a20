//! Retraining policies and triggers on SQLite.

use super::SqliteStore;
use crate::Result;
use crate::retraining::{PolicyRecord, RETRYING_PREFIX, RetrainingStore, TRIGGERS_KEPT_PER_MODEL, TriggerRecord};
use rusqlite::{OptionalExtension, Row, params};

const POLICY_COLUMNS: &str = "id, model_id, spec, created_ms, updated_ms, last_evaluated_ms, last_fired_ms";
const TRIGGER_COLUMNS: &str =
    "seq, policy_id, model_id, version, from_ms, to_ms, reasons, export_path, fired_ms, delivery";

fn policy(r: &Row<'_>) -> rusqlite::Result<PolicyRecord> {
    Ok(PolicyRecord {
        id: r.get(0)?,
        model_id: r.get(1)?,
        spec: r.get(2)?,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
        last_evaluated_ms: r.get(5)?,
        last_fired_ms: r.get(6)?,
    })
}

fn trigger(r: &Row<'_>) -> rusqlite::Result<TriggerRecord> {
    Ok(TriggerRecord {
        seq: r.get(0)?,
        policy_id: r.get(1)?,
        model_id: r.get(2)?,
        version: r.get(3)?,
        from_ms: r.get(4)?,
        to_ms: r.get(5)?,
        reasons: r.get(6)?,
        export_path: r.get(7)?,
        fired_ms: r.get(8)?,
        delivery: r.get(9)?,
    })
}

impl RetrainingStore for SqliteStore {
    fn put_policy(&self, p: &PolicyRecord) -> Result<bool> {
        self.with_reader(|c| {
            let existed: bool =
                c.query_row("SELECT EXISTS (SELECT 1 FROM retraining_policies WHERE id = ?1)", [&p.id], |r| r.get(0))?;
            c.execute(
                "INSERT INTO retraining_policies (id, model_id, spec, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET model_id = excluded.model_id, spec = excluded.spec,
                     updated_ms = excluded.updated_ms",
                params![p.id, p.model_id, p.spec, p.created_ms, p.updated_ms],
            )?;
            Ok(!existed)
        })
    }

    fn get_policy(&self, id: &str) -> Result<Option<PolicyRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(&format!("SELECT {POLICY_COLUMNS} FROM retraining_policies WHERE id = ?1"), [id], policy)
                .optional()?)
        })
    }

    fn list_policies(&self, model_id: Option<i64>) -> Result<Vec<PolicyRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {POLICY_COLUMNS} FROM retraining_policies WHERE ?1 IS NULL OR model_id = ?1 ORDER BY id"
            ))?
            .query_map([model_id], policy)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_policy(&self, id: &str) -> Result<bool> {
        self.with_reader(|c| Ok(c.execute("DELETE FROM retraining_policies WHERE id = ?1", [id])? > 0))
    }

    fn mark_policy_evaluated(&self, id: &str, at_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            c.execute("UPDATE retraining_policies SET last_evaluated_ms = ?2 WHERE id = ?1", params![id, at_ms])?;
            Ok(())
        })
    }

    fn record_trigger(&self, t: &TriggerRecord) -> Result<i64> {
        self.with_reader(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO retraining_triggers (policy_id, model_id, version, from_ms, to_ms, reasons, export_path,
                     fired_ms, delivery)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    t.policy_id,
                    t.model_id,
                    t.version,
                    t.from_ms,
                    t.to_ms,
                    t.reasons,
                    t.export_path,
                    t.fired_ms,
                    t.delivery
                ],
            )?;
            let seq = tx.last_insert_rowid();
            tx.execute(
                "UPDATE retraining_policies SET last_fired_ms = ?2 WHERE id = ?1",
                params![t.policy_id, t.fired_ms],
            )?;
            tx.execute(
                "DELETE FROM retraining_triggers WHERE model_id = ?1 AND seq <= ?2 - ?3",
                params![t.model_id, seq, TRIGGERS_KEPT_PER_MODEL],
            )?;
            tx.commit()?;
            Ok(seq)
        })
    }

    fn set_trigger_delivery(&self, seq: i64, delivery: &str) -> Result<()> {
        self.with_reader(|c| {
            c.execute("UPDATE retraining_triggers SET delivery = ?2 WHERE seq = ?1", params![seq, delivery])?;
            Ok(())
        })
    }

    fn triggers_being_retried(&self) -> Result<Vec<TriggerRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TRIGGER_COLUMNS} FROM retraining_triggers WHERE delivery LIKE '{RETRYING_PREFIX}%' ORDER BY seq"
            ))?
            .query_map([], trigger)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn list_triggers(&self, model_id: i64, limit: usize) -> Result<Vec<TriggerRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TRIGGER_COLUMNS} FROM retraining_triggers WHERE model_id = ?1 ORDER BY seq DESC LIMIT ?2"
            ))?
            .query_map(params![model_id, limit as i64], trigger)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }
}
