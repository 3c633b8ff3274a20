//! Artifact bytes, content-addressed: each upload is streamed to a temporary file while
//! its SHA-256 is computed, then renamed to `<data dir>/artifacts/<first two hex>/<hex>`;
//! equal bytes are stored once. Paths that clients name artifacts by never reach the
//! file system: they are checked ([`check_path`]) and mapped to hashes in the store.

use crate::error::{ApiError, Code};
use crate::state::blocking;
use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most bytes of one artifact.
pub const MAX_ARTIFACT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
}

impl BlobStore {
    pub fn new(data_dir: &Path) -> BlobStore {
        BlobStore { root: data_dir.join("artifacts") }
    }

    fn blob_path(&self, sha256: &str) -> Result<PathBuf, ApiError> {
        // The hash comes from the store; check it anyway before building a path from it.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(ApiError::internal(format!("stored artifact hash {sha256:?} is not a SHA-256")));
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Streams a request body into the store; 413 past [`MAX_ARTIFACT_BYTES`].
    pub async fn put(&self, body: Body) -> Result<Stored, ApiError> {
        let tmp_dir = self.root.join("tmp");
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().simple().to_string());
        let (dir, file_path) = (tmp_dir.clone(), tmp.clone());
        let mut file = blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::File::create(&file_path)
        })
        .await?
        .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = body.into_data_stream();
        let written: Result<(), ApiError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::new(Code::InvalidQuery, format!("cannot read the body: {e}")))?;
                size += chunk.len() as u64;
                if size > MAX_ARTIFACT_BYTES {
                    return Err(ApiError::new(
                        Code::PayloadTooLarge,
                        format!("an artifact may have at most {MAX_ARTIFACT_BYTES} bytes"),
                    ));
                }
                hasher.update(&chunk);
                // Chunks are small (tens of KiB): writing one is well under a millisecond.
                file.write_all(&chunk).map_err(ApiError::internal)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let sha256 = hex(&hasher.finalize());
        let dest = self.blob_path(&sha256)?;
        blocking(move || -> std::io::Result<()> {
            file.sync_all()?;
            drop(file);
            if dest.exists() {
                std::fs::remove_file(&tmp)?;
                return Ok(());
            }
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&tmp, &dest)
        })
        .await?
        .map_err(ApiError::internal)?;
        Ok(Stored { sha256, size })
    }

    /// The body of a stored blob, streamed.
    pub async fn open(&self, sha256: &str) -> Result<Body, ApiError> {
        let path = self.blob_path(sha256)?;
        let file = tokio::fs::File::open(&path).await.map_err(ApiError::internal)?;
        let stream = tokio_util_free_stream(file);
        Ok(Body::from_stream(stream))
    }
}

/// Reads a file in 64 KiB chunks as a stream (without pulling in tokio-util).
fn tokio_util_free_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an artifact path: relative, `/`-separated, no empty, `.` or `..` segment
/// (also once percent-decoded, against double-encoded traversal), no backslash, no
/// control character (NUL included), no drive letter, at most 1,024 bytes. MLflow's
/// history of path-traversal CVEs is why this is strict rather than normalizing.
pub fn check_path(field: &str, path: &str, allow_empty: bool) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(crate::routes::support::invalid(field, format!("{path:?} {why}")));
    if path.is_empty() {
        return if allow_empty { Ok(()) } else { refuse("is empty") };
    }
    if path.len() > 1024 {
        return refuse("is longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return refuse("is absolute; artifact paths are relative");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return refuse("contains a control character or a backslash");
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if decoded.contains('\\') || decoded.chars().any(char::is_control) || decoded.starts_with('/') {
        return refuse("contains an encoded separator or control character");
    }
    for segment in path.split('/').chain(decoded.split('/')) {
        if segment.is_empty() || segment == "." || segment == ".." {
            return refuse("has an empty, '.' or '..' segment");
        }
    }
    if path.len() >= 2 && path.as_bytes()[1] == b':' {
        return refuse("starts with a drive letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn traversal_and_odd_paths_are_refused() {
        for bad in [
            "../x",
            "a/../b",
            "a/..",
            "/etc/passwd",
            "a//b",
            "./a",
            "a\\..\\b",
            "a\0b",
            "%2e%2e/x",
            "a/%2E%2E/b",
            "a%2f..%2fb",
            "%2fetc",
            "C:/x",
            "a/",
        ] {
            assert!(check_path("path", bad, false).is_err(), "{bad:?} was accepted");
        }
        for good in ["model/MLmodel", "a.b/c-d_e", "x", "model/python_model.pkl", "a..b/c"] {
            assert!(check_path("path", good, false).is_ok(), "{good:?} was refused");
        }
        assert!(check_path("path", "", true).is_ok());
        assert!(check_path("path", "", false).is_err());
    }
}
