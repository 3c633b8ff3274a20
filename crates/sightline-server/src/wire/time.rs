//! Timestamps on the wire: RFC 3339 or integer epoch milliseconds in, RFC 3339 out.

use super::loose::Loose;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Earliest accepted timestamp: 1970-01-01. Latest: 9999-12-31 (RFC 3339's range).
const MAX_MS: i64 = 253_402_300_799_999;

/// Parses a timestamp value into epoch milliseconds, or says what is wrong.
pub fn parse(value: &Loose<'_>) -> Result<i64, String> {
    let ms = match value {
        Loose::Int(ms) => *ms,
        Loose::Float(_) => return Err("expected integer epoch milliseconds or an RFC 3339 string".into()),
        Loose::Str(s) => {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| format!("not an RFC 3339 timestamp ({e}), e.g. 2026-11-27T09:30:00Z"))?;
            let ms = t.unix_timestamp_nanos() / 1_000_000;
            i64::try_from(ms).map_err(|_| "out of range".to_string())?
        }
        other => {
            return Err(format!("expected an RFC 3339 string or integer epoch milliseconds, got {}", other.kind()));
        }
    };
    if !(0..=MAX_MS).contains(&ms) {
        return Err("must be between 1970-01-01 and 9999-12-31".into());
    }
    Ok(ms)
}

/// Parses a timestamp in a JSON document that was read into a `serde_json::Value`
/// (RFC 3339 string or integer epoch milliseconds).
pub fn parse_json(value: &serde_json::Value) -> Result<i64, String> {
    match value {
        serde_json::Value::String(s) => parse(&Loose::Str(s.as_str().into())),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(ms) => parse(&Loose::Int(ms)),
            None => parse(&Loose::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        _ => Err("expected an RFC 3339 string or integer epoch milliseconds".into()),
    }
}

/// Parses a query-string timestamp (RFC 3339 or epoch milliseconds).
pub fn parse_query(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(ms) => parse(&Loose::Int(ms)),
        Err(_) => parse(&Loose::Str(s.into())),
    }
}

/// Formats epoch milliseconds as RFC 3339 in UTC with millisecond precision.
pub fn format(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let (y, mo, d) = (t.year(), t.month() as u8, t.day());
            let (h, mi, s, milli) = (t.hour(), t.minute(), t.second(), t.millisecond());
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
        }
        Err(_) => ms.to_string(),
    }
}

/// The current time in epoch milliseconds — the server's clock, read only here.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_forms_and_round_trips() {
        assert_eq!(parse(&Loose::Int(1_700_000_000_123)), Ok(1_700_000_000_123));
        assert_eq!(parse(&Loose::Str("2023-11-14T22:13:20.123Z".into())), Ok(1_700_000_000_123));
        assert_eq!(parse(&Loose::Str("2023-11-14T23:13:20.123+01:00".into())), Ok(1_700_000_000_123));
        assert_eq!(format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_query("2023-11-14T22:13:20.123Z"), Ok(1_700_000_000_123));
        assert_eq!(parse_query("1700000000123"), Ok(1_700_000_000_123));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in
            [Loose::Int(-1), Loose::Float(1.5), Loose::Str("yesterday".into()), Loose::Bool(true), Loose::Int(i64::MAX)]
        {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
