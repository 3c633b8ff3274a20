//! Encryption at rest: AES-256-GCM under a ring of master keys read from a key file.
//!
//! A sealed value (an *envelope*) is laid out as
//!
//! ```text
//! [format 0xE1][key id: u32 big-endian][nonce: 12 random bytes][ciphertext][GCM tag: 16 bytes]
//! ```
//!
//! 33 bytes more than the plaintext. The 5-byte header is authenticated together with
//! the caller's associated data (AAD), so neither the format nor the key id can be
//! changed without the tag failing. Callers pass AAD that names the value's place (for a
//! stored prediction: the column, the model id and the request id), so a ciphertext
//! moved to another row or column fails to open instead of decrypting there.
//!
//! The key file holds one key per line, `<key id> <base64 of 32 bytes>`; `#` starts a
//! comment line. Every key opens what it sealed; the **last** key seals. See
//! docs/operations.md for rotation.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use thiserror::Error;
use zeroize::Zeroizing;

/// Bytes in a master key (AES-256).
pub const KEY_LEN: usize = 32;
/// The first byte of every envelope. Chosen outside the values that start the older
/// plaintext encodings (the feature codec's format byte 1, a JSON array's `[`), so a
/// stored value says by itself whether it is sealed.
pub const ENVELOPE_FORMAT: u8 = 0xE1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;
/// Bytes an envelope adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Names a master key; stored in every envelope it sealed.
pub type KeyId = u32;

/// Why a sealed value could not be opened. None of these ever yields plaintext.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("not a sealed value (format byte {0:#04x})")]
    Format(u8),
    #[error("sealed value is truncated")]
    Truncated,
    #[error("sealed under key {0}, which the key ring does not hold")]
    UnknownKey(KeyId),
    #[error("sealed value failed authentication: tampered, or moved from another row")]
    Authentication,
    #[error("value too large to seal")]
    TooLarge,
}

/// Why a key file could not be used. Messages name the file and the line, never the key.
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read the master key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the master key file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "the master key file {path} is accessible by group or others (mode {mode:03o}); \
         make it readable by its owner only: chmod 600 {path}"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("master key file {path}, line {line}: {message}")]
    Format { path: PathBuf, line: usize, message: String },
    #[error("the master key file {path} holds no key")]
    Empty { path: PathBuf },
    #[error("the master key file {path} already exists")]
    Exists { path: PathBuf },
}

/// One master key, kept only as its expanded cipher. The `aes` crate wipes the round
/// keys on drop (its `zeroize` feature); the GHASH subkey that aes-gcm derives from the
/// key (the encryption of a zero block) is not wiped by the crate, and reveals neither
/// the key nor any plaintext.
struct MasterKey {
    id: KeyId,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn clone_key(&self) -> MasterKey {
        MasterKey { id: self.id, cipher: self.cipher.clone() }
    }
}

/// The master keys a process holds: all open, the active (last) one seals. Immutable;
/// a reload builds a new ring (see [`Keys`]).
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for KeyRing {
    /// Key ids only: key material is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("key_ids", &self.ids()).field("active", &self.active_id()).finish()
    }
}

impl KeyRing {
    /// A ring of the given keys in order; the last one is active. `None` when `keys` is
    /// empty or names an id twice.
    pub fn new(keys: Vec<(KeyId, Zeroizing<[u8; KEY_LEN]>)>) -> Option<KeyRing> {
        let mut ring = Vec::with_capacity(keys.len());
        for (id, key) in keys {
            if ring.iter().any(|k: &MasterKey| k.id == id) {
                return None;
            }
            ring.push(MasterKey { id, cipher: Aes256Gcm::new((&*key).into()) });
        }
        (!ring.is_empty()).then_some(KeyRing { keys: ring })
    }

    /// A ring of one fresh random key (tests and benchmarks).
    pub fn generate(id: KeyId) -> KeyRing {
        let key = random_key();
        KeyRing { keys: vec![MasterKey { id, cipher: Aes256Gcm::new((&*key).into()) }] }
    }

    /// The id of the key that seals.
    pub fn active_id(&self) -> KeyId {
        self.active().id
    }

