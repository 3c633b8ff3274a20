//! A mergeable tally of what a model said and what turned out to be true over a time
//! bucket: every prediction's (prediction, scores, label) with how many times it occurred,
//! the label delays, and the failed calls. Performance metrics read a window's merged
//! tallies exactly as they would read its rows, so stored per-bucket tallies answer a
//! month's performance query at the cost of its buckets, not of re-joining its events.
//!
//! A label that arrives after its prediction was tallied moves one count from the
//! unlabelled record to the labelled one ([`OutcomeTally::add_late_label`]), so counts are
//! signed while deltas are in flight; merging is adding counts, associative and
//! commutative, and a fully merged window never holds a negative count.

use crate::Target;
use crate::codec::{CodecError, Reader, put_varint};
use std::collections::HashMap;

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeTally {
    /// Encoded outcome → how many predictions had it.
    records: HashMap<Box<[u8]>, i64>,
    /// Label delay (label timestamp minus prediction timestamp, ms) → how many labels.
    delays: HashMap<i64, i64>,
    errors: i64,
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

    /// Adds one prediction; `label` with its delay when the label was already known.
    pub fn add_prediction(
        &mut self,
        prediction: Option<&Target>,
        scores: &[(u32, f64)],
        label: Option<(&Target, i64)>,
        failed: bool,
    ) {
        bump(&mut self.records, key(prediction, scores, label.map(|l| l.0)), 1);
        if let Some((_, delay)) = label {
            bump(&mut self.delays, delay, 1);
        }
        if failed {
            self.errors += 1;
        }
    }

    /// A label for a prediction tallied before without one: its count moves from the
    /// unlabelled outcome to the labelled one.
    pub fn add_late_label(&mut self, prediction: Option<&Target>, scores: &[(u32, f64)], label: &Target, delay: i64) {
        bump(&mut self.records, key(prediction, scores, None), -1);
        bump(&mut self.records, key(prediction, scores, Some(label)), 1);
        bump(&mut self.delays, delay, 1);
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
        self.errors += other.errors;
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.delays.is_empty() && self.errors == 0
    }

    /// Predictions tallied.
    pub fn predictions(&self) -> i64 {
        self.records.values().sum()
    }

    /// Failed prediction calls tallied.
    pub fn errors(&self) -> i64 {
        self.errors
    }

    /// Labels tallied.
    pub fn labelled(&self) -> i64 {
        self.delays.values().sum()
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
        put_varint(&mut out, zigzag(self.errors));
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
        match r.byte()? {
            FORMAT => {}
            f => return Err(CodecError::Format(f)),
        }
        let errors = unzigzag(r.varint()?);
        let n = r.varint()?;
        let mut records = HashMap::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let len = usize::try_from(r.varint()?).map_err(|_| CodecError::Truncated)?;
            let k: Box<[u8]> = r.take(len)?.into();
            read_outcome(&k)?;
            records.insert(k, unzigzag(r.varint()?));
        }
        let n = r.varint()?;
        let mut delays = HashMap::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let d = unzigzag(r.varint()?);
            delays.insert(d, unzigzag(r.varint()?));
        }
        if r.pos != bytes.len() {
            return Err(CodecError::Truncated);
        }
        Ok(OutcomeTally { records, delays, errors })
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
        bucket.add_prediction(Some(&yes()), &[(1, 0.75)], None, false);
        bucket.add_prediction(Some(&yes()), &[(1, 0.75)], None, false);
        bucket.add_prediction(None, &[], None, true);
        let mut late = OutcomeTally::new();
        late.add_late_label(Some(&yes()), &[(1, 0.75)], &Target::Class("no".into()), 60_000);
        bucket.merge(&late);
        assert_eq!((bucket.predictions(), bucket.labelled(), bucket.errors()), (3, 1, 1));
        let mut outcomes = bucket.outcomes().unwrap();
        outcomes.sort_by_key(|(o, _)| format!("{o:?}"));
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|(_, n)| *n == 1));
        assert!(outcomes.iter().any(|(o, _)| o.label == Some(Target::Class("no".into()))));
        assert_eq!(bucket.delays(), vec![(60_000, 1)]);
        // A delta on its own holds the move as a negative count until merged.
        assert!(late.outcomes().unwrap().iter().any(|(_, n)| *n == -1));
        assert_eq!(late.predictions(), 0);
    }

    #[test]
    fn damaged_encodings_are_errors() {
        let mut t = OutcomeTally::new();
        t.add_prediction(Some(&Target::Number(2.5)), &[], Some((&Target::Number(3.0), 5)), false);
        let bytes = t.encode();
        assert_eq!(OutcomeTally::decode(&bytes).unwrap(), t);
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
        Predict(Option<Target>, Vec<(u32, f64)>, Option<(Target, i64)>, bool),
        Late(Option<Target>, Vec<(u32, f64)>, Target, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let scores = prop::collection::vec((0u32..3, (0u8..4).prop_map(|x| f64::from(x) / 4.0)), 0..3);
        prop_oneof![
            (target(), scores.clone(), prop::option::of((target(), 0i64..5)), any::<bool>()).prop_map(
                |(p, s, l, f)| Op::Predict(p, s, l.and_then(|(t, d)| t.map(|t| (t, d))), f)
            ),
            (target(), scores, target(), 0i64..5)
                .prop_filter_map("a label", |(p, s, l, d)| l.map(|l| Op::Late(p, s, l, d))),
        ]
    }

    fn apply(t: &mut OutcomeTally, op: &Op) {
        match op {
            Op::Predict(p, s, l, f) => t.add_prediction(p.as_ref(), s, l.as_ref().map(|(t, d)| (t, *d)), *f),
            Op::Late(p, s, l, d) => t.add_late_label(p.as_ref(), s, l, *d),
        }
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
            prop_assert_eq!(OutcomeTally::decode(&whole.encode()).unwrap(), whole.clone());
            prop_assert_eq!(whole.encode(), left.encode());
        }
    }
}
