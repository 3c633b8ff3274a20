//! Which stored values are encrypted, what each is bound to, and re-encryption under a
//! new key. Backend-neutral: every backend stores these envelopes as opaque bytes.
//!
//! A prediction's features blob and its tags are sealed on the request's thread (in
//! [`crate::PreparedPrediction::new`]), so plaintext never reaches the database (the
//! validated values that ride along to the writer only pass, in memory, to the
//! committed tail the aggregator reads). Each is bound to its column, model id and request id — the pair the
//! unique index makes unique — so a ciphertext copied to another row or column fails
//! to open.
//!
//! Databases from before encryption hold plaintext rows. The migration that introduced
//! encryption recorded the highest `seq` then stored (`plaintext_max_seq`): a plaintext
//! value is accepted only at or below it, and the server re-encrypts those rows in the
//! background (the same pass as a key rotation), after which the bound drops to 0. A
//! plaintext value anywhere else is an error, so replacing a ciphertext with plaintext
//! does not get the plaintext read back.

use crate::crypto::{self, CryptoError, KeyId, KeyRing};
use crate::profiles::ProfileKey;
use crate::{Result, StoreError};

/// A sealed column of the predictions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Features,
    Tags,
}

impl Column {
    fn label(self) -> &'static [u8] {
        match self {
            Column::Features => b"sightline/predictions/features",
            Column::Tags => b"sightline/predictions/tags",
        }
    }
}

/// The associated data binding a value to its place: the column label, a NUL, the model
/// id (8 bytes big-endian), then the request id. Only the last part varies in length,
/// so no two places share an encoding.
pub fn aad(column: Column, model_id: i64, request_id: &str) -> Vec<u8> {
    let label = column.label();
    let mut out = Vec::with_capacity(label.len() + 9 + request_id.len());
    out.extend_from_slice(label);
    out.push(0);
    out.extend_from_slice(&model_id.to_be_bytes());
    out.extend_from_slice(request_id.as_bytes());
    out
}

/// What a reader needs to turn stored values back into plaintext.
#[derive(Debug, Clone)]
pub struct Opener {
    pub ring: std::sync::Arc<KeyRing>,
    /// Rows at or below this `seq` may still be plaintext (written before encryption).
    pub plaintext_max_seq: i64,
}

impl Opener {
    /// Opens one stored value of the row (`seq`, `model_id`, `request_id`).
    pub fn open(&self, column: Column, seq: i64, model_id: i64, request_id: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        if crypto::is_sealed(&stored) {
            return self
                .ring
                .open(&stored, &aad(column, model_id, request_id))
                .map_err(|e| corrupt(column, request_id, e));
        }
        if seq <= self.plaintext_max_seq {
            return Ok(stored);
        }
        let first = stored.first().copied().unwrap_or_default();
        Err(corrupt(column, request_id, CryptoError::Format(first)))
    }
}

/// The associated data of a bucket profile: its label, a NUL, then the model id,
/// version id, resolution and bucket start (8 bytes big-endian each).
pub fn profile_aad(key: &ProfileKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"sightline/profiles\0");
    for part in [key.model_id, key.version_id, key.resolution.ms(), key.bucket_ms] {
        out.extend_from_slice(&part.to_be_bytes());
    }
    out
}

/// The associated data of a reference profile: its label, a NUL, the model id, then
/// the version name.
pub fn reference_aad(model_id: i64, version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + version.len());
    out.extend_from_slice(b"sightline/references\0");
    out.extend_from_slice(&model_id.to_be_bytes());
    out.extend_from_slice(version.as_bytes());
    out
}

/// The associated data of a version's model file: its label, a NUL, the version id.
pub fn explainer_aad(version_id: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"sightline/explainers\0");
    out.extend_from_slice(&version_id.to_be_bytes());
    out
}

/// Seals an encoded bucket profile under `ring`'s active key, bound to its place.
pub fn seal_profile(ring: &KeyRing, key: &ProfileKey, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    ring.seal(plain, &profile_aad(key))
}

