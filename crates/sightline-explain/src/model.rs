//! Models as the model-agnostic methods see them: a batch prediction function, and the
//! checks every method applies to its data and to what the model returns.
//!
//! Partial dependence, permutation importance and LIME only ever call a model on rows
//! and read its outputs, so they take anything implementing [`Predictor`]: a closure the
//! caller backs with a remote endpoint, or one of the crate's tree ensembles.

use thiserror::Error;

use crate::ensemble::Ensemble;

/// What a caller's model reports when it cannot predict (an endpoint timing out, say).
/// The message is the caller's; methods pass it on unchanged inside [`ModelCallError`].
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{message}")]
pub struct PredictError {
    pub message: String,
}

impl PredictError {
    pub fn new(message: impl Into<String>) -> Self {
        PredictError { message: message.into() }
    }
}

/// A model called on a batch of rows, returning one vector of outputs per row (one value
/// for a regressor or a binary classifier's positive class, one per class for multiclass).
pub trait Predictor {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError>;

    /// The feature count the model requires, when it knows it (a tree ensemble does; a
    /// closure does not), so that data of the wrong width is refused before any call.
    fn num_features(&self) -> Option<usize> {
        None
    }
}

impl<F> Predictor for F
where
    F: Fn(&[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError>,
{
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        self(rows)
    }
}

/// A tree ensemble predicts what its library's scikit-learn wrapper returns: the
/// prediction after the link (`predict` of a regressor, the positive class of
/// `predict_proba` for a binary classifier, every class for multiclass), which is what
/// scikit-learn's inspection methods call.
impl Predictor for Ensemble {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        rows.iter().map(|row| Ensemble::predict(self, row).map_err(|e| PredictError::new(e.to_string()))).collect()
    }

    fn num_features(&self) -> Option<usize> {
        Some(Ensemble::num_features(self))
    }
}

/// A tree ensemble's raw margins (before the link) as the model's outputs.
#[derive(Debug, Clone, Copy)]
pub struct Margins<'a>(pub &'a Ensemble);

impl Predictor for Margins<'_> {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        rows.iter().map(|row| self.0.predict_margin(row).map_err(|e| PredictError::new(e.to_string()))).collect()
    }

    fn num_features(&self) -> Option<usize> {
        Some(self.0.num_features())
    }
}

/// Why a model's answer cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelCallError {
    #[error("model call failed: {0}")]
    Failed(PredictError),
    #[error("model returned {got} rows of outputs for {expected} rows")]
    RowCount { expected: usize, got: usize },
    #[error("model returned no outputs for a row")]
    NoOutputs,
    #[error("model returned {got} outputs for row {row}, {expected} for earlier rows")]
    OutputWidth { row: usize, expected: usize, got: usize },
    #[error("model returned the non-finite output {value} for row {row}")]
    NonFinite { row: usize, value: f64 },
}

/// Calls `model` and checks the answer: one output vector per row, all of one width
/// (`width` if the caller already knows it), all finite.
pub(crate) fn call<P: Predictor + ?Sized>(
    model: &P,
    rows: &[Vec<f64>],
    width: Option<usize>,
) -> Result<Vec<Vec<f64>>, ModelCallError> {
    let outputs = model.predict(rows).map_err(ModelCallError::Failed)?;
    if outputs.len() != rows.len() {
        return Err(ModelCallError::RowCount { expected: rows.len(), got: outputs.len() });
    }
    let mut expected = width;
    for (row, values) in outputs.iter().enumerate() {
        if values.is_empty() {
            return Err(ModelCallError::NoOutputs);
        }
        let expected = *expected.get_or_insert(values.len());
        if values.len() != expected {
            return Err(ModelCallError::OutputWidth { row, expected, got: values.len() });
        }
        if let Some(&value) = values.iter().find(|v| !v.is_finite()) {
            return Err(ModelCallError::NonFinite { row, value });
        }
    }
    Ok(outputs)
}

/// Why a data set handed to a method cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    #[error("{what} has no rows")]
    Empty { what: &'static str },
    #[error("{what} has rows without features")]
    NoFeatures { what: &'static str },
    #[error("{what} row {row} has {got} features, expected {expected}")]
    RowLength { what: &'static str, row: usize, expected: usize, got: usize },
    #[error("{what} has {got} features, the model expects {expected}")]
    ModelFeatures { what: &'static str, expected: usize, got: usize },
}

/// Checks that data with `got` features fits `model`, if the model says what it needs.
pub(crate) fn check_model_features<P: Predictor + ?Sized>(
    what: &'static str,
    model: &P,
    got: usize,
) -> Result<(), DataError> {
    match model.num_features() {
        Some(expected) if expected != got => Err(DataError::ModelFeatures { what, expected, got }),
        _ => Ok(()),
    }
}

/// Checks that `rows` is a non-empty rectangle and returns its feature count.
pub(crate) fn check_rows(what: &'static str, rows: &[Vec<f64>]) -> Result<usize, DataError> {
    let first = rows.first().ok_or(DataError::Empty { what })?;
    let expected = first.len();
    if expected == 0 {
        return Err(DataError::NoFeatures { what });
    }
    match rows.iter().enumerate().find(|(_, row)| row.len() != expected) {
        Some((row, values)) => Err(DataError::RowLength { what, row, expected, got: values.len() }),
        None => Ok(expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_checked() {
        let rows = vec![vec![1.0], vec![2.0]];
        let short = |_: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> { Ok(vec![vec![1.0]]) };
        assert_eq!(call(&short, &rows, None), Err(ModelCallError::RowCount { expected: 2, got: 1 }));
        let ragged = |_: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> { Ok(vec![vec![1.0], vec![1.0, 2.0]]) };
        assert_eq!(call(&ragged, &rows, None), Err(ModelCallError::OutputWidth { row: 1, expected: 1, got: 2 }));
        let nan = |_: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> { Ok(vec![vec![1.0], vec![f64::NAN]]) };
        assert!(matches!(call(&nan, &rows, None), Err(ModelCallError::NonFinite { row: 1, .. })));
        let failing = |_: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> { Err(PredictError::new("timed out")) };
        assert_eq!(call(&failing, &rows, None).map_err(|e| e.to_string()), Err("model call failed: timed out".into()));
        let fine = |rows: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> { Ok(rows.to_vec()) };
        assert_eq!(call(&fine, &rows, Some(2)), Err(ModelCallError::OutputWidth { row: 0, expected: 2, got: 1 }));
        assert_eq!(call(&fine, &rows, Some(1)), Ok(rows));
    }

    #[test]
    fn rows_must_be_a_rectangle() {
        assert_eq!(check_rows("data", &[]), Err(DataError::Empty { what: "data" }));
        assert_eq!(check_rows("data", &[vec![]]), Err(DataError::NoFeatures { what: "data" }));
        assert_eq!(
            check_rows("data", &[vec![1.0, 2.0], vec![1.0]]),
            Err(DataError::RowLength { what: "data", row: 1, expected: 2, got: 1 })
        );
        assert_eq!(check_rows("data", &[vec![1.0, 2.0]]), Ok(2));
    }
}
