//! A mergeable tally of what a model said and what turned out to be true over a time
//! bucket: every prediction's (prediction, scores, label) with how many times it occurred,
//! the label delays, and the failed calls. Performance metrics read a window's merged
//! tallies exactly as they would read its rows, so stored per-bucket tallies answer a
//! month's performance query at the cost of its buckets, not of re-joining its events.
//!
//! Latencies are counted in logarithmic bins ([`LATENCY_GAMMA`] apart), so a latency
//! quantile read from a tally is within [`LATENCY_RELATIVE_ERROR`] of a latency actually
//! logged at that rank, whatever the range merged. The encoding starts with the counts
//! and the latency bins, which [`TallySummary::decode`] reads without the outcomes.
//!
//! A label that arrives after its prediction was tallied moves one count from the
//! unlabelled record to the labelled one ([`OutcomeTally::add_late_label`]), so counts are
//! signed while deltas are in flight; merging is adding counts, associative and
//! commutative, and a fully merged window never holds a negative count.

mod runs;

use crate::Target;
use crate::codec::{CodecError, Reader, put_varint};
use rustc_hash::FxHashMap as HashMap;

pub use runs::TallyRuns;

const FORMAT: u8 = 1;
const NONE: u8 = 0;
const CLASS: u8 = 1;
const NUMBER: u8 = 2;

/// One prediction as performance metrics read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub prediction: Option<Target>,
    /// Class index and probability, as stored with the event.
    pub scores: Vec<(u32, f64)>,
    pub label: Option<Target>,
}

/// Ratio between the bounds of consecutive latency bins.
pub const LATENCY_GAMMA: f64 = 1.02;
/// Largest relative distance of a latency from the value its bin stands for:
/// `(γ − 1) / (γ + 1)`.
pub const LATENCY_RELATIVE_ERROR: f64 = (LATENCY_GAMMA - 1.0) / (LATENCY_GAMMA + 1.0);
/// The bin of latencies of zero (and of anything below a microsecond).
const ZERO_BIN: i64 = i64::MIN;

/// The bin of a latency: `⌈log_γ x⌉` (bin `i` holds `(γ^(i−1), γ^i]`).
fn latency_bin(ms: f64) -> i64 {
    if ms < 1e-3 { ZERO_BIN } else { (ms.ln() / LATENCY_GAMMA.ln()).ceil() as i64 }
}

/// The value a bin stands for: the point within `LATENCY_RELATIVE_ERROR` of both bounds.
fn latency_of_bin(bin: i64) -> f64 {
    if bin == ZERO_BIN { 0.0 } else { 2.0 * LATENCY_GAMMA.powf(bin as f64) / (LATENCY_GAMMA + 1.0) }
}

/// Counts, and latencies in logarithmic bins (mergeable exactly).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TallySummary {
    pub predictions: i64,
    pub labelled: i64,
    pub errors: i64,
    /// Latency bin → how many predictions logged a latency in it.
    latencies: HashMap<i64, i64>,
}

impl TallySummary {
    fn merge(&mut self, other: &TallySummary) {
        self.predictions += other.predictions;
        self.labelled += other.labelled;
        self.errors += other.errors;
        for (b, n) in &other.latencies {
            bump(&mut self.latencies, *b, *n);
        }
    }

    /// Predictions that logged a latency.
    pub fn with_latency(&self) -> i64 {
        self.latencies.values().sum()
    }

    /// numpy's linear quantile (`q` in [0, 1]) of the logged latencies, each read as its
    /// bin's value; `None` without latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let mut bins: Vec<(i64, i64)> = self.latencies.iter().map(|(b, n)| (*b, *n)).filter(|(_, n)| *n > 0).collect();
        bins.sort_unstable();
        let n: i64 = bins.iter().map(|(_, c)| c).sum();
        let pos = q.clamp(0.0, 1.0) * (n.checked_sub(1).filter(|m| *m >= 0)?) as f64;
        let at = |k: i64| {
            let mut seen = 0;
            bins.iter().find(|(_, c)| {
                seen += c;
                seen > k
            })
        };
        let (lo, hi) = (pos.floor() as i64, pos.ceil() as i64);
        let (a, b) = (latency_of_bin(at(lo)?.0), latency_of_bin(at(hi)?.0));
        Some(a + (b - a) * (pos - lo as f64))
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        put_varint(out, zigzag(self.predictions));
        put_varint(out, zigzag(self.labelled));
        put_varint(out, zigzag(self.errors));
        let mut bins: Vec<(i64, i64)> = self.latencies.iter().map(|(b, n)| (*b, *n)).collect();
        bins.sort_unstable();
        put_varint(out, bins.len() as u64);
        for (b, n) in bins {
            put_varint(out, zigzag(b));
            put_varint(out, zigzag(n));
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.byte()? {
            FORMAT => {}
            f => return Err(CodecError::Format(f)),
        }
        let predictions = unzigzag(r.varint()?);
        let labelled = unzigzag(r.varint()?);
        let errors = unzigzag(r.varint()?);
        let n = r.varint()?;
        let mut latencies = HashMap::with_capacity_and_hasher(n.min(4096) as usize, Default::default());
        for _ in 0..n {
            let b = unzigzag(r.varint()?);
            latencies.insert(b, unzigzag(r.varint()?));
        }
        Ok(TallySummary { predictions, labelled, errors, latencies })
    }

