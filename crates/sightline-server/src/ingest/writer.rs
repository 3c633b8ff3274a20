//! The writer thread: takes groups of jobs, commits them in one transaction, answers
//! each job and counts what was stored.

use super::{Job, Reply, WriteQueue};
use crate::metrics::Metrics;
use sightline_store::{BatchOutcome, LabelInsert, StoreWriter, WriteBatch};
use std::sync::Arc;
use std::time::Instant;

/// Most events folded into one transaction: large enough to amortise the fsync, small
/// enough that one commit stays in the tens of milliseconds.
const MAX_EVENTS_PER_COMMIT: usize = 20_000;

/// Starts the writer; it runs until the queue is closed and drained.
pub fn spawn_writer(
    queue: Arc<WriteQueue>,
    mut writer: Box<dyn StoreWriter>,
    metrics: Arc<Metrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("sightline-writer".into()).spawn(move || {
        while let Some((jobs, depth)) = queue.take(MAX_EVENTS_PER_COMMIT) {
            metrics.queue_depth.set(depth as i64);
            commit_group(writer.as_mut(), jobs, &metrics);
        }
        tracing::info!("writer drained and stopped");
    })
}

fn commit_group(writer: &mut dyn StoreWriter, jobs: Vec<Job>, metrics: &Metrics) {
    let started = Instant::now();
    let batches: Vec<&WriteBatch> = jobs.iter().map(|j| &j.batch).collect();
    match writer.commit(&batches) {
        Ok(outcomes) => {
            metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
            metrics.commit_events.observe(batches.iter().map(|b| b.len()).sum::<usize>() as f64);
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                finish(job, Ok(outcome), metrics);
            }
        }
        // One failing batch must not fail the others it was grouped with: retry each
        // alone, so only the culprit (or every one, if the disk is the problem) fails.
        Err(e) if jobs.len() > 1 => {
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; retrying batches one by one");
            for job in jobs {
                let result = writer.commit(&[&job.batch]);
                let result =
                    result.map_err(|e| e.to_string()).and_then(|mut o| o.pop().ok_or_else(|| "no outcome".into()));
                finish(job, result, metrics);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed");
            for job in jobs {
                finish(job, Err(e.to_string()), metrics);
            }
        }
    }
}

/// Counts what was stored, then answers the request. Counting first means a client
/// that reads /metrics right after its 200 sees its events.
fn finish(job: Job, result: Result<BatchOutcome, String>, metrics: &Metrics) {
    if let Ok(outcome) = &result {
        count(&job, outcome, metrics);
    }
    // The request may have gone away (client disconnected); its events are stored anyway.
    let _ = job.reply.send(Reply { result, batch: job.batch });
}

fn count(job: &Job, outcome: &BatchOutcome, metrics: &Metrics) {
    match (&job.batch, outcome) {
        (WriteBatch::Predictions { events, .. }, BatchOutcome::Predictions(stored)) => {
            let mut current: Option<(&str, crate::metrics::PredictionSeries)> = None;
            for (event, _) in events.iter().zip(stored).filter(|(_, s)| **s) {
                let series = match &current {
                    Some((v, s)) if *v == event.version => s,
                    _ => &current.insert((&event.version, metrics.predictions(&job.model, &event.version))).1,
                };
                series.predictions.inc();
                if event.error.is_some() {
                    series.errors.inc();
                }
                if let Some(ms) = event.latency_ms {
                    series.latency.observe(ms / 1000.0);
                }
            }
        }
        (WriteBatch::Labels { .. }, BatchOutcome::Labels(inserts)) => {
            for insert in inserts {
                if let LabelInsert::Stored { version } = insert {
                    metrics.labels(&job.model, version.as_deref().unwrap_or("")).inc();
                }
            }
        }
        (WriteBatch::Errors { events, .. }, BatchOutcome::Errors(stored)) => {
            for (event, _) in events.iter().zip(stored).filter(|(_, s)| **s) {
                metrics.exceptions(&job.model, &event.version).inc();
            }
        }
        // Re-encrypted rows are not new events: nothing to count.
        (WriteBatch::Reseal { .. }, BatchOutcome::Resealed(_)) => {}
        // Profiles are derived from events already counted.
        (WriteBatch::Profiles { .. }, BatchOutcome::Profiles { pruned }) => {
            if *pruned > 0 {
                tracing::info!(pruned, "profiles past their retention deleted");
            }
        }
        // Outcome tallies likewise (the store answers their flush as a profiles flush).
        (WriteBatch::Tallies { .. }, BatchOutcome::Profiles { pruned }) => {
            if *pruned > 0 {
                tracing::info!(pruned, "outcome tallies past their retention deleted");
            }
        }
        _ => tracing::error!("store answered a batch with an outcome of another kind"),
    }
}
