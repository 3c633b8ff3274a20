//! Champion/challenger over labelled predictions: one metric of two versions' windows,
//! challenger − champion with a percentile bootstrap interval and a verdict, by
//! `sightline_stats::performance::compare` (unpaired: each version's rows drawn apart).

use super::{binary_record, multiclass_records, multiclass_row, regression_record};
use sightline_core::{ModelSpec, Task};
use sightline_stats::performance::{
    self, BinaryMetric, BinaryRecord, BootstrapOptions, CompareError, Comparison, Decision, MulticlassMetrics,
    MulticlassRecord, Pairing, RegressionMetric, RegressionRecord,
};
use sightline_store::OutcomeRow;

/// The metric compared when the query names none.
pub fn default_metric(task: Task) -> &'static str {
    match task {
        Task::BinaryClassification => "roc_auc",
        Task::MulticlassClassification => "accuracy",
        Task::Regression => "rmse",
    }
}

fn binary_metric(name: &str) -> Option<BinaryMetric> {
    Some(match name {
        "accuracy" => BinaryMetric::Accuracy,
        "precision" => BinaryMetric::Precision,
        "recall" => BinaryMetric::Recall,
        "f1" => BinaryMetric::F1,
        "specificity" => BinaryMetric::Specificity,
        "roc_auc" => BinaryMetric::RocAuc,
        "average_precision" => BinaryMetric::AveragePrecision,
        "log_loss" => BinaryMetric::LogLoss,
        "brier" => BinaryMetric::Brier,
        "expected_calibration_error" => BinaryMetric::ExpectedCalibrationError,
        _ => return None,
    })
}

fn regression_metric(name: &str) -> Option<RegressionMetric> {
    Some(match name {
        "mae" => RegressionMetric::Mae,
        "mse" => RegressionMetric::Mse,
        "rmse" => RegressionMetric::Rmse,
        "mape" => RegressionMetric::Mape,
        "r2" => RegressionMetric::R2,
        _ => return None,
    })
}

/// A metric that can be compared, parsed for the model's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Binary(BinaryMetric),
    Regression(RegressionMetric),
    Multiclass(MulticlassMetric),
}

/// The multiclass metrics offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MulticlassMetric {
    Accuracy,
    MacroPrecision,
    MacroRecall,
    MacroF1,
    WeightedPrecision,
    WeightedRecall,
    WeightedF1,
    LogLoss,
}

impl MulticlassMetric {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "accuracy" => Self::Accuracy,
            "macro_precision" => Self::MacroPrecision,
            "macro_recall" => Self::MacroRecall,
            "macro_f1" => Self::MacroF1,
            "weighted_precision" => Self::WeightedPrecision,
            "weighted_recall" => Self::WeightedRecall,
            "weighted_f1" => Self::WeightedF1,
            "log_loss" => Self::LogLoss,
            _ => return None,
        })
    }

    fn of(self, m: &MulticlassMetrics) -> Option<f64> {
        match self {
            Self::Accuracy => m.accuracy,
            Self::MacroPrecision => m.macro_precision,
            Self::MacroRecall => m.macro_recall,
            Self::MacroF1 => m.macro_f1,
            Self::WeightedPrecision => m.weighted_precision,
            Self::WeightedRecall => m.weighted_recall,
            Self::WeightedF1 => m.weighted_f1,
            Self::LogLoss => m.log_loss,
        }
    }
}

impl Metric {
    /// The metric `name` of a model of `task`; `None` if that task has no such metric.
    pub fn parse(task: Task, name: &str) -> Option<Self> {
        match task {
            Task::BinaryClassification => binary_metric(name).map(Self::Binary),
            Task::MulticlassClassification => MulticlassMetric::parse(name).map(Self::Multiclass),
            Task::Regression => regression_metric(name).map(Self::Regression),
        }
    }

    /// Whether a larger value is a better model (false for losses and errors).
    pub fn higher_is_better(self) -> bool {
        match self {
            Self::Binary(m) => m.higher_is_better(),
            Self::Regression(m) => m.higher_is_better(),
            Self::Multiclass(m) => m != MulticlassMetric::LogLoss,
        }
    }
}

/// Compares `metric` of the labelled rows of two versions (unlabelled rows are skipped);
/// predicted classes of binary classifiers by the logged prediction or `threshold`.
pub fn compare(
    spec: &ModelSpec,
    champion: &[OutcomeRow],
    challenger: &[OutcomeRow],
    metric: Metric,
    threshold: Option<f64>,
    options: &BootstrapOptions,
) -> Result<Comparison, CompareError> {
    match metric {
        Metric::Binary(m) => {
            let read = |rows: &[OutcomeRow]| -> Vec<BinaryRecord> {
                rows.iter().filter_map(|r| binary_record(spec, r)).collect()
            };
            let decision = threshold.map_or(Decision::Logged, Decision::Threshold);
            performance::compare_binary(&read(champion), &read(challenger), Pairing::Unpaired, m, decision, options)
        }
        Metric::Regression(m) => {
            let read =
                |rows: &[OutcomeRow]| -> Vec<RegressionRecord> { rows.iter().filter_map(regression_record).collect() };
            performance::compare_regression(&read(champion), &read(challenger), Pairing::Unpaired, m, options)
        }
        Metric::Multiclass(m) => {
            let n = spec.classes.len();
            let read = |rows: &[OutcomeRow]| -> Vec<(usize, usize, Vec<f64>)> {
                rows.iter().filter_map(|r| multiclass_row(spec, r)).collect()
            };
            let (a, b) = (read(champion), read(challenger));
            let value = |records: &[MulticlassRecord<'_>]| performance::multiclass(records, n).map(|v| m.of(&v));
            performance::compare_with(
                &multiclass_records(&a),
                &multiclass_records(&b),
                Pairing::Unpaired,
                value,
                metric.higher_is_better(),
                options,
            )
        }
    }
}
