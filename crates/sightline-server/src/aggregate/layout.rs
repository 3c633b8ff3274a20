//! Which columns a model's profiles have and how an event fills them.
//!
//! Column names in a stored profile: `feature:<name>` for each numeric, categorical or
//! boolean feature (text features are not profiled: free text has no distribution to
//! compare), `prediction` for the predicted class or value, and `score:<class>` for each
//! class score. The prefixes keep a feature called "prediction" apart from the
//! prediction. A reference profile uses the same names; when it has reference bins for a
//! numeric column, every bucket profile counts its values in those bins.
//!
//! A run of events is folded a block at a time: feature values are copied out event by
//! event into a buffer per column, then each column takes its block of values in event
//! order. The profiles are the same, bit for bit, however the events come in runs.

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
    /// (ordinal, position) of the numeric features, and of the categorical and boolean
    /// ones, in ordinal order.
    numeric_features: Vec<(usize, usize)>,
    categorical_features: Vec<(usize, usize)>,
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
        let by_kind = |wanted| {
            features
                .iter()
                .enumerate()
                .filter_map(|(ordinal, position)| position.map(|p| (ordinal, p)))
                .filter(|(_, p)| columns[*p].1 == wanted)
                .collect()
        };
        let (numeric_features, categorical_features) = (by_kind(Kind::Numeric), by_kind(Kind::Categorical));
        Layout { columns, edges, features, numeric_features, categorical_features, prediction, scores }
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

    /// Adds events column by column (one sketch stays in cache while it takes a block of
    /// events' values). A feature absent from an event is a missing value; values of
    /// features the layout does not know are ignored (the caller rebuilds the layout
    /// when it sees a newer feature).
    ///
    /// Feature values are first copied out row by row, a block of events at a time, into
    /// one buffer per column: reading each event's features in one sweep is what keeps
    /// the fold fast, where reaching into every event once per column missed the cache on
    /// each read. Each column still takes its values in event order, so the profiles are
    /// the same, bit for bit, however the events are split into runs and blocks.
    pub fn fold_many(&self, columns: &mut Columns, events: &[&FoldEvent]) {
        let block = events.len().min(BLOCK);
        let mut staged = Staged {
            numbers: Vec::with_capacity(block * self.numeric_features.len()),
            categories: Vec::with_capacity(block * self.categorical_features.len()),
            numbers_len: vec![0; self.numeric_features.len()],
            categories_len: vec![0; self.categorical_features.len()],
        };
        for run in events.chunks(BLOCK) {
            self.fold_features(columns, run, &mut staged);
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

    /// Folds the feature values of at most [`BLOCK`] events: staged by column, then
    /// each column's values at once.
    fn fold_features<'e>(&self, columns: &mut Columns, events: &[&'e FoldEvent], staged: &mut Staged<'e>) {
        let n = events.len();
        // Column-major staging: the values of numeric feature `i` go to
        // `numbers[i * n..]`, missing ones counted apart (their order does not matter).
        staged.numbers.clear();
        staged.numbers.resize(n * self.numeric_features.len(), 0.0);
        staged.categories.clear();
        staged.categories.resize(n * self.categorical_features.len(), "");
        staged.numbers_len.fill(0);
        staged.categories_len.fill(0);
        let Staged { numbers, categories, numbers_len, categories_len } = staged;
        for event in events {
            for (i, (ordinal, _)) in self.numeric_features.iter().enumerate() {
                if let FeatureValue::Number(x) = value_of(event, *ordinal) {
                    numbers[i * n + numbers_len[i]] = *x;
                    numbers_len[i] += 1;
                }
            }
            for (i, (ordinal, _)) in self.categorical_features.iter().enumerate() {
                let value = match value_of(event, *ordinal) {
                    FeatureValue::Category(c) => c.as_str(),
                    FeatureValue::Bool(b) => bool_category(*b),
                    _ => continue,
                };
                categories[i * n + categories_len[i]] = value;
                categories_len[i] += 1;
            }
        }
        for (i, (_, position)) in self.numeric_features.iter().enumerate() {
            if let ColumnProfile::Numeric(p) = &mut columns.0[*position] {
                p.update_many(&numbers[i * n..i * n + numbers_len[i]]);
                p.update_missing((n - numbers_len[i]) as u64);
            }
        }
        for (i, (_, position)) in self.categorical_features.iter().enumerate() {
            if let ColumnProfile::Categorical(p) = &mut columns.0[*position] {
                p.update_many(&categories[i * n..i * n + categories_len[i]]);
                p.update_missing((n - categories_len[i]) as u64);
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

/// Events whose feature values are staged at once: enough to make each column's run
/// long, few enough that the staged values (8 or 16 bytes per value) stay in cache
/// (about 100 KiB for 20 numeric and 5 categorical features).
const BLOCK: usize = 512;

/// Feature values copied out of a block of events, column after column.
struct Staged<'e> {
    numbers: Vec<f64>,
    categories: Vec<&'e str>,
    /// How many values each column has staged.
    numbers_len: Vec<usize>,
    categories_len: Vec<usize>,
}

/// How a boolean is profiled (see [`CategoricalProfile::update_bool`]).
fn bool_category(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// An event's value of a feature: where the ordinal says when features come in schema
/// order (they usually do), else found by ordinal; missing when absent.
fn value_of(event: &FoldEvent, ordinal: usize) -> &FeatureValue {
    match event.features.get(ordinal) {
        Some((o, v)) if *o as usize == ordinal => v,
        _ => event.features.iter().find(|(o, _)| *o as usize == ordinal).map_or(&FeatureValue::Null, |(_, v)| v),
    }
}

/// SplitMix64 of two words: distinct, reproducible sketch seeds per bucket and column.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::FeatureSpec;

    fn spec() -> ModelSpec {
        let feature = |name: &str, kind| FeatureSpec { name: name.into(), kind, nullable: true };
        ModelSpec {
            name: "layout".into(),
            task: Task::BinaryClassification,
            features: vec![
                feature("n0", FeatureType::Numeric),
                feature("c0", FeatureType::Categorical),
                feature("t", FeatureType::Text),
                feature("b", FeatureType::Boolean),
                feature("n1", FeatureType::Numeric),
            ],
            classes: vec!["no".into(), "yes".into()],
            positive_class: Some("yes".into()),
            description: String::new(),
        }
    }

    /// Events with every kind of value, of the wrong kind, absent, repeated, out of
    /// order and unknown, more of them than a staging block holds.
    fn events() -> Vec<FoldEvent> {
        let mut state = 3u64;
        (0..1_300)
            .map(|i| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let r = state >> 33;
                let number = match r % 23 {
                    0 => FeatureValue::Null,
                    1 => FeatureValue::Number(f64::NAN),
                    2 => FeatureValue::Number(f64::NEG_INFINITY),
                    3 => FeatureValue::Category("12".into()),
                    4 => FeatureValue::Number(-0.0),
                    _ => FeatureValue::Number((r % 1_000) as f64 / 7.0),
                };
                let category = match r % 13 {
                    0 => FeatureValue::Null,
                    1 => FeatureValue::Number(1.0),
                    2 => FeatureValue::Bool(true),
                    k => FeatureValue::Category(format!("city {}", k % 5)),
                };
                let mut features = vec![
                    (0, number),
                    (1, category),
                    (2, FeatureValue::Text("free text".into())),
                    (
                        3,
                        if r.is_multiple_of(5) {
                            FeatureValue::Category("yes".into())
                        } else {
                            FeatureValue::Bool(r.is_multiple_of(3))
                        },
                    ),
                    (4, FeatureValue::Number(f64::from(i) * 0.5)),
                    (9, FeatureValue::Number(1.0)),
                ];
                match r % 7 {
                    0 => features.reverse(),
                    1 => {
                        features.remove(4);
                    }
                    2 => features.insert(1, (0, FeatureValue::Number(-5.0))),
                    _ => {}
                }
                FoldEvent {
                    seq: i64::from(i) + 1,
                    model_id: 1,
                    version_id: 1,
                    timestamp_ms: 0,
                    features: features.into(),
                    prediction: (!r.is_multiple_of(4))
                        .then(|| Target::Class(if r.is_multiple_of(2) { "yes" } else { "no" }.into())),
                    scores: vec![(1, (r % 100) as f64 / 100.0)],
                    latency_ms: None,
                    has_error: false,
                }
            })
            .collect()
    }

    /// What folding means, one value at a time and column after column.
    fn fold_one_value_at_a_time(layout: &Layout, columns: &mut Columns, events: &[FoldEvent]) {
        for (ordinal, position) in layout.features.iter().enumerate() {
            let Some(position) = position else { continue };
            for event in events {
                match (&mut columns.0[*position], value_of(event, ordinal)) {
                    (ColumnProfile::Numeric(p), FeatureValue::Number(x)) => p.update(Some(*x)),
                    (ColumnProfile::Numeric(p), _) => p.update(None),
                    (ColumnProfile::Categorical(p), FeatureValue::Category(c)) => p.update(Some(c)),
                    (ColumnProfile::Categorical(p), FeatureValue::Bool(b)) => p.update_bool(Some(*b)),
                    (ColumnProfile::Categorical(p), _) => p.update(None),
                }
            }
        }
        for event in events {
            match (&mut columns.0[layout.prediction], &event.prediction) {
                (ColumnProfile::Categorical(p), Some(Target::Class(c))) => p.update(Some(c)),
                (ColumnProfile::Categorical(p), _) => p.update(None),
                (ColumnProfile::Numeric(_), _) => unreachable!("a classifier's prediction is categorical"),
            }
        }
        for (class, position) in layout.scores.iter().enumerate() {
            let ColumnProfile::Numeric(p) = &mut columns.0[*position] else { unreachable!("scores are numeric") };
            for event in events {
                if let Some((_, score)) = event.scores.iter().find(|(c, _)| *c as usize == class) {
                    p.update(Some(*score));
                }
            }
        }
    }

    #[test]
    fn staged_folds_equal_folding_value_by_value_in_any_runs() {
        let spec = spec();
        let layout = Layout::new(&spec, None);
        let events = events();
        let refs: Vec<&FoldEvent> = events.iter().collect();

        let mut expected = layout.empty(5).expect("valid parameters");
        fold_one_value_at_a_time(&layout, &mut expected, &events);
        let expected = layout.profile(expected);

        for run in [1, 7, BLOCK, events.len()] {
            let mut columns = layout.empty(5).expect("valid parameters");
            for chunk in refs.chunks(run) {
                layout.fold_many(&mut columns, chunk);
            }
            let profile = layout.profile(columns);
            assert_eq!(profile.encode(), expected.encode(), "runs of {run}");
            assert_eq!(profile, expected, "runs of {run}");
        }
        let ColumnProfile::Numeric(n0) = expected.get("feature:n0").expect("a numeric column") else {
            panic!("feature:n0 is numeric")
        };
        assert!(n0.count() > 0 && n0.missing() > 0 && n0.nan() > 0 && n0.neg_inf() > 0);
    }
}
