//! Issues on SQLite: the writer's side (grouping each error into its issue, with its
//! version and hour counts, pruning old samples) and the readers'.

use super::SqliteStore;
use crate::issues::{
    EVENTS_KEPT_PER_ISSUE, IssueQuery, IssueRecord, IssueStatus, IssueStore, PreparedError, StoredErrorEvent,
};
use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

const HOUR_MS: i64 = 3_600_000;

/// Stores one error under its issue (made on first sight; reopened if it was resolved
/// and this occurrence is newer than the resolution). `false` if the event id was
/// stored before.
/// The event id of an error that arrived with its prediction: this prefix and the
/// prediction's request id.
pub const PREDICTION_EVENT_PREFIX: &str = "prediction:";

/// Whether the exception of a request was reported (an event not from a prediction).
fn reported_exception(tx: &Transaction<'_>, model_id: i64, request_id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM error_events WHERE model_id = ?1 AND request_id = ?2
                            AND substr(event_id, 1, length(?3)) <> ?3)",
        )?
        .query_row(params![model_id, request_id, PREDICTION_EVENT_PREFIX], |r| r.get(0))?)
}

/// Takes an occurrence back out of its issue: the event, and one from the issue's counts
/// (all of them, by version and by hour); an issue left with none is deleted. Its first
/// and last seen times stay as they were.
fn retract(tx: &Transaction<'_>, model_id: i64, event_id: &str) -> Result<()> {
    let found: Option<(i64, i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT seq, issue_id, version_id, ts_ms FROM error_events WHERE model_id = ?1 AND event_id = ?2",
        )?
        .query_row(params![model_id, event_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((seq, issue_id, version_id, ts_ms)) = found else { return Ok(()) };
    tx.prepare_cached("DELETE FROM error_events WHERE seq = ?1")?.execute(params![seq])?;
    tx.prepare_cached("UPDATE issue_versions SET count = count - 1 WHERE issue_id = ?1 AND version_id = ?2")?
        .execute(params![issue_id, version_id])?;
    tx.prepare_cached("UPDATE issue_hours SET count = count - 1 WHERE issue_id = ?1 AND hour_ms = ?2")?
        .execute(params![issue_id, ts_ms.div_euclid(HOUR_MS) * HOUR_MS])?;
    tx.prepare_cached("DELETE FROM issue_versions WHERE issue_id = ?1 AND count <= 0")?.execute(params![issue_id])?;
    tx.prepare_cached("DELETE FROM issue_hours WHERE issue_id = ?1 AND count <= 0")?.execute(params![issue_id])?;
    let left: i64 = tx
        .prepare_cached("UPDATE issues SET count = count - 1 WHERE id = ?1 RETURNING count")?
        .query_row(params![issue_id], |r| r.get(0))?;
    if left <= 0 {
        for sql in [
            "DELETE FROM error_events WHERE issue_id = ?1",
            "DELETE FROM issue_versions WHERE issue_id = ?1",
            "DELETE FROM issue_hours WHERE issue_id = ?1",
            "DELETE FROM issues WHERE id = ?1",
        ] {
            tx.prepare_cached(sql)?.execute(params![issue_id])?;
        }
    }
    Ok(())
}

pub fn record_error(
    tx: &Transaction<'_>,
    model_id: i64,
    version_id: i64,
    received_ms: i64,
    e: &PreparedError,
) -> Result<bool> {
    let seen: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM error_events WHERE model_id = ?1 AND event_id = ?2)")?
        .query_row(params![model_id, e.event_id], |r| r.get(0))?;
    if seen {
        return Ok(false);
    }
    // One failure, one occurrence: serving code that reports the exception of a request
    // (with its stack) also logs the failed prediction (with its error, for the error
    // rate). The exception stands for both, whichever arrives first.
    if let Some(request_id) = &e.request_id {
        if e.event_id.starts_with(PREDICTION_EVENT_PREFIX) {
            if reported_exception(tx, model_id, request_id)? {
                return Ok(true);
            }
        } else {
            retract(tx, model_id, &format!("{PREDICTION_EVENT_PREFIX}{request_id}"))?;
        }
    }
    // SET expressions read the row as it was, so status and regressions change together.
    let (issue_id, count): (i64, i64) = tx
        .prepare_cached(
            "INSERT INTO issues (model_id, fingerprint, kind, title, first_seen_ms, last_seen_ms, count, status,
                                 status_changed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, 'unresolved', ?6)
             ON CONFLICT (model_id, fingerprint) DO UPDATE SET
                 count = count + 1,
                 first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
                 last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                 regressions = regressions
                     + (status = 'resolved' AND excluded.last_seen_ms > status_changed_ms),
                 status_changed_ms = CASE WHEN status = 'resolved' AND excluded.last_seen_ms > status_changed_ms
                     THEN excluded.status_changed_ms ELSE status_changed_ms END,
                 status = CASE WHEN status = 'resolved' AND excluded.last_seen_ms > status_changed_ms
                     THEN 'unresolved' ELSE status END
             RETURNING id, count",
        )?
        .query_row(params![model_id, e.fingerprint, e.kind, e.title, e.timestamp_ms, received_ms], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    tx.prepare_cached(
        "INSERT INTO issue_versions (issue_id, version_id, count, first_seen_ms, last_seen_ms) VALUES (?1, ?2, 1, ?3, ?3)
         ON CONFLICT (issue_id, version_id) DO UPDATE SET count = count + 1,
             first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
             last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
    )?
    .execute(params![issue_id, version_id, e.timestamp_ms])?;
    tx.prepare_cached(
        "INSERT INTO issue_hours (issue_id, hour_ms, count) VALUES (?1, ?2, 1)
         ON CONFLICT (issue_id, hour_ms) DO UPDATE SET count = count + 1",
    )?
    .execute(params![issue_id, e.timestamp_ms.div_euclid(HOUR_MS) * HOUR_MS])?;
    tx.prepare_cached(
        "INSERT INTO error_events (issue_id, model_id, event_id, request_id, version_id, ts_ms, received_ms, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        issue_id,
        model_id,
        e.event_id,
        e.request_id,
        version_id,
        e.timestamp_ms,
        received_ms,
        e.detail
    ])?;
    // Prune now and then rather than on every insert: the sample stays between
    // EVENTS_KEPT_PER_ISSUE and twice that.
    if count % EVENTS_KEPT_PER_ISSUE == 0 {
        tx.prepare_cached(
            "DELETE FROM error_events WHERE issue_id = ?1 AND seq < (
                 SELECT seq FROM error_events WHERE issue_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![issue_id, EVENTS_KEPT_PER_ISSUE - 1])?;
    }
    Ok(true)
}

