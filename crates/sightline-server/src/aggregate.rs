//! The aggregator: one thread that tails the event log and folds committed predictions
//! into per-(model, version, minute) profiles, rolled up into hours and days.
//!
//! Its only input is the event log, read in `seq` order past the position it has
//! reached (the store answers from its in-memory committed tail when that holds the same
//! events, which saves reading back what was just written), so the path that keeps profiles current is the path that rebuilds them after
//! a crash: at start the position is the stored watermark, and whatever lies past it is
//! folded again. A flush writes the changed profiles and the new watermark in one
//! transaction through the one writer (so profiles never hold an event twice, or miss
//! one, across restarts), sealed like payloads. If a flush fails, the thread forgets its
//! memory and refolds from the stored watermark.
//!
//! Folding never slows ingest down beyond sharing the CPU: the aggregator may lag under
//! a burst (`sightline_aggregator_lag_events`) and catches up after it.

mod folder;
pub mod layout;
mod tallies;

use crate::ingest::{Job, SubmitError, WriteQueue};
use crate::metrics::Metrics;
use folder::Folder;
pub use folder::TYPE_MISMATCHES;
use layout::Layout;
use sightline_stats::profile::Profile;
use sightline_store::{FoldEvent, Keys, ProfileWrite, Resolution, Store, WriteBatch};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tallies::TallyPass;

/// Events read from the log at a time.
const CHUNK: usize = 5_000;
/// Events folded before a flush is forced, whatever the interval: bounds the memory
/// of deltas and the work lost to a crash.
const MAX_PENDING: u64 = 200_000;
/// How often profiles past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How the aggregator runs.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// Longest time between folding events and storing their profiles.
    pub flush_interval: Duration,
    /// How often the log is checked for new events when the aggregator has caught up.
    pub poll_interval: Duration,
    /// How long profiles of each resolution are kept; `None` keeps them forever.
    pub retention: [(Resolution, Option<Duration>); 3],
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            flush_interval: Duration::from_secs(2),
            poll_interval: Duration::from_millis(250),
            retention: [
                (Resolution::Minute, Some(Duration::from_secs(2 * 86_400))),
                (Resolution::Hour, Some(Duration::from_secs(90 * 86_400))),
                (Resolution::Day, None),
            ],
        }
    }
}

/// Shared with the rest of the server: stopping, and telling the aggregator that a
/// model's references or features changed.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    /// Bumped whenever a reference or a model's features change: layouts are rebuilt.
    layouts_generation: AtomicU64,
    /// The position folded and flushed so far (for tests and /metrics).
    flushed_to: std::sync::atomic::AtomicI64,
    wake: (Mutex<()>, Condvar),
    /// Wrong-type values of rejected events per (model, minute of receipt) and feature,
    /// taken by the next flush. Kept in memory only: rejected events were never
    /// acknowledged, so a crash loses at most one flush interval of these counts.
    type_mismatches: Mutex<HashMap<(i64, i64), HashMap<String, u64>>>,
}

impl Control {
    /// Counts wrong-type values of rejected events (one entry per value).
    pub fn count_type_mismatches(&self, model_id: i64, received_ms: i64, features: &[&str]) {
        if features.is_empty() {
            return;
        }
        let minute = Resolution::Minute.bucket_of(received_ms);
        let mut all = self.type_mismatches.lock().unwrap_or_else(|p| p.into_inner());
        let counts = all.entry((model_id, minute)).or_default();
        for f in features {
            *counts.entry((*f).to_owned()).or_default() += 1;
        }
    }

