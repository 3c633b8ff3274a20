//! A bounded multi-producer queue of jobs, counted in events, drained by one consumer.

use super::Job;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// Accepting the job would pass the event capacity.
    Full,
    /// The server is shutting down.
    Closed,
}

struct State {
    jobs: VecDeque<Job>,
    events: usize,
    closed: bool,
}

pub struct WriteQueue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
}

impl WriteQueue {
    /// A queue holding at most `capacity` events (a single larger job is still accepted
    /// into an empty queue, so no valid batch can be refused forever).
    pub fn new(capacity: usize) -> WriteQueue {
        WriteQueue {
            state: Mutex::new(State { jobs: VecDeque::new(), events: 0, closed: false }),
            ready: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enqueues without blocking; returns the queue depth in events after it.
    pub fn submit(&self, job: Job) -> Result<usize, (SubmitError, Job)> {
        let mut s = self.lock();
        if s.closed {
            return Err((SubmitError::Closed, job));
        }
        let n = job.batch.len();
        if s.events > 0 && s.events + n > self.capacity {
            return Err((SubmitError::Full, job));
        }
        s.events += n;
        s.jobs.push_back(job);
        let depth = s.events;
        drop(s);
        self.ready.notify_one();
        Ok(depth)
    }

    /// Blocks until jobs are waiting, then takes jobs up to `max_events` (at least one).
    /// Returns `None` once the queue is closed and empty.
    pub fn take(&self, max_events: usize) -> Option<(Vec<Job>, usize)> {
        let mut s = self.lock();
        while s.jobs.is_empty() {
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        let mut taken = Vec::new();
        let mut events = 0;
        while let Some(job) = s.jobs.front() {
            let n = job.batch.len();
            if !taken.is_empty() && events + n > max_events {
                break;
            }
            events += n;
            if let Some(job) = s.jobs.pop_front() {
                taken.push(job);
            }
        }
        s.events -= events;
        let depth = s.events;
        Some((taken, depth))
    }

    /// Refuses new jobs; the consumer drains what is queued and then stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_store::WriteBatch;

    fn job(n: usize) -> Job {
        let (reply, _) = tokio::sync::oneshot::channel();
        Job {
            batch: WriteBatch::Labels {
                model_id: 1,
                received_ms: 0,
                events: (0..n)
                    .map(|i| sightline_core::LabelEvent {
                        request_id: i.to_string(),
                        timestamp_ms: 0,
                        label: sightline_core::Target::Number(0.0),
                    })
                    .collect(),
            },
            model: "m".into(),
            reply,
            sealed_with: None,
        }
    }

    #[test]
    fn bounded_in_events_and_drains_after_close() {
        let q = WriteQueue::new(10);
        assert_eq!(q.submit(job(6)).map_err(|e| e.0), Ok(6));
        assert_eq!(q.submit(job(5)).map_err(|e| e.0), Err(SubmitError::Full));
        assert_eq!(q.submit(job(4)).map_err(|e| e.0), Ok(10));
        let (jobs, depth) = q.take(5).expect("jobs");
        assert_eq!((jobs.len(), depth), (1, 4), "takes at least one job even past max_events");
        q.close();
        assert_eq!(q.submit(job(1)).map_err(|e| e.0), Err(SubmitError::Closed));
        let (jobs, depth) = q.take(100).expect("drains after close");
        assert_eq!((jobs.len(), depth), (1, 0));
        assert!(q.take(100).is_none());
    }

    #[test]
    fn an_oversized_job_fits_an_empty_queue() {
        let q = WriteQueue::new(10);
        assert!(q.submit(job(50)).is_ok());
    }
}
