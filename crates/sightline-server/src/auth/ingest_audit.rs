//! The audit trail of event ingest, in summaries. Every ingest request changes state,
//! but writing one chained audit entry (a durable transaction of its own) per batch
//! would double the write load of the hot path. So ingest requests are tallied in
//! memory per (actor, address, route, target) and appended as one entry per tally when
//! the server flushes them — every minute and at shutdown: who sent how many requests
//! to which model, when, and with which statuses.

use sightline_store::AuditEntry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// How often the server appends the tallies (see `Server::serve`).
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    actor: String,
    source: String,
    action: String,
    target: String,
}

#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    first_ms: i64,
    last_ms: i64,
}

/// Most distinct keys held between flushes; past it, a flush happens early (an attacker
/// cycling addresses cannot grow memory without bound).
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct IngestAudit {
    pending: Mutex<HashMap<Key, Tally>>,
}

impl IngestAudit {
    /// Counts one answered ingest request. Returns `true` when the tallies are full and
    /// should be flushed now.
    pub fn record(&self, actor: &str, source: &str, action: &str, target: &str, status: u16, ts_ms: i64) -> bool {
        let key = Key { actor: actor.into(), source: source.into(), action: action.into(), target: target.into() };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let tally = pending.entry(key).or_insert_with(|| Tally { first_ms: ts_ms, ..Tally::default() });
        tally.requests += 1;
        *tally.by_status.entry(status).or_default() += 1;
        tally.first_ms = tally.first_ms.min(ts_ms);
        tally.last_ms = tally.last_ms.max(ts_ms);
        pending.len() >= MAX_KEYS
    }

    /// Takes every tally as an audit entry, oldest first.
    pub fn drain(&self) -> Vec<AuditEntry> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut entries: Vec<AuditEntry> = pending
            .into_iter()
            .map(|(k, t)| {
                let statuses: Vec<String> = t.by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect();
                AuditEntry {
                    ts_ms: t.last_ms,
                    actor: k.actor,
                    source: k.source,
                    action: k.action,
                    target: k.target,
                    outcome: format!(
                        "{} requests from {} to {}: {}",
                        t.requests,
                        crate::wire::time::format(t.first_ms),
                        crate::wire::time::format(t.last_ms),
                        statuses.join(" ")
                    ),
                }
            })
            .collect();
        entries.sort_by(|a, b| (a.ts_ms, &a.target, &a.actor).cmp(&(b.ts_ms, &b.target, &b.actor)));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tallied_per_caller_and_target() {
        let a = IngestAudit::default();
        let route = "POST /api/v1/models/{model}/predictions";
        a.record("token:3", "10.0.0.1", route, "/api/v1/models/m/predictions", 200, 1_000);
        a.record("token:3", "10.0.0.1", route, "/api/v1/models/m/predictions", 200, 3_000);
        a.record("token:3", "10.0.0.1", route, "/api/v1/models/m/predictions", 422, 2_000);
        a.record("token:4", "10.0.0.2", route, "/api/v1/models/m/predictions", 403, 500);
        let entries = a.drain();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].actor, "token:4");
        assert_eq!(
            entries[1].outcome,
            "3 requests from 1970-01-01T00:00:01.000Z to 1970-01-01T00:00:03.000Z: 200×2 422×1"
        );
        assert_eq!(entries[1].ts_ms, 3_000);
        assert!(a.drain().is_empty(), "drained");
    }
}