    fn take_type_mismatches(&self) -> HashMap<(i64, i64), HashMap<String, u64>> {
        std::mem::take(&mut *self.type_mismatches.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn layouts_changed(&self) {
        self.layouts_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The highest `seq` whose event is in stored profiles.
    pub fn flushed_to(&self) -> i64 {
        self.flushed_to.load(Ordering::Acquire)
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _guard = self.wake.0.lock().unwrap_or_else(|p| p.into_inner());
        self.wake.1.notify_all();
    }

    fn sleep(&self, d: Duration) {
        let guard = self.wake.0.lock().unwrap_or_else(|p| p.into_inner());
        if !self.stop.load(Ordering::Acquire) {
            let _ = self.wake.1.wait_timeout(guard, d);
        }
    }
}

/// What the thread needs.
pub struct Aggregator {
    pub store: Arc<dyn Store>,
    pub queue: Arc<WriteQueue>,
    pub keys: Arc<Keys>,
    pub metrics: Arc<Metrics>,
    pub control: Arc<Control>,
    pub config: AggregatorConfig,
}

/// The running thread; [`Handle::stop`] flushes what was folded and joins it.
pub struct Handle {
    control: Arc<Control>,
    thread: std::thread::JoinHandle<()>,
}

impl Handle {
    pub fn stop(self) -> std::thread::Result<()> {
        self.control.stop();
        self.thread.join()
    }
}

impl Aggregator {
    pub fn spawn(self) -> std::io::Result<Handle> {
        let control = self.control.clone();
        let thread = std::thread::Builder::new().name("sightline-aggregator".into()).spawn(move || self.run())?;
        Ok(Handle { control, thread })
    }

    fn run(self) {
        let mut position = match self.watermark() {
            Some(p) => p,
            None => return,
        };
        self.control.flushed_to.store(position, Ordering::Release);
        let Some(mut tallies) = self.tally_pass() else { return };
        let mut folder = Folder::default();
        let mut layouts = Layouts::default();
        let mut last_flush = Instant::now();
        let mut last_prune: Option<Instant> = None;
        let mut tallies_pruned: Option<Instant> = None;
        loop {
            let stopping = self.control.stop.load(Ordering::Acquire);
            let mut caught_up = stopping;
            // When stopping, what is folded is flushed but the log is not chased: the
            // rest is folded at the next start.
            while !stopping && folder.pending() < MAX_PENDING {
                match self.store.fold_events(position, CHUNK) {
                    Ok(events) if events.is_empty() => {
                        caught_up = true;
                        break;
                    }
                    Ok(events) => {
                        // Runs of one (model, version, minute) fold together, column by column.
                        let key =
                            |e: &FoldEvent| (e.model_id, e.version_id, Resolution::Minute.bucket_of(e.timestamp_ms));
                        let mut start = 0;
                        while start < events.len() {
                            let k = key(&events[start]);
                            let end =
                                events[start..].iter().position(|e| key(e) != k).map_or(events.len(), |n| start + n);
                            self.fold(&mut folder, &mut layouts, &events[start..end]);
                            start = end;
                        }
                        position = events.last().map_or(position, |e| e.seq);
                        self.metrics.aggregator_events.inc_by(events.len() as u64);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, after_seq = position, "aggregator cannot read the event log");
                        caught_up = true;
                        break;
                    }
                }
            }
            let mut tallies_caught_up = stopping;
            while !stopping && tallies.pending() < MAX_PENDING {
                match tallies.read(self.store.as_ref()) {
                    Ok(false) => {}
                    Ok(true) => {
                        tallies_caught_up = true;
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "aggregator cannot read predictions and labels to tally");
                        tallies_caught_up = true;
                        break;
                    }
                }
            }
            caught_up &= tallies_caught_up;
            let due = last_flush.elapsed() >= self.config.flush_interval
                || folder.pending() >= MAX_PENDING
                || tallies.pending() >= MAX_PENDING;
            if tallies.pending() > 0 && (due || stopping) {
                // Retention cuts scan the table: as rarely as the profiles'.
                let prune = tallies_pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
                let cuts = if prune { self.prune_cuts() } else { Vec::new() };
                let flushed = tallies
                    .batch(self.store.as_ref(), cuts)
                    .map_err(|e| e.to_string())
                    .and_then(|batch| self.commit(batch, self.keys.current()));
                if flushed.is_ok() && prune {
                    tallies_pruned = Some(Instant::now());
                }
                if let Err(e) = flushed {
                    tracing::error!(error = %e, "outcome tally flush failed; refolding from the stored watermark");
                    if let Err(e) = tallies.reset(self.store.as_ref()) {
                        tracing::error!(error = %e, "aggregator cannot read its tally watermark");
                    }
                }
            }
            if due || stopping {
                folder.add_type_mismatches(self.control.take_type_mismatches());
            }
            if folder.has_work() && (due || stopping) {
                let prune = last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
                match self.flush(&mut folder, position, prune) {
                    Ok(()) => {
                        self.control.flushed_to.store(position, Ordering::Release);
                        if prune {
                            last_prune = Some(Instant::now());
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "aggregator flush failed; refolding from the stored watermark");
                        folder.reset();
                        match self.watermark() {
                            Some(p) => position = p,
                            None => return,
                        }
                    }
                }
                last_flush = Instant::now();
            } else if !folder.has_work() {
                // Nothing folded is waiting: the stored profiles hold everything read.
                self.control.flushed_to.store(position, Ordering::Release);
            }
            if let Ok(max) = self.store.max_seq() {
                self.metrics.aggregator_lag.set(max.saturating_sub(position));
                self.metrics.tally_lag.set(max.saturating_sub(tallies.position()));
            }
            if stopping {
                tracing::info!(watermark = position, "aggregator stopped");
                return;
            }
            if caught_up {
                self.control.sleep(self.config.poll_interval);
            }
        }
    }

    /// Per resolution, the first bucket retention keeps.
    fn prune_cuts(&self) -> Vec<(Resolution, i64)> {
        let now_ms = crate::wire::time::now_ms();
        self.config
            .retention
            .iter()
            .filter_map(|(r, keep)| keep.map(|k| (*r, r.bucket_of(now_ms.saturating_sub(k.as_millis() as i64)))))
            .collect()
    }

    /// The outcome pass from its stored watermark, retried until it can be read or the
    /// server stops.
    fn tally_pass(&self) -> Option<TallyPass> {
        loop {
            match TallyPass::start(self.store.as_ref()) {
                Ok(p) => return Some(p),
                Err(e) => tracing::error!(error = %e, "aggregator cannot read its tally watermark"),
            }
            if self.control.stop.load(Ordering::Acquire) {
                return None;
            }
            self.control.sleep(Duration::from_secs(1));
        }
    }

    /// The stored watermark, retried until it can be read or the server stops.
    fn watermark(&self) -> Option<i64> {
        loop {
            match self.store.aggregator_watermark() {
                Ok(p) => return Some(p),
                Err(e) => tracing::error!(error = %e, "aggregator cannot read its watermark"),
            }
            if self.control.stop.load(Ordering::Acquire) {
                return None;
            }
            self.control.sleep(Duration::from_secs(1));
        }
    }

    /// Folds a run of events of one (model, version, minute).
    fn fold(&self, folder: &mut Folder, layouts: &mut Layouts, run: &[FoldEvent]) {
        let Some(first) = run.first() else { return };
        let newest = run.iter().flat_map(|e| e.features.iter().map(|(o, _)| *o as usize + 1)).max().unwrap_or(0);
        let Some(layout) = layouts.get(self.store.as_ref(), &self.control, first, newest) else { return };
        let events: Vec<&FoldEvent> = run.iter().collect();
        if let Err(e) = folder.fold_run(&layout, &events) {
            tracing::error!(error = %e, seq = first.seq, "events cannot be profiled");
        }
    }

    fn flush(&self, folder: &mut Folder, watermark: i64, prune: bool) -> Result<(), String> {
        let started = Instant::now();
        let merged = folder.drain(|key| self.store.load_profile(key)).map_err(|e| e.to_string())?;
        let ring = self.keys.current();
        let writes = merged
            .into_iter()
            .map(|m| {
                let data =
                    sightline_store::sealed::seal_profile(&ring, &m.key, &m.encoded).map_err(|e| e.to_string())?;
                Ok(ProfileWrite { key: m.key, rows: m.rows, data })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let prune = if prune { self.prune_cuts() } else { Vec::new() };
        let batch = WriteBatch::Profiles { writes, watermark, prune };
        self.commit(batch, ring)?;
        self.metrics.aggregator_flush_seconds.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Queues the flush and waits for its commit; retries while the queue is full.
    fn commit(&self, batch: WriteBatch, ring: Arc<sightline_store::KeyRing>) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let mut job = Job { batch, model: Arc::from(""), reply, sealed_with: Some(ring) };
        loop {
            match self.queue.submit(job) {
                Ok(_) => break,
                Err((SubmitError::Full, back)) => {
                    job = back;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((SubmitError::Closed, _)) => return Err("the write queue is closed".into()),
            }
        }
        match answer.blocking_recv() {
            Ok(reply) => reply.result.map(|_| ()),
            Err(_) => Err("the writer stopped before answering".into()),
        }
    }
}

/// Layouts by (model, version), rebuilt when references or features change.
#[derive(Default)]
struct Layouts {
    generation: u64,
    by_version: HashMap<(i64, i64), Arc<Layout>>,
}

impl Layouts {
    /// The layout of `event`'s model version, knowing at least `newest` features.
    fn get(&mut self, store: &dyn Store, control: &Control, event: &FoldEvent, newest: usize) -> Option<Arc<Layout>> {
        let generation = control.layouts_generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.by_version.clear();
            self.generation = generation;
        }
        let key = (event.model_id, event.version_id);
        if let Some(l) = self.by_version.get(&key)
            && l.feature_count() >= newest
        {
            return Some(l.clone());
        }
        match build_layout(store, event.model_id, event.version_id) {
            Ok(Some(layout)) => {
                let layout = Arc::new(layout);
                self.by_version.insert(key, layout.clone());
                Some(layout)
            }
            Ok(None) => {
                tracing::error!(model_id = event.model_id, "event of an unknown model is not profiled");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, model_id = event.model_id, "cannot load the model to profile its events");
                None
            }
        }
    }
}

/// A version's layout: the model's features, counting in the bins of the version's
/// reference, or else of the model's default reference.
fn build_layout(store: &dyn Store, model_id: i64, version_id: i64) -> Result<Option<Layout>, String> {
    let Some(model) = store.model_by_id(model_id).map_err(|e| e.to_string())? else { return Ok(None) };
    let reference = crate::analysis::reference_for(store, model_id, version_id).map_err(|e| e.to_string())?;
    let profile = reference.and_then(|r| Profile::decode(&r.data).ok());
    Ok(Some(Layout::new(&model.spec, profile.as_ref())))
}
