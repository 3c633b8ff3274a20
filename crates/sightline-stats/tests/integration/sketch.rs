//! Sketch mode against exact mode on 100,000 seeded values per side: the errors the
//! `sketch_drift` module documents, measured on profiles merged from partial profiles.
//! KS within 0.01, normed Wasserstein within the derived bound, PSI / Jensen–Shannon /
//! KL / Hellinger on reference bins equal to exact mode.

use std::num::NonZeroUsize;

use sightline_stats::column_drift::{self, ColumnData, Options};
use sightline_stats::default_method::Method;
use sightline_stats::drift;
use sightline_stats::profile::{CategoricalProfile, NumericProfile};
use sightline_stats::sketch_drift;

const N: usize = 100_000;
/// The published KLL rank error for k = 200 at 99 % confidence.
const KLL_EPSILON: f64 = 0.0165;

/// SplitMix64: a few lines, seeded, enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// Reference and current samples of one shape.
fn pair(name: &str, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let mut draw = |f: &mut dyn FnMut(&mut Rng) -> f64| (0..N).map(|_| f(rng)).collect::<Vec<f64>>();
    match name {
        "normal_shift" => (draw(&mut |r| r.normal()), draw(&mut |r| r.normal() + 0.2)),
        "normal_same" => (draw(&mut |r| r.normal() * 3.0 + 1.0), draw(&mut |r| r.normal() * 3.0 + 1.0)),
        "lognormal_scale" => (draw(&mut |r| (r.normal() * 0.5).exp()), draw(&mut |r| (r.normal() * 0.6).exp())),
        "uniform_vs_normal" => (draw(&mut |r| r.uniform() * 4.0 - 2.0), draw(&mut |r| r.normal())),
        "rounded_ties" => {
            (draw(&mut |r| (r.normal() * 10.0).round()), draw(&mut |r| (r.normal() * 10.0 + 1.0).round()))
        }
        "mixture" => (
            draw(&mut |r| if r.uniform() < 0.3 { r.normal() - 3.0 } else { r.normal() + 2.0 }),
            draw(&mut |r| if r.uniform() < 0.5 { r.normal() - 3.0 } else { r.normal() + 2.0 }),
        ),
        _ => unreachable!("known shapes only"),
    }
}

const SHAPES: [&str; 6] =
    ["normal_shift", "normal_same", "lognormal_scale", "uniform_vs_normal", "rounded_ties", "mixture"];

/// A profile built as a server builds one: ten partial profiles (buckets) merged.
fn merged_profile(values: &[f64], seed: u64, edges: Option<&[f64]>) -> NumericProfile {
    let mut total: Option<NumericProfile> = None;
    for (i, chunk) in values.chunks(values.len().div_ceil(10)).enumerate() {
        let mut p = NumericProfile::new(200, seed ^ i as u64).expect("valid k");
        if let Some(e) = edges {
            p = p.with_bins(e.to_vec()).expect("valid edges");
        }
        for v in chunk {
            p.update(Some(*v));
        }
        match &mut total {
            Some(t) => t.merge(&p).expect("same configuration"),
            None => total = Some(p),
        }
    }
    total.expect("at least one chunk")
}

fn exact(method: Method, r: &[f64], c: &[f64]) -> f64 {
    let data = ColumnData::Numeric { reference: r, current: c };
    column_drift::run(method, data).expect("valid samples").score
}

