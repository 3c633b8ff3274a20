//! Incidents, their links and timelines on SQLite.

use super::SqliteStore;
use super::alerting::project_filter;
use crate::incidents::{
    IncidentChange, IncidentRecord, IncidentStats, IncidentStatus, IncidentStore, NewIncident,
    TIMELINE_KEPT_PER_INCIDENT, TimelineEntry,
};
use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, project_id, title, severity, status, assignee, monitor_id, runbook_url, postmortem,
    opened_ms, acknowledged_ms, resolved_ms";

type Raw = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
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
        r.get(11)?,
    ))
}

fn decode(c: &Connection, raw: Raw) -> Result<IncidentRecord> {
    let (id, project_id, title, severity, status, assignee, monitor_id, runbook_url, postmortem, opened, ack, res) =
        raw;
    let status = IncidentStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("incident {id}: status {status:?}")))?;
    let links = c
        .prepare_cached("SELECT kind, target FROM incident_links WHERE incident_id = ?1 ORDER BY kind, target")?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(IncidentRecord {
        id,
        project_id,
        title,
        severity,
        status,
        assignee,
        monitor_id,
        runbook_url,
        postmortem,
        opened_ms: opened,
        acknowledged_ms: ack,
        resolved_ms: res,
        links,
    })
}

