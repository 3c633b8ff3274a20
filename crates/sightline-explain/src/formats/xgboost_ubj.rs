//! XGBoost UBJSON models, as written by `Booster.save_model("m.ubj")` (xgboost's default
//! format since 2.1): the document of [`super::xgboost_json`] in binary form, read by
//! [`super::ubjson`] and handed to the same loader, so both formats support and refuse
//! exactly the same models.
//!
//! Floats are stored as float32, so thresholds, leaf values and covers arrive exactly as
//! the JSON loader reads them from their shortest decimal.

use crate::ensemble::Ensemble;
use crate::error::ModelError;
use crate::formats::{ubjson, xgboost_json};

/// Parses an XGBoost UBJSON model.
pub fn load(bytes: &[u8]) -> Result<Ensemble, ModelError> {
    let value = ubjson::parse(bytes).map_err(|e| ModelError::Ubjson(e.to_string()))?;
    let document: xgboost_json::Document =
        serde_json::from_value(value).map_err(|e| ModelError::Invalid(e.to_string()))?;
    xgboost_json::from_document(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_what_is_wrong() {
        assert!(matches!(load(b"{L"), Err(ModelError::Ubjson(m)) if m.contains("needs 8 more bytes")));
        // Valid UBJSON that is not an xgboost model.
        assert!(matches!(load(b"{U\x07learnerZ}"), Err(ModelError::Invalid(m)) if m.contains("Learner")));
    }
}