#[test]
fn sketch_mode_is_within_its_documented_error_of_exact_mode() {
    let mut rng = Rng(20261127);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for shape in SHAPES {
        let (r, c) = pair(shape, &mut rng);
        let bins = drift::quantile_bins(&r, &c, NonZeroUsize::new(10).expect("non-zero")).expect("valid samples");
        let pr = merged_profile(&r, 1, Some(&bins.edges));
        let pc = merged_profile(&c, 2, Some(&bins.edges));

        let ks_exact = exact(Method::Ks, &r, &c);
        let ks_sketch = sketch_drift::ks(&pr, &pc).expect("profiles have values").score;
        let ks_err = (ks_sketch - ks_exact).abs();
        if ks_err > 0.01 {
            failures.push(format!("{shape}: KS {ks_sketch} vs exact {ks_exact}"));
        }

        let w_exact = exact(Method::WassersteinNormed, &r, &c);
        let w_sketch = sketch_drift::wasserstein_normed(&pr, &pc).expect("profiles have values").score;
        let w_err = (w_sketch - w_exact).abs();
        let bound = sketch_drift::wasserstein_normed_bound(&pr, &pc, KLL_EPSILON, KLL_EPSILON).expect("non-empty");
        if w_err > bound {
            failures.push(format!("{shape}: Wasserstein {w_sketch} vs exact {w_exact}, bound {bound}"));
        }

        let psi_exact = exact(Method::Psi, &r, &c);
        let psi_sketch = sketch_drift::binned(Method::Psi, &pr, &pc).expect("profiles have values").score;
        // Sturges bins from sketches are an estimate (see `sketch_drift`): these limits are
        // the measured errors with some room, to notice a change, not a bound.
        let psi_err = (psi_sketch - psi_exact).abs();
        if psi_err > 0.012 {
            failures.push(format!("{shape}: PSI {psi_sketch} vs exact {psi_exact}"));
        }

        let js_exact = exact(Method::JensenShannon, &r, &c);
        let js_sketch = sketch_drift::binned(Method::JensenShannon, &pr, &pc).expect("profiles have values").score;
        let js_err = (js_sketch - js_exact).abs();
        if js_err > 0.02 {
            failures.push(format!("{shape}: JS {js_sketch} vs exact {js_exact}"));
        }

        // On the reference's own bins the profile counts are exact, and so is every method:
        // PSI and Jensen–Shannon are exact mode's to rounding (the "within 5 %" holds
        // with room to spare).
        let (br, bc) = (pr.bins().expect("attached"), pc.bins().expect("attached"));
        for method in [Method::Psi, Method::JensenShannon, Method::KlDiv, Method::Hellinger] {
            let online = sketch_drift::on_reference_bins(method, br, bc).expect("same bins").score;
            let tally =
                column_drift::Tally { reference: bins.reference.clone(), current: bins.current.clone(), smallest: 0 };
            let offline = column_drift::run(method, ColumnData::Categorical(&tally)).expect("valid counts").score;
            if (online - offline).abs() > 1e-12 * offline.abs().max(1.0) {
                failures.push(format!("{shape}: {} on reference bins {online} vs {offline}", method.name()));
            }
        }
        report.push(format!(
            "{shape:18} KS err {ks_err:.5}  W err {w_err:.5} (bound {bound:.3})  PSI err {psi_err:.4}  JS err {js_err:.5}"
        ));
    }
    // Printed so `cargo test -- --nocapture` shows the measured errors the docs quote.
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn categorical_profiles_give_exact_mode_while_their_counts_are_exact() {
    let mut rng = Rng(7);
    let levels = ["a", "b", "c", "d", "e", "f"];
    let draw = |rng: &mut Rng, skew: f64| -> Vec<&str> {
        (0..20_000)
            .map(|_| levels[((rng.uniform().powf(skew)) * levels.len() as f64) as usize % levels.len()])
            .collect()
    };
    let (r, c) = (draw(&mut rng, 1.0), draw(&mut rng, 1.3));
    let profile = |values: &[&str]| {
        let mut p = CategoricalProfile::new(1000, 12).expect("valid configuration");
        for v in values {
            p.update(Some(v));
        }
        p
    };
    // Exact mode's counts, straight from the raw values.
    let entries: Vec<(&str, f64, f64)> = levels
        .iter()
        .map(|l| (*l, r.iter().filter(|v| *v == l).count() as f64, c.iter().filter(|v| *v == l).count() as f64))
        .filter(|e| e.1 + e.2 > 0.0)
        .collect();
    let tally = column_drift::Tally::new(&entries, |a, b| a.cmp(b));
    for method in [None, Some(Method::ChiSquare), Some(Method::Psi), Some(Method::Hellinger), Some(Method::Z)] {
        let options = Options { method, threshold: None };
        let sketch = sketch_drift::categorical_column(&profile(&r), &profile(&c), options).expect("values");
        let exact = column_drift::column_drift(ColumnData::Categorical(&tally), options).expect("values");
        assert_eq!((sketch.method, sketch.drifted), (exact.method, exact.drifted), "{method:?}");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300);
        assert!(close(sketch.score, exact.score), "{method:?}: {} vs {}", sketch.score, exact.score);
    }
}

