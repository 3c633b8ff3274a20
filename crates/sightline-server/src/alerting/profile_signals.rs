//! Monitor samples from the aggregator's profiles: drift scores and data-quality rates
//! per version over the monitor's window, computed as the drift and data-quality
//! endpoints compute them (one feature, or the largest over every feature).

use super::signals::{Samples, SignalSource};
use crate::analysis::{self, ColumnQuality, DriftSettings};
use sightline_core::alerting::{FeatureSelector, Labels, Monitor, Signal};
use sightline_stats::column_drift::Options;
use sightline_stats::profile::Profile;
use sightline_store::Store;
use std::sync::Arc;

/// The data-quality checks a `data_quality_rate` monitor can watch.
pub const QUALITY_CHECKS: [&str; 3] = ["missing", "out_of_range", "unseen"];

/// The problems (path, message) of a profile signal's keys: the drift method must be one
/// the drift endpoint knows, the check one of [`QUALITY_CHECKS`].
pub fn check_keys(signal: &Signal) -> Vec<(String, String)> {
    match signal {
        Signal::DriftScore { method, .. } if sightline_stats::default_method::Method::from_name(method).is_none() => {
            vec![(
                "signal.method".into(),
                format!("{method:?} is not a drift method; use {}", crate::routes::drift_settings::METHODS),
            )]
        }
        Signal::DataQualityRate { check, .. } if !QUALITY_CHECKS.contains(&check.as_str()) => vec![(
            "signal.check".into(),
            format!("{check:?} is not a data-quality check; use one of {}", QUALITY_CHECKS.join(", ")),
        )],
        Signal::PerformanceMetric { metric, .. } if !super::outcome_signals::METRICS.contains(&metric.as_str()) => {
            vec![(
                "signal.metric".into(),
                format!("{metric:?} is not a metric; use one of {}", super::outcome_signals::METRICS.join(", ")),
            )]
        }
        Signal::PerformanceMetric { metric, estimated: true, .. }
            if !crate::performance::estimate::ESTIMATED_METRICS.contains(&metric.as_str()) =>
        {
            vec![(
                "signal.metric".into(),
                format!(
                    "{metric:?} cannot be estimated without labels; use one of {}",
                    crate::performance::estimate::ESTIMATED_METRICS.join(", ")
                ),
            )]
        }
        _ => Vec::new(),
    }
}

pub struct ProfileSignals {
    pub store: Arc<dyn Store>,
    pub retention: analysis::Retention,
}

fn series(version: &str) -> Labels {
    Labels::from([("version".to_owned(), version.to_owned())])
}

/// The largest of the values, `None` when there is none.
fn largest(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.flatten().filter(|v| v.is_finite()).fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
}

impl ProfileSignals {
    fn features(&self, model_id: i64, selector: &FeatureSelector) -> Result<Vec<String>, String> {
        let model = self.store.model_by_id(model_id).map_err(|e| e.to_string())?.ok_or("the model is gone")?;
        let all = model.spec.features.iter().map(|f| f.name.clone());
        Ok(match selector {
            FeatureSelector::One(name) => all.filter(|f| f == name).collect(),
            FeatureSelector::Any => all.collect(),
        })
    }

    fn drift(
        &self,
        m: &Monitor,
        model_id: i64,
        version_id: i64,
        current: &Profile,
        method: &str,
    ) -> Result<Option<f64>, String> {
        let Signal::DriftScore { feature, .. } = &m.signal else { return Ok(None) };
        let Some(reference) =
            analysis::reference_for(self.store.as_ref(), model_id, version_id).map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let reference = Profile::decode(&reference.data).map_err(|e| e.to_string())?;
        let method = sightline_stats::default_method::Method::from_name(method)
            .ok_or_else(|| format!("unknown drift method {method:?}"))?;
        let settings =
            DriftSettings { all: Options { method: Some(method), threshold: None }, ..DriftSettings::default() };
        let features = self.features(model_id, feature)?;
        let report = analysis::drift(&reference, current, &features, &settings);
        Ok(largest(report.features.iter().map(|c| c.outcome.as_ref().ok().map(|d| d.score))))
    }

    fn quality(
        &self,
        m: &Monitor,
        model_id: i64,
        version_id: i64,
        current: &Profile,
        check: &str,
    ) -> Result<Option<f64>, String> {
        let Signal::DataQualityRate { feature, .. } = &m.signal else { return Ok(None) };
        let reference =
            analysis::reference_for(self.store.as_ref(), model_id, version_id).map_err(|e| e.to_string())?;
        let reference = reference.map(|r| Profile::decode(&r.data)).transpose().map_err(|e| e.to_string())?;
        let features = self.features(model_id, feature)?;
        let columns = analysis::quality(reference.as_ref(), current, None, &features);
        let rate = |q: &ColumnQuality| match (check, q) {
            ("missing", ColumnQuality::Numeric(n)) => n.missing_share,
            ("missing", ColumnQuality::Categorical(c)) => c.missing_share,
            ("out_of_range", ColumnQuality::Numeric(n)) => n.out_of_range_share,
            ("unseen", ColumnQuality::Categorical(c)) => c.unseen_share,
            _ => None,
        };
        Ok(largest(columns.iter().filter(|(name, _, _)| features.contains(name)).map(|(_, q, _)| rate(q))))
    }
}

impl SignalSource for ProfileSignals {
    fn serves(&self, signal: &Signal) -> bool {
        matches!(signal, Signal::DriftScore { .. } | Signal::DataQualityRate { .. })
    }

    fn sample(&self, m: &Monitor, model_id: i64, now_ms: i64) -> Result<Samples, String> {
        if let Signal::DataQualityRate { check, .. } = &m.signal
            && !QUALITY_CHECKS.contains(&check.as_str())
        {
            return Err(format!("unknown data-quality check {check:?}; use one of {}", QUALITY_CHECKS.join(", ")));
        }
        let (from, to) =
            analysis::widen(now_ms.saturating_sub(m.window_ms), now_ms.saturating_add(1), now_ms, self.retention);
        let by_version =
            analysis::window_profiles_by_version(self.store.as_ref(), model_id, from, to).map_err(|e| e.to_string())?;
        let mut out = Samples::new();
        for (version_id, current) in by_version {
            // Version id 0 holds rejected events' type mismatches, not a version.
            if version_id == 0 {
                continue;
            }
            let Some(version) = self.store.version_by_id(version_id).map_err(|e| e.to_string())? else { continue };
            if m.version.as_deref().is_some_and(|v| v != version.name) {
                continue;
            }
            let value = match &m.signal {
                Signal::DriftScore { method, .. } => self.drift(m, model_id, version_id, &current, method)?,
                Signal::DataQualityRate { check, .. } => self.quality(m, model_id, version_id, &current, check)?,
                _ => None,
            };
            out.insert(series(&version.name), value);
        }
        if let Some(v) = m.version.as_deref() {
            out.entry(series(v)).or_insert(None);
        }
        Ok(out)
    }
}
