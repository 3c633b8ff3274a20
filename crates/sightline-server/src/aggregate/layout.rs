//! Which columns a model's profiles have and how an event fills them.
//!
//! Column names in a stored profile: `feature:<name>` for each numeric, categorical or
//! boolean feature (text features are not profiled: free text has no distribution to
//! compare), `prediction` for the predicted class or value, and `score:<class>` for each
//! class score. The prefixes keep a feature called "prediction" apart from the
//! prediction. A reference profile uses the same names; when it has reference bins for a
//! numeric column, every bucket profile counts its values in those bins.

use sightline_core::{FeatureType, FeatureValue, ModelSpec, Target, Task};
use sightline_stats::profile::{
    CategoricalProfile, ColumnProfile, DEFAULT_CAPACITY, DEFAULT_K, DEFAULT_PRECISION, NumericProfile, Profile,
    ProfileError,
};
use sightline_store::FoldEvent;

pub const PREDICTION: &str = "prediction";

pub fn feature_column(name: &str) -> String {
    format!("feature:{name}")
}

pub fn score_column(class: &str) -> String {
    format!("score:{class}")
}

/// The feature name of a `feature:` column.
pub fn feature_of(column: &str) -> Option<&str> {
    column.strip_prefix("feature:")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Numeric,
    Categorical,
}

/// Where an event's values go: column positions by feature ordinal and class index.
#[derive(Debug)]
pub struct Layout {
    /// Column names and kinds, in position order.
    columns: Vec<(String, Kind)>,
    /// Reference bin edges by column position.
    edges: Vec<Option<Vec<f64>>>,
    /// Position of each feature's column by ordinal; `None` for text features.
    features: Vec<Option<usize>>,
    prediction: usize,
    /// Position of each class's score column by class index.
    scores: Vec<usize>,
}

/// Profiles being built from events: one column profile per layout position.
#[derive(Debug, Clone)]
pub struct Columns(Vec<ColumnProfile>);

impl Layout {
    /// The layout of `spec`, counting in the bins of `reference` where it has them.
    pub fn new(spec: &ModelSpec, reference: Option<&Profile>) -> Layout {
        let mut columns = Vec::new();
        let mut features = Vec::with_capacity(spec.features.len());
        for f in &spec.features {
            let kind = match f.kind {
                FeatureType::Numeric => Some(Kind::Numeric),
                FeatureType::Categorical | FeatureType::Boolean => Some(Kind::Categorical),
                FeatureType::Text => None,
            };
            features.push(kind.map(|k| {
                columns.push((feature_column(&f.name), k));
                columns.len() - 1
            }));
        }
        let prediction_kind = if spec.task == Task::Regression { Kind::Numeric } else { Kind::Categorical };
        columns.push((PREDICTION.to_owned(), prediction_kind));
        let prediction = columns.len() - 1;
        let scores = spec
            .classes
            .iter()
            .map(|c| {
                columns.push((score_column(c), Kind::Numeric));
                columns.len() - 1
            })
            .collect();
        let edges = columns
            .iter()
            .map(|(name, kind)| match (kind, reference.and_then(|r| r.get(name))) {
                (Kind::Numeric, Some(ColumnProfile::Numeric(p))) => p.bins().map(|b| b.edges().to_vec()),
                _ => None,
            })
            .collect();
        Layout { columns, edges, features, prediction, scores }
    }

    /// How many features the layout knows (a model's feature list only grows).
    pub fn feature_count(&self) -> usize {
        self.features.len()
    }

    pub fn columns(&self) -> impl Iterator<Item = (&str, Kind)> {
        self.columns.iter().map(|(n, k)| (n.as_str(), *k))
    }

    /// Empty column profiles; `seed` makes the sketches' choices reproducible. Fails
    /// only if the profile parameters were refused (a bug, reported by the caller).
    pub fn empty(&self, seed: u64) -> Result<Columns, ProfileError> {
        let columns = self
            .columns
            .iter()
            .zip(&self.edges)
            .enumerate()
            .map(|(i, ((_, kind), edges))| empty_column(*kind, edges.as_deref(), mix(seed, i as u64)))
            .collect::<Result<_, _>>()?;
        Ok(Columns(columns))
    }

    /// Adds one event; see [`Layout::fold_many`].
    pub fn fold(&self, columns: &mut Columns, event: &FoldEvent) {
        self.fold_many(columns, &[event]);
    }

    /// Adds events column by column (one sketch stays in cache while it takes every
    /// event's value). A feature absent from an event is a missing value; values of
    /// features the layout does not know are ignored (the caller rebuilds the layout
    /// when it sees a newer feature).
    pub fn fold_many(&self, columns: &mut Columns, events: &[&FoldEvent]) {
        for (ordinal, position) in self.features.iter().enumerate() {
            let Some(position) = position else { continue };
            let column = &mut columns.0[*position];
            for event in events {
                update(column, value_of(event, ordinal));
            }
        }
        let prediction = &mut columns.0[self.prediction];
        for event in events {
            match (&mut *prediction, &event.prediction) {
                (ColumnProfile::Numeric(p), Some(Target::Number(x))) => p.update(Some(*x)),
                (ColumnProfile::Categorical(p), Some(Target::Class(c))) => p.update(Some(c)),
                (ColumnProfile::Numeric(p), _) => p.update(None),
                (ColumnProfile::Categorical(p), _) => p.update(None),
            }
        }
        for (class, position) in self.scores.iter().enumerate() {
            let ColumnProfile::Numeric(p) = &mut columns.0[*position] else { continue };
            for event in events {
                if let Some((_, score)) = event.scores.iter().find(|(c, _)| *c as usize == class) {
                    p.update(Some(*score));
                }
            }
        }
    }

    /// The named profile of built columns.
    pub fn profile(&self, columns: Columns) -> Profile {
        let mut profile = Profile::new();
        for ((name, _), column) in self.columns.iter().zip(columns.0) {
            profile.insert(name.clone(), column);
        }
        profile
    }
}

fn empty_column(kind: Kind, edges: Option<&[f64]>, seed: u64) -> Result<ColumnProfile, ProfileError> {
    Ok(match kind {
        Kind::Numeric => {
            let plain = NumericProfile::new(DEFAULT_K, seed)?;
            ColumnProfile::Numeric(match edges {
                Some(e) => plain.with_bins(e.to_vec())?,
                None => plain,
            })
        }
        Kind::Categorical => ColumnProfile::Categorical(CategoricalProfile::new(DEFAULT_CAPACITY, DEFAULT_PRECISION)?),
    })
}

/// An event's value of a feature: where the ordinal says when features come in schema
/// order (they usually do), else found by ordinal; missing when absent.
fn value_of(event: &FoldEvent, ordinal: usize) -> &FeatureValue {
    match event.features.get(ordinal) {
        Some((o, v)) if *o as usize == ordinal => v,
        _ => event.features.iter().find(|(o, _)| *o as usize == ordinal).map_or(&FeatureValue::Null, |(_, v)| v),
    }
}

fn update(column: &mut ColumnProfile, value: &FeatureValue) {
    match (column, value) {
        (ColumnProfile::Numeric(p), FeatureValue::Number(x)) => p.update(Some(*x)),
        (ColumnProfile::Numeric(p), _) => p.update(None),
        (ColumnProfile::Categorical(p), FeatureValue::Category(c)) => p.update(Some(c)),
        (ColumnProfile::Categorical(p), FeatureValue::Bool(b)) => p.update_bool(Some(*b)),
        (ColumnProfile::Categorical(p), _) => p.update(None),
    }
}

/// SplitMix64 of two words: distinct, reproducible sketch seeds per bucket and column.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