mod properties {
    //! Sketch-mode invariants on generated data: small profiles are exact mode, every
    //! estimate lies in its method's range, and reference bins count what exact mode counts.

    use std::num::NonZeroUsize;

    use proptest::prelude::*;
    use sightline_stats::column_drift::{self, ColumnData, Tally};
    use sightline_stats::default_method::Method;
    use sightline_stats::drift;
    use sightline_stats::profile::NumericProfile;
    use sightline_stats::sketch_drift;

    /// Samples with ties (a coarse grid), up to a few thousand values so some sketches compact.
    fn sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec((-400_i32..400).prop_map(|v| f64::from(v) / 8.0), 1..max)
    }

    fn profile(values: &[f64], seed: u64, edges: Option<&[f64]>) -> NumericProfile {
        let mut p = NumericProfile::new(200, seed).expect("valid k");
        if let Some(e) = edges {
            p = p.with_bins(e.to_vec()).expect("valid edges");
        }
        for v in values {
            p.update(Some(*v));
        }
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn profiles_that_kept_every_value_are_exact_mode(a in sample(150), b in sample(150), seed in any::<u64>()) {
            let (pa, pb) = (profile(&a, seed, None), profile(&b, seed ^ 1, None));
            prop_assert_eq!(sketch_drift::ks(&pa, &pb).expect("values"), drift::ks_2samp(&a, &b).expect("values"));
            let w = sketch_drift::wasserstein_normed(&pa, &pb).expect("values").score;
            let exact = drift::wasserstein_normed(&a, &b).expect("values").score;
            prop_assert!((w - exact).abs() <= 1e-12 * exact.abs().max(1.0), "{} vs {}", w, exact);
        }

        #[test]
        fn estimates_stay_in_their_ranges(a in sample(3000), b in sample(3000), seed in any::<u64>()) {
            let (pa, pb) = (profile(&a, seed, None), profile(&b, seed ^ 1, None));
            let ks = sketch_drift::ks(&pa, &pb).expect("values");
            prop_assert!((0.0..=1.0).contains(&ks.score));
            prop_assert!(ks.p_value.is_some_and(|p| (0.0..=1.0).contains(&p)));
            prop_assert!(sketch_drift::wasserstein_normed(&pa, &pb).expect("values").score >= 0.0);
            let js = sketch_drift::binned(Method::JensenShannon, &pa, &pb).expect("values").score;
            prop_assert!((0.0..=std::f64::consts::LN_2.sqrt() + 1e-12).contains(&js));
            prop_assert!(sketch_drift::binned(Method::Psi, &pa, &pb).expect("values").score >= 0.0);
            let (r, c) = sketch_drift::binned_shares(&pa, &pb).expect("values");
            for shares in [r, c] {
                prop_assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }

        #[test]
        fn reference_bins_give_exact_mode_on_those_bins(a in sample(3000), b in sample(3000), k in 2_usize..12) {
            let bins = drift::quantile_bins(&a, &b, NonZeroUsize::new(k).expect("non-zero")).expect("values");
            let (pa, pb) = (profile(&a, 3, Some(&bins.edges)), profile(&b, 4, Some(&bins.edges)));
            let (ba, bb) = (pa.bins().expect("attached"), pb.bins().expect("attached"));
            let tally = Tally { reference: bins.reference.clone(), current: bins.current.clone(), smallest: 0 };
            for method in [Method::Psi, Method::JensenShannon, Method::KlDiv, Method::Hellinger] {
                let online = sketch_drift::on_reference_bins(method, ba, bb).expect("same bins").score;
                let offline = column_drift::run(method, ColumnData::Categorical(&tally)).expect("counts").score;
                // The same counts; shares are divided once more on the way, so equal to rounding.
                prop_assert!((online - offline).abs() <= 1e-12 * offline.abs().max(1e-3), "{}: {} vs {}", method.name(), online, offline);
            }
        }
    }
}
