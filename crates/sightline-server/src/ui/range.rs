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

    /// About `n` equal windows of whole minutes covering the range.
    pub fn windows(&self, n: i64) -> Vec<(i64, i64)> {
        let step = ((self.to - self.from) / n.max(1) / 60_000).max(1) * 60_000;
        let mut out = Vec::new();
        let mut t = self.to;
        while t > self.from {
            out.push((t - step, t));
            t -= step;
        }
        out.reverse();
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
        assert_eq!(Range::parse(Some("nonsense")).key, "1h");
    }
}
