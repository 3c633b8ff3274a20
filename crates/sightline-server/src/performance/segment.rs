//! Slicing predictions by one categorical (or boolean) feature or one tag: the most
//! frequent values each get their own figures, every other value (and a missing one)
//! falls into one "other" slice.

use sightline_core::{FeatureType, FeatureValue, ModelSpec};
use sightline_store::{OutcomeRow, PredictionQuery, Store, StoredPrediction};
use std::collections::HashMap;

/// Values kept on their own when the query does not say, and the most it may ask for.
pub const DEFAULT_TOP: usize = 10;
pub const MAX_TOP: usize = 100;
/// Predictions read (and decrypted) per page: memory stays bounded by a page plus what
/// the metrics must keep, whatever the window's size.
const PAGE: usize = 10_000;

/// What predictions are sliced by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentBy {
    /// A feature, by its index in stored events.
    Feature(u32),
    Tag(String),
}

impl SegmentBy {
    /// `tag:<name>` for a tag, else a categorical or boolean feature's name; the message
    /// says what is wrong.
    pub fn parse(spec: &ModelSpec, text: &str) -> Result<Self, String> {
        if let Some(tag) = text.strip_prefix("tag:") {
            if tag.is_empty() {
                return Err("tag: needs a tag name after it".to_owned());
            }
            return Ok(Self::Tag(tag.to_owned()));
        }
        let (index, feature) =
            spec.features.iter().enumerate().find(|(_, f)| f.name == text).ok_or_else(|| {
                format!("model {:?} has no feature {text:?} (a tag is written tag:<name>)", spec.name)
            })?;
        match feature.kind {
            FeatureType::Categorical | FeatureType::Boolean => {
                u32::try_from(index).map(Self::Feature).map_err(|_| "too many features".to_owned())
            }
            other => {
                Err(format!("feature {text:?} is {}; segments need a categorical or boolean feature", other.as_str()))
            }
        }
    }

    /// The prediction's value of the feature or tag, `None` when missing.
    pub fn value_of(&self, p: &StoredPrediction) -> Option<String> {
        match self {
            Self::Feature(index) => match p.features.iter().find(|(i, _)| i == index).map(|(_, v)| v) {
                Some(FeatureValue::Category(c)) => Some(c.clone()),
                Some(FeatureValue::Bool(b)) => Some(b.to_string()),
                _ => None,
            },
            Self::Tag(name) => p.tags.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
        }
    }
}

/// The predictions of `query`'s window, oldest first, each with its segment value; at
/// most `limit` (the caller refuses more).
pub fn read(
    store: &dyn Store,
    query: PredictionQuery,
    by: &SegmentBy,
    limit: usize,
) -> sightline_store::Result<Vec<(Option<String>, OutcomeRow)>> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_predictions(&PredictionQuery { before, limit: PAGE, ..query.clone() })?;
        let full = page.len() == PAGE;
        before = page.last().map(|p| (p.timestamp_ms, p.seq));
        out.extend(page.iter().map(|p| (by.value_of(p), OutcomeRow::from(p))));
        if !full || out.len() >= limit {
            break;
        }
    }
    // Pages come newest first.
    out.reverse();
    Ok(out)
}

/// The `top` most frequent values (more predictions first, then by value), in that order.
pub fn top_values(values: impl Iterator<Item = Option<String>>, top: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for v in values.flatten() {
        *counts.entry(v).or_default() += 1;
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.into_iter().take(top).map(|(v, _)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_values_rank_by_count_then_value_and_skip_missing() {
        let values = ["b", "a", "c", "b", "a", "d"].into_iter().map(|v| Some(v.to_owned())).chain([None, None, None]);
        assert_eq!(top_values(values.clone(), 2), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(top_values(values, 10), ["a", "b", "c", "d"].map(str::to_owned).to_vec());
    }
}
