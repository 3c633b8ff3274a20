//! The server's Prometheus metrics: per-model traffic and the server's own ingest
//! telemetry, typed and registered in one place.
//!
//! Label values are bounded: models and versions (capped at `max_series` pairs; the
//! rest are counted under version `__other__`), endpoints, statuses and rejection
//! reasons from closed sets. Request ids are never labels; feature names are labels
//! only of the drift gauges, at most [`MAX_DRIFT_FEATURES`] per capped (model, version).

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// The version label used once the series cap is reached.
pub const OVERFLOW_VERSION: &str = "__other__";

/// Most features per (model, version) pair with drift gauges: feature names are labels
/// there, so their number is bounded like every other label.
pub const MAX_DRIFT_FEATURES: usize = 100;

/// Prediction series of one (model, version) pair, resolved once and reused.
#[derive(Clone)]
pub struct PredictionSeries {
    pub predictions: IntCounter,
    pub errors: IntCounter,
    pub latency: Histogram,
}

/// The series of a (model, version) pair, each created on first use so that, say, a
/// label whose prediction has not arrived makes no empty prediction series.
#[derive(Default)]
struct Slot {
    predictions: Option<PredictionSeries>,
    labels: Option<IntCounter>,
    exceptions: Option<IntCounter>,
    /// The (feature, method) pairs whose drift gauges were set last, so that a feature
    /// whose method changed (new drift settings) loses its old series.
    drift_series: Vec<(String, String)>,
}

/// One feature's drift for the gauges: Evidently's score (a test's p-value, else the
/// distance) by `method`, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureDrift {
    pub feature: String,
    pub method: &'static str,
    pub score: f64,
    pub drifted: bool,
}

pub struct Metrics {
    registry: Registry,
    predictions: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    labels: IntCounterVec,
    exceptions: IntCounterVec,
    pub requests: IntCounterVec,
    pub rejected: IntCounterVec,
    pub commit_seconds: Histogram,
    pub commit_events: Histogram,
    pub queue_depth: IntGauge,
    pub aggregator_events: IntCounter,
    pub aggregator_lag: IntGauge,
    pub tally_lag: IntGauge,
    pub aggregator_flush_seconds: Histogram,
    feature_drift: GaugeVec,
    feature_drifted: IntGaugeVec,
    dataset_drift_share: GaugeVec,
    performance: GaugeVec,
    label_coverage: GaugeVec,
    notifications: IntCounterVec,
    series: Mutex<HashMap<(String, String), Slot>>,
    max_series: usize,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are static; a failure here is a programming error caught by
    // every test that starts a server.
    match r {
        Ok(v) => v,
        Err(e) => panic!("invalid metric definition: {e}"),
    }
}

