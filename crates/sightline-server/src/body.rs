//! Request bodies: content type, content encoding (gzip, zstd) and the size limit,
//! which counts decompressed bytes.

use crate::error::{ApiError, Code};
use axum::http::{HeaderMap, header};
use std::io::Read;

/// How a batch body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `{"events": [...]}` (or `{"labels": [...]}`).
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// The batch format named by `Content-Type`. A missing type is taken as JSON; any type
/// other than JSON or NDJSON is refused with 415.
pub fn batch_format(headers: &HeaderMap) -> Result<BatchFormat, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BatchFormat::Json);
    };
    let mime = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(BatchFormat::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/jsonlines" => {
            Ok(BatchFormat::Ndjson)
        }
        _ => Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "content-type {:?} is not supported; send application/json or application/x-ndjson",
                value.to_str().unwrap_or("(not text)")
            ),
        )),
    }
}

/// Requires a JSON content type (or none) for single-object bodies.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match batch_format(headers)? {
        BatchFormat::Json => Ok(()),
        BatchFormat::Ndjson => Err(ApiError::new(
            Code::UnsupportedMediaType,
            "this endpoint takes one JSON object; send content-type application/json",
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

/// The `Content-Encoding` of the body; 415 for anything but identity, gzip and zstd.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    match value.to_str().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "zstd" => Ok(Encoding::Zstd),
        other => Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("content-encoding {other:?} is not supported; send gzip, zstd or an uncompressed body"),
        )),
    }
}

/// Decompresses `raw` (blocking; run off the async threads), refusing with 413 once the
/// decompressed size passes `limit` — so a small "zip bomb" costs at most `limit` bytes.
pub fn decode(raw: bytes::Bytes, encoding: Encoding, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(Code::PayloadTooLarge, format!("the decompressed body is larger than the limit of {limit} bytes"))
    };
    let read_limited = |mut reader: Box<dyn Read + '_>, name: &str| -> Result<bytes::Bytes, ApiError> {
        let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
        let taken = (&mut reader).take(limit as u64 + 1).read_to_end(&mut out);
        match taken {
            Ok(n) if n > limit => Err(too_large()),
            Ok(_) => Ok(out.into()),
            Err(e) => Err(ApiError::new(Code::InvalidJson, format!("the body is not valid {name}: {e}"))),
        }
    };
    match encoding {
        Encoding::Identity if raw.len() > limit => Err(too_large()),
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => read_limited(Box::new(flate2::read::MultiGzDecoder::new(&raw[..])), "gzip"),
        Encoding::Zstd => match zstd::stream::read::Decoder::new(&raw[..]) {
            Ok(d) => read_limited(Box::new(d), "zstd"),
            Err(e) => Err(ApiError::new(Code::InvalidJson, format!("the body is not valid zstd: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> bytes::Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("write");
        e.finish().expect("finish").into()
    }

    #[test]
    fn gzip_and_zstd_round_trip() {
        let data = b"{\"events\": []}".repeat(10);
        assert_eq!(&decode(gzip(&data), Encoding::Gzip, 1000).expect("gzip")[..], &data[..]);
        let z = zstd::encode_all(&data[..], 3).expect("zstd");
        assert_eq!(&decode(z.into(), Encoding::Zstd, 1000).expect("zstd")[..], &data[..]);
    }

    #[test]
    fn limits_count_decompressed_bytes() {
        let bomb = gzip(&vec![b' '; 1_000_000]);
        assert!(bomb.len() < 10_000);
        let err = decode(bomb, Encoding::Gzip, 100_000).expect_err("too large");
        assert_eq!(err.code, Code::PayloadTooLarge);
    }

    #[test]
    fn garbage_is_a_clear_400() {
        let err = decode(bytes::Bytes::from_static(b"not gzip"), Encoding::Gzip, 100).expect_err("bad");
        assert_eq!(err.code, Code::InvalidJson);
        assert!(err.detail.contains("gzip"), "{}", err.detail);
    }
}
