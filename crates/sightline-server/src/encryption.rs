//! Encryption at rest on the server side: loading the master key file, reloading it on
//! a rotation, and the background pass that re-encrypts stored payloads under the
//! active key.
//!
//! Rotation is online. The reload swaps the key ring at once: requests that start after
//! it seal under the new key. The pass then waits until every batch sealed with an
//! older ring has been committed (each batch carries its ring to the writer, which
//! releases it after the commit, even if the request was cancelled meanwhile), so no
//! row sealed under an old key can be committed behind it; then it reads the event log
//! in `seq` order, re-seals on its own task (not on the writer), and hands each batch
//! to the single writer like any ingest batch. The writer commits a batch's rows with
//! the pass's position, so a pass interrupted by a crash resumes where it stopped, and
//! every row is at every moment sealed under a key that the key file still holds.
//! Second-factor secrets, bucket profiles and reference profiles are resealed at the
//! start of each pass (compare-and-swap, so a profile the aggregator rewrote meanwhile
//! is left as written); the pass is finished, and old keys removable, only after them.

use crate::error::{ApiError, Code};
use crate::ingest::{Job, SubmitError};
use crate::state::{AppState, blocking};
use serde_json::{Value, json};
use sightline_store::crypto::{self, KeyFileError};
use sightline_store::{BatchOutcome, KeyId, KeyRing, Keys, ResealProgress, StoreError, WriteBatch, sealed};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Rows re-encrypted per writer batch: small enough that a batch's commit stays short
/// beside ingest, large enough that the pass is not dominated by round trips.
const BATCH_ROWS: usize = 1_000;

/// Rows that failed to re-encrypt logged one by one per pass; the rest are only counted.
const MAX_LOGGED_FAILURES: u64 = 20;

/// The key file's name in the data directory when none is configured.
pub const DEFAULT_KEY_FILE: &str = "master.key";

/// Where the key ring comes from and whether it was just created.
pub struct LoadedKeys {
    pub ring: KeyRing,
    pub path: PathBuf,
}

/// Reads the configured key file, or `<data dir>/master.key`, creating that one (with a
/// fresh key, readable by its owner only) on first start.
pub fn load(configured: Option<&Path>, data_dir: &Path) -> Result<LoadedKeys, KeyFileError> {
    if let Some(path) = configured {
        return Ok(LoadedKeys { ring: crypto::read_key_file(path)?, path: path.to_owned() });
    }
    let path = data_dir.join(DEFAULT_KEY_FILE);
    let ring = if path.exists() {
        crypto::read_key_file(&path)?
    } else {
        let ring = crypto::create_key_file(&path)?;
        tracing::warn!(path = %path.display(), "generated a master key file, as none was configured");
        ring
    };
    // Said on every start, not only the first: the risk lasts as long as the layout.
    tracing::warn!(
        path = %path.display(),
        "the master key is stored beside the data: encryption protects only against a leaked database file, \
         not a leaked data directory; configure --master-key-file on another volume or secret store"
    );
    Ok(LoadedKeys { ring, path })
}

/// What the re-encryption pass is doing, for `GET /admin/keys`.
#[derive(Debug, Clone, Default)]
struct PassStatus {
    state: PassState,
    key_id: KeyId,
    cursor: i64,
    max_seq: i64,
    resealed: u64,
    failed: u64,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PassState {
    /// Nothing known yet (before the first check at start-up).
    #[default]
    Pending,
    /// Waiting for requests that sealed under a replaced key to commit.
    Draining,
    Running,
    Finished,
    Failed,
}

impl PassState {
    fn as_str(self) -> &'static str {
        match self {
            PassState::Pending => "pending",
            PassState::Draining => "draining",
            PassState::Running => "running",
            PassState::Finished => "finished",
            PassState::Failed => "failed",
        }
    }
}

