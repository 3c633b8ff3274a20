//! Profiles: merge laws, encoding round trips, garbage decoding, and measured sketch errors.

use std::num::NonZeroUsize;

use proptest::prelude::*;
use sightline_stats::drift;
use sightline_stats::profile::{
    CategoricalProfile, ColumnProfile, DEFAULT_K, DEFAULT_PRECISION, KllSketch, NumericProfile, Profile, ProfileError,
};

const EDGES: [f64; 5] = [-10.0, -2.5, 0.0, 2.5, 10.0];

/// Observations with deliberate ties, missing values and non-finite values.
fn observations(max: usize) -> impl Strategy<Value = Vec<Option<f64>>> {
    let value = prop_oneof![
        8 => (-60_i32..60).prop_map(|v| Some(f64::from(v) / 4.0)),
        2 => (-1e6_f64..1e6).prop_map(Some),
        1 => Just(None),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(f64::INFINITY)),
        1 => Just(Some(f64::NEG_INFINITY)),
        1 => Just(Some(-0.0)),
    ];
    prop::collection::vec(value, 0..max)
}

/// Category values from a small alphabet, so capacities are crossed (or not) on purpose.
fn categories(alphabet: u32, max: usize) -> impl Strategy<Value = Vec<Option<String>>> {
    let value = prop_oneof![8 => (0..alphabet).prop_map(|v| Some(format!("c{v}"))), 1 => Just(None)];
    prop::collection::vec(value, 0..max)
}

fn numeric(k: u16, seed: u64, values: &[Option<f64>]) -> NumericProfile {
    let mut p = NumericProfile::new(k, seed).expect("valid k").with_bins(EDGES.to_vec()).expect("valid edges");
    for v in values {
        p.update(*v);
    }
    p
}

fn categorical(capacity: usize, values: &[Option<String>]) -> CategoricalProfile {
    let mut p = CategoricalProfile::new(capacity, 8).expect("valid parameters");
    for v in values {
        p.update(v.as_deref());
    }
    p
}