    /// Every key id, in file order (the active one last).
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.id).collect()
    }

    pub fn contains(&self, id: KeyId) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// The first key id both rings hold with different key material (a key file edited
    /// by hand can reuse an id), found by sealing a probe with one and opening it with
    /// the other; `None` if every shared id names the same key.
    pub fn first_mismatch(&self, other: &KeyRing) -> Option<KeyId> {
        const PROBE: &[u8] = b"sightline key comparison";
        self.keys.iter().filter(|k| other.contains(k.id)).map(|k| k.id).find(|&id| {
            let single = KeyRing { keys: self.keys.iter().filter(|k| k.id == id).map(MasterKey::clone_key).collect() };
            !matches!(single.seal(PROBE, PROBE), Ok(sealed) if other.open(&sealed, PROBE).is_ok())
        })
    }

    fn active(&self) -> &MasterKey {
        // `new` and `generate` never build an empty ring.
        &self.keys[self.keys.len() - 1]
    }

    /// Seals `plaintext` under the active key with a fresh random nonce, bound to `aad`.
    /// Fails only for a plaintext past GCM's limit of 64 GiB.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.active();
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(ENVELOPE_FORMAT);
        out.extend_from_slice(&key.id.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        // ThreadRng is a ChaCha-based CSPRNG seeded (and periodically reseeded) from the
        // operating system: unpredictable nonces without a system call per value.
        rand::rng().fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let full_aad = bound_aad(&out[..HEADER_LEN], aad);
        let start = HEADER_LEN + NONCE_LEN;
        match key.cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), &full_aad, &mut out[start..]) {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            // Only past GCM's length limit (64 GiB). The buffer holds plaintext: wipe it.
            Err(_) => {
                zeroize::Zeroize::zeroize(&mut out);
                Err(CryptoError::TooLarge)
            }
        }
    }

    /// Opens an envelope made by [`KeyRing::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id = key_id_of(sealed)?;
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::Truncated);
        }
        let key = self.keys.iter().find(|k| k.id == id).ok_or(CryptoError::UnknownKey(id))?;
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plaintext = body.to_vec();
        key.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                &bound_aad(header, aad),
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Authentication)?;
        Ok(plaintext)
    }
}

/// The key id an envelope names, without opening it.
pub fn key_id_of(sealed: &[u8]) -> Result<KeyId, CryptoError> {
    match sealed.first() {
        None => Err(CryptoError::Truncated),
        Some(&ENVELOPE_FORMAT) => {
            let id = sealed.get(1..HEADER_LEN).ok_or(CryptoError::Truncated)?;
            Ok(KeyId::from_be_bytes([id[0], id[1], id[2], id[3]]))
        }
        Some(&other) => Err(CryptoError::Format(other)),
    }
}

/// Whether `stored` is an envelope (as opposed to a value written before encryption).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.first() == Some(&ENVELOPE_FORMAT)
}

fn bound_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(header.len() + aad.len());
    full.extend_from_slice(header);
    full.extend_from_slice(aad);
    full
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    // Keys come straight from the operating system's generator.
    if getrandom::fill(&mut key[..]).is_err() {
        // No OS randomness is a broken system; ThreadRng is itself seeded from the OS
        // and would fail the same way, so this branch only keeps the signature total.
        rand::rng().fill_bytes(&mut key[..]);
    }
    key
}

/// The ring in use, replaceable while the server runs (key rotation). Readers take a
/// snapshot with [`Keys::current`]; a snapshot stays valid after a replacement.
pub struct Keys {
    current: RwLock<Arc<KeyRing>>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Keys").field(&self.current()).finish()
    }
}

impl Keys {
    pub fn new(ring: KeyRing) -> Keys {
        Keys { current: RwLock::new(Arc::new(ring)) }
    }

    pub fn current(&self) -> Arc<KeyRing> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Installs `ring`; returns the ring it replaced.
    pub fn replace(&self, ring: KeyRing) -> Arc<KeyRing> {
        std::mem::replace(&mut *self.current.write().unwrap_or_else(|p| p.into_inner()), Arc::new(ring))
    }
}

/// Reads a key file, refusing one that group or others may access.
pub fn read_key_file(path: &Path) -> Result<KeyRing, KeyFileError> {
    let text = read_private(path)?;
    parse_key_file(&text, path)
}