const ISSUE_COLUMNS: &str = "i.id, i.model_id, i.fingerprint, i.kind, i.title, i.first_seen_ms, i.last_seen_ms,
    i.count, i.status, i.status_changed_ms, i.regressions";

type RawIssue = (i64, i64, String, String, String, i64, i64, i64, String, i64, i64);

fn issue_from_row(r: &Row<'_>) -> rusqlite::Result<RawIssue> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn decode(c: &Connection, raw: RawIssue) -> Result<IssueRecord> {
    let (
        id,
        model_id,
        fingerprint,
        kind,
        title,
        first_seen_ms,
        last_seen_ms,
        count,
        status,
        status_changed_ms,
        regressions,
    ) = raw;
    let status =
        IssueStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("issue {id}: status {status:?}")))?;
    let versions = c
        .prepare_cached(
            "SELECT v.name, iv.count, iv.first_seen_ms, iv.last_seen_ms FROM issue_versions iv
             JOIN versions v ON v.id = iv.version_id WHERE iv.issue_id = ?1 ORDER BY v.name",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(IssueRecord {
        id,
        model_id,
        fingerprint,
        kind,
        title,
        first_seen_ms,
        last_seen_ms,
        count,
        status,
        status_changed_ms,
        regressions,
        versions,
    })
}

impl IssueStore for SqliteStore {
    fn list_issues(&self, q: &IssueQuery) -> Result<Vec<IssueRecord>> {
        let (before_ts, before_id) = q.before.unwrap_or((i64::MAX, i64::MAX));
        self.with_reader(|c| {
            let raws = c
                .prepare_cached(&format!(
                    "SELECT {ISSUE_COLUMNS} FROM issues i
                     WHERE i.model_id = ?1 AND (?2 IS NULL OR i.status = ?2)
                       AND (?3 IS NULL OR EXISTS (SELECT 1 FROM issue_versions iv JOIN versions v ON v.id = iv.version_id
                                                   WHERE iv.issue_id = i.id AND v.name = ?3))
                       AND (i.last_seen_ms, i.id) < (?4, ?5)
                     ORDER BY i.last_seen_ms DESC, i.id DESC LIMIT ?6"
                ))?
                .query_map(
                    params![q.model_id, q.status.map(IssueStatus::as_str), q.version, before_ts, before_id, q.limit as i64],
                    issue_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|r| decode(c, r)).collect()
        })
    }

    fn get_issue(&self, model_id: i64, id: i64) -> Result<Option<IssueRecord>> {
        self.with_reader(|c| fetch(c, model_id, id))
    }

    fn issue_model(&self, id: i64) -> Result<Option<i64>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT model_id FROM issues WHERE id = ?1")?
                .query_row(params![id], |r| r.get(0))
                .optional()?)
        })
    }

    fn issue_hours(&self, id: i64, from_ms: i64) -> Result<Vec<(i64, i64)>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT hour_ms, count FROM issue_hours WHERE issue_id = ?1 AND hour_ms >= ?2 ORDER BY hour_ms",
            )?
            .query_map(params![id, from_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn issue_events(&self, id: i64, limit: usize) -> Result<Vec<StoredErrorEvent>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT e.event_id, e.request_id, v.name, e.ts_ms, e.received_ms, e.detail FROM error_events e
                 JOIN versions v ON v.id = e.version_id WHERE e.issue_id = ?1 ORDER BY e.seq DESC LIMIT ?2",
            )?
            .query_map(params![id, limit as i64], |r| {
                Ok(StoredErrorEvent {
                    event_id: r.get(0)?,
                    request_id: r.get(1)?,
                    version: r.get(2)?,
                    timestamp_ms: r.get(3)?,
                    received_ms: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_issue_status(
        &self,
        model_id: i64,
        id: i64,
        status: IssueStatus,
        now_ms: i64,
    ) -> Result<Option<IssueRecord>> {
        self.with_reader(|c| {
            c.execute(
                "UPDATE issues SET status = ?1, status_changed_ms = ?2 WHERE model_id = ?3 AND id = ?4 AND status != ?1",
                params![status.as_str(), now_ms, model_id, id],
            )?;
            fetch(c, model_id, id)
        })
    }
}

/// One issue of a model, with its versions.
fn fetch(c: &Connection, model_id: i64, id: i64) -> Result<Option<IssueRecord>> {
    let raw = c
        .query_row(
            &format!("SELECT {ISSUE_COLUMNS} FROM issues i WHERE i.model_id = ?1 AND i.id = ?2"),
            params![model_id, id],
            issue_from_row,
        )
        .optional()?;
    raw.map(|r| decode(c, r)).transpose()
}
