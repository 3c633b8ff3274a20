//! A window's outcome tallies kept as their encodings and merged in key order as they
//! are read: what a merged [`OutcomeTally`] would answer, without building it.
//!
//! An encoding lists its outcomes sorted by key (`OutcomeTally::encode`), and
//! [`OutcomeTally::outcomes`] answers them in that same order, so a window's outcomes
//! are a k-way merge of its buckets' encodings: no hash map of every distinct outcome,
//! no sort of them afterwards. On the model page's 30-day windows (two day buckets
//! each) those two were most of a window read's time. Past a few runs a hash map of the
//! borrowed keys sums them instead (no allocation per key, unlike an `OutcomeTally`).

use super::{Outcome, OutcomeTally, TallySummary, read_outcome, unzigzag};
use crate::codec::{CodecError, Reader};
use rustc_hash::FxHashMap as HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Most runs merged by walking them side by side. Past it a hash map of the borrowed
/// keys sums them: with many runs that repeat the same keys (a month of day buckets of
/// a model with rounded scores), every entry through the walk's heap costs more than a
/// hash lookup; with a few runs (the model page's windows) the walk is 2–3× faster.
const MERGE_WALK_RUNS: usize = 8;

/// One encoded tally, its structure checked, with where its outcomes start.
#[derive(Debug)]
struct Run {
    bytes: Vec<u8>,
    /// Offset of the first outcome and how many there are.
    outcomes_at: usize,
    outcomes: u64,
    /// Offset of the label delays.
    delays_at: usize,
}

impl Run {
    /// Reads the outcome at `pos`: its key and count, and where the next one starts.
    fn outcome_at(&self, pos: usize) -> Result<(&[u8], i64, usize), CodecError> {
        let mut r = Reader { bytes: &self.bytes, pos };
        let len = usize::try_from(r.varint()?).map_err(|_| CodecError::Truncated)?;
        let start = r.pos;
        r.take(len)?;
        let end = r.pos;
        let count = unzigzag(r.varint()?);
        Ok((self.bytes.get(start..end).ok_or(CodecError::Truncated)?, count, r.pos))
    }
}

/// Tallies to be read as their sum; see the module docs.
#[derive(Debug, Default)]
pub struct TallyRuns {
    runs: Vec<Run>,
    summary: TallySummary,
}

impl TallyRuns {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tally as [`OutcomeTally::encode`] wrote it. Its structure is checked now,
    /// outcomes in strictly increasing key order included (what the merge relies on);
    /// the outcomes themselves are decoded when read, as [`OutcomeTally::outcomes`] does.
    pub fn push_encoded(&mut self, bytes: Vec<u8>) -> Result<(), CodecError> {
        let mut r = Reader { bytes: &bytes, pos: 0 };
        let summary = TallySummary::read(&mut r)?;
        let outcomes = r.varint()?;
        let outcomes_at = r.pos;
        let mut previous: Option<(usize, usize)> = None;
        for _ in 0..outcomes {
            let len = usize::try_from(r.varint()?).map_err(|_| CodecError::Truncated)?;
            let start = r.pos;
            r.take(len)?;
            let key = (start, r.pos);
            if let Some((a, b)) = previous
                && bytes[a..b] >= bytes[key.0..key.1]
            {
                return Err(CodecError::Unordered);
            }
            previous = Some(key);
            r.varint()?;
        }
        let delays_at = r.pos;
        for _ in 0..r.varint()? {
            r.varint()?;
            r.varint()?;
        }
        if r.pos != bytes.len() {
            return Err(CodecError::Truncated);
        }
        self.summary.merge(&summary);
        self.runs.push(Run { bytes, outcomes_at, outcomes, delays_at });
        Ok(())
    }

    /// Adds a tally in memory (through its encoding, which is in key order).
    pub fn push(&mut self, tally: &OutcomeTally) {
        if tally.is_empty() {
            return;
        }
        // The encoding of a valid tally always reads back.
        if let Err(e) = self.push_encoded(tally.encode()) {
            unreachable!("an outcome tally's own encoding does not read back: {e}");
        }
    }