/// The key file, the ring in use and the re-encryption pass.
pub struct Encryption {
    path: PathBuf,
    pub keys: Arc<Keys>,
    /// Rings replaced by reloads, until every request that sealed with them is answered.
    retired: Mutex<Vec<Weak<KeyRing>>>,
    status: Mutex<PassStatus>,
    /// Bumped by every reload; a running pass that sees it change starts over.
    generation: AtomicU64,
    wake: tokio::sync::Notify,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Encryption {
    pub fn new(path: PathBuf, keys: Arc<Keys>) -> Encryption {
        Encryption {
            path,
            keys,
            retired: Mutex::new(Vec::new()),
            status: Mutex::new(PassStatus::default()),
            generation: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, PassStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The status document of `GET /admin/keys`.
    pub fn describe(&self) -> Value {
        let ring = self.keys.current();
        let s = self.status().clone();
        let active = ring.active_id();
        // Old keys may go once a pass under the active key finished without failures.
        let clean = s.state == PassState::Finished && s.key_id == active && s.failed == 0;
        let removable: Vec<KeyId> =
            if clean { ring.ids().into_iter().filter(|id| *id != active).collect() } else { vec![] };
        json!({
            "active_key_id": active,
            "key_ids": ring.ids(),
            "removable_key_ids": removable,
            "reencryption": {
                "state": s.state.as_str(),
                "key_id": s.key_id,
                "cursor": s.cursor,
                "max_seq": s.max_seq,
                "rows_reencrypted": s.resealed,
                "rows_failed": s.failed,
                "error": s.error,
            },
        })
    }

    /// Reads the key file again and makes its last key the active one, then starts a
    /// re-encryption pass. Refuses a file that drops a key stored rows may still need.
    pub async fn reload(&self, app: &Arc<AppState>) -> Result<(), ApiError> {
        let _one = self.reloading.lock().await;
        let path = self.path.clone();
        let ring = blocking(move || crypto::read_key_file(&path))
            .await?
            .map_err(|e| ApiError::new(Code::InvalidKeyFile, e.to_string()))?;
        let current = self.keys.current();
        let state = {
            let store = app.store.clone();
            blocking(move || store.encryption_state()).await??
        };
        // The active key sealed rows that no pass has moved yet; while a pass is
        // unfinished, any key of the ring may still be needed.
        let settled = state.finished && state.key_id == current.active_id() && self.status().failed == 0;
        let needed: Vec<KeyId> = if settled { vec![current.active_id()] } else { current.ids() };
        if let Some(missing) = needed.iter().find(|id| !ring.contains(**id)) {
            return Err(ApiError::new(
                Code::KeyInUse,
                format!(
                    "the key file no longer holds key {missing}, which stored data may still be encrypted under; \
                     put it back, and remove old keys only once GET /api/v1/admin/keys lists them as removable"
                ),
            ));
        }
        if let Some(id) = current.first_mismatch(&ring) {
            return Err(ApiError::new(
                Code::KeyInUse,
                format!(
                    "key {id} in the key file is not the key {id} the server holds; \
                     a key id must never be reused for another key"
                ),
            ));
        }
        let old = self.keys.replace(ring);
        {
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            retired.retain(|w| w.strong_count() > 0);
            retired.push(Arc::downgrade(&old));
        }
        drop(old);
        let active = self.keys.current().active_id();
        tracing::info!(active_key = active, "master keys reloaded; re-encrypting stored payloads");
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.status() = PassStatus { state: PassState::Draining, key_id: active, ..PassStatus::default() };
        self.wake.notify_one();
        Ok(())
    }
}

/// Runs re-encryption passes until aborted: one at start-up if the stored state says
/// a pass is due (an unfinished one, a new active key, plaintext rows from before
/// encryption), then one after every reload.
pub async fn run(app: Arc<AppState>) {
    let enc = app.encryption.clone();
    let mut due = match startup_check(&app).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the encryption state; no re-encryption pass runs");
            let mut s = enc.status();
            s.state = PassState::Failed;
            s.error = Some(e);
            false
        }
    };
    loop {
        if !due {
            enc.wake.notified().await;
        }
        due = false;
        let generation = enc.generation.load(Ordering::Acquire);
        match pass(&app, generation).await {
            Ok(PassEnd::Finished) => {}
            Ok(PassEnd::Superseded) => due = true,
            Ok(PassEnd::Closed) => return,
            Err(e) => {
                tracing::error!(error = %e, "re-encryption pass failed; it runs again on the next rotation or start");
                let mut s = enc.status();
                s.state = PassState::Failed;
                s.error = Some(e);
            }
        }
    }
}

async fn startup_check(app: &Arc<AppState>) -> Result<bool, String> {
    let store = app.store.clone();
    let state = blocking(move || store.encryption_state()).await.map_err(|e| e.detail)?.map_err(|e| e.to_string())?;
    let active = app.encryption.keys.current().active_id();
    let due = !(state.finished && state.key_id == active && state.plaintext_max_seq == 0);
    let mut s = app.encryption.status();
    *s = PassStatus {
        state: if due { PassState::Pending } else { PassState::Finished },
        key_id: state.key_id,
        cursor: state.cursor,
        max_seq: state.max_seq,
        ..PassStatus::default()
    };
    Ok(due)
}

enum PassEnd {
    Finished,
    /// A reload happened meanwhile: start over under the new key.
    Superseded,
    /// The server is shutting down.
    Closed,
}

async fn pass(app: &Arc<AppState>, generation: u64) -> Result<PassEnd, String> {
    let enc = &app.encryption;
    enc.status().state = PassState::Draining;
    drain_retired(enc).await;
    let opener = app.store.opener();
    let active = opener.ring.active_id();
    reseal_user_secrets(app, opener.ring.clone()).await?;
    // Profiles and references: derived from sealed values, sealed as well.
    let store = app.store.clone();
    let profiles = blocking(move || store.reseal_profiles()).await.map_err(|e| e.detail)?.map_err(|e| e.to_string())?;
    if profiles > 0 {
        tracing::info!(profiles, "profiles and references re-encrypted");
    }
    let store = app.store.clone();
    let state = blocking(move || store.encryption_state()).await.map_err(|e| e.detail)?.map_err(|e| e.to_string())?;
    // Resume an interrupted pass under the same key; otherwise read from the start.
    let mut cursor = if state.key_id == active && !state.finished { state.cursor } else { 0 };
    {
        let mut s = enc.status();
        *s = PassStatus {
            state: PassState::Running,
            key_id: active,
            cursor,
            max_seq: state.max_seq,
            ..PassStatus::default()
        };
    }
    tracing::info!(key = active, from_seq = cursor, "re-encryption pass started");
    loop {
        if enc.generation.load(Ordering::Acquire) != generation {
            return Ok(PassEnd::Superseded);
        }
        let (store, opener) = (app.store.clone(), opener.clone());
        let already_failed = enc.status().failed;
        let (rows, failed, last, finished) = blocking(move || {
            let page = store.payloads(cursor, BATCH_ROWS)?;
            let finished = page.len() < BATCH_ROWS;
            let last = page.last().map(|p| p.seq);
            let mut rows = Vec::new();
            let mut failed = 0u64;
            for p in &page {
                match sealed::reseal(&opener, p) {
                    Ok(Some(r)) => rows.push(r),
                    Ok(None) => {}
                    // Left as it is: still sealed under whatever key it was, or damaged.
                    Err(e) => {
                        failed += 1;
                        // The first few name their rows; a key removed too early would
                        // otherwise log once per row. The status counts them all.
                        if already_failed + failed <= MAX_LOGGED_FAILURES {
                            tracing::warn!(seq = p.seq, error = %e, "cannot re-encrypt a stored prediction");
                        }
                    }
                }
            }
            Ok::<_, StoreError>((rows, failed, last, finished))
        })
        .await
        .map_err(|e| e.detail)?
        .map_err(|e| e.to_string())?;
        cursor = last.unwrap_or(cursor);
        let progress = ResealProgress { key_id: active, cursor, finished };
        let resealed = match submit(app, WriteBatch::Reseal { rows, progress }).await? {
            Some(n) => n,
            None => return Ok(PassEnd::Closed),
        };
        {
            let mut s = enc.status();
            s.cursor = cursor;
            s.max_seq = s.max_seq.max(cursor);
            s.resealed += resealed as u64;
            s.failed += failed;
        }
        if finished {
            let s = enc.status().clone();
            tracing::info!(key = active, rows = s.resealed, failed = s.failed, "re-encryption pass finished");
            enc.status().state = PassState::Finished;
            return Ok(PassEnd::Finished);
        }
    }
}

/// Waits until no batch sealed with a ring that a reload replaced is still on its way
/// to the writer.
/// Re-seals users' second-factor secrets under the active key. They are few (one per
/// user), so they are done in one go at the start of every pass; the pass is finished,
/// and old keys removable, only after them.
async fn reseal_user_secrets(app: &Arc<AppState>, ring: Arc<KeyRing>) -> Result<(), String> {
    let store = app.store.clone();
    blocking(move || -> Result<usize, String> {
        let active = ring.active_id();
        let mut after: Option<String> = None;
        let mut resealed = 0;
        loop {
            let users = store.list_users(after.as_deref(), 1_000).map_err(|e| e.to_string())?;
            for user in &users {
                let Some(sealed) = &user.totp_secret else { continue };
                if crypto::key_id_of(sealed).is_ok_and(|id| id == active) {
                    continue;
                }
                let secret = crate::auth::totp::open(&ring, user.id, sealed)
                    .map_err(|e| format!("the second-factor secret of user {:?}: {e}", user.name))?;
                let again = crate::auth::totp::seal(&ring, user.id, &secret)?;
                let change = sightline_store::UserChange { totp_secret: Some(Some(again)), ..Default::default() };
                store.update_user(user.id, &change).map_err(|e| e.to_string())?;
                resealed += 1;
            }
            match users.last() {
                Some(last) if users.len() == 1_000 => after = Some(last.name.clone()),
                _ => return Ok(resealed),
            }
        }
    })
    .await
    .map_err(|e| e.detail)?
    .map(|n| {
        if n > 0 {
            tracing::info!(users = n, "second-factor secrets re-encrypted");
        }
    })
}

async fn drain_retired(enc: &Encryption) {
    let mut waited = 0u32;
    loop {
        let busy = {
            let mut retired = enc.retired.lock().unwrap_or_else(|p| p.into_inner());
            retired.retain(|w| w.strong_count() > 0);
            !retired.is_empty()
        };
        if !busy {
            return;
        }
        waited += 1;
        if waited.is_multiple_of(1_000) {
            tracing::warn!(seconds = waited / 100, "re-encryption waits for requests sealed under a replaced key");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Hands a batch to the writer and waits for its commit; retries while the queue is
/// full (ingest goes first). `None` once the queue is closed.
async fn submit(app: &Arc<AppState>, mut batch: WriteBatch) -> Result<Option<usize>, String> {
    loop {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match app.queue.submit(Job { batch, model: Arc::from(""), reply, sealed_with: None }) {
            Ok(_) => {}
            Err((SubmitError::Full, job)) => {
                batch = job.batch;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err((SubmitError::Closed, _)) => return Ok(None),
        }
        return match answer.await.map(|r| r.result) {
            Ok(Ok(BatchOutcome::Resealed(n))) => Ok(Some(n)),
            Ok(Ok(_)) => Err("the writer answered a re-encryption batch with another outcome".into()),
            Ok(Err(e)) => Err(format!("committing re-encrypted rows failed: {e}")),
            Err(_) => Ok(None),
        };
    }
}
