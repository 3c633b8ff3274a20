//! Loaders from model files (bytes given by the caller) to the internal [`crate::Ensemble`].
//!
//! One module per file format; each knows its library's conventions and nothing else does.
//! [`Format`] names them and tells them apart by extension or by their first bytes.

pub mod lightgbm_text;
pub mod onnx;
pub mod ubjson;
pub mod xgboost_json;
pub mod xgboost_ubj;

use crate::ensemble::Ensemble;
use crate::error::ModelError;

/// A model file format this crate loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    XgboostJson,
    XgboostUbj,
    LightgbmText,
    Onnx,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::XgboostJson, Format::XgboostUbj, Format::LightgbmText, Format::Onnx];

    /// The name used in messages and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::XgboostJson => "xgboost-json",
            Format::XgboostUbj => "xgboost-ubj",
            Format::LightgbmText => "lightgbm",
            Format::Onnx => "onnx",
        }
    }

    /// The format a file extension (without the dot, any case) names, if it names one:
    /// `json`, `ubj`, `onnx`; `txt` for LightGBM's text models.
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(Format::XgboostJson),
            "ubj" => Some(Format::XgboostUbj),
            "onnx" => Some(Format::Onnx),
            "txt" => Some(Format::LightgbmText),
            _ => None,
        }
    }

    /// The format the first bytes of a file show: a JSON object (whitespace, then a
    /// quoted key), a UBJSON object (`{` then an integer length marker), LightGBM's
    /// `tree` header line, or an ONNX `ModelProto` (its first field, `ir_version`, is
    /// written first by every ONNX writer: tag byte 0x08).
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        let text = bytes.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |start| &bytes[start..]);
        match text {
            [b'{', b'i' | b'U' | b'I' | b'l' | b'L', ..] => Some(Format::XgboostUbj),
            [b'{', rest @ ..] if rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'"') => {
                Some(Format::XgboostJson)
            }
            _ if text.starts_with(b"tree\n") || text.starts_with(b"tree\r\n") => Some(Format::LightgbmText),
            _ if bytes.first() == Some(&0x08) => Some(Format::Onnx),
            _ => None,
        }
    }

    pub fn load(self, bytes: &[u8]) -> Result<Ensemble, ModelError> {
        match self {
            Format::XgboostJson => xgboost_json::load(bytes),
            Format::XgboostUbj => xgboost_ubj::load(bytes),
            Format::LightgbmText => lightgbm_text::load(bytes),
            Format::Onnx => onnx::load(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_apart_by_their_first_bytes() {
        assert_eq!(Format::sniff(b" \n{\n  \"learner\": {}}"), Some(Format::XgboostJson));
        assert_eq!(Format::sniff(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"), Some(Format::XgboostUbj));
        assert_eq!(Format::sniff(b"tree\nversion=v4\n"), Some(Format::LightgbmText));
        assert_eq!(Format::sniff(b"\x08\x08\x12\x07skl2onnx"), Some(Format::Onnx));
        assert_eq!(Format::sniff(b"a,b\n1,2\n"), None);
        assert_eq!(Format::sniff(b""), None);
        assert_eq!(Format::from_extension("UBJ"), Some(Format::XgboostUbj));
        assert_eq!(Format::from_extension("csv"), None);
    }
}
