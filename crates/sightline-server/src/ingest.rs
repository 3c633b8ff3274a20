//! The ingest pipeline's write side: a bounded queue of validated batches and the one
//! writer thread that group-commits them.
//!
//! A request's batch is answered only after the transaction that holds it is durable.
//! Concurrent requests share a transaction (group commit), so the fsync cost is paid
//! once per group instead of once per request. The queue is bounded in events: when
//! it is full a request is refused at once (429) rather than buffered without bound.

mod queue;
mod writer;

pub use queue::{SubmitError, WriteQueue};
pub use writer::spawn_writer;

use sightline_store::{BatchOutcome, WriteBatch};
use tokio::sync::oneshot;

/// One request's batch on its way to the writer.
pub struct Job {
    pub batch: WriteBatch,
    /// The model's name, for per-model metrics after the commit.
    pub model: std::sync::Arc<str>,
    pub reply: oneshot::Sender<Reply>,
    /// The key ring the batch was sealed with, released only once the writer is done
    /// with the job (also if the request was cancelled meanwhile): a key rotation waits
    /// for replaced rings to be released before re-encrypting (see `crate::encryption`).
    pub sealed_with: Option<std::sync::Arc<sightline_store::KeyRing>>,
}

/// The writer's answer. The batch comes back so that the request's task, not the
/// single writer thread, pays for freeing it.
pub struct Reply {
    pub result: Result<BatchOutcome, String>,
    pub batch: WriteBatch,
}
