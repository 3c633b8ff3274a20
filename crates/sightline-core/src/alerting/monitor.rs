//! Monitor definitions as data: which signal, which condition, how long, how loud — and their validation.

use crate::model::ModelSpec;
use crate::names::{MAX_TAG_LEN, MAX_TAGS, check_feature_name, check_slug, check_text};
use crate::problem::{Problem, Reason, field_path};
use std::collections::BTreeMap;

/// Labels of a monitor or of one series. A `BTreeMap` so iteration order — and with it
/// the fingerprint — never depends on insertion order or a hasher's seed.
pub type Labels = BTreeMap<String, String>;

/// Labels every alert carries, set from the monitor itself. A monitor may not declare
/// them, so that a user label can never disguise one alert as another's.
pub const RESERVED_LABELS: [&str; 3] = ["monitor", "model", "severity"];

/// Longest `for` duration: a week. Longer is almost certainly a unit mistake
/// (seconds given as milliseconds would still fit; minutes as milliseconds would not).
pub const MAX_FOR_MS: i64 = 7 * 24 * 3_600_000;
/// Longest evaluation window: 90 days, the longest retention a query can merge over.
pub const MAX_WINDOW_MS: i64 = 90 * 24 * 3_600_000;
/// Shortest evaluation interval; below it evaluation cost dominates for no benefit
/// since profiles are flushed every few seconds anyway.
pub const MIN_INTERVAL_MS: i64 = 1_000;
/// Most points an anomaly baseline keeps; bounds the memory per series.
pub const MAX_BASELINE_POINTS: usize = 10_000;
/// Longest runbook URL.
pub const MAX_URL_LEN: usize = 2_048;

/// Which feature(s) a per-feature signal reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureSelector {
    /// One named feature.
    One(String),
    /// The largest value over all features, so one monitor covers a whole schema.
    Any,
}

/// The signal a monitor watches: an opaque, typed key that the server resolves into a
/// query. The pure crate does not know how; it only checks that the key is well formed.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// Predictions per second over the window.
    Throughput,
    /// A latency quantile in milliseconds; `quantile` in (0, 1).
    LatencyQuantile { quantile: f64 },
    /// Fraction of predictions that carried an error.
    ErrorRate,
    /// A drift score (e.g. `psi`, `ks`, `wasserstein`) of one feature or of any feature.
    DriftScore { feature: FeatureSelector, method: String },
    /// Fraction of values failing a data-quality check (e.g. `missing`, `out_of_range`).
    DataQualityRate { feature: FeatureSelector, check: String },
    /// A model metric (e.g. `accuracy`, `roc_auc`); `estimated` when no labels are needed:
    /// then the estimator is fitted on the labelled predictions of `reference`, a
    /// `[from, to)` range of epoch milliseconds.
    PerformanceMetric { metric: String, estimated: bool, reference: Option<(i64, i64)> },
    /// Fraction of predictions that have received a label.
    LabelCoverage,
}

impl Signal {
    /// The stable name of the signal kind, as used in the API and in metric names.
    pub fn kind(&self) -> &'static str {
        match self {
            Signal::Throughput => "throughput",
            Signal::LatencyQuantile { .. } => "latency_quantile",
            Signal::ErrorRate => "error_rate",
            Signal::DriftScore { .. } => "drift_score",
            Signal::DataQualityRate { .. } => "data_quality_rate",
            Signal::PerformanceMetric { .. } => "performance_metric",
            Signal::LabelCoverage => "label_coverage",
        }
    }

    fn validate(&self, path: &str, problems: &mut Vec<Problem>) {
        match self {
            Signal::Throughput | Signal::ErrorRate | Signal::LabelCoverage => {}
            Signal::LatencyQuantile { quantile } => {
                // NaN fails both comparisons, so it is refused here as well.
                if !(*quantile > 0.0 && *quantile < 1.0) {
                    problems.push(Problem::new(
                        field_path(path, "quantile"),
                        Reason::InvalidValue,
                        "must be strictly between 0 and 1",
                    ));
                }
            }
            Signal::DriftScore { feature, method } => {
                check_selector(feature, &field_path(path, "feature"), problems);
                check_key(method, &field_path(path, "method"), problems);
            }
            Signal::DataQualityRate { feature, check } => {
                check_selector(feature, &field_path(path, "feature"), problems);
                check_key(check, &field_path(path, "check"), problems);
            }
            Signal::PerformanceMetric { metric, estimated, reference } => {
                check_key(metric, &field_path(path, "metric"), problems);
                match (estimated, reference) {
                    (true, None) => problems.push(Problem::new(
                        field_path(path, "reference_from"),
                        Reason::MissingField,
                        "an estimated metric needs a labelled reference range (reference_from, reference_to)",
                    )),
                    (false, Some(_)) => problems.push(Problem::new(
                        field_path(path, "reference_from"),
                        Reason::InvalidValue,
                        "a reference range is for estimated metrics only (estimated = true)",
                    )),
                    (true, Some((from, to))) if from >= to => problems.push(Problem::new(
                        field_path(path, "reference_from"),
                        Reason::InvalidValue,
                        "must be before reference_to",
                    )),
                    _ => {}
                }
            }
        }
    }
}