fn fetch(c: &Connection, id: i64) -> Result<Option<IncidentRecord>> {
    let row = c.query_row(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"), [id], raw).optional()?;
    row.map(|r| decode(c, r)).transpose()
}

fn timeline(c: &Connection, id: i64, ts_ms: i64, kind: &str, actor: &str, text: &str) -> Result<()> {
    let seq = c
        .prepare_cached(
            "INSERT INTO incident_timeline (incident_id, ts_ms, kind, actor, text) VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING seq",
        )?
        .query_row(params![id, ts_ms, kind, actor, text], |r| r.get::<_, i64>(0))?;
    if seq % 100 == 0 {
        // The opening entry is kept whatever happens: it says how the incident began.
        c.prepare_cached(
            "DELETE FROM incident_timeline WHERE incident_id = ?1 AND kind != 'opened' AND seq < (
                 SELECT seq FROM incident_timeline WHERE incident_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![id, TIMELINE_KEPT_PER_INCIDENT - 1])?;
    }
    Ok(())
}

fn link(c: &Connection, id: i64, kind: &str, target: &str) -> Result<bool> {
    Ok(c.prepare_cached("INSERT OR IGNORE INTO incident_links (incident_id, kind, target) VALUES (?1, ?2, ?3)")?
        .execute(params![id, kind, target])?
        > 0)
}

impl IncidentStore for SqliteStore {
    fn create_incident(&self, n: &NewIncident) -> Result<IncidentRecord> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO incidents (project_id, title, severity, status, assignee, monitor_id, runbook_url, opened_ms)
                 VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7)",
                params![n.project_id, n.title, n.severity, n.assignee, n.monitor_id, n.runbook_url, n.opened_ms],
            )?;
            let id = tx.last_insert_rowid();
            timeline(&tx, id, n.opened_ms, "opened", &n.actor, &n.title)?;
            for (kind, target) in &n.links {
                link(&tx, id, kind, target)?;
            }
            let record = fetch(&tx, id)?.ok_or_else(|| StoreError::Corrupt(format!("incident {id} vanished")))?;
            tx.commit()?;
            Ok(record)
        })
    }

    fn get_incident(&self, id: i64) -> Result<Option<IncidentRecord>> {
        self.with_reader(|c| fetch(c, id))
    }

    fn list_incidents(
        &self,
        projects: Option<&[i64]>,
        status: Option<IncidentStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<IncidentRecord>> {
        let filter = project_filter(projects);
        self.with_reader(|c| {
            let raws = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM incidents
                     WHERE (?1 IS NULL OR project_id IN (SELECT value FROM json_each(?1)))
                       AND (?2 IS NULL OR status = ?2) AND id < ?3
                     ORDER BY id DESC LIMIT ?4"
                ))?
                .query_map(
                    params![filter, status.map(IncidentStatus::as_str), before.unwrap_or(i64::MAX), limit as i64],
                    raw,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|r| decode(c, r)).collect()
        })
    }

    fn open_incident_of_monitor(&self, monitor_id: &str) -> Result<Option<IncidentRecord>> {
        self.with_reader(|c| {
            let row = c
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM incidents WHERE monitor_id = ?1 AND status != 'resolved'
                         ORDER BY id DESC LIMIT 1"
                    ),
                    [monitor_id],
                    raw,
                )
                .optional()?;
            row.map(|r| decode(c, r)).transpose()
        })
    }

    fn update_incident(
        &self,
        id: i64,
        change: &IncidentChange,
        actor: &str,
        now_ms: i64,
    ) -> Result<Option<IncidentRecord>> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            let Some(current) = fetch(&tx, id)? else { return Ok(None) };
            if let Some(status) = change.status
                && status != current.status
            {
                // Acknowledged is the first time anyone moved it on; resolved is the
                // latest resolution (a reopened incident is unresolved again).
                let ack = current.acknowledged_ms.or((status != IncidentStatus::Open).then_some(now_ms));
                let resolved = (status == IncidentStatus::Resolved).then_some(now_ms);
                tx.execute(
                    "UPDATE incidents SET status = ?2, acknowledged_ms = ?3, resolved_ms = ?4 WHERE id = ?1",
                    params![id, status.as_str(), ack, resolved],
                )?;
                let text = format!("{} → {}", current.status.as_str(), status.as_str());
                timeline(&tx, id, now_ms, "status", actor, &text)?;
            }
            if let Some(assignee) = &change.assignee
                && *assignee != current.assignee
            {
                tx.execute("UPDATE incidents SET assignee = ?2 WHERE id = ?1", params![id, assignee])?;
                let text = assignee.as_deref().map_or_else(|| "unassigned".to_owned(), |a| format!("assigned to {a}"));
                timeline(&tx, id, now_ms, "assignee", actor, &text)?;
            }
            if let Some(postmortem) = &change.postmortem
                && *postmortem != current.postmortem
            {
                tx.execute("UPDATE incidents SET postmortem = ?2 WHERE id = ?1", params![id, postmortem])?;
                timeline(&tx, id, now_ms, "postmortem", actor, "postmortem updated")?;
            }
            for (kind, target) in &change.links {
                if link(&tx, id, kind, target)? {
                    timeline(&tx, id, now_ms, "link", actor, &format!("linked {kind} {target}"))?;
                }
            }
            let record = fetch(&tx, id)?;
            tx.commit()?;
            Ok(record)
        })
    }

    fn add_timeline(&self, id: i64, kind: &str, actor: &str, text: &str, now_ms: i64) -> Result<()> {
        self.with_reader(|c| timeline(c, id, now_ms, kind, actor, text))
    }

    fn timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT seq, ts_ms, kind, actor, text FROM incident_timeline WHERE incident_id = ?1 ORDER BY seq",
            )?
            .query_map([id], |r| {
                Ok(TimelineEntry {
                    seq: r.get(0)?,
                    ts_ms: r.get(1)?,
                    kind: r.get(2)?,
                    actor: r.get(3)?,
                    text: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn incident_stats(&self, projects: Option<&[i64]>) -> Result<IncidentStats> {
        let filter = project_filter(projects);
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT count(*), coalesce(sum(status != 'resolved'), 0), count(acknowledged_ms), count(resolved_ms),
                        avg(acknowledged_ms - opened_ms), avg(resolved_ms - opened_ms)
                 FROM incidents WHERE ?1 IS NULL OR project_id IN (SELECT value FROM json_each(?1))",
                [filter],
                |r| {
                    Ok(IncidentStats {
                        count: r.get(0)?,
                        open: r.get(1)?,
                        acknowledged: r.get(2)?,
                        resolved: r.get(3)?,
                        mean_ack_ms: r.get(4)?,
                        mean_resolve_ms: r.get(5)?,
                    })
                },
            )?)
        })
    }
}
