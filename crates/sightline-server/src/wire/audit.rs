//! Audit entries as the API and `sightline audit export` write them: one JSON object
//! each, with the chain hash in hex, so an exported copy can be checked on its own.

use serde_json::{Value, json};
use sightline_store::AuditRecord;
use sightline_store::audit::hex;

pub fn record_json(r: &AuditRecord) -> Value {
    json!({
        "seq": r.seq,
        "time": super::time::format(r.entry.ts_ms),
        "actor": r.entry.actor,
        "source": r.entry.source,
        "action": r.entry.action,
        "target": r.entry.target,
        "outcome": r.entry.outcome,
        "hash": hex(&r.hash),
    })
}
