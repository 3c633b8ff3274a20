//! Evidently's default drift method per column, its thresholds and its comparison directions.
//!
//! Kept apart from the methods themselves so the offline report and (later) the server
//! make the same choice from the same two numbers: how many values the reference has
//! and how many distinct values both samples have together.
//!
//! # The rule (Evidently 0.7.x, `legacy/calculations/stattests/registry.py`,
//! `_get_default_stattest`, which the 0.7 `ValueDrift` / `DataDriftPreset` reach through
//! `get_one_column_drift`)
//!
//! Both counts are taken after missing values (NaN, ±inf) are dropped from each sample:
//! `reference_count` is the number of non-missing reference values of the column,
//! `distinct` the number of distinct non-missing values over reference and current together.
//!
//! | reference values | column type | distinct values | method               | drifted when      |
//! |------------------|-------------|-----------------|----------------------|-------------------|
//! | ≤ 1000           | numeric     | > 5             | `ks`                 | p-value ≤ 0.05    |
//! | ≤ 1000           | numeric     | 3 to 5          | `chisquare`          | p-value < 0.05    |
//! | ≤ 1000           | numeric     | ≤ 2             | `z`                  | p-value < 0.05    |
//! | ≤ 1000           | categorical | > 2             | `chisquare`          | p-value < 0.05    |
//! | ≤ 1000           | categorical | ≤ 2             | `z`                  | p-value < 0.05    |
//! | > 1000           | numeric     | > 5             | `wasserstein_normed` | score ≥ 0.1       |
//! | > 1000           | numeric     | ≤ 5             | `jensenshannon`      | score ≥ 0.1       |
//! | > 1000           | categorical | any             | `jensenshannon`      | score ≥ 0.1       |
//!
//! Details worth knowing, all read in Evidently's source:
//! - KS compares with `<=` (`p_value <= threshold`); chi-square and z compare with `<`;
//!   the two distances with `>=`.
//! - The 1000 cut-off is inclusive on the small side (`shape[0] <= 1000`).
//! - Numeric columns with few distinct values are tested as categories, and a binary
//!   one (two distinct values, or one) gets the z-test, as a binary categorical does.
//! - Dataset drift: Evidently's default `drift_share` is 0.5 and the comparison is
//!   `share >= drift_share`.
//!
//! Checked against Evidently 0.7.23 itself (its `DataDriftPreset` on the fixtures of
//! `tests/reference/drift_evidently.py`; see [`crate::column_drift`]): the method chosen,
//! the threshold and the verdict agree on every column there.
//!
//! Deliberately different, or the caller's business:
//! - which columns are numeric is the caller's decision; Evidently 0.7 infers it from
//!   pandas dtypes (floats numeric; integers numeric only above 10 distinct values; strings
//!   categorical, or text when more than half the values are distinct), so a column of
//!   few integers can be categorical there where a caller calls it numeric (the choice
//!   then differs only for 6 or more distinct values in small data: `ks` here,
//!   `chisquare` there);
//! - Evidently reports a test's p-value as its `drift_score`; callers here keep the
//!   statistic as the score and the p-value beside it, and judge the p-value;
//! - with a category the reference never had, the chi-square statistic is infinite and
//!   its p-value 0, as scipy's `chisquare` (behind Evidently's) answers too.

/// How a column's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Numeric,
    Categorical,
}

/// A drift method Evidently may choose by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Two-sample Kolmogorov–Smirnov test on the raw values.
    Ks,
    /// Chi-square goodness of fit of the current category counts against the reference shares.
    ChiSquare,
    /// Two-proportion z-test on a binary column.
    Z,
    /// Wasserstein-1 distance divided by the reference standard deviation.
    WassersteinNormed,
    /// Jensen–Shannon distance (natural log) between category shares.
    JensenShannon,
    /// Population stability index over Evidently's bins; never a default, only chosen.
    Psi,
    /// Kullback–Leibler divergence of the reference from the current shares; only chosen.
    KlDiv,
    /// Hellinger distance; only chosen.
    Hellinger,
}

/// Every method, in the order reports list them.
pub const ALL_METHODS: [Method; 8] = [
    Method::Ks,
    Method::ChiSquare,
    Method::Z,
    Method::WassersteinNormed,
    Method::JensenShannon,
    Method::Psi,
    Method::KlDiv,
    Method::Hellinger,
];

/// The largest reference size for which Evidently uses the hypothesis tests.
pub const SMALL_REFERENCE_MAX: usize = 1000;

/// Columns with at most this many distinct values are compared as categories.
pub const FEW_DISTINCT_MAX: usize = 5;

/// Columns with at most this many distinct values get the z-test rather than chi-square.
pub const BINARY_DISTINCT_MAX: usize = 2;

/// Evidently's default share of drifted columns at which the dataset counts as drifted.
pub const DATASET_DRIFT_SHARE: f64 = 0.5;