    /// The summary at the start of an [`OutcomeTally`] encoding, without its outcomes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        Self::read(&mut Reader { bytes, pos: 0 })
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeTally {
    summary: TallySummary,
    /// Encoded outcome → how many predictions had it.
    records: HashMap<Box<[u8]>, i64>,
    /// Label delay (label timestamp minus prediction timestamp, ms) → how many labels.
    delays: HashMap<i64, i64>,
}

fn put_target(out: &mut Vec<u8>, t: Option<&Target>) {
    match t {
        None => out.push(NONE),
        Some(Target::Class(c)) => {
            out.push(CLASS);
            put_varint(out, c.len() as u64);
            out.extend_from_slice(c.as_bytes());
        }
        Some(Target::Number(x)) => {
            out.push(NUMBER);
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

fn key(prediction: Option<&Target>, scores: &[(u32, f64)], label: Option<&Target>) -> Box<[u8]> {
    let mut out = Vec::with_capacity(24 + 12 * scores.len());
    put_target(&mut out, prediction);
    put_varint(&mut out, scores.len() as u64);
    for (class, p) in scores {
        put_varint(&mut out, u64::from(*class));
        out.extend_from_slice(&p.to_le_bytes());
    }
    put_target(&mut out, label);
    out.into_boxed_slice()
}

fn read_target(r: &mut Reader<'_>) -> Result<Option<Target>, CodecError> {
    match r.byte()? {
        NONE => Ok(None),
        CLASS => Ok(Some(Target::Class(r.string()?))),
        NUMBER => Ok(Some(Target::Number(r.f64()?))),
        t => Err(CodecError::Tag(t)),
    }
}

fn read_outcome(bytes: &[u8]) -> Result<Outcome, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    let prediction = read_target(&mut r)?;
    let n = r.varint()?;
    let mut scores = Vec::with_capacity(n.min(4096) as usize);
    for _ in 0..n {
        scores.push((r.ordinal()?, r.f64()?));
    }
    let label = read_target(&mut r)?;
    if r.pos != bytes.len() {
        return Err(CodecError::Truncated);
    }
    Ok(Outcome { prediction, scores, label })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, i64>, key: K, by: i64) {
    use std::collections::hash_map::Entry;
    match map.entry(key) {
        Entry::Occupied(mut e) => {
            *e.get_mut() += by;
            // Cancelled entries (a late label's move) leave nothing behind.
            if *e.get() == 0 {
                e.remove();
            }
        }
        Entry::Vacant(e) => {
            e.insert(by);
        }
    }
}

impl OutcomeTally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one prediction (its latency when logged and finite); `label` with its delay
    /// when the label was already known.
    pub fn add_prediction(
        &mut self,
        prediction: Option<&Target>,
        scores: &[(u32, f64)],
        label: Option<(&Target, i64)>,
        failed: bool,
        latency_ms: Option<f64>,
    ) {
        bump(&mut self.records, key(prediction, scores, label.map(|l| l.0)), 1);
        self.summary.predictions += 1;
        if let Some((_, delay)) = label {
            bump(&mut self.delays, delay, 1);
            self.summary.labelled += 1;
        }
        if failed {
            self.summary.errors += 1;
        }
        if let Some(ms) = latency_ms.filter(|x| x.is_finite() && *x >= 0.0) {
            bump(&mut self.summary.latencies, latency_bin(ms), 1);
        }
    }

    /// A label for a prediction tallied before without one: its count moves from the
    /// unlabelled outcome to the labelled one.
    pub fn add_late_label(&mut self, prediction: Option<&Target>, scores: &[(u32, f64)], label: &Target, delay: i64) {
        bump(&mut self.records, key(prediction, scores, None), -1);
        bump(&mut self.records, key(prediction, scores, Some(label)), 1);
        bump(&mut self.delays, delay, 1);
        self.summary.labelled += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &OutcomeTally) {
        for (k, n) in &other.records {
            match self.records.get_mut(k) {
                Some(mine) => *mine += n,
                None => {
                    self.records.insert(k.clone(), *n);
                }
            }
        }
        for (d, n) in &other.delays {
            bump(&mut self.delays, *d, *n);
        }
        self.records.retain(|_, n| *n != 0);
        self.summary.merge(&other.summary);
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.delays.is_empty() && self.summary == TallySummary::default()
    }

    /// The counts and latencies.
    pub fn summary(&self) -> &TallySummary {
        &self.summary
    }

    /// Predictions tallied.
    pub fn predictions(&self) -> i64 {
        self.summary.predictions
    }

    /// Failed prediction calls tallied.
    pub fn errors(&self) -> i64 {
        self.summary.errors
    }

    /// Labels tallied.
    pub fn labelled(&self) -> i64 {
        self.summary.labelled
    }

    /// Each distinct outcome with its count (a negative count means a late label was
    /// merged without its prediction: the caller's window is incomplete), in a fixed
    /// order: by prediction and scores, then label. Sums over them are therefore the same
    /// for the same tally, and what a prediction said comes in the same order whether or
    /// not its label has arrived.
    pub fn outcomes(&self) -> Result<Vec<(Outcome, i64)>, CodecError> {
        let mut records: Vec<(&Box<[u8]>, &i64)> = self.records.iter().collect();
        records.sort_unstable();
        records.into_iter().map(|(k, n)| Ok((read_outcome(k)?, *n))).collect()
    }

    /// Each distinct label delay (ms) with its count, shortest first.
    pub fn delays(&self) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self.delays.iter().map(|(d, n)| (*d, *n)).collect();
        out.sort_unstable();
        out
    }

    /// The versioned encoding (entries in key order, so equal tallies encode equally).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        self.summary.encode_into(&mut out);
        let mut records: Vec<(&Box<[u8]>, &i64)> = self.records.iter().collect();
        records.sort_unstable();
        put_varint(&mut out, records.len() as u64);
        for (k, n) in records {
            put_varint(&mut out, k.len() as u64);
            out.extend_from_slice(k);
            put_varint(&mut out, zigzag(*n));
        }
        let delays = self.delays();
        put_varint(&mut out, delays.len() as u64);
        for (d, n) in delays {
            put_varint(&mut out, zigzag(d));
            put_varint(&mut out, zigzag(n));
        }
        out
    }

