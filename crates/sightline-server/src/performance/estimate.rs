//! Estimated performance of a binary classifier without labels: CBPE
//! (`sightline_stats::performance::Cbpe`, as NannyML's) fitted on the labelled predictions
//! of a reference window, then applied to every prediction of a window, labelled or not.

use super::{Counted, binary_record, expand, scored};
use sightline_core::{ModelSpec, Task};
use sightline_stats::performance::{
    BinaryRecord, Calibration, CalibrationSplits, Cbpe, CbpeEstimate, Decision, ScoredRecord,
};

/// Seed of the calibration check's hold-out splits: fixed, so the same reference always
/// makes the same calibrate-or-not decision and the same answer.
const CALIBRATION_SEED: u64 = 42;

/// A fitted estimator and what it was fitted on.
#[derive(Debug, Clone)]
pub struct Estimator {
    cbpe: Cbpe,
    /// Labelled predictions of the reference it was fitted on.
    pub reference_labelled: usize,
}

impl Estimator {
    /// Fits on the labelled rows of `reference` (unlabelled ones are skipped); predicted
    /// classes are the logged ones, or the score against `threshold`. The message says why
    /// it cannot be fitted (not a binary classifier, no labels, one class only…).
    pub fn fit(spec: &ModelSpec, reference: &[Counted<'_>], threshold: Option<f64>) -> Result<Self, String> {
        if spec.task != Task::BinaryClassification {
            return Err(format!(
                "estimated performance is for binary classifiers, this model is {}",
                spec.task.as_str()
            ));
        }
        let records: Vec<BinaryRecord> = expand(reference, |r| binary_record(spec, r));
        let decision = threshold.map_or(Decision::Logged, Decision::Threshold);
        let cbpe =
            Cbpe::fit(&records, decision, Calibration::Auto(CalibrationSplits::Seeded { seed: CALIBRATION_SEED }))
                .map_err(|e| e.to_string())?;
        Ok(Self { cbpe, reference_labelled: records.len() })
    }

    /// Whether scores are calibrated (isotonic regression) before estimating.
    pub fn is_calibrated(&self) -> bool {
        self.cbpe.is_calibrated()
    }

    /// The estimate of one window from its predictions' scores; `None` for a window
    /// without predictions, the message for predictions CBPE cannot read (a score outside [0, 1]).
    pub fn estimate(&self, spec: &ModelSpec, rows: &[Counted<'_>]) -> Option<Result<CbpeEstimate, String>> {
        let records: Vec<ScoredRecord> = expand(rows, |r| scored(spec, r));
        (!records.is_empty()).then(|| self.cbpe.estimate(&records).map_err(|e| e.to_string()))
    }
}

/// The metrics CBPE estimates.
pub const ESTIMATED_METRICS: [&str; 7] =
    ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision"];

/// The estimated value of the metric `name`, when CBPE estimates it (binary metrics that
/// follow from the expected confusion matrix and the scores).
pub fn estimated_metric(e: &CbpeEstimate, name: &str) -> Option<f64> {
    match name {
        "accuracy" => Some(e.accuracy),
        "precision" => Some(e.precision),
        "recall" => Some(e.recall),
        "f1" => Some(e.f1),
        "specificity" => Some(e.specificity),
        "roc_auc" => e.roc_auc,
        "average_precision" => e.average_precision,
        _ => None,
    }
}
