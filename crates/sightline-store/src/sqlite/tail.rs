//! The committed tail: predictions the writer has just committed, kept in memory so that
//! the aggregator's two passes read them without going back to the database.
//!
//! Reading back what was just written cost the aggregator more than folding it (row
//! reads, opening the sealed features, decoding them: about a fifth of the server's CPU
//! during ingest). The tail answers [`crate::ProfileStore::fold_events`] and
//! [`crate::TallyStore::tally_events`] exactly as the log would — the same events, in
//! `seq` order — whenever it holds *every* committed prediction past the position asked
//! for; otherwise (after a restart, or when a reader fell further behind than the tail
//! is long) the caller reads the log. So the log stays the source of truth, and the
//! tail only saves work.
//!
//! Why it is complete when it says so: `seq` is the rowid, predictions are never
//! deleted, and the inserts of one transaction take consecutive rowids past the largest
//! one. The writer appends a transaction's predictions after its commit; an append that
//! does not continue the tail (another writer committed in between) starts it afresh
//! from that transaction, and an older append arriving late is dropped.
//!
//! Early labels (stored before their prediction) are joined by the tally pass. The tail
//! keeps the request id of a prediction only when its model has ever had an early label,
//! and the reader looks the label up for those; the set of such models only grows.

use crate::profiles::FoldEvent;
use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, RwLock};

/// One committed prediction in the tail.
#[derive(Debug, Clone)]
pub(crate) struct TailEvent {
    pub event: FoldEvent,
    /// Present when the model has early labels: the tally pass looks the label up.
    pub request_id: Option<String>,
}

/// Which reader asked: each has its own position, and entries both have passed go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    Profiles,
    Tallies,
}

#[derive(Debug)]
struct Inner {
    /// Every committed prediction with `seq > covered_from` is in `events`.
    covered_from: i64,
    /// The last `seq` appended (`covered_from` when empty).
    end: i64,
    events: VecDeque<TailEvent>,
    /// The positions the two readers last asked from (`i64::MIN`: never).
    positions: [i64; 2],
}

#[derive(Debug)]
pub(crate) struct CommittedTail {
    inner: Mutex<Inner>,
    capacity: usize,
    early_label_models: RwLock<HashSet<i64>>,
}