impl Method {
    /// The name used in reports and in Evidently's options.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::ChiSquare => "chisquare",
            Method::Z => "z",
            Method::WassersteinNormed => "wasserstein_normed",
            Method::JensenShannon => "jensenshannon",
            Method::Psi => "psi",
            Method::KlDiv => "kl_div",
            Method::Hellinger => "hellinger",
        }
    }

    /// The method a name stands for: [`Method::name`], or Evidently's `wasserstein`
    /// (Evidently's name for the normed distance).
    pub fn from_name(name: &str) -> Option<Method> {
        if name == "wasserstein" {
            return Some(Method::WassersteinNormed);
        }
        ALL_METHODS.into_iter().find(|m| m.name() == name)
    }

    /// Whether the method runs on a column of this kind, as Evidently's
    /// `allowed_feature_types` say: `ks` and `wasserstein_normed` need numbers,
    /// `chisquare` and `z` categories; the others take both. (The default rule still
    /// gives `chisquare` and `z` to numeric columns with few distinct values: Evidently
    /// checks the kind only for a method the user chose.)
    pub fn accepts(self, kind: ColumnKind) -> bool {
        match self {
            Method::Ks | Method::WassersteinNormed => kind == ColumnKind::Numeric,
            Method::ChiSquare | Method::Z => kind == ColumnKind::Categorical,
            Method::JensenShannon | Method::Psi | Method::KlDiv | Method::Hellinger => true,
        }
    }

    /// Evidently's default threshold: a significance level for the tests, a distance otherwise.
    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Ks | Method::ChiSquare | Method::Z => 0.05,
            _ => 0.1,
        }
    }

    /// Whether the method is a hypothesis test, judged by its p-value.
    pub fn is_test(self) -> bool {
        matches!(self, Method::Ks | Method::ChiSquare | Method::Z)
    }

    /// Whether a result counts as drift at `threshold`, with Evidently's comparison.
    ///
    /// `value` is the p-value for a test and the score for a distance. NaN is never drift.
    pub fn is_drifted(self, value: f64, threshold: f64) -> bool {
        match self {
            Method::Ks => value <= threshold,
            Method::ChiSquare | Method::Z => value < threshold,
            _ => value >= threshold,
        }
    }
}

/// Evidently's default method for a column (see the module documentation for the table).
pub fn default_method(kind: ColumnKind, reference_count: usize, distinct: usize) -> Method {
    let small = reference_count <= SMALL_REFERENCE_MAX;
    let as_categories = kind == ColumnKind::Categorical || distinct <= FEW_DISTINCT_MAX;
    match (small, as_categories) {
        (true, false) => Method::Ks,
        (true, true) if distinct <= BINARY_DISTINCT_MAX => Method::Z,
        (true, true) => Method::ChiSquare,
        (false, false) => Method::WassersteinNormed,
        (false, true) => Method::JensenShannon,
    }
}

/// Whether a dataset with `drifted` of `columns` drifted columns counts as drifted.
///
/// With no columns there is nothing that drifted: false.
pub fn dataset_drifted(drifted: usize, columns: usize) -> bool {
    columns > 0 && drifted as f64 / columns as f64 >= DATASET_DRIFT_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnKind::{Categorical, Numeric};

    #[test]
    fn the_table_in_the_module_docs() {
        let cases = [
            (Numeric, 1000, 6, Method::Ks),
            (Numeric, 1000, 5, Method::ChiSquare),
            (Numeric, 1000, 3, Method::ChiSquare),
            (Numeric, 1000, 2, Method::Z),
            (Numeric, 1, 1, Method::Z),
            (Categorical, 1000, 100, Method::ChiSquare),
            (Categorical, 10, 3, Method::ChiSquare),
            (Categorical, 10, 2, Method::Z),
            (Numeric, 1001, 6, Method::WassersteinNormed),
            (Numeric, 1001, 5, Method::JensenShannon),
            (Categorical, 1001, 2, Method::JensenShannon),
            (Categorical, 50_000, 300, Method::JensenShannon),
        ];
        for (kind, n, distinct, expected) in cases {
            assert_eq!(default_method(kind, n, distinct), expected, "{kind:?} n={n} distinct={distinct}");
        }
    }

    #[test]
    fn comparison_directions_at_the_threshold() {
        assert!(Method::Ks.is_drifted(0.05, 0.05));
        assert!(!Method::ChiSquare.is_drifted(0.05, 0.05));
        assert!(!Method::Z.is_drifted(0.05, 0.05));
        assert!(Method::WassersteinNormed.is_drifted(0.1, 0.1));
        assert!(Method::JensenShannon.is_drifted(0.1, 0.1));
        assert!(!Method::JensenShannon.is_drifted(0.099, 0.1));
        for m in ALL_METHODS {
            assert!(!m.is_drifted(f64::NAN, m.default_threshold()), "{m:?}");
        }
    }

    #[test]
    fn half_the_columns_drifted_is_dataset_drift() {
        assert!(dataset_drifted(1, 2));
        assert!(!dataset_drifted(1, 3));
        assert!(!dataset_drifted(0, 0));
    }
}