    /// Reads what [`OutcomeTally::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader { bytes, pos: 0 };
        let summary = TallySummary::read(&mut r)?;
        let n = r.varint()?;
        let mut records = HashMap::with_capacity_and_hasher(n.min(1 << 20) as usize, Default::default());
        for _ in 0..n {
            let len = usize::try_from(r.varint()?).map_err(|_| CodecError::Truncated)?;
            let k: Box<[u8]> = r.take(len)?.into();
            read_outcome(&k)?;
            records.insert(k, unzigzag(r.varint()?));
        }
        let n = r.varint()?;
        let mut delays = HashMap::with_capacity_and_hasher(n.min(1 << 20) as usize, Default::default());
        for _ in 0..n {
            let d = unzigzag(r.varint()?);
            delays.insert(d, unzigzag(r.varint()?));
        }
        if r.pos != bytes.len() {
            return Err(CodecError::Truncated);
        }
        Ok(OutcomeTally { summary, records, delays })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yes() -> Target {
        Target::Class("yes".into())
    }

    #[test]
    fn a_late_label_moves_its_prediction_to_the_labelled_outcome() {
        let mut bucket = OutcomeTally::new();
        bucket.add_prediction(Some(&yes()), &[(1, 0.75)], None, false, Some(12.0));
        bucket.add_prediction(Some(&yes()), &[(1, 0.75)], None, false, Some(12.0));
        bucket.add_prediction(None, &[], None, true, None);
        let mut late = OutcomeTally::new();
        late.add_late_label(Some(&yes()), &[(1, 0.75)], &Target::Class("no".into()), 60_000);
        bucket.merge(&late);
        assert_eq!((bucket.predictions(), bucket.labelled(), bucket.errors()), (3, 1, 1));
        let mut outcomes = bucket.outcomes().expect("outcomes");
        outcomes.sort_by_key(|(o, _)| format!("{o:?}"));
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|(_, n)| *n == 1));
        assert!(outcomes.iter().any(|(o, _)| o.label == Some(Target::Class("no".into()))));
        assert_eq!(bucket.delays(), vec![(60_000, 1)]);
        let summary = TallySummary::decode(&bucket.encode()).expect("decodes");
        assert_eq!((summary.predictions, summary.labelled, summary.errors, summary.with_latency()), (3, 1, 1, 2));
        // A delta on its own holds the move as a negative count until merged.
        assert!(late.outcomes().expect("outcomes").iter().any(|(_, n)| *n == -1));
        assert_eq!(late.predictions(), 0);
    }

    #[test]
    fn damaged_encodings_are_errors() {
        let mut t = OutcomeTally::new();
        t.add_prediction(Some(&Target::Number(2.5)), &[], Some((&Target::Number(3.0), 5)), false, Some(0.0));
        let bytes = t.encode();
        assert_eq!(OutcomeTally::decode(&bytes).expect("decodes"), t);
        for cut in 0..bytes.len() {
            assert!(OutcomeTally::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(OutcomeTally::decode(&[9]), Err(CodecError::Format(9))));
    }

    fn target() -> impl Strategy<Value = Option<Target>> {
        prop_oneof![
            Just(None),
            prop::sample::select(vec!["a", "b", "c"]).prop_map(|c| Some(Target::Class(c.into()))),
            (-3i32..3).prop_map(|x| Some(Target::Number(f64::from(x) / 2.0))),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Predict(Option<Target>, Vec<(u32, f64)>, Option<(Target, i64)>, bool, Option<f64>),
        Late(Option<Target>, Vec<(u32, f64)>, Target, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let scores = prop::collection::vec((0u32..3, (0u8..4).prop_map(|x| f64::from(x) / 4.0)), 0..3);
        prop_oneof![
            (
                target(),
                scores.clone(),
                prop::option::of((target(), 0i64..5)),
                any::<bool>(),
                prop::option::of(0.0f64..500.0)
            )
                .prop_map(|(p, s, l, f, ms)| Op::Predict(
                    p,
                    s,
                    l.and_then(|(t, d)| t.map(|t| (t, d))),
                    f,
                    ms
                )),
            (target(), scores, target(), 0i64..5)
                .prop_filter_map("a label", |(p, s, l, d)| l.map(|l| Op::Late(p, s, l, d))),
        ]
    }

    fn apply(t: &mut OutcomeTally, op: &Op) {
        match op {
            Op::Predict(p, s, l, f, ms) => t.add_prediction(p.as_ref(), s, l.as_ref().map(|(t, d)| (t, *d)), *f, *ms),
            Op::Late(p, s, l, d) => t.add_late_label(p.as_ref(), s, l, *d),
        }
    }

    #[test]
    fn latency_quantiles_are_within_the_bin_error_of_numpys() {
        let values: Vec<f64> = (0..1_000).map(|i| 0.5 + (f64::from(i) * 0.37).powf(1.7)).collect();
        let mut t = OutcomeTally::new();
        for v in &values {
            t.add_prediction(None, &[], None, false, Some(*v));
        }
        t.add_prediction(None, &[], None, false, Some(f64::NAN));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            let pos = q * (sorted.len() - 1) as f64;
            let exact = sorted[pos.floor() as usize]
                + (sorted[pos.ceil() as usize] - sorted[pos.floor() as usize]) * pos.fract();
            let got = t.summary().latency_quantile(q).expect("ok");
            assert!((got - exact).abs() <= LATENCY_RELATIVE_ERROR * exact + 1e-12, "q{q}: {got} vs {exact}");
        }
        assert_eq!(t.summary().with_latency(), 1_000);
        assert_eq!(OutcomeTally::new().summary().latency_quantile(0.5), None);
        let mut zero = OutcomeTally::new();
        zero.add_prediction(None, &[], None, false, Some(0.0));
        assert_eq!(zero.summary().latency_quantile(0.99), Some(0.0));
    }

    proptest! {
        #[test]
        fn merging_is_associative_commutative_and_round_trips(
            ops in prop::collection::vec(op(), 0..40),
            cut1 in 0usize..40,
            cut2 in 0usize..40,
        ) {
            let (a, b) = (cut1.min(ops.len()), cut2.min(ops.len()));
            let (lo, hi) = (a.min(b), a.max(b));
            let mut whole = OutcomeTally::new();
            ops.iter().for_each(|o| apply(&mut whole, o));
            let mut parts = [OutcomeTally::new(), OutcomeTally::new(), OutcomeTally::new()];
            for (i, o) in ops.iter().enumerate() {
                apply(&mut parts[usize::from(i >= lo) + usize::from(i >= hi)], o);
            }
            let mut left = parts[0].clone();
            left.merge(&parts[1]);
            left.merge(&parts[2]);
            let mut right = parts[2].clone();
            let mut middle = parts[1].clone();
            middle.merge(&parts[0]);
            right.merge(&middle);
            prop_assert_eq!(&left, &whole);
            prop_assert_eq!(&right, &whole);
            prop_assert_eq!(OutcomeTally::decode(&whole.encode()).expect("decodes"), whole.clone());
            prop_assert_eq!(whole.encode(), left.encode());
        }
    }
}
