//! Errors of this crate: a model that cannot be loaded, and inputs a method refuses.

use thiserror::Error;

/// Why a model file could not become an [`crate::Ensemble`].
///
/// Kept apart from [`ExplainError`] because it is the uploader's problem (a corrupt or
/// unsupported file), reported once at upload, not on every explanation.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("model is not valid json: {0}")]
    Json(String),
    #[error("model is not valid ubjson: {0}")]
    Ubjson(String),
    #[error("model is not a valid onnx protobuf: {0}")]
    Onnx(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// Why a prediction or an explanation could not be computed for an input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ExplainError {
    #[error("row has {got} features, the model expects {expected}")]
    FeatureCount { expected: usize, got: usize },
    #[error("tree {tree} node {node} has no positive cover; treeshap needs the training covers")]
    ZeroCover { tree: usize, node: usize },
    #[error("background is empty; interventional treeshap needs at least one background row")]
    EmptyBackground,
    #[error("attributions do not add up to the margin for output {output}: {sum} + {expected} != {margin}")]
    Additivity { output: usize, sum: f64, expected: f64, margin: f64 },
}
