//! Drift and data quality over a time window, from stored profiles: which buckets cover
//! the window, merging them, and comparing the result with the reference.
//!
//! Cost grows with the number of buckets, not of events: a window is covered by whole
//! days where it can, then hours, then minutes at its edges (at most ~200 buckets for any
//! window). The window is widened outward to whole minutes; where minute (hour) profiles
//! have expired under retention it is widened to whole hours (days), which the answer
//! reports as the window actually used.

use crate::aggregate::layout::PREDICTION;
use sightline_stats::column_drift::{self, ColumnDrift, Options};
use sightline_stats::drift::DriftError;
use sightline_stats::profile::{ColumnProfile, Profile, ProfileError};
use sightline_stats::quality::{self, CategoricalQuality, NumericQuality};
use sightline_stats::sketch_drift;
use sightline_store::{ProfileQuery, ReferenceRecord, Resolution, Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;

/// Why an analysis has no answer.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored profile is damaged: {0}")]
    Profile(#[from] ProfileError),
}

/// The reference a version is compared with: its own, else the model's default.
pub fn reference_for(store: &dyn Store, model_id: i64, version_id: i64) -> Result<Option<ReferenceRecord>, StoreError> {
    let name = store.version_by_id(version_id)?.map(|v| v.name);
    reference_named(store, model_id, name.as_deref())
}

/// The reference for a drift query on `version` (a name, or all versions: the default).
pub fn reference_named(
    store: &dyn Store,
    model_id: i64,
    version: Option<&str>,
) -> Result<Option<ReferenceRecord>, StoreError> {
    if let Some(v) = version
        && let Some(r) = store.get_reference(model_id, v)?
    {
        return Ok(Some(r));
    }
    store.get_reference(model_id, "")
}

/// How long each resolution is kept, to know which buckets can still exist.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub minute: Option<Duration>,
    pub hour: Option<Duration>,
}

pub(crate) fn floor(t: i64, r: Resolution) -> i64 {
    r.bucket_of(t)
}

pub(crate) fn ceil(t: i64, r: Resolution) -> i64 {
    let f = r.bucket_of(t);
    if f == t { t } else { f.saturating_add(r.ms()) }
}

/// The window actually covered, after widening (see the module docs).
pub fn widen(from_ms: i64, to_ms: i64, now_ms: i64, retention: Retention) -> (i64, i64) {
    let (mut from, mut to) = (floor(from_ms, Resolution::Minute), ceil(to_ms, Resolution::Minute));
    let cut = |keep: Option<Duration>| keep.map_or(i64::MIN, |k| now_ms.saturating_sub(k.as_millis() as i64));
    for (cutoff, coarser) in [(cut(retention.minute), Resolution::Hour), (cut(retention.hour), Resolution::Day)] {
        if from < cutoff {
            from = floor(from, coarser);
        }
        if to < cutoff {
            to = ceil(to, coarser);
        }
    }
    (from, to)
}

/// Runs of buckets covering `[from, to)` (both on minute boundaries): whole days where
/// they fit, whole hours next, minutes at the edges.
pub fn cover(from: i64, to: i64) -> Vec<(Resolution, i64, i64)> {
    let mut runs: Vec<(Resolution, i64, i64)> = Vec::new();
    let mut t = from;
    while t < to {
        let resolution = [Resolution::Day, Resolution::Hour]
            .into_iter()
            .find(|r| floor(t, *r) == t && t.saturating_add(r.ms()) <= to)
            .unwrap_or(Resolution::Minute);
        // Up to the next boundary of the coarser level, or the window's end.
        let limit = match resolution {
            Resolution::Day => floor(to, Resolution::Day),
            Resolution::Hour => floor(to, Resolution::Hour).min(ceil(t + 1, Resolution::Day)),
            Resolution::Minute => to.min(ceil(t + 1, Resolution::Hour)),
        };
        let end = limit.max(t + resolution.ms());
        match runs.last_mut() {
            Some(last) if last.0 == resolution && last.2 == t => last.2 = end,
            _ => runs.push((resolution, t, end)),
        }
        t = end;
    }
    runs
}

/// The profile of `[from, to)` (already widened), of one version or all, and how many
/// events it holds.
pub fn window_profile(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    from: i64,
    to: i64,
) -> Result<(Profile, u64), AnalysisError> {
    let mut merged = Profile::new();
    let mut rows = 0;
    for (resolution, from_ms, to_ms) in cover(from, to) {
        let query = ProfileQuery { model_id, version_id, resolution, from_ms, to_ms };
        for stored in store.load_profiles(&query)? {
            merged.merge_dropping_bins(&Profile::decode(&stored.data)?)?;
            rows += stored.rows;
        }
    }
    Ok((merged, rows))
}

