//! Invariants every input must satisfy, whatever the reference says.

use proptest::prelude::*;
use sightline_stats::drift;

/// Raw samples with deliberate ties (values from a coarse grid) and small sizes.
fn sample() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-50_i32..50).prop_map(|v| f64::from(v) / 4.0), 1..40)
}

/// Two aligned count vectors, each with at least one non-zero entry.
fn count_pair() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (1_usize..12).prop_flat_map(|k| {
        let counts = prop::collection::vec(0_u32..1000, k)
            .prop_filter("needs a non-empty bin", |v| v.iter().any(|c| *c > 0))
            .prop_map(|v| v.into_iter().map(f64::from).collect::<Vec<_>>());
        (counts.clone(), counts)
    })
}

const SQRT_LN_2_TOLERANCE: f64 = 1e-12;

proptest! {
    #[test]
    fn ks_statistic_is_in_unit_interval_and_symmetric(a in sample(), b in sample()) {
        let ab = drift::ks_2samp(&a, &b).expect("valid input");
        let ba = drift::ks_2samp(&b, &a).expect("valid input");
        prop_assert!((0.0..=1.0).contains(&ab.score));
        prop_assert_eq!(ab.score, ba.score);
        let p = ab.p_value.expect("ks has a p-value");
        prop_assert!((0.0..=1.0).contains(&p));
        prop_assert_eq!(Some(p), ba.p_value);
    }

    #[test]
    fn wasserstein_is_non_negative_symmetric_and_zero_on_itself(a in sample(), b in sample()) {
        let ab = drift::wasserstein(&a, &b).expect("valid input").score;
        let ba = drift::wasserstein(&b, &a).expect("valid input").score;
        prop_assert!(ab >= 0.0);
        prop_assert!((ab - ba).abs() <= 1e-12 * ab.max(1.0));
        prop_assert_eq!(drift::wasserstein(&a, &a).expect("valid input").score, 0.0);
        let mut shuffled = a.clone();
        shuffled.reverse();
        prop_assert_eq!(drift::wasserstein_normed(&a, &shuffled).expect("valid input").score, 0.0);
    }

    #[test]
    fn jensen_shannon_is_symmetric_and_bounded((r, c) in count_pair()) {
        let rc = drift::jensen_shannon(&r, &c).expect("valid input").score;
        let cr = drift::jensen_shannon(&c, &r).expect("valid input").score;
        prop_assert!(rc >= 0.0);
        prop_assert!(rc <= std::f64::consts::LN_2.sqrt() + SQRT_LN_2_TOLERANCE);
        prop_assert!((rc - cr).abs() <= 1e-12);
    }

    #[test]
    fn hellinger_is_in_unit_interval((r, c) in count_pair()) {
        let h = drift::hellinger(&r, &c).expect("valid input").score;
        prop_assert!((0.0..=1.0).contains(&h));
    }

    #[test]
    fn psi_and_kl_are_non_negative((r, c) in count_pair()) {
        prop_assert!(drift::psi(&r, &c).expect("valid input").score >= 0.0);
        // Rounding may leave KL a hair below zero for identical distributions.
        prop_assert!(drift::kl_divergence(&r, &c).expect("valid input").score >= -1e-12);
    }

    #[test]
    fn chi_square_p_value_is_a_probability((r, c) in count_pair()) {
        let result = drift::chi_square(&r, &c).expect("valid input");
        prop_assert!(result.score >= 0.0);
        let p = result.p_value.expect("chi-square has a p-value");
        prop_assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn binned_counts_cover_every_value(a in sample(), b in sample()) {
        let h = drift::sturges_histogram(&a, &b).expect("valid input");
        prop_assert_eq!(h.reference.iter().sum::<f64>(), a.len() as f64);
        prop_assert_eq!(h.current.iter().sum::<f64>(), b.len() as f64);
        prop_assert!(h.edges.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantile_bins_hold_the_reference_inside_and_count_everything(
        a in sample(),
        b in sample(),
        bins in 1_usize..20,
    ) {
        let bins = std::num::NonZeroUsize::new(bins).expect("strategy starts at 1");
        let q = drift::quantile_bins(&a, &b, bins).expect("valid input");
        prop_assert_eq!(q.reference.len(), q.edges.len() + 1);
        prop_assert_eq!(q.reference.first().copied(), Some(0.0));
        prop_assert_eq!(q.reference.last().copied(), Some(0.0));
        prop_assert_eq!(q.reference.iter().sum::<f64>(), a.len() as f64);
        prop_assert_eq!(q.current.iter().sum::<f64>(), b.len() as f64);
        prop_assert!(q.edges.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn empty_and_non_finite_input_is_an_error_not_a_panic() {
    use drift::{DriftError, Side};
    assert_eq!(drift::ks_2samp(&[], &[1.0]), Err(DriftError::Empty { which: Side::Reference }));
    assert_eq!(drift::wasserstein(&[1.0], &[]), Err(DriftError::Empty { which: Side::Current }));
    assert_eq!(
        drift::ks_2samp(&[1.0, f64::NAN], &[1.0]),
        Err(DriftError::NonFinite { which: Side::Reference, index: 1 })
    );
    assert_eq!(drift::psi(&[0.0, 0.0], &[1.0, 2.0]), Err(DriftError::Empty { which: Side::Reference }));
    assert_eq!(
        drift::jensen_shannon(&[1.0], &[1.0, 2.0]),
        Err(DriftError::LengthMismatch { reference: 1, current: 2 })
    );
    assert_eq!(
        drift::hellinger(&[1.0, -1.0], &[1.0, 2.0]),
        Err(DriftError::InvalidCount { which: Side::Reference, index: 1 })
    );
    assert!(matches!(drift::z_test(5, 4, 1, 1), Err(DriftError::SuccessesExceedTotal { .. })));
    assert!(matches!(drift::z_test(1, 1, 0, 0), Err(DriftError::Empty { which: Side::Current })));
}
