//! Every drift method against the numbers scipy (and Evidently's formulas) give on the
//! committed fixtures from `tests/reference/drift.py`.

use serde::Deserialize;
use sightline_stats::drift::{self, DriftResult};

const FIXTURES: &str = include_str!("../fixtures/drift.json");

/// A fixture number: JSON has no infinities or NaN, so the generator writes them as strings.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum Num {
    Finite(f64),
    Special(Special),
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum Special {
    #[serde(rename = "inf")]
    Inf,
    #[serde(rename = "-inf")]
    NegInf,
    #[serde(rename = "nan")]
    Nan,
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::Finite(v) => v,
            Num::Special(Special::Inf) => f64::INFINITY,
            Num::Special(Special::NegInf) => f64::NEG_INFINITY,
            Num::Special(Special::Nan) => f64::NAN,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Fixtures {
    numeric: Vec<NumericCase>,
    counts: Vec<CountsCase>,
    categorical: Vec<CategoryCase>,
    z: Vec<ZCase>,
    kstwo: Vec<KsTwoCase>,
}

#[derive(Debug, Deserialize)]
struct KsTwoCase {
    n: u64,
    x: f64,
    sf: Num,
}

#[derive(Debug, Deserialize)]
struct Test {
    statistic: Num,
    p_value: Num,
}

#[derive(Debug, Deserialize)]
struct NumericCase {
    name: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    ks: Test,
    wasserstein: Num,
    wasserstein_normed: Num,
    sturges: Histogram,
    quantile10: Histogram,
}

#[derive(Debug, Deserialize)]
struct Histogram {
    edges: Vec<Num>,
    reference: Vec<f64>,
    current: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct CountsCase {
    name: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    jensenshannon: Num,
    kl_div: Num,
    hellinger: Num,
    psi: Num,
    chisquare: Test,
}

#[derive(Debug, Deserialize)]
struct CategoryCase {
    name: String,
    reference: Vec<String>,
    current: Vec<String>,
    categories: Vec<String>,
    reference_counts: Vec<f64>,
    current_counts: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct ZCase {
    name: String,
    reference_successes: u64,
    reference_total: u64,
    current_successes: u64,
    current_total: u64,
    z: Num,
    p_value: Num,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(FIXTURES).expect("fixtures parse")
}

/// Agreement to 1e-9 relative, or 1e-12 absolute near zero; infinities must match exactly.
fn close(actual: f64, expected: f64) -> bool {
    if expected.is_infinite() || actual.is_infinite() {
        return actual == expected;
    }
    let diff = (actual - expected).abs();
    diff <= 1e-12 || diff <= 1e-9 * expected.abs()
}

/// The one assertion every fixture goes through, so failures read the same everywhere.
#[track_caller]
fn check(case: &str, what: &str, actual: f64, expected: Num) {
    let expected = expected.value();
    assert!(close(actual, expected), "{case}: {what} = {actual:e}, reference {expected:e}");
}

fn check_test(case: &str, what: &str, actual: DriftResult, expected: &Test) {
    check(case, &format!("{what} statistic"), actual.score, expected.statistic);
    let p = actual.p_value.unwrap_or(f64::NAN);
    check(case, &format!("{what} p-value"), p, expected.p_value);
}

#[test]
fn kolmogorov_smirnov_matches_scipy() {
    for case in fixtures().numeric {
        let actual = drift::ks_2samp(&case.reference, &case.current).expect("valid");
        check_test(&case.name, "ks", actual, &case.ks);
        let swapped = drift::ks_2samp(&case.current, &case.reference).expect("valid");
        check_test(&case.name, "ks swapped", swapped, &case.ks);
    }
}

#[test]
fn kolmogorov_distribution_matches_scipy_kstwo() {
    for case in fixtures().kstwo {
        let name = format!("kstwo n={} x={}", case.n, case.x);
        check(&name, "sf", drift::kolmogorov_sf(case.n, case.x), case.sf);
    }
}

#[test]
fn wasserstein_matches_scipy_and_evidently() {
    for case in fixtures().numeric {
        let w = drift::wasserstein(&case.reference, &case.current).expect("valid");
        check(&case.name, "wasserstein", w.score, case.wasserstein);
        let normed = drift::wasserstein_normed(&case.reference, &case.current).expect("valid");
        check(&case.name, "wasserstein_normed", normed.score, case.wasserstein_normed);
    }
}

#[test]
fn sturges_bins_match_numpy() {
    for case in fixtures().numeric {
        let h = drift::sturges_histogram(&case.reference, &case.current).expect("valid");
        assert_eq!(h.edges.len(), case.sturges.edges.len(), "{}: bin count", case.name);
        for (i, (&a, &e)) in h.edges.iter().zip(&case.sturges.edges).enumerate() {
            check(&case.name, &format!("edge {i}"), a, e);
        }
        assert_eq!(h.reference, case.sturges.reference, "{}: reference counts", case.name);
        assert_eq!(h.current, case.sturges.current, "{}: current counts", case.name);
    }
}

#[test]
fn quantile_bins_match_numpy() {
    let bins = std::num::NonZeroUsize::new(10).expect("non-zero");
    for case in fixtures().numeric {
        let q = drift::quantile_bins(&case.reference, &case.current, bins).expect("valid");
        assert_eq!(q.edges.len(), case.quantile10.edges.len(), "{}: edge count", case.name);
        for (i, (&a, &e)) in q.edges.iter().zip(&case.quantile10.edges).enumerate() {
            check(&case.name, &format!("quantile edge {i}"), a, e);
        }
        assert_eq!(q.reference, case.quantile10.reference, "{}: reference counts", case.name);
        assert_eq!(q.current, case.quantile10.current, "{}: current counts", case.name);
    }
}

#[test]
fn count_methods_match_scipy_and_evidently() {
    for case in fixtures().counts {
        let (r, c, name) = (&case.reference, &case.current, case.name.as_str());
        check(name, "jensenshannon", drift::jensen_shannon(r, c).expect("valid").score, case.jensenshannon);
        check(name, "kl_div", drift::kl_divergence(r, c).expect("valid").score, case.kl_div);
        check(name, "hellinger", drift::hellinger(r, c).expect("valid").score, case.hellinger);
        check(name, "psi", drift::psi(r, c).expect("valid").score, case.psi);
        let chi = drift::chi_square(r, c).expect("valid");
        if case.chisquare.p_value.value().is_nan() {
            // scipy has no p-value for a single category; ours is documented as 1 (no drift).
            assert_eq!(chi, DriftResult { score: 0.0, p_value: Some(1.0) }, "{name}: one-category chisquare");
        } else {
            check_test(name, "chisquare", chi, &case.chisquare);
        }
    }
}

#[test]
fn category_counts_include_unseen_categories() {
    for case in fixtures().categorical {
        let counts = drift::category_counts(&case.reference, &case.current);
        assert_eq!(counts.categories, case.categories, "{}: categories", case.name);
        assert_eq!(counts.reference, case.reference_counts, "{}: reference counts", case.name);
        assert_eq!(counts.current, case.current_counts, "{}: current counts", case.name);
    }
}

#[test]
fn z_test_matches_evidently() {
    for case in fixtures().z {
        let result =
            drift::z_test(case.reference_successes, case.reference_total, case.current_successes, case.current_total)
                .expect("valid");
        check(&case.name, "z", result.score, case.z);
        check(&case.name, "z p-value", result.p_value.unwrap_or(f64::NAN), case.p_value);
    }
}