    /// Adds only the counts and latencies of a summary (for callers that read nothing
    /// else: outcomes and delays then no longer match the counts).
    pub fn merge_summary(&mut self, other: &TallySummary) {
        self.summary.merge(other);
    }

    /// The counts and latencies of every tally added.
    pub fn summary(&self) -> &TallySummary {
        &self.summary
    }

    /// Each distinct outcome of the sum with its count, in [`OutcomeTally::outcomes`]'s
    /// order (outcomes whose counts cancel out are left out, as merging drops them).
    pub fn outcomes(&self) -> Result<Vec<(Outcome, i64)>, CodecError> {
        if self.runs.len() > MERGE_WALK_RUNS {
            return self.outcomes_hashed();
        }
        // Each run's next outcome, smallest key first: (key, run, count, next position).
        let mut heads = BinaryHeap::with_capacity(self.runs.len());
        let mut left: Vec<u64> = self.runs.iter().map(|r| r.outcomes).collect();
        for (i, run) in self.runs.iter().enumerate() {
            if left[i] > 0 {
                let (key, count, next) = run.outcome_at(run.outcomes_at)?;
                heads.push(Reverse((key, i, count, next)));
            }
        }
        let total = self.runs.iter().map(|r| r.outcomes).max().unwrap_or(0);
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut current: Option<(&[u8], i64)> = None;
        while let Some(Reverse((key, i, count, next))) = heads.pop() {
            left[i] -= 1;
            if left[i] > 0 {
                let (k, c, n) = self.runs[i].outcome_at(next)?;
                heads.push(Reverse((k, i, c, n)));
            }
            match &mut current {
                Some((k, n)) if *k == key => *n += count,
                _ => {
                    if let Some((k, n)) = current.take().filter(|(_, n)| *n != 0) {
                        out.push((read_outcome(k)?, n));
                    }
                    current = Some((key, count));
                }
            }
        }
        if let Some((k, n)) = current.filter(|(_, n)| *n != 0) {
            out.push((read_outcome(k)?, n));
        }
        Ok(out)
    }

    /// The same by summing every run's counts in a hash map keyed by the borrowed keys,
    /// then sorting them: cheaper than the walk when many runs repeat the same keys.
    fn outcomes_hashed(&self) -> Result<Vec<(Outcome, i64)>, CodecError> {
        let capacity = self.runs.iter().map(|r| r.outcomes).max().unwrap_or(0);
        let mut sum: HashMap<&[u8], i64> =
            HashMap::with_capacity_and_hasher(usize::try_from(capacity).unwrap_or(0), Default::default());
        for run in &self.runs {
            let mut pos = run.outcomes_at;
            for _ in 0..run.outcomes {
                let (key, count, next) = run.outcome_at(pos)?;
                *sum.entry(key).or_insert(0) += count;
                pos = next;
            }
        }
        let mut keys: Vec<(&[u8], i64)> = sum.into_iter().filter(|(_, n)| *n != 0).collect();
        keys.sort_unstable();
        keys.into_iter().map(|(k, n)| Ok((read_outcome(k)?, n))).collect()
    }