fn check_selector(sel: &FeatureSelector, path: &str, problems: &mut Vec<Problem>) {
    if let FeatureSelector::One(name) = sel
        && let Err(m) = check_feature_name(name)
    {
        problems.push(Problem::new(path, Reason::InvalidValue, m));
    }
}

fn check_key(key: &str, path: &str, problems: &mut Vec<Problem>) {
    if let Err(m) = check_slug(key) {
        problems.push(Problem::new(path, Reason::InvalidValue, m));
    }
}

/// A threshold comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
        }
    }

    pub fn parse(s: &str) -> Option<Comparator> {
        match s {
            ">" => Some(Comparator::Gt),
            ">=" => Some(Comparator::Ge),
            "<" => Some(Comparator::Lt),
            "<=" => Some(Comparator::Le),
            _ => None,
        }
    }

    /// Whether `value <op> threshold` holds. Callers never pass NaN: a NaN sample is
    /// "no data" before it gets here.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Gt => value > threshold,
            Comparator::Ge => value >= threshold,
            Comparator::Lt => value < threshold,
            Comparator::Le => value <= threshold,
        }
    }
}

/// Which side of the baseline counts as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Above,
    Below,
    Both,
}

/// When the condition of a monitor holds for one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `sample <op> value`.
    Threshold { op: Comparator, value: f64 },
    /// The sample lies more than `k` sample standard deviations from the mean of the
    /// previous `window_points` samples of the same series (the current one excluded,
    /// so a spike cannot hide itself), on the `direction` side. It never holds before
    /// the baseline has `min_points` samples.
    Anomaly { k: f64, window_points: usize, min_points: usize, direction: Direction },
}

impl Condition {
    fn validate(&self, path: &str, problems: &mut Vec<Problem>) {
        match self {
            Condition::Threshold { value, .. } => {
                if !value.is_finite() {
                    problems.push(Problem::new(
                        field_path(path, "value"),
                        Reason::InvalidValue,
                        "must be a finite number",
                    ));
                }
            }
            Condition::Anomaly { k, window_points, min_points, .. } => {
                if !(k.is_finite() && *k > 0.0) {
                    problems.push(Problem::new(
                        field_path(path, "k"),
                        Reason::InvalidValue,
                        "must be a positive number",
                    ));
                }
                if !(2..=MAX_BASELINE_POINTS).contains(window_points) {
                    problems.push(Problem::new(
                        field_path(path, "window_points"),
                        Reason::InvalidValue,
                        format!("must be between 2 and {MAX_BASELINE_POINTS}"),
                    ));
                }
                // A standard deviation needs two points; more than the window can never be reached.
                if *min_points < 2 || min_points > window_points {
                    problems.push(Problem::new(
                        field_path(path, "min_points"),
                        Reason::InvalidValue,
                        "must be at least 2 and at most window_points",
                    ));
                }
            }
        }
    }
}

/// How loud an alert is. Ordered, so a policy can say "severity ≥ high".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// What an evaluation without a sample (missing, NaN or infinite) does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoDataPolicy {
    /// Nothing changes: no state change, no event, the anomaly baseline is untouched;
    /// the `for` clock keeps counting from when the condition first held. The default,
    /// because a scrape gap is not evidence that a problem started or ended.
    #[default]
    Keep,
    /// No data counts as the condition being false (pending is dropped, firing resolves).
    Ok,
    /// No data counts as the condition being true; for signals whose absence is itself
    /// the problem (a model that stopped serving).
    Alerting,
}

impl NoDataPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            NoDataPolicy::Keep => "keep",
            NoDataPolicy::Ok => "ok",
            NoDataPolicy::Alerting => "alerting",
        }
    }
}

/// A monitor: a rule over one signal of one model, evaluated every `interval_ms` over
/// the trailing `window_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// Stable identifier; part of every alert fingerprint.
    pub id: String,
    pub model: String,
    /// `None` watches every version (the server evaluates one series per version).
    pub version: Option<String>,
    pub signal: Signal,
    pub condition: Condition,
    pub window_ms: i64,
    pub interval_ms: i64,
    /// How long the condition must hold before the alert fires; 0 fires at once.
    pub for_ms: i64,
    pub severity: Severity,
    pub labels: Labels,
    pub runbook_url: Option<String>,
    pub no_data: NoDataPolicy,
}