impl CommittedTail {
    /// A tail complete past `max_seq` (the log's end when the store opened), holding at
    /// most `capacity` events; `early_label_models` are the models with early labels.
    pub fn new(max_seq: i64, capacity: usize, early_label_models: HashSet<i64>) -> Self {
        CommittedTail {
            inner: Mutex::new(Inner {
                covered_from: max_seq,
                end: max_seq,
                events: VecDeque::new(),
                positions: [i64::MIN; 2],
            }),
            capacity,
            early_label_models: RwLock::new(early_label_models),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn has_early_labels(&self, model_id: i64) -> bool {
        self.early_label_models.read().unwrap_or_else(|p| p.into_inner()).contains(&model_id)
    }

    /// Called by the writer as it stores a label before its prediction (inside the
    /// transaction: a rollback leaves the model marked, which only costs lookups).
    pub fn mark_early_labels(&self, model_id: i64) {
        if !self.has_early_labels(model_id) {
            self.early_label_models.write().unwrap_or_else(|p| p.into_inner()).insert(model_id);
        }
    }

    /// One committed transaction's predictions, in `seq` order (consecutive).
    pub fn append(&self, committed: Vec<TailEvent>) {
        let Some(first) = committed.first().map(|e| e.event.seq) else { return };
        let mut inner = self.lock();
        if first <= inner.end {
            // Committed before what the tail holds and appended late: not needed, the
            // tail already starts past it.
            return;
        }
        if first != inner.end + 1 {
            // Something committed between the tail's end and these: start afresh.
            inner.events.clear();
            inner.covered_from = first - 1;
        }
        inner.end = committed.last().map_or(first, |e| e.event.seq);
        inner.events.extend(committed);
        self.trim(&mut inner);
    }

    /// Whether reads past `after_seq` are answered from the tail.
    pub fn covers(&self, after_seq: i64) -> bool {
        after_seq >= self.lock().covered_from
    }

    /// Up to `limit` events with `seq > after_seq` in `seq` order, or `None` when the
    /// tail cannot tell (the caller reads the log).
    pub fn read(&self, reader: Reader, after_seq: i64, limit: usize) -> Option<Vec<TailEvent>> {
        let mut inner = self.lock();
        if after_seq < inner.covered_from {
            return None;
        }
        inner.positions[reader as usize] = after_seq;
        // Entries are in seq order; the first past `after_seq` by binary search.
        let start = inner.events.partition_point(|e| e.event.seq <= after_seq);
        let out = inner.events.range(start..).take(limit).cloned().collect();
        self.trim(&mut inner);
        Some(out)
    }

    /// Drops what both readers have passed, and the oldest past the capacity.
    fn trim(&self, inner: &mut Inner) {
        let passed = inner.positions[0].min(inner.positions[1]);
        while let Some(front) = inner.events.front() {
            let seq = front.event.seq;
            if seq > passed && inner.events.len() <= self.capacity {
                break;
            }
            inner.events.pop_front();
            inner.covered_from = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::FeatureValue;

    fn event(seq: i64) -> TailEvent {
        let event = FoldEvent {
            seq,
            model_id: 1,
            version_id: 1,
            timestamp_ms: seq,
            features: vec![(0, FeatureValue::Number(seq as f64))].into(),
            prediction: None,
            scores: vec![],
            latency_ms: None,
            has_error: false,
        };
        TailEvent { event, request_id: None }
    }

    fn seqs(events: Option<Vec<TailEvent>>) -> Option<Vec<i64>> {
        events.map(|v| v.iter().map(|e| e.event.seq).collect())
    }

    #[test]
    fn answers_only_past_where_it_is_complete() {
        let tail = CommittedTail::new(10, 100, HashSet::new());
        assert_eq!(seqs(tail.read(Reader::Profiles, 10, 5)), Some(vec![]));
        assert_eq!(seqs(tail.read(Reader::Profiles, 9, 5)), None);
        tail.append((11..=14).map(event).collect());
        assert_eq!(seqs(tail.read(Reader::Profiles, 10, 2)), Some(vec![11, 12]));
        assert_eq!(seqs(tail.read(Reader::Tallies, 12, 5)), Some(vec![13, 14]));
        // The profiles reader is still at 10: 11 and 12 stay.
        assert_eq!(seqs(tail.read(Reader::Tallies, 10, 5)), Some(vec![11, 12, 13, 14]));
        assert_eq!(seqs(tail.read(Reader::Tallies, 12, 5)), Some(vec![13, 14]));
        assert_eq!(seqs(tail.read(Reader::Profiles, 12, 5)), Some(vec![13, 14]));
        // Both readers passed 12: it is gone, and the tail says so.
        assert_eq!(seqs(tail.read(Reader::Tallies, 11, 5)), None);
    }

    #[test]
    fn a_gap_starts_afresh_and_a_late_append_is_dropped() {
        let tail = CommittedTail::new(0, 100, HashSet::new());
        tail.append((1..=3).map(event).collect());
        // 4..=5 committed by someone else, appended later.
        tail.append((6..=7).map(event).collect());
        assert_eq!(seqs(tail.read(Reader::Profiles, 3, 10)), None);
        assert_eq!(seqs(tail.read(Reader::Profiles, 5, 10)), Some(vec![6, 7]));
        tail.append((4..=5).map(event).collect());
        assert_eq!(seqs(tail.read(Reader::Profiles, 5, 10)), Some(vec![6, 7]));
    }

    #[test]
    fn the_oldest_go_past_the_capacity() {
        let tail = CommittedTail::new(0, 3, HashSet::new());
        tail.append((1..=5).map(event).collect());
        assert_eq!(seqs(tail.read(Reader::Profiles, 1, 10)), None);
        assert_eq!(seqs(tail.read(Reader::Profiles, 2, 10)), Some(vec![3, 4, 5]));
    }

    #[test]
    fn early_label_models_only_grow() {
        let tail = CommittedTail::new(0, 3, HashSet::from([4]));
        assert!(tail.has_early_labels(4) && !tail.has_early_labels(5));
        tail.mark_early_labels(5);
        assert!(tail.has_early_labels(5));
    }
}
