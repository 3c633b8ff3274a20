//! Loaders from model files (bytes given by the caller) to the internal [`crate::Ensemble`].
//!
//! One module per file format; each knows its library's conventions and nothing else does.

pub mod lightgbm_text;
pub mod onnx;
pub mod ubjson;
pub mod xgboost_json;
pub mod xgboost_ubj;
