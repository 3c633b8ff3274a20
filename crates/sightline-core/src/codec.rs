//! Compact, versioned binary encoding of an event's features and scores for storage.
//!
//! Layout (format 1): a format byte, a LEB128 entry count, then per entry a LEB128
//! ordinal, a tag byte and the payload. Ordinals index the model's feature (or class)
//! list, which only ever grows, so old rows stay readable as schemas are extended.
//! Numbers are little-endian IEEE-754 doubles: exact round trips, no float formatting
//! on the hot ingest path.

use crate::scalar::FeatureValue;
use thiserror::Error;

const FORMAT: u8 = 1;
const TAG_NUMBER: u8 = 1;
const TAG_CATEGORY: u8 = 2;
const TAG_FALSE: u8 = 3;
const TAG_TRUE: u8 = 4;
const TAG_TEXT: u8 = 5;
const TAG_NULL: u8 = 6;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("unknown encoding format {0}")]
    Format(u8),
    #[error("unknown value tag {0}")]
    Tag(u8),
    #[error("truncated record")]
    Truncated,
    #[error("invalid utf-8 in a string value")]
    Utf8,
    #[error("entries out of order")]
    Unordered,
}

/// Encodes features (ordinal, value) into `out`.
pub fn encode_features(features: &[(u32, FeatureValue)], out: &mut Vec<u8>) {
    out.push(FORMAT);
    put_varint(out, features.len() as u64);
    for (ordinal, value) in features {
        put_varint(out, u64::from(*ordinal));
        match value {
            FeatureValue::Null => out.push(TAG_NULL),
            FeatureValue::Number(x) => {
                out.push(TAG_NUMBER);
                out.extend_from_slice(&x.to_le_bytes());
            }
            FeatureValue::Category(s) => put_str(out, TAG_CATEGORY, s),
            FeatureValue::Bool(false) => out.push(TAG_FALSE),
            FeatureValue::Bool(true) => out.push(TAG_TRUE),
            FeatureValue::Text(s) => put_str(out, TAG_TEXT, s),
        }
    }
}

/// Decodes what [`encode_features`] wrote.
pub fn decode_features(bytes: &[u8]) -> Result<Vec<(u32, FeatureValue)>, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    r.format()?;
    let n = r.varint()?;
    let mut out = Vec::with_capacity(n.min(4096) as usize);
    for _ in 0..n {
        let ordinal = r.ordinal()?;
        let value = match r.byte()? {
            TAG_NULL => FeatureValue::Null,
            TAG_NUMBER => FeatureValue::Number(r.f64()?),
            TAG_CATEGORY => FeatureValue::Category(r.string()?),
            TAG_FALSE => FeatureValue::Bool(false),
            TAG_TRUE => FeatureValue::Bool(true),
            TAG_TEXT => FeatureValue::Text(r.string()?),
            t => return Err(CodecError::Tag(t)),
        };
        out.push((ordinal, value));
    }
    Ok(out)
}

/// Encodes class scores (class ordinal, probability) into `out`.
pub fn encode_scores(scores: &[(u32, f64)], out: &mut Vec<u8>) {
    out.push(FORMAT);
    put_varint(out, scores.len() as u64);
    for (ordinal, p) in scores {
        put_varint(out, u64::from(*ordinal));
        out.extend_from_slice(&p.to_le_bytes());
    }
}

/// Decodes what [`encode_scores`] wrote.
pub fn decode_scores(bytes: &[u8]) -> Result<Vec<(u32, f64)>, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    r.format()?;
    let n = r.varint()?;
    let mut out = Vec::with_capacity(n.min(4096) as usize);
    for _ in 0..n {
        out.push((r.ordinal()?, r.f64()?));
    }
    Ok(out)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, tag: u8, s: &str) {
    out.push(tag);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl Reader<'_> {
    pub(crate) fn format(&mut self) -> Result<(), CodecError> {
        match self.byte()? {
            FORMAT => Ok(()),
            f => Err(CodecError::Format(f)),
        }
    }

    pub(crate) fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(CodecError::Truncated)
    }

    pub(crate) fn ordinal(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.varint()?).map_err(|_| CodecError::Truncated)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, CodecError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(buf))
    }

    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
        let n = usize::try_from(self.varint()?).map_err(|_| CodecError::Truncated)?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| CodecError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = FeatureValue> {
        prop_oneof![
            Just(FeatureValue::Null),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(FeatureValue::Number),
            ".{0,40}".prop_map(FeatureValue::Category),
            any::<bool>().prop_map(FeatureValue::Bool),
            ".{0,200}".prop_map(FeatureValue::Text),
        ]
    }

    proptest! {
        #[test]
        fn features_round_trip(features in proptest::collection::vec((0u32..5000, value()), 0..40)) {
            let mut buf = Vec::new();
            encode_features(&features, &mut buf);
            prop_assert_eq!(decode_features(&buf), Ok(features));
        }

        #[test]
        fn scores_round_trip(scores in proptest::collection::vec((0u32..1000, 0.0f64..=1.0), 0..20)) {
            let mut buf = Vec::new();
            encode_scores(&scores, &mut buf);
            prop_assert_eq!(decode_scores(&buf), Ok(scores));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_features(&bytes);
            let _ = decode_scores(&bytes);
        }
    }

    #[test]
    fn truncation_is_an_error() {
        let mut buf = Vec::new();
        encode_features(&[(3, FeatureValue::Number(1.0))], &mut buf);
        buf.pop();
        assert_eq!(decode_features(&buf), Err(CodecError::Truncated));
        assert_eq!(decode_features(&[9]), Err(CodecError::Format(9)));
    }
}