impl Opener {
    /// Opens a stored bucket profile. Profiles exist only since encryption did, so a
    /// plaintext one is an error.
    pub fn open_profile(&self, key: &ProfileKey, stored: &[u8]) -> Result<Vec<u8>> {
        self.ring.open(stored, &profile_aad(key)).map_err(|e| {
            StoreError::Corrupt(format!(
                "profile of model {} version {} at {} {}: {e}",
                key.model_id,
                key.version_id,
                key.resolution.name(),
                key.bucket_ms
            ))
        })
    }

    /// Opens a stored reference profile.
    pub fn open_reference(&self, model_id: i64, version: &str, stored: &[u8]) -> Result<Vec<u8>> {
        self.ring
            .open(stored, &reference_aad(model_id, version))
            .map_err(|e| StoreError::Corrupt(format!("reference of model {model_id} version {version:?}: {e}")))
    }

    /// Opens a version's stored model file.
    pub fn open_explainer(&self, version_id: i64, stored: &[u8]) -> Result<Vec<u8>> {
        self.ring
            .open(stored, &explainer_aad(version_id))
            .map_err(|e| StoreError::Corrupt(format!("model file of version {version_id}: {e}")))
    }
}

fn corrupt(column: Column, request_id: &str, e: CryptoError) -> StoreError {
    let what = match column {
        Column::Features => "features",
        Column::Tags => "tags",
    };
    StoreError::Corrupt(format!("prediction {request_id:?} {what}: {e}"))
}

/// A prediction's sealed values as stored, for re-encryption.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayload {
    pub seq: i64,
    pub model_id: i64,
    pub request_id: String,
    pub features: Vec<u8>,
    pub tags: Option<Vec<u8>>,
}

/// A row's values sealed again under the active key, with the values they replace (the
/// writer updates the row only if it still holds those).
#[derive(Debug, Clone, PartialEq)]
pub struct Resealed {
    pub seq: i64,
    pub old_features: Vec<u8>,
    pub old_tags: Option<Vec<u8>>,
    pub features: Vec<u8>,
    pub tags: Option<Vec<u8>>,
}

/// The key a stored value is sealed under; `None` for a plaintext value.
pub fn key_of(stored: &[u8]) -> Option<KeyId> {
    crypto::key_id_of(stored).ok()
}

/// Seals `payload` again under `opener`'s active key if any of its values is under
/// another key or in plaintext; `None` if it already is where it should be.
pub fn reseal(opener: &Opener, payload: &StoredPayload) -> Result<Option<Resealed>> {
    let active = opener.ring.active_id();
    let current = |v: &[u8]| key_of(v) == Some(active);
    if current(&payload.features) && payload.tags.as_deref().is_none_or(current) {
        return Ok(None);
    }
    let (seq, model_id, rid) = (payload.seq, payload.model_id, payload.request_id.as_str());
    let seal = |column: Column, stored: &[u8]| -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(opener.open(column, seq, model_id, rid, stored.to_vec())?);
        opener.ring.seal(&plain, &aad(column, model_id, rid)).map_err(|e| corrupt(column, rid, e))
    };
    let features = seal(Column::Features, &payload.features)?;
    let tags = payload.tags.as_deref().map(|t| seal(Column::Tags, t)).transpose()?;
    Ok(Some(Resealed { seq, old_features: payload.features.clone(), old_tags: payload.tags.clone(), features, tags }))
}

/// How far re-encryption has come, as stored beside the data so that an interrupted
/// pass resumes after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncryptionState {
    /// Rows at or below this `seq` may be plaintext; 0 once none can be.
    pub plaintext_max_seq: i64,
    /// The key the last re-encryption pass sealed under (0: no pass yet).
    pub key_id: KeyId,
    /// The last `seq` that pass has re-encrypted.
    pub cursor: i64,
    /// Whether that pass reached the end of the event log.
    pub finished: bool,
    /// The highest `seq` stored now (for progress).
    pub max_seq: i64,
}

/// Progress of a re-encryption pass, committed with the rows it re-encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResealProgress {
    pub key_id: KeyId,
    pub cursor: i64,
    /// The pass reached the end: no plaintext row is left either.
    pub finished: bool,
}
