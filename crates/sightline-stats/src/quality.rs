//! Data quality of one column over a window, from its profile and, when there is one,
//! the reference's: how much is missing or non-finite, how much falls outside the range
//! the model was trained on, which categories it never saw, whether the column is
//! constant.
//!
//! Counts read from exact parts of a profile (counts by kind, min, max, exact category
//! counts) are exact. Out-of-range counts come from the current window's quantile
//! sketch: exact while it holds every value, otherwise within its rank error times the
//! count (see [`crate::sketch_drift`]); they are exactly zero whenever the window's exact
//! minimum and maximum lie inside the reference's. Unseen categories are exact while
//! both category summaries are; otherwise `exact` is false and the count is an upper
//! bound (a value the reference summary dropped may still have been seen).

use crate::profile::{CategoricalProfile, NumericProfile};

/// How many top categories and unseen values a result lists.
pub const LISTED_VALUES: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct NumericQuality {
    /// Every observation: finite, missing and non-finite.
    pub rows: u64,
    pub missing: u64,
    pub nan: u64,
    pub infinite: u64,
    /// (missing + NaN + ±inf) / rows; `None` for an empty window.
    pub missing_share: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Sample standard deviation (ddof = 1, as pandas).
    pub std: Option<f64>,
    /// 5th, 50th and 95th percentiles from the sketch.
    pub quantiles: Option<[f64; 3]>,
    /// Finite values below the reference minimum or above its maximum.
    pub out_of_range: Option<u64>,
    pub out_of_range_share: Option<f64>,
    /// Holds at least one finite value and all are equal.
    pub constant: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalQuality {
    pub rows: u64,
    pub missing: u64,
    pub missing_share: Option<f64>,
    /// Distinct values: exact while the counts are, else a HyperLogLog estimate.
    pub distinct: f64,
    /// The most frequent values, most frequent first (ties by value).
    pub top: Vec<(String, u64)>,
    /// Rows whose value the reference never had; `None` without a reference.
    pub unseen: Option<u64>,
    pub unseen_share: Option<f64>,
    /// Some of those values, most frequent first.
    pub unseen_values: Vec<String>,
    /// Whether `unseen` is exact (both summaries exact) or an upper bound.
    pub unseen_exact: bool,
    pub constant: bool,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub fn numeric(current: &NumericProfile, reference: Option<&NumericProfile>) -> NumericQuality {
    let rows = current.total();
    let infinite = current.pos_inf().saturating_add(current.neg_inf());
    let absent = current.missing().saturating_add(current.nan()).saturating_add(infinite);
    let quantiles = match (current.quantile(0.05), current.quantile(0.5), current.quantile(0.95)) {
        (Some(a), Some(b), Some(c)) => Some([a, b, c]),
        _ => None,
    };
    let out_of_range =
        reference.and_then(|r| Some((r.min()?, r.max()?))).map(|(lo, hi)| match (current.min(), current.max()) {
            (Some(min), Some(max)) if min >= lo && max <= hi => 0,
            (None, _) | (_, None) => 0,
            _ => current.sketch().sorted_view().iter().filter(|(v, _)| *v < lo || *v > hi).map(|(_, w)| *w).sum(),
        });
    NumericQuality {
        rows,
        missing: current.missing(),
        nan: current.nan(),
        infinite,
        missing_share: share(absent, rows),
        min: current.min(),
        max: current.max(),
        mean: current.mean(),
        std: current.sample_variance().map(f64::sqrt),
        quantiles,
        out_of_range,
        out_of_range_share: out_of_range.and_then(|n| share(n, current.count())),
        constant: current.count() > 0 && current.min() == current.max(),
    }
}

pub fn categorical(current: &CategoricalProfile, reference: Option<&CategoricalProfile>) -> CategoricalQuality {
    let rows = current.count().saturating_add(current.missing());
    let mut items = current.items().items();
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top = items.iter().take(LISTED_VALUES).map(|(v, n)| ((*v).to_owned(), *n)).collect();
    let (mut unseen, mut unseen_values, mut unseen_exact) = (None, Vec::new(), false);
    if let Some(r) = reference {
        let never: Vec<&(&str, u64)> = items.iter().filter(|(v, _)| r.items().count(v) == 0).collect();
        unseen_values = never.iter().take(LISTED_VALUES).map(|(v, _)| (*v).to_owned()).collect();
        // Past its capacity the current summary undercounts listed values and drops
        // others: add its error bound per listed value and the rows it does not list.
        let listed: u64 = items.iter().map(|(_, n)| *n).sum();
        let dropped = current.count().saturating_sub(listed);
        let slack = if current.items().is_exact() { 0 } else { dropped };
        unseen = Some(never.iter().map(|(_, n)| *n).sum::<u64>().saturating_add(slack));
        unseen_exact = r.items().is_exact() && current.items().is_exact();
    }
    CategoricalQuality {
        rows,
        missing: current.missing(),
        missing_share: share(current.missing(), rows),
        distinct: current.distinct(),
        top,
        unseen_share: unseen.and_then(|n| share(n, current.count())),
        unseen,
        unseen_values,
        unseen_exact,
        constant: current.count() > 0 && current.items().is_exact() && current.items().len() == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(values: &[Option<f64>]) -> NumericProfile {
        let mut p = NumericProfile::new(200, 1).expect("valid k");
        for v in values {
            p.update(*v);
        }
        p
    }

    fn categories(values: &[Option<&str>]) -> CategoricalProfile {
        let mut p = CategoricalProfile::new(1_000, 12).expect("valid parameters");
        for v in values {
            p.update(*v);
        }
        p
    }

    #[test]
    fn numeric_counts_and_range() {
        let reference = numbers(&[Some(0.0), Some(10.0), Some(5.0)]);
        let current =
            numbers(&[Some(-1.0), Some(3.0), Some(11.0), Some(12.0), None, Some(f64::NAN), Some(f64::INFINITY)]);
        let q = numeric(&current, Some(&reference));
        assert_eq!((q.rows, q.missing, q.nan, q.infinite), (7, 1, 1, 1));
        assert_eq!(q.missing_share, Some(3.0 / 7.0));
        assert_eq!(q.out_of_range, Some(3));
        assert_eq!(q.out_of_range_share, Some(0.75));
        assert_eq!((q.min, q.max), (Some(-1.0), Some(12.0)));
        assert!(!q.constant);
        let inside = numeric(&numbers(&[Some(2.0), Some(2.0)]), Some(&reference));
        assert_eq!(inside.out_of_range, Some(0));
        assert!(inside.constant);
        assert_eq!(numeric(&numbers(&[]), None).missing_share, None);
    }

    #[test]
    fn categorical_unseen_values() {
        let reference = categories(&[Some("a"), Some("b")]);
        let current = categories(&[Some("a"), Some("c"), Some("c"), Some("d"), None]);
        let q = categorical(&current, Some(&reference));
        assert_eq!((q.rows, q.missing), (5, 1));
        assert_eq!(q.unseen, Some(3));
        assert_eq!(q.unseen_values, vec!["c".to_owned(), "d".to_owned()]);
        assert!(q.unseen_exact);
        assert_eq!(q.top[0], ("c".to_owned(), 2));
        assert_eq!(q.distinct, 3.0);
        assert!(categorical(&categories(&[Some("x"), Some("x")]), None).constant);
        assert_eq!(categorical(&current, None).unseen, None);
    }
}
