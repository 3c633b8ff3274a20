//! The aggregator's memory: what was folded since the last flush (a delta per model,
//! version and minute) and the stored profiles it recently merged into, so that a flush
//! does not read back what the previous one wrote.

use super::layout::{Columns, Layout, mix};
use sightline_stats::profile::{
    CategoricalProfile, ColumnProfile, DEFAULT_CAPACITY, DEFAULT_PRECISION, Profile, ProfileError,
};
use sightline_store::{FoldEvent, ProfileKey, Resolution, StoredProfile};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Flushes after which an unused cached profile is dropped.
const CACHE_FLUSHES: u64 = 30;

struct Delta {
    layout: Arc<Layout>,
    columns: Columns,
    rows: u64,
}

struct Cached {
    profile: Profile,
    rows: u64,
    used: u64,
}

/// A profile to store: its place, its event count and its encoding (not yet sealed).
pub struct Merged {
    pub key: ProfileKey,
    pub rows: u64,
    pub encoded: Vec<u8>,
}

/// The profile column counting rejected events' wrong-type values per feature, in the
/// profiles of version id 0 (a rejected event's version is not trusted).
pub const TYPE_MISMATCHES: &str = "type_mismatches";

#[derive(Default)]
pub struct Folder {
    deltas: HashMap<(i64, i64, i64), Delta>,
    /// Wrong-type counts per (model, minute), feature.
    mismatches: HashMap<(i64, i64), HashMap<String, u64>>,
    cache: HashMap<ProfileKey, Cached>,
    flushes: u64,
    pending: u64,
}

impl Folder {
    /// Adds events of one (model, version, minute) to that minute's delta, built on
    /// `layout` when the delta is new.
    pub fn fold_run(&mut self, layout: &Arc<Layout>, events: &[&FoldEvent]) -> Result<(), ProfileError> {
        let Some(first) = events.first() else { return Ok(()) };
        let minute = Resolution::Minute.bucket_of(first.timestamp_ms);
        let key = (first.model_id, first.version_id, minute);
        let delta = match self.deltas.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let seed = mix(mix(first.model_id as u64, first.version_id as u64), minute as u64);
                v.insert(Delta { layout: layout.clone(), columns: layout.empty(seed)?, rows: 0 })
            }
        };
        delta.layout.fold_many(&mut delta.columns, events);
        delta.rows += events.len() as u64;
        self.pending += events.len() as u64;
        Ok(())
    }

    pub fn add_type_mismatches(&mut self, counts: HashMap<(i64, i64), HashMap<String, u64>>) {
        for (key, features) in counts {
            let mine = self.mismatches.entry(key).or_default();
            for (f, n) in features {
                *mine.entry(f).or_default() += n;
            }
        }
    }

    /// Whether anything waits for a flush.
    pub fn has_work(&self) -> bool {
        self.pending > 0 || !self.mismatches.is_empty()
    }

    /// Events folded since the last drain.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Forgets everything (after a failed flush the caller refolds from the stored
    /// watermark, which the cache may be ahead of).
    pub fn reset(&mut self) {
        // Type-mismatch tallies are not in the log: keep them for the next flush.
        let mismatches = std::mem::take(&mut self.mismatches);
        *self = Folder { flushes: self.flushes, mismatches, ..Folder::default() };
    }

    /// Merges every delta into its minute, hour and day profiles (read through `load`
    /// when not cached) and returns those profiles, each once.
    pub fn drain(
        &mut self,
        mut load: impl FnMut(&ProfileKey) -> Result<Option<StoredProfile>, sightline_store::StoreError>,
    ) -> Result<Vec<Merged>, sightline_store::StoreError> {
        self.flushes += 1;
        let mut touched: BTreeMap<ProfileKey, ()> = BTreeMap::new();
        let mut work: Vec<((i64, i64, i64), Profile, u64)> = std::mem::take(&mut self.deltas)
            .into_iter()
            .map(|(key, delta)| (key, delta.layout.profile(delta.columns), delta.rows))
            .collect();
        for ((model_id, minute), features) in std::mem::take(&mut self.mismatches) {
            let mut column = CategoricalProfile::new(DEFAULT_CAPACITY, DEFAULT_PRECISION)
                .map_err(|e| sightline_store::StoreError::Corrupt(e.to_string()))?;
            for (feature, n) in features {
                column.update_weighted(&feature, n);
            }
            let mut profile = Profile::new();
            profile.insert(TYPE_MISMATCHES, ColumnProfile::Categorical(column));
            work.push(((model_id, 0, minute), profile, 0));
        }
        for ((model_id, version_id, minute), profile, rows) in work {
            for resolution in Resolution::ALL {
                let key = ProfileKey { model_id, version_id, resolution, bucket_ms: resolution.bucket_of(minute) };
                let cached = match self.cache.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        let stored = load(&key)?.and_then(|s| match Profile::decode(&s.data) {
                            Ok(p) => Some(Cached { profile: p, rows: s.rows, used: 0 }),
                            Err(e) => {
                                // Derived data: a damaged profile is started afresh, and says so.
                                tracing::error!(error = %e, ?key, "stored profile cannot be decoded; starting it again");
                                None
                            }
                        });
                        slot.insert(stored.unwrap_or(Cached { profile: Profile::new(), rows: 0, used: 0 }))
                    }
                };
                {
                    if let Err(e) = cached.profile.merge_dropping_bins(&profile) {
                        tracing::error!(error = %e, ?key, "profile cannot be merged; its events are left out");
                        continue;
                    }
                    cached.rows += rows;
                    cached.used = self.flushes;
                    touched.insert(key, ());
                }
            }
        }
        self.pending = 0;
        let merged = touched
            .into_keys()
            .filter_map(|key| self.cache.get(&key).map(|c| Merged { key, rows: c.rows, encoded: c.profile.encode() }))
            .collect();
        let now = self.flushes;
        self.cache.retain(|_, c| now - c.used < CACHE_FLUSHES);
        Ok(merged)
    }
}