impl Monitor {
    /// Checks the definition as a whole; paths are relative to the monitor object.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if let Err(m) = check_slug(&self.id) {
            problems.push(Problem::new("id", Reason::InvalidValue, m));
        }
        if let Err(m) = check_slug(&self.model) {
            problems.push(Problem::new("model", Reason::InvalidValue, m));
        }
        if let Some(v) = &self.version
            && let Err(m) = check_slug(v)
        {
            problems.push(Problem::new("version", Reason::InvalidValue, m));
        }
        self.signal.validate("signal", &mut problems);
        self.condition.validate("condition", &mut problems);
        if self.window_ms <= 0 || self.window_ms > MAX_WINDOW_MS {
            problems.push(Problem::new(
                "window_ms",
                Reason::InvalidValue,
                format!("must be positive and at most {MAX_WINDOW_MS} (90 days)"),
            ));
        }
        if self.interval_ms < MIN_INTERVAL_MS || self.interval_ms > MAX_WINDOW_MS {
            problems.push(Problem::new(
                "interval_ms",
                Reason::InvalidValue,
                format!("must be between {MIN_INTERVAL_MS} and {MAX_WINDOW_MS}"),
            ));
        }
        if self.for_ms < 0 || self.for_ms > MAX_FOR_MS {
            problems.push(Problem::new(
                "for_ms",
                Reason::InvalidValue,
                format!("must be between 0 and {MAX_FOR_MS} (7 days)"),
            ));
        }
        check_labels(&self.labels, "labels", &mut problems);
        for name in RESERVED_LABELS {
            if self.labels.contains_key(name) {
                problems.push(Problem::new(
                    field_path("labels", name),
                    Reason::InvalidValue,
                    format!("{name:?} is set by Sightline and cannot be declared"),
                ));
            }
        }
        if let Some(url) = &self.runbook_url
            && let Err(m) = check_url(url)
        {
            problems.push(Problem::new("runbook_url", Reason::InvalidValue, m));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

impl Monitor {
    /// Checks the signal against the watched model's schema (the part of validation
    /// that needs the model): a named feature must exist. Paths as in [`Monitor::validate`].
    pub fn check_against(&self, spec: &ModelSpec) -> Result<(), Vec<Problem>> {
        let feature = match &self.signal {
            Signal::DriftScore { feature: FeatureSelector::One(name), .. }
            | Signal::DataQualityRate { feature: FeatureSelector::One(name), .. } => Some(name),
            _ => None,
        };
        match feature {
            Some(name) if spec.feature_index(name).is_none() => Err(vec![Problem::new(
                "signal.feature",
                Reason::UnknownFeature,
                format!("model {:?} has no feature {name:?}", spec.name),
            )]),
            _ => Ok(()),
        }
    }

    /// The labels of an alert on `series`: the monitor's labels, then the series
    /// labels, then the reserved `monitor`, `model` and `severity`. Later wins, so the
    /// reserved ones are always what Sightline set. Silences match against these.
    pub fn alert_labels(&self, series: &Labels) -> Labels {
        let mut out = self.labels.clone();
        out.extend(series.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.insert("monitor".into(), self.id.clone());
        out.insert("model".into(), self.model.clone());
        out.insert("severity".into(), self.severity.as_str().into());
        out
    }
}

/// Checks a label set: at most [`MAX_TAGS`] labels, Prometheus-style names (so labels
/// can pass unchanged to Alertmanager), values of bounded free text.
pub fn check_labels(labels: &Labels, path: &str, problems: &mut Vec<Problem>) {
    if labels.len() > MAX_TAGS {
        problems.push(Problem::new(path, Reason::TooMany, format!("at most {MAX_TAGS} labels are allowed")));
    }
    for (name, value) in labels {
        let at = field_path(path, name);
        if let Err(m) = check_label_name(name) {
            problems.push(Problem::new(at.clone(), Reason::InvalidValue, m));
        }
        if let Err(m) = check_text(value, MAX_TAG_LEN) {
            problems.push(Problem::new(at, Reason::InvalidValue, m));
        }
    }
}

/// A label name as Prometheus and Alertmanager accept it: `[A-Za-z_][A-Za-z0-9_]*`,
/// not starting with `__` (reserved for their internal labels).
pub fn check_label_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("label name must not be empty".into());
    }
    if name.len() > MAX_TAG_LEN {
        return Err(format!("label name must be at most {MAX_TAG_LEN} characters"));
    }
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("label name must match [A-Za-z_][A-Za-z0-9_]*".into());
    }
    if name.starts_with("__") {
        return Err("label names starting with '__' are reserved".into());
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    // Only web links: a runbook is opened by a person from a notification, and other
    // schemes (javascript:, file:) are either dangerous or useless there.
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host_and_path) if !host_and_path.is_empty() && !host_and_path.starts_with('/') => {}
        _ => return Err("must be an http:// or https:// URL with a host".into()),
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}
