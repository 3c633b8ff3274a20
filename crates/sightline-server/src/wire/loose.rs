//! A light JSON tree for request bodies: objects keep their entries in order in a
//! `Vec` (no map building, duplicates visible) and strings borrow from the body when
//! they have no escapes. Ingest parses every event into this in one pass, then
//! validates it field by field, so a type error rejects one event, not the batch.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Loose<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Any number that is not an `i64`; always finite (JSON has no NaN).
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Loose<'a>>),
    Object(Vec<(Cow<'a, str>, Loose<'a>)>),
}

impl Loose<'_> {
    /// The value as a JSON document (for values kept as they came, like input snapshots).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Loose::Null => Value::Null,
            Loose::Bool(b) => Value::Bool(*b),
            Loose::Int(i) => Value::from(*i),
            Loose::Float(x) => Value::from(*x),
            Loose::Str(s) => Value::String(s.to_string()),
            Loose::Array(items) => Value::Array(items.iter().map(Loose::to_json).collect()),
            Loose::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
            }
        }
    }

    /// The JSON type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Loose::Null => "null",
            Loose::Bool(_) => "a boolean",
            Loose::Int(_) | Loose::Float(_) => "a number",
            Loose::Str(_) => "a string",
            Loose::Array(_) => "an array",
            Loose::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::Float(v as f64), Loose::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Loose::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(Key(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Loose::Object(entries))
    }
}

/// An object key, borrowed from the body when it has no escapes (serde's own
/// `Cow<str>` always allocates).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Parses a JSON document.
pub fn parse(bytes: &[u8]) -> Result<Loose<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Loose::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The entries of an object sorted into known fields, with the unknown and duplicate
/// keys set aside for reporting.
pub struct Fields<'a, const N: usize> {
    pub values: [Option<Loose<'a>>; N],
    pub unknown: Vec<Cow<'a, str>>,
    pub duplicate: Vec<Cow<'a, str>>,
}

impl<'a, const N: usize> Fields<'a, N> {
    pub fn sort(entries: Vec<(Cow<'a, str>, Loose<'a>)>, names: &[&str; N]) -> Self {
        let mut values: [Option<Loose<'a>>; N] = std::array::from_fn(|_| None);
        let mut unknown = Vec::new();
        let mut duplicate = Vec::new();
        for (key, value) in entries {
            // Compare lengths first: most keys are told apart without touching bytes.
            match names.iter().position(|n| n.len() == key.len() && *n == key) {
                Some(i) if values[i].is_some() => duplicate.push(key),
                Some(i) => values[i] = Some(value),
                None => unknown.push(key),
            }
        }
        Fields { values, unknown, duplicate }
    }

    pub fn take(&mut self, i: usize) -> Option<Loose<'a>> {
        self.values[i].take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_keeps_order_and_duplicates() {
        let body = br#"{"b": "x", "a": [1, -2, 3.5, null, true], "b": "e\u00e9"}"#;
        let Loose::Object(entries) = parse(body).expect("parse") else { panic!("object") };
        assert_eq!(entries.len(), 3);
        assert!(matches!(&entries[0].0, Cow::Borrowed("b")));
        assert!(matches!(&entries[0].1, Loose::Str(Cow::Borrowed("x"))));
        assert_eq!(
            entries[1].1,
            Loose::Array(vec![Loose::Int(1), Loose::Int(-2), Loose::Float(3.5), Loose::Null, Loose::Bool(true)])
        );
        assert_eq!(entries[2].1, Loose::Str(Cow::Owned("eé".into())));
    }

    #[test]
    fn refuses_what_json_refuses() {
        for bad in [&b"{"[..], b"NaN", b"[Infinity]", b"{\"a\": 1e999}", b"[1] [2]", b"\"\\ud800\""] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err(), "recursion limit");
    }

    #[test]
    fn sorts_fields() {
        let Loose::Object(entries) = parse(br#"{"a": 1, "z": 2, "a": 3}"#).expect("parse") else { panic!() };
        let mut f = Fields::sort(entries, &["a", "b"]);
        assert_eq!(f.take(0), Some(Loose::Int(1)));
        assert_eq!(f.take(1), None);
        assert_eq!((f.unknown.len(), f.duplicate.len()), (1, 1));
    }
}