/// Parses key file text; `path` is only for messages.
pub fn parse_key_file(text: &str, path: &Path) -> Result<KeyRing, KeyFileError> {
    let mut keys: Vec<(KeyId, Zeroizing<[u8; KEY_LEN]>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| KeyFileError::Format { path: path.to_owned(), line: i + 1, message };
        let mut parts = line.split_whitespace();
        let (Some(id), Some(encoded), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected `<key id> <base64 key>`".into()));
        };
        let id: KeyId = match id.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad(format!("the key id {id:?} is not a whole number from 1 to {}", KeyId::MAX))),
        };
        if keys.iter().any(|(k, _)| *k == id) {
            return Err(bad(format!("key id {id} appears twice")));
        }
        // The decoder's own error text can quote a byte of the key: say only what is wrong.
        let decoded = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| bad("the key is not valid base64".into()))?);
        if decoded.len() != KEY_LEN {
            return Err(bad(format!("the key is {} bytes long; a key is {KEY_LEN} bytes", decoded.len())));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&decoded);
        keys.push((id, key));
    }
    KeyRing::new(keys).ok_or_else(|| KeyFileError::Empty { path: path.to_owned() })
}

/// Creates a new key file at `path` (readable by its owner only) holding one fresh key
/// with id 1, and returns its ring. Fails if the file exists.
pub fn create_key_file(path: &Path) -> Result<KeyRing, KeyFileError> {
    let mut text = Zeroizing::new(String::from(FILE_HEADER));
    text.push_str(&key_line(1, &random_key()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    restrict(&mut options);
    let write_err = |source| KeyFileError::Write { path: path.to_owned(), source };
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists { path: path.to_owned() }
        } else {
            write_err(source)
        }
    })?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(write_err)?;
    sync_parent(path);
    parse_key_file(&text, path)
}

/// Appends a fresh key (id one past the largest) to the key file at `path`, which makes
/// it the active key, and returns its id. The file is replaced atomically (a private
/// temporary file in the same directory, synced, then renamed), so a crash leaves
/// either the old file or the new one, never a torn one.
pub fn add_key_to_file(path: &Path) -> Result<KeyId, KeyFileError> {
    let text = read_private(path)?;
    let ring = parse_key_file(&text, path)?;
    let id = ring.ids().into_iter().max().unwrap_or(0).checked_add(1).ok_or_else(|| KeyFileError::Format {
        path: path.to_owned(),
        line: 0,
        message: "no key id is left after the largest".into(),
    })?;
    let mut new_text = Zeroizing::new(String::with_capacity(text.len() + 64));
    new_text.push_str(&text);
    if !new_text.is_empty() && !new_text.ends_with('\n') {
        new_text.push('\n');
    }
    new_text.push_str(&key_line(id, &random_key()));
    let write_err = |source| KeyFileError::Write { path: path.to_owned(), source };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "master.key".into());
    let tmp = path.with_file_name(format!(".{file_name}.new"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    restrict(&mut options);
    let mut file = options.open(&tmp).map_err(write_err)?;
    file.write_all(new_text.as_bytes()).and_then(|()| file.sync_all()).map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(write_err)?;
    sync_parent(path);
    Ok(id)
}

const FILE_HEADER: &str = "# Sightline master keys: `<key id> <base64 of 32 bytes>` per line.\n\
# Every key decrypts; the last key encrypts. Keep this file readable by its owner only.\n";

fn key_line(id: KeyId, key: &[u8; KEY_LEN]) -> Zeroizing<String> {
    Zeroizing::new(format!("{id} {}\n", STANDARD.encode(key)))
}

fn read_private(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let read_err = |source| KeyFileError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    check_private(&file, path)?;
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut &file, &mut text).map_err(read_err)?;
    Ok(text)
}

#[cfg(unix)]
fn check_private(file: &std::fs::File, path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        file.metadata().map_err(|source| KeyFileError::Read { path: path.to_owned(), source })?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions { path: path.to_owned(), mode: mode & 0o777 });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &std::fs::File, _path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}

#[cfg(unix)]
fn restrict(options: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn restrict(_options: &mut std::fs::OpenOptions) {}

/// Makes a rename or creation in `path`'s directory durable; best effort, as some file
/// systems refuse to sync a directory.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
