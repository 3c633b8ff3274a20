//! The aggregator's outcome pass: folds the event log (predictions with their early
//! labels) and the queue of late labels into per-(model, version, minute) outcome
//! tallies, rolled up into hours and days like the profiles, with its own watermark so
//! that it can catch up on history (after an upgrade) independently of the profiles.

use sightline_core::outcome_tally::OutcomeTally;
use sightline_store::sqlite::tallies::{tally_late_label, tally_prediction};
use sightline_store::{ProfileKey, Resolution, Store, StoreError, WriteBatch};
use std::collections::{BTreeSet, HashMap};

/// Rows read from the log (or the queue) at a time.
const CHUNK: usize = 5_000;
/// Flushes after which an unused cached tally is dropped.
const CACHE_FLUSHES: u64 = 30;

#[derive(Default)]
pub struct TallyPass {
    /// Event-log `seq` folded so far (in memory; the stored watermark trails it).
    position: i64,
    /// Late-label `seq` folded so far.
    late_position: i64,
    deltas: HashMap<(i64, i64, i64), OutcomeTally>,
    cache: HashMap<ProfileKey, (OutcomeTally, u64)>,
    flushes: u64,
    pending: u64,
}

impl TallyPass {
    /// Starts from the stored watermark.
    pub fn start(store: &dyn Store) -> Result<Self, StoreError> {
        Ok(TallyPass { position: store.tally_watermark()?, ..TallyPass::default() })
    }

    /// The event-log `seq` read so far.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Rows folded since the last flush.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    fn delta(&mut self, model_id: i64, version_id: i64, timestamp_ms: i64) -> &mut OutcomeTally {
        self.pending += 1;
        let minute = Resolution::Minute.bucket_of(timestamp_ms);
        self.deltas.entry((model_id, version_id, minute)).or_default()
    }

    /// Reads and folds one chunk of the log and one of the queue; `true` when both are
    /// exhausted.
    pub fn read(&mut self, store: &dyn Store) -> Result<bool, StoreError> {
        let events = store.tally_events(self.position, CHUNK)?;
        for e in &events {
            tally_prediction(self.delta(e.model_id, e.version_id, e.timestamp_ms), e);
        }
        if let Some(last) = events.last() {
            self.position = last.seq;
        }
        let late = store.late_labels(self.late_position, CHUNK)?;
        for l in &late {
            tally_late_label(self.delta(l.model_id, l.version_id, l.timestamp_ms), l);
        }
        if let Some(last) = late.last() {
            self.late_position = last.seq;
        }
        Ok(events.len() < CHUNK && late.len() < CHUNK)
    }

    /// The flush of everything folded: each changed minute, hour and day tally (read
    /// through the cache or the store), the watermark, the late labels folded.
    pub fn batch(&mut self, store: &dyn Store, prune: Vec<(Resolution, i64)>) -> Result<WriteBatch, StoreError> {
        self.flushes += 1;
        let mut touched = BTreeSet::new();
        for ((model_id, version_id, minute), delta) in std::mem::take(&mut self.deltas) {
            for resolution in Resolution::ALL {
                let key = ProfileKey { model_id, version_id, resolution, bucket_ms: resolution.bucket_of(minute) };
                let entry = match self.cache.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        let stored = match store.load_tally(&key)? {
                            None => OutcomeTally::new(),
                            Some(bytes) => OutcomeTally::decode(&bytes).unwrap_or_else(|e| {
                                // Derived data: a damaged tally is started afresh, and says so.
                                tracing::error!(error = %e, ?key, "stored outcome tally cannot be decoded; starting it again");
                                OutcomeTally::new()
                            }),
                        };
                        slot.insert((stored, 0))
                    }
                };
                entry.0.merge(&delta);
                entry.1 = self.flushes;
                touched.insert(key);
            }
        }
        self.pending = 0;
        let writes = touched.into_iter().filter_map(|k| self.cache.get(&k).map(|(t, _)| (k, t.encode()))).collect();
        let now = self.flushes;
        self.cache.retain(|_, (_, used)| now - *used < CACHE_FLUSHES);
        Ok(WriteBatch::Tallies { writes, watermark: self.position, late_labels_through: self.late_position, prune })
    }

    /// Forgets everything and starts again from the stored watermark (after a failed flush).
    pub fn reset(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        *self = TallyPass::start(store)?;
        Ok(())
    }
}
