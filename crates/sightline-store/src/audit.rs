//! The tamper-evident audit log: entries, their hash chain, and its verification.
//!
//! Entry `n` stores `hash_n = SHA-256(hash_{n-1} ‖ n ‖ fields of n)` (with `hash_0` all
//! zeros and every field length-prefixed), and entries are numbered 1, 2, 3… without
//! gaps. Editing, deleting, inserting or reordering entries therefore breaks the chain
//! at the first changed position, which [`verify`] reports. Someone who rewrites the
//! whole chain from the changed position on is caught only against a head recorded
//! elsewhere (`sightline audit verify --expect-head`, or the server log, which names the
//! head after every append).

use crate::Result;
use sha2::{Digest, Sha256};

/// One thing that happened, as it is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub ts_ms: i64,
    /// Who did it: `user:<name>`, `token:<id>`, `cli`, `anonymous`, `server`.
    pub actor: String,
    /// Where from: the client address, or `local`.
    pub source: String,
    /// What: e.g. `auth.login`, `token.create`, `POST /api/v1/models`.
    pub action: String,
    /// On what: the request path or the object's name.
    pub target: String,
    /// `success`, or `failure: <reason>`, or the HTTP status.
    pub outcome: String,
}

/// A stored entry with its position and chain hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
    pub hash: [u8; 32],
}

/// Filters for listing the audit log (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub actor: Option<String>,
    /// Entries whose action starts with this.
    pub action_prefix: Option<String>,
    /// Continue after this sequence number (ascending order).
    pub after_seq: Option<i64>,
    pub limit: usize,
}

pub trait AuditStore {
    /// Appends an entry at the end of the chain, atomically with computing its hash.
    fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord>;
    /// Entries in sequence order matching `query`.
    fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
}

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The chain hash of entry `seq` following `prev`.
pub fn chain_hash(prev: &[u8; 32], seq: i64, e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(e.ts_ms.to_be_bytes());
    for field in [&e.actor, &e.source, &e.action, &e.target, &e.outcome] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entries {from} to {to} are missing (deleted)")]
    Missing { from: i64, to: i64 },
    #[error("entry {seq} appears out of order or twice (inserted or reordered)")]
    OutOfOrder { seq: i64 },
    #[error(
        "entry {seq} does not match its hash: it was edited, or entries before it were inserted, deleted or reordered"
    )]
    HashMismatch { seq: i64 },
    #[error("the chain does not contain the expected head {seq}: {detail}")]
    HeadMismatch { seq: i64, detail: String },
}

/// Checks records in their stored order, continuing a chain at `(last seq, last hash)`
/// (start with `(0, GENESIS)`). Returns the new position.
pub fn verify<'a>(
    start: (i64, [u8; 32]),
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<(i64, [u8; 32]), ChainBreak> {
    let (mut seq, mut prev) = start;
    for r in records {
        if r.seq > seq + 1 {
            return Err(ChainBreak::Missing { from: seq + 1, to: r.seq - 1 });
        }
        if r.seq <= seq {
            return Err(ChainBreak::OutOfOrder { seq: r.seq });
        }
        if chain_hash(&prev, r.seq, &r.entry) != r.hash {
            return Err(ChainBreak::HashMismatch { seq: r.seq });
        }
        seq = r.seq;
        prev = r.hash;
    }
    Ok((seq, prev))
}

/// Lowercase hex of a hash, as the CLI and API show it.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    ts_ms: 1_700_000_000_000 + seq,
                    actor: format!("user:u{seq}"),
                    source: "127.0.0.1".into(),
                    action: "token.create".into(),
                    target: format!("token {seq}"),
                    outcome: "success".into(),
                };
                let hash = chain_hash(&prev, seq, &entry);
                prev = hash;
                AuditRecord { seq, entry, hash }
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(6);
        assert_eq!(verify((0, GENESIS), &c), Ok((6, c[5].hash)));
        // And in pieces, as the CLI reads it page by page.
        let mid = verify((0, GENESIS), &c[..3]).expect("first half");
        assert_eq!(verify(mid, &c[3..]), Ok((6, c[5].hash)));
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_position() {
        let n = 6;
        for pos in 0..n as usize {
            let mut edited = chain(n);
            edited[pos].entry.outcome = "failure".into();
            assert_eq!(verify((0, GENESIS), &edited), Err(ChainBreak::HashMismatch { seq: pos as i64 + 1 }));

            let mut deleted = chain(n);
            deleted.remove(pos);
            let expected = if pos + 1 == n as usize {
                // The last entry's deletion leaves a valid shorter chain: only a
                // recorded head catches it.
                Ok((n - 1, deleted[pos - 1].hash))
            } else {
                Err(ChainBreak::Missing { from: pos as i64 + 1, to: pos as i64 + 1 })
            };
            assert_eq!(verify((0, GENESIS), &deleted), expected, "delete {pos}");

            // A renumbered deletion (the attacker closes the gap) breaks the hash.
            let mut renumbered = chain(n);
            renumbered.remove(pos);
            for r in renumbered.iter_mut().skip(pos) {
                r.seq -= 1;
            }
            if pos + 1 < n as usize {
                assert_eq!(verify((0, GENESIS), &renumbered), Err(ChainBreak::HashMismatch { seq: pos as i64 + 1 }));
            }

            let mut inserted = chain(n);
            let mut fake = inserted[pos].clone();
            fake.entry.actor = "user:mallory".into();
            inserted.insert(pos, fake);
            assert!(verify((0, GENESIS), &inserted).is_err(), "insert at {pos}");
        }
        for pos in 0..(n as usize - 1) {
            let mut swapped = chain(n);
            let (a, b) = (swapped[pos].entry.clone(), swapped[pos + 1].entry.clone());
            swapped[pos].entry = b;
            swapped[pos + 1].entry = a;
            assert_eq!(verify((0, GENESIS), &swapped), Err(ChainBreak::HashMismatch { seq: pos as i64 + 1 }));
        }
    }
}
