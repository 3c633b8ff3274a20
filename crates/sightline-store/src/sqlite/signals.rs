//! Monitor signal queries over the event log on SQLite: per-version counts and
//! latencies in a window, read through the `predictions_by_time` index.

use super::SqliteStore;
use crate::Result;
use crate::signals::{MAX_LATENCY_SAMPLE, SignalStore, WindowCounts};
use rusqlite::params;

impl SignalStore for SqliteStore {
    fn window_counts(
        &self,
        model_id: i64,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<WindowCounts>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT v.name, count(*), count(p.error_type),
                        count(*) FILTER (WHERE EXISTS (
                            SELECT 1 FROM labels l WHERE l.model_id = p.model_id AND l.request_id = p.request_id))
                 FROM predictions p JOIN versions v ON v.id = p.version_id
                 WHERE p.model_id = ?1 AND p.ts_ms >= ?2 AND p.ts_ms < ?3 AND (?4 IS NULL OR v.name = ?4)
                 GROUP BY v.name ORDER BY v.name",
            )?
            .query_map(params![model_id, from_ms, to_ms, version], |r| {
                Ok(WindowCounts { version: r.get(0)?, predictions: r.get(1)?, errors: r.get(2)?, labelled: r.get(3)? })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn window_latencies(
        &self,
        model_id: i64,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, Vec<f64>)>> {
        self.with_reader(|c| {
            let mut out: Vec<(String, Vec<f64>)> = Vec::new();
            let mut stmt = c.prepare_cached(
                "SELECT v.name, p.latency_ms FROM predictions p JOIN versions v ON v.id = p.version_id
                 WHERE p.model_id = ?1 AND p.ts_ms >= ?2 AND p.ts_ms < ?3 AND (?4 IS NULL OR v.name = ?4)
                   AND p.latency_ms IS NOT NULL
                 ORDER BY p.ts_ms DESC LIMIT ?5",
            )?;
            let rows = stmt.query_map(params![model_id, from_ms, to_ms, version, MAX_LATENCY_SAMPLE as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
            })?;
            for row in rows {
                let (name, latency) = row?;
                match out.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, values)) => values.push(latency),
                    None => out.push((name, vec![latency])),
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }
}
