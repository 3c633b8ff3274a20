//! The time ranges pages offer, and how a range is cut into chart windows.

use crate::wire::time::now_ms;

/// The ranges the picker offers: (query value, label, milliseconds).
pub const RANGES: [(&str, &str, i64); 6] = [
    ("15m", "15 minutes", 15 * 60_000),
    ("1h", "1 hour", 3_600_000),
    ("6h", "6 hours", 6 * 3_600_000),
    ("24h", "24 hours", 24 * 3_600_000),
    ("7d", "7 days", 7 * 24 * 3_600_000),
    ("30d", "30 days", 30 * 24 * 3_600_000),
];

/// A chosen range ending now (rounded up to the next minute).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub key: &'static str,
    pub from: i64,
    pub to: i64,
}

impl Range {
    /// The range a `range` query value names; an unknown value is one hour.
    pub fn parse(value: Option<&str>) -> Range {
        let (key, _, ms) = RANGES.iter().copied().find(|(k, _, _)| Some(*k) == value).unwrap_or(RANGES[1]);
        let to = (now_ms() / 60_000 + 1) * 60_000;
        Range { key, from: to - ms, to }
    }

    /// About `n` windows covering the range, each a whole number of minutes from a list
    /// of round steps and aligned to multiples of its step since the epoch (a day step
    /// starts at UTC midnight), so that a window is read from whole day, hour or minute
    /// profiles and tallies rather than from events at its edges. The first window may
    /// start a little before the range; the last ends with it.
    pub fn windows(&self, n: i64) -> Vec<(i64, i64)> {
        const MINUTE: i64 = 60_000;
        const STEPS: [i64; 14] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1_440, 2_880, 10_080];
        let raw = (self.to - self.from) / n.max(1);
        let step = STEPS.iter().map(|m| m * MINUTE).find(|s| *s >= raw).unwrap_or(STEPS[13] * MINUTE);
        let mut out = Vec::new();
        let mut t = self.from - self.from.rem_euclid(step);
        while t < self.to {
            out.push((t, (t + step).min(self.to)));
            t += step;
        }
        out
    }

    pub fn label(&self) -> &'static str {
        RANGES.iter().find(|(k, _, _)| *k == self.key).map_or("1 hour", |r| r.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_in_whole_minutes() {
        let r = Range { key: "1h", from: 0, to: 3_600_000 };
        let w = r.windows(60);
        assert_eq!(w.len(), 60);
        assert_eq!(w.first(), Some(&(0, 60_000)));
        assert_eq!(w.last(), Some(&(3_540_000, 3_600_000)));
        let w = Range { key: "7d", from: 0, to: 7 * 86_400_000 }.windows(30);
        assert!(w.iter().all(|(a, b)| (b - a) % 60_000 == 0));
        // Thirty days ending mid-day: day windows from midnight, the last one partial.
        let to = 40 * 86_400_000 + 13 * 3_600_000 + 7 * 60_000;
        let w = Range { key: "30d", from: to - 30 * 86_400_000, to }.windows(30);
        assert_eq!(w.len(), 31);
        assert!(w.iter().all(|(a, _)| a % 86_400_000 == 0));
        assert_eq!(w.last().map(|x| x.1), Some(to));
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
        assert_eq!(Range::parse(Some("nonsense")).key, "1h");
    }
}