/// The profile of `[from, to)` per version that has events in it.
pub fn window_profiles_by_version(
    store: &dyn Store,
    model_id: i64,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, Profile>, AnalysisError> {
    let mut out: HashMap<i64, Profile> = HashMap::new();
    for (resolution, from_ms, to_ms) in cover(from, to) {
        let query = ProfileQuery { model_id, version_id: None, resolution, from_ms, to_ms };
        for stored in store.load_profiles(&query)? {
            out.entry(stored.key.version_id).or_default().merge_dropping_bins(&Profile::decode(&stored.data)?)?;
        }
    }
    Ok(out)
}

/// Drift settings: a method and threshold for all columns, and per feature.
#[derive(Debug, Clone, Default)]
pub struct DriftSettings {
    pub all: Options,
    pub per_feature: HashMap<String, Options>,
    /// Settings under these (a model's stored ones under a query's), consulted for what
    /// these leave unset.
    pub base: Option<Box<DriftSettings>>,
}

impl DriftSettings {
    /// Each of method and threshold from the most specific setting of the top-most
    /// layer that has one: a feature's, then all columns', then the layer below.
    fn for_column(&self, feature: Option<&str>) -> Options {
        let own = feature.and_then(|f| self.per_feature.get(f)).copied().unwrap_or_default();
        let below = self.base.as_ref().map(|b| b.for_column(feature)).unwrap_or_default();
        Options {
            method: own.method.or(self.all.method).or(below.method),
            threshold: own.threshold.or(self.all.threshold).or(below.threshold),
        }
    }
}

/// One column's drift, or why it has none.
#[derive(Debug, Clone)]
pub struct ColumnResult {
    /// The feature name, `prediction`, or `score:<class>`.
    pub name: String,
    pub kind: &'static str,
    pub outcome: Result<ColumnDrift, String>,
}

#[derive(Debug, Clone)]
pub struct DriftReport {
    pub features: Vec<ColumnResult>,
    pub prediction: Option<ColumnResult>,
    pub scores: Vec<ColumnResult>,
    pub share_drifted: Option<f64>,
    pub dataset_drifted: Option<bool>,
}

/// A reference profile with each numeric column's sketch view made once, for comparing
/// many windows with it (the UI's drift heatmap).
pub struct PreparedReference<'a> {
    profile: &'a Profile,
    numeric: HashMap<&'a str, sketch_drift::NumericReference<'a>>,
}

impl<'a> PreparedReference<'a> {
    pub fn new(profile: &'a Profile) -> Self {
        let numeric = profile
            .columns()
            .filter_map(|(name, c)| match c {
                ColumnProfile::Numeric(n) => Some((name, sketch_drift::NumericReference::new(n))),
                ColumnProfile::Categorical(_) => None,
            })
            .collect();
        PreparedReference { profile, numeric }
    }
}

fn column_drift(
    reference: &ColumnProfile,
    prepared: Option<&sketch_drift::NumericReference<'_>>,
    current: &ColumnProfile,
    options: Options,
) -> Result<ColumnDrift, String> {
    let result: Result<ColumnDrift, DriftError> = match (reference, current) {
        (ColumnProfile::Numeric(r), ColumnProfile::Numeric(c)) => match prepared {
            Some(p) => sketch_drift::numeric_column_against(p, c, options),
            None => sketch_drift::numeric_column(r, c, options),
        },
        (ColumnProfile::Categorical(r), ColumnProfile::Categorical(c)) => {
            sketch_drift::categorical_column(r, c, options)
        }
        _ => return Err("the reference holds this column with another type".into()),
    };
    result.map_err(|e| e.to_string())
}

fn kind_of(p: &ColumnProfile) -> &'static str {
    match p {
        ColumnProfile::Numeric(_) => "numeric",
        ColumnProfile::Categorical(_) => "categorical",
    }
}

/// Drift of every profiled column of `current` against `reference`. A column the
/// reference lacks, or an empty one, is reported with its reason; dataset drift counts
/// the features that have a result (Evidently's share ≥ 0.5).
pub fn drift(
    reference: &Profile,
    current: &Profile,
    feature_order: &[String],
    settings: &DriftSettings,
) -> DriftReport {
    drift_against(&PreparedReference::new(reference), current, feature_order, settings)
}