impl Metrics {
    pub fn new(max_series: usize) -> Metrics {
        let registry = Registry::new();
        let model_labels = &["model", "version"];
        let predictions = must(IntCounterVec::new(
            Opts::new("sightline_predictions_total", "Predictions stored, by model and version."),
            model_labels,
        ));
        let errors = must(IntCounterVec::new(
            Opts::new(
                "sightline_prediction_errors_total",
                "Prediction events that carried an error, by model and version.",
            ),
            model_labels,
        ));
        let latency = must(HistogramVec::new(
            HistogramOpts::new(
                "sightline_prediction_latency_seconds",
                "Model latency reported by prediction events (latency_ms), by model and version.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            model_labels,
        ));
        let labels = must(IntCounterVec::new(
            Opts::new(
                "sightline_labels_total",
                "Ground-truth labels stored, by model and by the version of their prediction (\"\" while the prediction has not arrived).",
            ),
            model_labels,
        ));
        let exceptions = must(IntCounterVec::new(
            Opts::new(
                "sightline_exceptions_total",
                "Exceptions reported to the errors endpoint, by model and version.",
            ),
            model_labels,
        ));
        let requests = must(IntCounterVec::new(
            Opts::new("sightline_ingest_requests_total", "Ingest requests answered, by endpoint and HTTP status."),
            &["endpoint", "status"],
        ));
        let rejected = must(IntCounterVec::new(
            Opts::new(
                "sightline_ingest_rejected_events_total",
                "Events rejected by validation, by endpoint and reason.",
            ),
            &["endpoint", "reason"],
        ));
        let commit_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "sightline_store_commit_duration_seconds",
                "Time to write and durably commit one group of batches.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        ));
        let commit_events = must(Histogram::with_opts(
            HistogramOpts::new(
                "sightline_store_commit_events",
                "Events written per durable commit (group commit size).",
            )
            .buckets(vec![1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0]),
        ));
        let queue_depth =
            must(IntGauge::new("sightline_ingest_queue_depth_events", "Validated events waiting for the writer."));
        let aggregator_events = must(IntCounter::new(
            "sightline_aggregator_events_total",
            "Events the aggregator has folded into profiles (refolds after a restart count again).",
        ));
        let aggregator_lag = must(IntGauge::new(
            "sightline_aggregator_lag_events",
            "Events in the log the aggregator has not read yet.",
        ));
        let tally_lag = must(IntGauge::new(
            "sightline_outcome_tally_lag_events",
            "Events in the log the outcome-tally pass has not read yet.",
        ));
        let aggregator_flush_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "sightline_aggregator_flush_duration_seconds",
                "Time to merge, seal and durably store one flush of profiles.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        ));
        // The method is a label: scores of different methods are not comparable, and
        // exported alerting rules select the method their monitor names.
        let drift_labels = &["model", "version", "feature", "method"];
        let feature_drift = must(GaugeVec::new(
            Opts::new(
                "sightline_feature_drift_score",
                "Drift of a feature in the latest drift window against the reference: the p-value for a test \
                 (ks, chisquare, z), the distance otherwise (Evidently's drift score).",
            ),
            drift_labels,
        ));
        let feature_drifted = must(IntGaugeVec::new(
            Opts::new("sightline_feature_drifted", "1 if the feature drifted in the latest drift window, else 0."),
            drift_labels,
        ));
        let dataset_drift_share = must(GaugeVec::new(
            Opts::new(
                "sightline_dataset_drift_share",
                "Share of features that drifted in the latest drift window (dataset drift at >= 0.5).",
            ),
            model_labels,
        ));
        let performance = must(GaugeVec::new(
            Opts::new(
                "sightline_performance_metric",
                "A realized performance metric (from labels) over the latest drift window, by the prediction's time.",
            ),
            &["model", "version", "metric"],
        ));
        let label_coverage = must(GaugeVec::new(
            Opts::new("sightline_label_coverage", "Share of the latest drift window's predictions that have a label."),
            model_labels,
        ));
        let notifications = must(IntCounterVec::new(
            Opts::new(
                "sightline_notification_attempts_total",
                "Attempts to deliver a notification, by channel kind, what was sent (alert, test, retraining_trigger) and outcome (delivered, failed: retried, gave_up, dropped).",
            ),
            &["channel_kind", "purpose", "status"],
        ));
        for c in [&predictions, &errors, &labels, &exceptions, &requests, &rejected, &notifications] {
            must(registry.register(Box::new(c.clone())));
        }
        must(registry.register(Box::new(latency.clone())));
        must(registry.register(Box::new(commit_seconds.clone())));
        must(registry.register(Box::new(commit_events.clone())));
        must(registry.register(Box::new(queue_depth.clone())));
        must(registry.register(Box::new(aggregator_events.clone())));
        must(registry.register(Box::new(aggregator_lag.clone())));
        must(registry.register(Box::new(tally_lag.clone())));
        must(registry.register(Box::new(aggregator_flush_seconds.clone())));
        must(registry.register(Box::new(feature_drift.clone())));
        must(registry.register(Box::new(feature_drifted.clone())));
        must(registry.register(Box::new(dataset_drift_share.clone())));
        must(registry.register(Box::new(performance.clone())));
        must(registry.register(Box::new(label_coverage.clone())));
        // Process metrics (CPU, RSS, open fds) are Linux-only in the client library.
        #[cfg(target_os = "linux")]
        must(registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())));
        let build = must(IntGauge::with_opts(
            Opts::new("sightline_build_info", "Always 1; the version label is the running build.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        ));
        build.set(1);
        must(registry.register(Box::new(build)));

        Metrics {
            registry,
            predictions,
            errors,
            latency,
            labels,
            exceptions,
            requests,
            rejected,
            commit_seconds,
            commit_events,
            queue_depth,
            aggregator_events,
            aggregator_lag,
            tally_lag,
            aggregator_flush_seconds,
            feature_drift,
            feature_drifted,
            dataset_drift_share,
            performance,
            label_coverage,
            notifications,
            series: Mutex::new(HashMap::new()),
            max_series,
        }
    }

    /// The slot of a (model, version) pair; past the cap, of (model, `__other__`).
    fn with_slot<T>(&self, model: &str, version: &str, f: impl FnOnce(&mut Slot, [&str; 2]) -> T) -> T {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let known = series.contains_key(&(model.to_owned(), version.to_owned()));
        let version = if !known && series.len() >= self.max_series { OVERFLOW_VERSION } else { version };
        let slot = series.entry((model.to_owned(), version.to_owned())).or_default();
        f(slot, [model, version])
    }

    /// The prediction series of a (model, version) pair.
    pub fn predictions(&self, model: &str, version: &str) -> PredictionSeries {
        self.with_slot(model, version, |slot, labels| {
            slot.predictions
                .get_or_insert_with(|| PredictionSeries {
                    predictions: self.predictions.with_label_values(&labels),
                    errors: self.errors.with_label_values(&labels),
                    latency: self.latency.with_label_values(&labels),
                })
                .clone()
        })
    }

    /// The label counter of a (model, version) pair.
    pub fn labels(&self, model: &str, version: &str) -> IntCounter {
        self.with_slot(model, version, |slot, labels| {
            slot.labels.get_or_insert_with(|| self.labels.with_label_values(&labels)).clone()
        })
    }

    /// The reported-exception counter of a (model, version) pair.
    pub fn exceptions(&self, model: &str, version: &str) -> IntCounter {
        self.with_slot(model, version, |slot, labels| {
            slot.exceptions.get_or_insert_with(|| self.exceptions.with_label_values(&labels)).clone()
        })
    }

    /// Sets the drift gauges of a (model, version) pair: the dataset share and, for at
    /// most [`MAX_DRIFT_FEATURES`] features, each score and verdict. Pairs past the
    /// series cap get no drift gauges (an `__other__` aggregate of drift has no meaning).
    pub fn set_drift(&self, model: &str, version: &str, share: Option<f64>, features: &[FeatureDrift]) {
        let kept: Vec<(String, String)> =
            features.iter().take(MAX_DRIFT_FEATURES).map(|f| (f.feature.clone(), f.method.to_owned())).collect();
        let stale = self.with_slot(model, version, |slot, labels| {
            (labels[1] == version).then(|| {
                let old = std::mem::take(&mut slot.drift_series);
                slot.drift_series = kept.clone();
                old.into_iter().filter(|s| !kept.contains(s)).collect::<Vec<_>>()
            })
        });
        let Some(stale) = stale else { return };
        for (feature, method) in &stale {
            let labels = [model, version, feature.as_str(), method.as_str()];
            let _ = self.feature_drift.remove_label_values(&labels);
            let _ = self.feature_drifted.remove_label_values(&labels);
        }
        let pair = [model, version];
        match share {
            Some(s) => self.dataset_drift_share.with_label_values(&pair).set(s),
            None => {
                let _ = self.dataset_drift_share.remove_label_values(&pair);
            }
        }
        for f in features.iter().take(MAX_DRIFT_FEATURES) {
            let labels = [model, version, f.feature.as_str(), f.method];
            self.feature_drift.with_label_values(&labels).set(f.score);
            self.feature_drifted.with_label_values(&labels).set(i64::from(f.drifted));
        }
    }

    /// Sets the performance gauges of a (model, version) pair: label coverage and each
    /// named metric; a value that is `None` (no predictions, no labels, undefined) removes
    /// its series. Pairs past the series cap get none, as for drift.
    pub fn set_performance(&self, model: &str, version: &str, coverage: Option<f64>, metrics: &[(&str, Option<f64>)]) {
        let within_cap = self.with_slot(model, version, |_, labels| labels[1] == version);
        if !within_cap {
            return;
        }
        let pair = [model, version];
        match coverage {
            Some(c) => self.label_coverage.with_label_values(&pair).set(c),
            None => {
                let _ = self.label_coverage.remove_label_values(&pair);
            }
        }
        for (metric, value) in metrics {
            let labels = [model, version, metric];
            match value {
                Some(v) => self.performance.with_label_values(&labels).set(*v),
                None => {
                    let _ = self.performance.remove_label_values(&labels);
                }
            }
        }
    }

    /// The exposition text for `/metrics`.
    /// Counts one delivery attempt (or a dropped notification) of a channel; `purpose`
    /// is the delivery log's `kind` with `firing` and `resolved` counted as `alert`.
    pub fn notification_attempt(&self, channel_kind: &str, purpose: &str, status: &str) {
        let purpose = if matches!(purpose, "firing" | "resolved") { "alert" } else { purpose };
        self.notifications.with_label_values(&[channel_kind, purpose, status]).inc();
    }

    pub fn render(&self) -> Result<(String, String), String> {
        let encoder = TextEncoder::new();
        let mut buf = Vec::new();
        encoder.encode(&self.registry.gather(), &mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8(buf).map_err(|e| e.to_string())?;
        Ok((encoder.format_type().to_owned(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_capped() {
        let m = Metrics::new(2);
        m.predictions("a", "v1").predictions.inc();
        m.predictions("a", "v2").predictions.inc();
        m.predictions("a", "v3").predictions.inc();
        m.labels("a", "v4").inc();
        m.predictions("a", "v1").predictions.inc();
        let (_, text) = m.render().expect("render");
        assert!(text.contains(r#"sightline_predictions_total{model="a",version="v1"} 2"#), "{text}");
        assert!(text.contains(r#"sightline_predictions_total{model="a",version="__other__"} 1"#), "{text}");
        assert!(text.contains(r#"sightline_labels_total{model="a",version="__other__"} 1"#), "{text}");
        assert!(!text.contains("v3") && !text.contains("v4"), "{text}");
    }

    #[test]
    fn a_label_alone_makes_no_prediction_series() {
        let m = Metrics::new(10);
        m.labels("a", "").inc();
        let (_, text) = m.render().expect("render");
        assert!(text.contains(r#"sightline_labels_total{model="a",version=""} 1"#), "{text}");
        assert!(!text.contains("sightline_predictions_total{"), "{text}");
        assert!(!text.contains("sightline_prediction_latency_seconds_bucket{"), "{text}");
    }
}
