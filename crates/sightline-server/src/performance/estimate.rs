//! Estimated performance of a binary classifier without labels: CBPE
//! (`sightline_stats::performance::Cbpe`, as NannyML's) fitted on the labelled predictions
//! of a reference window, then applied to every prediction of a window, labelled or not.
//! Fitting (ten calibration hold-outs) costs far more than estimating, and pages and
//! queries refit on the same reference at every refresh, so [`FitCache`] keeps fits by
//! what they were fitted on.

use super::{Counted, binary_record, expand, scored};
use sightline_core::{ModelSpec, Task};
use sightline_stats::performance::{
    BinaryRecord, Calibration, CalibrationSplits, Cbpe, CbpeEstimate, Decision, ScoredRecord,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

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
        // Distinct outcomes with their counts: the same estimate as every prediction one
        // by one, for the cost of the distinct ones.
        let records: Vec<(ScoredRecord, usize)> =
            rows.iter().filter(|(_, n)| *n > 0).filter_map(|(r, n)| Some((scored(spec, r)?, *n))).collect();
        (!records.is_empty()).then(|| self.cbpe.estimate_counted(records).map_err(|e| e.to_string()))
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

/// A fit as kept: the estimator, or why the reference cannot be fitted.
pub type Fitted = Arc<Result<Estimator, String>>;

/// Fits kept at most; past it the cache starts over (a fit is a few kilobytes).
const MAX_FITS: usize = 256;

/// Fitted estimators by a fingerprint of everything a fit depends on: the model, its
/// classes, the threshold and every labelled reference outcome with its count. A
/// reference that changed in any way (a late label, a new window) is a new key, so a kept
/// fit is always the one [`Estimator::fit`] would make now.
#[derive(Default)]
pub struct FitCache {
    fits: Mutex<HashMap<u64, Fitted>>,
}

impl FitCache {
    /// The estimator fitted on `reference`, from the cache or fitted now.
    pub fn fit(&self, model_id: i64, spec: &ModelSpec, reference: &[Counted<'_>], threshold: Option<f64>) -> Fitted {
        let key = fingerprint(model_id, spec, reference, threshold);
        if let Some(found) = self.fits.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return found.clone();
        }
        let fitted = Arc::new(Estimator::fit(spec, reference, threshold));
        let mut fits = self.fits.lock().unwrap_or_else(|p| p.into_inner());
        if fits.len() >= MAX_FITS {
            fits.clear();
        }
        fits.insert(key, fitted.clone());
        fitted
    }
}

fn fingerprint(model_id: i64, spec: &ModelSpec, reference: &[Counted<'_>], threshold: Option<f64>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (model_id, spec.task.as_str(), &spec.classes, &spec.positive_class, threshold.map(f64::to_bits)).hash(&mut h);
    for (row, n) in reference {
        if let Some(r) = binary_record(spec, row) {
            (r.label, r.prediction, r.score.to_bits(), n).hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::Target;
    use sightline_store::OutcomeRow;

    fn spec() -> ModelSpec {
        ModelSpec {
            name: "m".to_owned(),
            task: Task::BinaryClassification,
            features: Vec::new(),
            classes: vec!["no".to_owned(), "yes".to_owned()],
            positive_class: Some("yes".to_owned()),
            description: String::new(),
        }
    }

    fn row(score: f64, label: Option<bool>) -> OutcomeRow {
        let class = |yes: bool| Target::Class(if yes { "yes" } else { "no" }.to_owned());
        OutcomeRow {
            version_id: 1,
            timestamp_ms: 0,
            prediction: Some(class(score >= 0.5)),
            scores: vec![(1, score)],
            label: label.map(class),
            label_timestamp_ms: label.map(|_| 0),
        }
    }

    #[test]
    fn a_fit_is_kept_for_the_same_reference_and_redone_when_it_changes() {
        let spec = spec();
        let mut rows: Vec<OutcomeRow> =
            (0..200).map(|i| row(f64::from(i % 100) / 100.0, Some((i * 7) % 10 < (i % 100) / 10))).collect();
        rows.push(row(0.3, None));
        let cache = FitCache::default();
        let counted: Vec<Counted<'_>> = rows.iter().map(|r| (r, 2)).collect();
        let first = cache.fit(1, &spec, &counted, None);
        assert!(first.is_ok(), "{:?}", first.as_ref().as_ref().err());
        assert!(Arc::ptr_eq(&first, &cache.fit(1, &spec, &counted, None)));
        // Another model, threshold or count of an outcome is another reference.
        assert!(!Arc::ptr_eq(&first, &cache.fit(2, &spec, &counted, None)));
        assert!(!Arc::ptr_eq(&first, &cache.fit(1, &spec, &counted, Some(0.4))));
        let mut recounted = counted.clone();
        recounted[0].1 = 3;
        assert!(!Arc::ptr_eq(&first, &cache.fit(1, &spec, &recounted, None)));
        // A late label on a row that had none changes the reference too.
        let mut labelled = rows.clone();
        if let Some(last) = labelled.last_mut() {
            *last = row(0.3, Some(true));
        }
        let relabelled: Vec<Counted<'_>> = labelled.iter().map(|r| (r, 2)).collect();
        assert!(!Arc::ptr_eq(&first, &cache.fit(1, &spec, &relabelled, None)));
        // Unlabelled rows are not fitted on, so they do not change the key.
        let mut more = rows.clone();
        more.push(row(0.9, None));
        let with_unlabelled: Vec<Counted<'_>> = more.iter().map(|r| (r, 2)).collect();
        assert!(Arc::ptr_eq(&first, &cache.fit(1, &spec, &with_unlabelled, None)));
    }
}