/// [`drift`] against a prepared reference.
pub fn drift_against(
    prepared: &PreparedReference<'_>,
    current: &Profile,
    feature_order: &[String],
    settings: &DriftSettings,
) -> DriftReport {
    let reference = prepared.profile;
    let compare = |column: &str, name: String, feature: Option<&str>| -> Option<ColumnResult> {
        let c = current.get(column)?;
        let outcome = match reference.get(column) {
            Some(r) => column_drift(r, prepared.numeric.get(column), c, settings.for_column(feature)),
            None => Err("the reference has no values for this column".into()),
        };
        Some(ColumnResult { name, kind: kind_of(c), outcome })
    };
    let features: Vec<ColumnResult> = feature_order
        .iter()
        .filter_map(|f| compare(&crate::aggregate::layout::feature_column(f), f.clone(), Some(f)))
        .collect();
    let prediction = compare(PREDICTION, PREDICTION.to_owned(), None);
    let scores = current
        .columns()
        .filter(|(name, _)| name.starts_with("score:"))
        .filter_map(|(name, _)| compare(name, name.to_owned(), None))
        .collect();
    let judged: Vec<ColumnDrift> = features.iter().filter_map(|c| c.outcome.as_ref().ok().copied()).collect();
    let (share, drifted) = if judged.is_empty() {
        (None, None)
    } else {
        let (s, d) = column_drift::dataset_share(&judged);
        (Some(s), Some(d))
    };
    DriftReport { features, prediction, scores, share_drifted: share, dataset_drifted: drifted }
}

/// One column's quality figures.
#[derive(Debug, Clone)]
pub enum ColumnQuality {
    Numeric(NumericQuality),
    Categorical(CategoricalQuality),
}

/// Quality of every profiled feature (in schema order) and of the prediction, with the
/// feature's wrong-type values among rejected events (from `mismatches`, the column
/// [`crate::aggregate::TYPE_MISMATCHES`] of the window's profiles).
pub fn quality(
    reference: Option<&Profile>,
    current: &Profile,
    mismatches: Option<&ColumnProfile>,
    feature_order: &[String],
) -> Vec<(String, ColumnQuality, u64)> {
    let of = |column: &str| -> Option<ColumnQuality> {
        let r = reference.and_then(|p| p.get(column));
        Some(match current.get(column)? {
            ColumnProfile::Numeric(c) => ColumnQuality::Numeric(quality::numeric(
                c,
                r.and_then(|r| if let ColumnProfile::Numeric(r) = r { Some(r) } else { None }),
            )),
            ColumnProfile::Categorical(c) => ColumnQuality::Categorical(quality::categorical(
                c,
                r.and_then(|r| if let ColumnProfile::Categorical(r) = r { Some(r) } else { None }),
            )),
        })
    };
    let wrong = |feature: &str| match mismatches {
        Some(ColumnProfile::Categorical(c)) => c.items().count(feature),
        _ => 0,
    };
    let mut out: Vec<(String, ColumnQuality, u64)> = feature_order
        .iter()
        .filter_map(|f| of(&crate::aggregate::layout::feature_column(f)).map(|q| (f.clone(), q, wrong(f))))
        .collect();
    if let Some(q) = of(PREDICTION) {
        out.push((PREDICTION.to_owned(), q, 0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;
    const H: i64 = 3_600_000;
    const D: i64 = 86_400_000;

    #[test]
    fn cover_uses_days_then_hours_then_minutes() {
        let from = D - 2 * H - 3 * M;
        let to = 3 * D + H + 5 * M;
        let runs = cover(from, to);
        assert_eq!(
            runs,
            vec![
                (Resolution::Minute, from, D - 2 * H),
                (Resolution::Hour, D - 2 * H, D),
                (Resolution::Day, D, 3 * D),
                (Resolution::Hour, 3 * D, 3 * D + H),
                (Resolution::Minute, 3 * D + H, to),
            ]
        );
        // The runs tile the window exactly.
        for w in runs.windows(2) {
            assert_eq!(w[0].2, w[1].1);
        }
        assert_eq!(cover(5 * M, 7 * M), vec![(Resolution::Minute, 5 * M, 7 * M)]);
        assert!(cover(5 * M, 5 * M).is_empty());
    }

    #[test]
    fn widen_rounds_to_minutes_and_past_retention_to_hours() {
        let keep = Retention { minute: Some(Duration::from_secs(2 * 86_400)), hour: None };
        let now = 10 * D;
        assert_eq!(widen(9 * D + 30_500, 9 * D + 61_000, now, keep), (9 * D, 9 * D + 2 * M));
        // Older than two days: whole hours.
        assert_eq!(widen(D + 5 * M, D + H + 5 * M, now, keep), (D, D + 2 * H));
    }
}