    /// Each distinct label delay (ms) of the sum with its count, shortest first.
    pub fn delays(&self) -> Vec<(i64, i64)> {
        let mut sum: HashMap<i64, i64> = HashMap::default();
        for run in &self.runs {
            let mut r = Reader { bytes: &run.bytes, pos: run.delays_at };
            // Checked when the run was added.
            let n = r.varint().unwrap_or(0);
            for _ in 0..n {
                let (Ok(d), Ok(c)) = (r.varint(), r.varint()) else { break };
                *sum.entry(unzigzag(d)).or_insert(0) += unzigzag(c);
            }
        }
        let mut out: Vec<(i64, i64)> = sum.into_iter().filter(|(_, n)| *n != 0).collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;
    use proptest::prelude::*;

    fn class(c: &str) -> Target {
        Target::Class(c.into())
    }

    #[test]
    fn runs_read_as_their_merged_tally() {
        let (mut a, mut b, mut late) = (OutcomeTally::new(), OutcomeTally::new(), OutcomeTally::new());
        a.add_prediction(Some(&class("yes")), &[(1, 0.75)], None, false, Some(12.0));
        a.add_prediction(Some(&class("no")), &[(1, 0.25)], Some((&class("no"), 5)), false, Some(3.0));
        b.add_prediction(Some(&class("yes")), &[(1, 0.75)], None, false, Some(14.0));
        b.add_prediction(None, &[], None, true, None);
        // A late label for one of `a`'s: a negative count until summed with it.
        late.add_late_label(Some(&class("yes")), &[(1, 0.75)], &class("yes"), 60_000);
        let mut runs = TallyRuns::new();
        for t in [&a, &b, &late] {
            runs.push_encoded(t.encode()).expect("a valid encoding");
        }
        let mut merged = a.clone();
        merged.merge(&b);
        merged.merge(&late);
        assert_eq!(runs.outcomes().expect("outcomes"), merged.outcomes().expect("outcomes"));
        assert_eq!(runs.delays(), vec![(5, 1), (60_000, 1)]);
        assert_eq!(runs.summary(), merged.summary());
        assert_eq!(TallyRuns::new().outcomes().expect("none"), Vec::new());
    }

    #[test]
    fn damaged_or_unordered_encodings_are_refused() {
        let mut t = OutcomeTally::new();
        t.add_prediction(Some(&class("a")), &[], None, false, None);
        t.add_prediction(Some(&class("b")), &[], None, false, None);
        let bytes = t.encode();
        for cut in 0..bytes.len() {
            assert!(TallyRuns::new().push_encoded(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        // The same two outcomes written by hand, in key order and in the wrong one.
        let written = |order: [&str; 2]| {
            let mut out = vec![super::super::FORMAT];
            t.summary().encode_into(&mut out);
            crate::codec::put_varint(&mut out, 2);
            for c in order {
                let k = super::super::key(Some(&class(c)), &[], None);
                crate::codec::put_varint(&mut out, k.len() as u64);
                out.extend_from_slice(&k);
                crate::codec::put_varint(&mut out, 2);
            }
            crate::codec::put_varint(&mut out, 0);
            out
        };
        assert_eq!(written(["a", "b"]), bytes);
        assert!(matches!(TallyRuns::new().push_encoded(written(["b", "a"])), Err(CodecError::Unordered)));
    }

    fn target() -> impl Strategy<Value = Option<Target>> {
        prop_oneof![
            Just(None),
            prop::sample::select(vec!["a", "b", "c"]).prop_map(|c| Some(class(c))),
            (-3i32..3).prop_map(|x| Some(Target::Number(f64::from(x) / 2.0))),
        ]
    }

    proptest! {
        #[test]
        fn any_split_reads_as_the_whole(
            ops in prop::collection::vec(
                (target(), prop::collection::vec((0u32..3, (0u8..4).prop_map(|x| f64::from(x) / 4.0)), 0..3),
                 target(), 0i64..5, any::<bool>(), 0usize..4),
                0..60,
            ),
        ) {
            // Each op goes to one of four parts: a prediction, or a late label when the
            // flag says so (its prediction may sit in another part, or nowhere).
            let mut whole = OutcomeTally::new();
            let mut parts = vec![OutcomeTally::new(); 4];
            for (p, s, l, d, late, part) in &ops {
                for t in [&mut whole, &mut parts[*part]] {
                    match (*late, l) {
                        (true, Some(l)) => t.add_late_label(p.as_ref(), s, l, *d),
                        _ => t.add_prediction(p.as_ref(), s, l.as_ref().map(|l| (l, *d)), false, Some(1.0)),
                    }
                }
            }
            let mut runs = TallyRuns::new();
            for p in &parts {
                runs.push(p);
            }
            prop_assert_eq!(runs.outcomes().expect("outcomes"), whole.outcomes().expect("outcomes"));
            prop_assert_eq!(runs.outcomes_hashed().expect("outcomes"), whole.outcomes().expect("outcomes"));
            prop_assert_eq!(runs.delays(), whole.delays());
            prop_assert_eq!(runs.summary(), whole.summary());
        }
    }
}