fn merged<T: Clone>(a: &T, b: &T, merge: impl Fn(&mut T, &T) -> Result<(), ProfileError>) -> T {
    let mut out = a.clone();
    merge(&mut out, b).expect("compatible profiles");
    out
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

/// Fields that must be exact whatever the grouping: counts, extremes, bins, sketch weight.
fn exact_numeric_fields(p: &NumericProfile) -> impl PartialEq + std::fmt::Debug {
    (
        [p.count(), p.missing(), p.nan(), p.pos_inf(), p.neg_inf(), p.sketch().n()],
        p.min().map(f64::to_bits),
        p.max().map(f64::to_bits),
        p.bins().map(|b| b.counts().to_vec()),
    )
}

proptest! {
    #[test]
    fn numeric_merge_is_commutative_bit_for_bit(a in observations(400), b in observations(400), seeds in any::<(u64, u64)>()) {
        // k = 8 makes the sketch compact even on short streams.
        let (pa, pb) = (numeric(8, seeds.0, &a), numeric(8, seeds.1, &b));
        prop_assert_eq!(merged(&pa, &pb, NumericProfile::merge), merged(&pb, &pa, NumericProfile::merge));
    }

    #[test]
    fn numeric_merge_is_associative(a in observations(60), b in observations(60), c in observations(60)) {
        let (pa, pb, pc) = (numeric(DEFAULT_K, 1, &a), numeric(DEFAULT_K, 2, &b), numeric(DEFAULT_K, 3, &c));
        let left = merged(&merged(&pa, &pb, NumericProfile::merge), &pc, NumericProfile::merge);
        let right = merged(&pa, &merged(&pb, &pc, NumericProfile::merge), NumericProfile::merge);
        prop_assert_eq!(exact_numeric_fields(&left), exact_numeric_fields(&right));
        prop_assert!(close(left.mean(), right.mean()));
        prop_assert!(close(left.variance(), right.variance()));
        // Under k values in total nothing is compacted, so the sketch is exact either way.
        prop_assert_eq!(left.sketch().sorted_view(), right.sketch().sorted_view());
    }

    #[test]
    fn merged_profile_agrees_with_the_profile_of_all_values(a in observations(300), b in observations(300)) {
        let all: Vec<Option<f64>> = a.iter().chain(&b).copied().collect();
        let whole = numeric(DEFAULT_K, 5, &all);
        let parts = merged(&numeric(DEFAULT_K, 5, &a), &numeric(DEFAULT_K, 6, &b), NumericProfile::merge);
        prop_assert_eq!(exact_numeric_fields(&whole), exact_numeric_fields(&parts));
        prop_assert!(close(whole.mean(), parts.mean()));
        prop_assert!(close(whole.variance(), parts.variance()));
        let finite: Vec<f64> = all.iter().flatten().copied().filter(|v| v.is_finite()).collect();
        if finite.len() > 1 {
            let n = finite.len() as f64;
            let mean = finite.iter().sum::<f64>() / n;
            let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            prop_assert!(close(parts.mean(), Some(mean)));
            prop_assert!((parts.variance().unwrap_or(f64::NAN) - var).abs() <= 1e-9 * var.max(1.0));
        }
    }

    #[test]
    fn categorical_merge_is_commutative_bit_for_bit(a in categories(40, 200), b in categories(40, 200), cap in 2_usize..30) {
        let (pa, pb) = (categorical(cap, &a), categorical(cap, &b));
        prop_assert_eq!(merged(&pa, &pb, CategoricalProfile::merge), merged(&pb, &pa, CategoricalProfile::merge));
    }

    #[test]
    fn categorical_merge_is_associative_and_exact_under_the_capacity(
        a in categories(20, 100), b in categories(20, 100), c in categories(20, 100),
    ) {
        // 20 values never exceed a capacity of 20, so counts stay exact.
        let (pa, pb, pc) = (categorical(20, &a), categorical(20, &b), categorical(20, &c));
        let left = merged(&merged(&pa, &pb, CategoricalProfile::merge), &pc, CategoricalProfile::merge);
        let right = merged(&pa, &merged(&pb, &pc, CategoricalProfile::merge), CategoricalProfile::merge);
        prop_assert_eq!(&left, &right);
        let all: Vec<Option<String>> = a.iter().chain(&b).chain(&c).cloned().collect();
        prop_assert_eq!(&left, &categorical(20, &all));
        prop_assert!(left.items().is_exact());
    }

    #[test]
    fn category_counts_stay_within_their_bound_in_any_grouping(
        a in categories(60, 300), b in categories(60, 300), c in categories(60, 300), cap in 2_usize..40,
    ) {
        let (pa, pb, pc) = (categorical(cap, &a), categorical(cap, &b), categorical(cap, &c));
        let left = merged(&merged(&pa, &pb, CategoricalProfile::merge), &pc, CategoricalProfile::merge);
        let right = merged(&pa, &merged(&pb, &pc, CategoricalProfile::merge), CategoricalProfile::merge);
        let all: Vec<Option<String>> = a.iter().chain(&b).chain(&c).cloned().collect();
        let streamed = categorical(cap, &all);
        for p in [&left, &right, &streamed] {
            prop_assert_eq!(p.count(), streamed.count());
            prop_assert_eq!(p.missing(), streamed.missing());
            // HyperLogLog registers are exact under any merge order.
            prop_assert_eq!(p.distinct_sketch(), streamed.distinct_sketch());
            let items = p.items();
            let kept: u64 = items.items().iter().map(|(_, c)| c).sum();
            let k = (cap / 2) as u64;
            prop_assert!(items.max_error() * (k + 1) <= p.count() - kept);
            for v in 0..60 {
                let value = format!("c{v}");
                let truth = all.iter().filter(|x| x.as_deref() == Some(value.as_str())).count() as u64;
                let reported = items.count(&value);
                prop_assert!(reported <= truth && truth <= reported + items.max_error());
            }
        }
    }

    #[test]
    fn encodings_round_trip(n in observations(500), c in categories(50, 300), cap in 2_usize..60, seed in any::<u64>()) {
        let pn = numeric(8, seed, &n);
        let pc = categorical(cap, &c);
        prop_assert_eq!(&NumericProfile::decode(&pn.encode()).expect("own encoding"), &pn);
        prop_assert_eq!(&CategoricalProfile::decode(&pc.encode()).expect("own encoding"), &pc);
        let mut profile = Profile::new();
        profile.insert("age", ColumnProfile::Numeric(pn.clone()));
        profile.insert("city", ColumnProfile::Categorical(pc));
        let bytes = profile.encode();
        prop_assert_eq!(Profile::decode(&bytes).expect("own encoding"), profile);
        // A decoded sketch keeps working like the original (same seed state, same levels).
        let mut again = NumericProfile::decode(&pn.encode()).expect("own encoding");
        let mut original = pn;
        for v in 0..50 {
            again.update(Some(f64::from(v)));
            original.update(Some(f64::from(v)));
        }
        prop_assert_eq!(again, original);
    }

    #[test]
    fn reference_bins_count_like_quantile_bins(
        reference in prop::collection::vec((-40_i32..40).prop_map(|v| f64::from(v) / 4.0), 1..80),
        current in prop::collection::vec((-60_i32..60).prop_map(|v| f64::from(v) / 4.0), 1..80),
        bins in 1_usize..12,
    ) {
        let q = drift::quantile_bins(&reference, &current, NonZeroUsize::new(bins).expect("non-zero"))
            .expect("valid samples");
        let mut p = NumericProfile::new(DEFAULT_K, 0).expect("valid k").with_bins(q.edges.clone()).expect("edges");
        for v in &current {
            p.update(Some(*v));
        }
        let counts: Vec<f64> = p.bins().expect("bins attached").counts().iter().map(|c| *c as f64).collect();
        prop_assert_eq!(counts, q.current);
    }

    #[test]
    fn decoding_garbage_is_an_error_not_a_panic(
        tag in 0_u8..5, tail in prop::collection::vec(any::<u8>(), 0..300), raw in prop::collection::vec(any::<u8>(), 0..50),
    ) {
        // A valid format byte and kind tag get the garbage past the first checks.
        let bytes: Vec<u8> = [1, tag].into_iter().chain(tail).collect();
        for bytes in [&bytes, &raw] {
            let _ = Profile::decode(bytes);
            let _ = ColumnProfile::decode(bytes);
            let _ = NumericProfile::decode(bytes);
            let _ = CategoricalProfile::decode(bytes);
        }
    }

    #[test]
    fn decoding_many_damaged_bytes_never_panics(
        n in observations(100), c in categories(10, 50), damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut profile = Profile::new();
        profile.insert("x", ColumnProfile::Numeric(numeric(8, 9, &n)));
        profile.insert("y", ColumnProfile::Categorical(categorical(4, &c)));
        let mut bytes = profile.encode();
        for (at, byte) in damage {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(p) = Profile::decode(&bytes) {
            let mut q = p.clone();
            let _ = q.merge(&p);
            for (_, column) in q.columns() {
                if let ColumnProfile::Numeric(n) = column {
                    let _ = (n.quantile(0.5), n.sketch().rank(0.0), n.variance());
                }
            }
        }
    }

    #[test]
    fn decoding_damaged_encodings_is_an_error_not_a_panic(
        n in observations(100), c in categories(10, 50), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>(),
    ) {
        let mut profile = Profile::new();
        profile.insert("x", ColumnProfile::Numeric(numeric(8, 9, &n)));
        profile.insert("y", ColumnProfile::Categorical(categorical(4, &c)));
        let bytes = profile.encode();
        let mut damaged = bytes.clone();
        let i = at.index(damaged.len());
        damaged[i] = byte;
        if let Ok(p) = Profile::decode(&damaged) {
            // Whatever decodes is a valid profile: it merges and re-encodes without panicking.
            let mut q = p.clone();
            let _ = q.merge(&p);
            let _ = Profile::decode(&q.encode()).expect("re-encoding of a valid profile");
        }
        prop_assert!(Profile::decode(&bytes[..cut.index(bytes.len())]).is_err());
    }
}

#[test]
fn merging_different_kinds_or_parameters_fails_and_changes_nothing() {
    let mut profile = Profile::new();
    profile.insert("x", ColumnProfile::Numeric(numeric(DEFAULT_K, 0, &[Some(1.0)])));
    let before = profile.clone();
    let mut other = Profile::new();
    other.insert("x", ColumnProfile::Categorical(categorical(10, &[Some("a".into())])));
    assert!(matches!(profile.merge(&other), Err(ProfileError::Incompatible(_))));
    assert_eq!(profile, before);
    let mut other_bins = NumericProfile::new(DEFAULT_K, 0).expect("valid k");
    other_bins.update(Some(1.0));
    let mut mine = numeric(DEFAULT_K, 0, &[Some(2.0)]);
    let snapshot = mine.clone();
    assert!(mine.merge(&other_bins).is_err());
    assert_eq!(mine, snapshot);
    assert_eq!(Profile::decode(&[2, 3, 0]), Err(ProfileError::Format(2)));
    assert_eq!(Profile::decode(&[]), Err(ProfileError::Truncated));
}

/// SplitMix64: deterministic test streams without a dependency.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Builds a sketch of `values` from several parts merged in a random tree, so the
/// bound is measured over merge orders as well as streams.
fn sketch_by_random_merges(values: &[f64], rng: &mut Stream) -> KllSketch {
    let parts = 1 + rng.below(12);
    let mut sketches: Vec<KllSketch> =
        (0..parts).map(|_| KllSketch::new(DEFAULT_K, rng.next()).expect("valid k")).collect();
    for v in values {
        let i = rng.below(parts);
        sketches[i].update(*v);
    }
    while sketches.len() > 1 {
        let a = sketches.swap_remove(rng.below(sketches.len()));
        let i = rng.below(sketches.len());
        sketches[i].merge(&a).expect("same k");
    }
    sketches.swap_remove(0)
}

#[test]
fn kll_rank_error_with_k_200_is_within_1_65_percent_at_99_percent() {
    let mut rng = Stream(20_261_127);
    let mut errors = Vec::new();
    let mut quantile_errors = Vec::new();
    for stream in 0..120 {
        let n = 2_000 + rng.below(30_000);
        let mut values: Vec<f64> = match stream % 4 {
            0 => (0..n).map(|_| rng.unit()).collect(),
            1 => (0..n).map(|_| (-rng.unit().ln()) * 10.0).collect(),
            2 => (0..n).map(|_| (rng.below(50)) as f64).collect(),
            _ => (0..n).map(|i| i as f64).collect(),
        };
        if stream % 8 == 7 {
            values.reverse();
        }
        let sketch = sketch_by_random_merges(&values, &mut rng);
        assert_eq!(sketch.n(), n as u64);
        let mut sorted = values.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        for q in 1..100 {
            let x = sorted[(q * (n - 1)) / 100];
            let truth = sorted.partition_point(|v| *v <= x) as f64 / n as f64;
            let estimate = sketch.rank(x).expect("non-empty");
            errors.push((estimate - truth).abs());
            // The quantile query, in rank terms: how far the returned value's true rank
            // range [below, at or below] lies from the asked q.
            let q = q as f64 / 100.0;
            let v = sketch.quantile(q).expect("non-empty");
            let below = sorted.partition_point(|x| *x < v) as f64 / n as f64;
            let at_or_below = sorted.partition_point(|x| *x <= v) as f64 / n as f64;
            quantile_errors.push((below - q).max(q - at_or_below).max(0.0));
        }
    }
    errors.sort_unstable_by(f64::total_cmp);
    let p99 = errors[errors.len() * 99 / 100];
    let max = errors[errors.len() - 1];
    println!("kll k=200 rank error over {} queries: p99 {p99:.5}, max {max:.5}", errors.len());
    assert!(p99 <= 0.0165, "99th percentile rank error {p99}");
    quantile_errors.sort_unstable_by(f64::total_cmp);
    let p99 = quantile_errors[quantile_errors.len() * 99 / 100];
    let max = quantile_errors[quantile_errors.len() - 1];
    println!("kll k=200 quantile rank error: p99 {p99:.5}, max {max:.5}");
    assert!(p99 <= 0.0165, "99th percentile quantile rank error {p99}");
}

#[test]
fn hyperloglog_standard_error_is_about_1_04_over_sqrt_m() {
    let mut rng = Stream(7);
    let mut squared = 0.0;
    let mut worst: f64 = 0.0;
    let mut trials = 0;
    for &distinct in &[100_u64, 1_000, 5_000, 20_000, 100_000] {
        for _ in 0..12 {
            let mut p = CategoricalProfile::new(16, DEFAULT_PRECISION).expect("valid parameters");
            let salt = rng.next();
            for i in 0..distinct {
                p.update(Some(&format!("{salt}-{i}")));
            }
            let estimate = p.distinct_sketch().estimate();
            let relative = (estimate - distinct as f64) / distinct as f64;
            squared += relative * relative;
            worst = worst.max(relative.abs());
            trials += 1;
        }
    }
    let rms = (squared / f64::from(trials)).sqrt();
    let se = 1.04 / f64::from(1u32 << DEFAULT_PRECISION).sqrt();
    println!("hll p=12 relative error over {trials} trials: rms {rms:.5} (1.04/sqrt(m) = {se:.5}), max {worst:.5}");
    assert!(rms <= 1.25 * se, "rms relative error {rms}");
    assert!(worst <= 4.0 * se, "worst relative error {worst}");
}

#[test]
fn heavy_hitters_survive_a_long_tail() {
    // A Zipf-like stream: value i appears about 20000 / (i + 1) times, 5,000 values.
    let mut values = Vec::new();
    for i in 0..5_000_u32 {
        for _ in 0..(20_000 / (i + 1)).max(1) {
            values.push(Some(format!("v{i}")));
        }
    }
    let mut rng = Stream(3);
    for i in (1..values.len()).rev() {
        values.swap(i, rng.below(i + 1));
    }
    let p = categorical(1_000, &values);
    let items = p.items();
    assert!(!items.is_exact());
    let n = p.count();
    assert!(items.max_error() <= n / 501, "max error {} for n {n}", items.max_error());
    println!(
        "misra-gries capacity 1000 on {n} values: max error {} ({:.4} of n)",
        items.max_error(),
        items.max_error() as f64 / n as f64
    );
    for i in 0..50_u32 {
        let truth = (20_000 / (i + 1)) as u64;
        let reported = items.count(&format!("v{i}"));
        assert!(reported <= truth && truth <= reported + items.max_error());
    }
    assert!((p.distinct() - 5_000.0).abs() <= 5_000.0 * 0.05, "distinct estimate {}", p.distinct());
}
