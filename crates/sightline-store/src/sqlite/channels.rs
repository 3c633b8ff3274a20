//! Notification channels and the delivery log on SQLite.

use super::alerting::project_filter;
use super::{SqliteStore, is_unique_violation};
use crate::channels::{ChannelRecord, ChannelStore, DELIVERIES_KEPT_PER_CHANNEL, DeliveryRecord};
use crate::{Page, Result, StoreError};
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str = "id, project_id, name, kind, min_severity, config, created_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ChannelRecord> {
    Ok(ChannelRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        min_severity: r.get(4)?,
        config: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

impl ChannelStore for SqliteStore {
    fn create_channel(&self, ch: &ChannelRecord) -> Result<ChannelRecord> {
        self.with_reader(|c| {
            match c.execute(
                "INSERT INTO channels (project_id, name, kind, min_severity, config, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![ch.project_id, ch.name, ch.kind, ch.min_severity, ch.config, ch.created_ms],
            ) {
                Ok(_) => Ok(ChannelRecord { id: c.last_insert_rowid(), ..ch.clone() }),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("channel {:?}", ch.name))),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn get_channel(&self, id: i64) -> Result<Option<ChannelRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(&format!("SELECT {COLUMNS} FROM channels WHERE id = ?1"), [id], from_row).optional()?)
        })
    }

    fn list_channels(&self, projects: Option<&[i64]>, page: &Page<i64>) -> Result<Vec<ChannelRecord>> {
        let filter = project_filter(projects);
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM channels
                 WHERE (?1 IS NULL OR project_id IN (SELECT value FROM json_each(?1))) AND (?2 IS NULL OR id > ?2)
                 ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![filter, page.after, page.sql_limit()], from_row)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_channel(&self, id: i64) -> Result<bool> {
        self.with_reader(|c| Ok(c.execute("DELETE FROM channels WHERE id = ?1", [id])? > 0))
    }

    fn record_delivery(&self, d: &DeliveryRecord) -> Result<()> {
        self.with_reader(|c| {
            let seq = c
                .prepare_cached(
                    "INSERT INTO deliveries (channel_id, notification, fingerprint, kind, attempt, status, error, ts_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq",
                )?
                .query_row(
                    params![d.channel_id, d.notification, d.fingerprint, d.kind, d.attempt, d.status, d.error, d.ts_ms],
                    |r| r.get::<_, i64>(0),
                )?;
            if seq % 1_000 == 0 {
                c.prepare_cached(
                    "DELETE FROM deliveries WHERE channel_id = ?1 AND seq < (
                         SELECT seq FROM deliveries WHERE channel_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                )?
                .execute(params![d.channel_id, DELIVERIES_KEPT_PER_CHANNEL - 1])?;
            }
            Ok(())
        })
    }

    fn deliveries(&self, channel_id: i64, limit: usize) -> Result<Vec<DeliveryRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT seq, channel_id, notification, fingerprint, kind, attempt, status, error, ts_ms
                 FROM deliveries WHERE channel_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )?
            .query_map(params![channel_id, limit as i64], |r| {
                Ok(DeliveryRecord {
                    seq: r.get(0)?,
                    channel_id: r.get(1)?,
                    notification: r.get(2)?,
                    fingerprint: r.get(3)?,
                    kind: r.get(4)?,
                    attempt: r.get(5)?,
                    status: r.get(6)?,
                    error: r.get(7)?,
                    ts_ms: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }
}
