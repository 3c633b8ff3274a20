//! A bounded reader of Universal Binary JSON (UBJSON, draft 12) into a `serde_json::Value`.
//!
//! XGBoost's `.ubj` model files are the same document as its `.json` ones in this
//! encoding, so turning one into the other lets the JSON loader read both. No crate on
//! crates.io fits (those found are unmaintained, miss the optimized `$`/`#` containers
//! XGBoost writes, or carry a licence we do not accept), hence this reader.
//!
//! Untrusted input cannot make it panic, recurse without bound or allocate more than a
//! small multiple of its own size: nesting is limited to [`MAX_DEPTH`], and a container's
//! declared count must fit in the bytes that remain (every element takes at least one
//! byte, typed numeric elements their full width) before anything is reserved.
//!
//! Values map to JSON as the format intends: integers of every width to JSON integers,
//! float32/float64 to JSON numbers (widened exactly; NaN and infinities, which JSON cannot
//! hold, become `null`), chars and strings to strings, high-precision numbers to their
//! decimal text as a string.

use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted. XGBoost models nest about eight deep.
pub const MAX_DEPTH: usize = 128;

/// Why bytes are not a UBJSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UbjsonError {
    /// Byte offset where reading stopped.
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for UbjsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

/// Parses one UBJSON value that must span all of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Value, UbjsonError> {
    let mut reader = Reader { bytes, pos: 0 };
    let marker = reader.marker_skipping_noops()?;
    let value = reader.value(marker, 0)?;
    if reader.pos != bytes.len() {
        return Err(reader.error(format!("{} bytes after the end of the document", bytes.len() - reader.pos)));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// What an optimized container declares after its opening bracket.
struct Header {
    /// `$`: every element has this type and carries no marker of its own.
    element_type: Option<u8>,
    /// `#`: exactly this many elements and no closing bracket.
    count: Option<usize>,
}

impl<'a> Reader<'a> {
    fn error(&self, message: impl Into<String>) -> UbjsonError {
        UbjsonError { offset: self.pos, message: message.into() }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], UbjsonError> {
        if n > self.remaining() {
            return Err(self.error(format!("needs {n} more bytes, {} remain", self.remaining())));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], UbjsonError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, UbjsonError> {
        Ok(self.array::<1>()?[0])
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The next type marker, past any no-op (`N`) markers, which stand for nothing.
    fn marker_skipping_noops(&mut self) -> Result<u8, UbjsonError> {
        loop {
            let marker = self.byte()?;
            if marker != b'N' {
                return Ok(marker);
            }
        }
    }

    /// An integer of the given type; lengths and counts are integers of any width.
    fn integer(&mut self, marker: u8) -> Result<i64, UbjsonError> {
        Ok(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.array()?)),
            b'U' => i64::from(u8::from_be_bytes(self.array()?)),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            other => return Err(self.error(format!("expected an integer type, found {}", show(other)))),
        })
    }

    /// A length or count (marker then integer), checked to be nonnegative.
    fn length(&mut self) -> Result<usize, UbjsonError> {
        let marker = self.byte()?;
        let value = self.integer(marker)?;
        usize::try_from(value).map_err(|_| self.error(format!("negative length {value}")))
    }

    /// A string payload: length, then that many bytes of UTF-8.
    fn string(&mut self) -> Result<String, UbjsonError> {
        let len = self.length()?;
        let start = self.pos;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| UbjsonError { offset: start, message: "string is not utf-8".into() })
    }

    /// The payload of a value whose type marker has been read.
    fn value(&mut self, marker: u8, depth: usize) -> Result<Value, UbjsonError> {
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.integer(marker)?),
            b'd' => float(f64::from(f32::from_be_bytes(self.array()?))),
            b'D' => float(f64::from_be_bytes(self.array()?)),
            b'C' => {
                let byte = self.byte()?;
                if !byte.is_ascii() {
                    return Err(self.error("char is not ascii"));
                }
                Value::String(char::from(byte).to_string())
            }
            b'S' => Value::String(self.string()?),
            b'H' => {
                let text = self.string()?;
                if !is_decimal(&text) {
                    return Err(self.error(format!("high-precision number {text:?} is not a number")));
                }
                Value::String(text)
            }
            b'[' => self.container(depth, false)?,
            b'{' => self.container(depth, true)?,
            other => return Err(self.error(format!("unknown type marker {}", show(other)))),
        })
    }

    /// The optional `$type` and `#count` after an opening bracket. A count's elements
    /// must fit in what remains: at least one byte each, or the type's full width.
    fn header(&mut self) -> Result<Header, UbjsonError> {
        let mut header = Header { element_type: None, count: None };
        if self.peek() == Some(b'$') {
            self.pos += 1;
            let element_type = self.byte()?;
            if matches!(element_type, b'N' | b'[' | b'{' | b'$' | b'#' | b']' | b'}') {
                return Err(self.error(format!("container element type {}", show(element_type))));
            }
            header.element_type = Some(element_type);
            if self.peek() != Some(b'#') {
                return Err(self.error("a typed container needs a count"));
            }
        }
        if self.peek() == Some(b'#') {
            self.pos += 1;
            let count = self.length()?;
            let width = header.element_type.map_or(1, fixed_width).max(1);
            if count.checked_mul(width).is_none_or(|bytes| bytes > self.remaining()) {
                return Err(self.error(format!("count {count} does not fit in the {} bytes left", self.remaining())));
            }
            header.count = Some(count);
        }
        Ok(header)
    }

    /// An array or object (its opening bracket read).
    fn container(&mut self, depth: usize, object: bool) -> Result<Value, UbjsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let header = self.header()?;
        let close = if object { b'}' } else { b']' };
        let mut items = Vec::with_capacity(header.count.unwrap_or(0));
        let mut keys = Vec::with_capacity(if object { header.count.unwrap_or(0) } else { 0 });
        let mut index = 0usize;
        loop {
            match header.count {
                Some(count) if index == count => break,
                Some(_) => {}
                None => {
                    // Unsized: elements until the closing bracket; no-ops may sit between.
                    while self.peek() == Some(b'N') {
                        self.pos += 1;
                    }
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        break;
                    }
                }
            }
            if object {
                keys.push(self.string()?);
            }
            let marker = match header.element_type {
                Some(t) => t,
                None => self.marker_skipping_noops()?,
            };
            items.push(self.value(marker, depth + 1)?);
            index += 1;
        }
        Ok(if object {
            // A repeated key keeps its last value, as serde_json does for JSON text.
            Value::Object(keys.into_iter().zip(items).collect::<Map<String, Value>>())
        } else {
            Value::Array(items)
        })
    }
}

/// Bytes one element of a typed container takes (0 for types with no payload, which
/// still count as one toward the size bound).
fn fixed_width(marker: u8) -> usize {
    match marker {
        b'i' | b'U' | b'C' => 1,
        b'I' => 2,
        b'l' | b'd' => 4,
        b'L' | b'D' => 8,
        // Strings carry at least a length marker and one length byte.
        b'S' | b'H' => 2,
        _ => 0,
    }
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.parse::<f64>().is_ok_and(f64::is_finite)
}

fn show(marker: u8) -> String {
    if marker.is_ascii_graphic() { format!("{:?}", char::from(marker)) } else { format!("0x{marker:02x}") }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// A minimal UBJSON writer for the tests, in the forms XGBoost uses (sized
    /// containers, typed float and integer arrays, int64 key lengths).
    fn encode(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Null => out.push(b'Z'),
            Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    out.push(b'L');
                    out.extend(i.to_be_bytes());
                } else {
                    out.push(b'D');
                    out.extend(n.as_f64().unwrap_or_default().to_be_bytes());
                }
            }
            Value::String(s) => {
                out.push(b'S');
                key(s, out);
            }
            Value::Array(items) => {
                out.extend(b"[#L");
                out.extend((items.len() as i64).to_be_bytes());
                items.iter().for_each(|v| encode(v, out));
            }
            Value::Object(map) => {
                out.push(b'{');
                for (k, v) in map {
                    key(k, out);
                    encode(v, out);
                }
                out.push(b'}');
            }
        }
    }

    fn key(text: &str, out: &mut Vec<u8>) {
        out.push(b'L');
        out.extend((text.len() as i64).to_be_bytes());
        out.extend(text.as_bytes());
    }

    #[test]
    fn reads_every_type_and_container_form() {
        let mut bytes = b"{U\x01aZU\x01bTU\x01cFU\x01di\xffU\x01eU\xffU\x01fI\x01\x00U\x01gl\x00\x01\x00\x00".to_vec();
        bytes.extend(b"U\x01hL\x00\x00\x00\x01\x00\x00\x00\x00U\x01id\x3f\xc0\x00\x00U\x01jD");
        bytes.extend(0.1f64.to_be_bytes());
        bytes.extend(b"U\x01kCxU\x01lSU\x02hiU\x01mHU\x041.25");
        // Unsized array with a no-op; typed float32 array; typed uint8 array; sized array.
        bytes.extend(b"U\x01n[i\x01NSU\x01z]U\x01o[$d#U\x02\x3f\x80\x00\x00\x7f\xc0\x00\x00");
        bytes.extend(b"U\x01p[$U#i\x03\x00\x01\x02U\x01q[#i\x02Ti\x05");
        // Typed object.
        bytes.extend(b"U\x01r{$i#U\x01U\x01s\x07}");
        let value = parse(&bytes).expect("valid");
        assert_eq!(
            value,
            json!({
                "a": null, "b": true, "c": false, "d": -1, "e": 255, "f": 256, "g": 65536,
                "h": 4_294_967_296_i64, "i": 1.5, "j": 0.1, "k": "x", "l": "hi", "m": "1.25",
                "n": [1, "z"], "o": [1.0, null], "p": [0, 1, 2], "q": [true, 5], "r": {"s": 7}
            })
        );
    }

    #[test]
    fn refuses_corrupt_input_with_an_offset() {
        let check = |bytes: &[u8], expected: &str| {
            let error = parse(bytes).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        };
        check(b"", "needs 1 more bytes");
        check(b"{U\x05ab", "needs 5 more bytes, 2 remain");
        check(b"[#L\x7f\xff\xff\xff\xff\xff\xff\xffZ", "does not fit");
        check(b"[$d#U\x03\x00\x00\x00\x00", "count 3 does not fit in the 4 bytes left");
        check(b"[$Z#L\x00\x00\x00\x00\x10\x00\x00\x00", "does not fit");
        check(b"[#i\xff", "negative length -1");
        check(b"[$d]", "a typed container needs a count");
        check(b"[$[#U\x01", "container element type '['");
        check(b"[i\x01", "needs 1 more bytes");
        check(b"Q", "unknown type marker 'Q'");
        check(b"\x00", "unknown type marker 0x00");
        check(b"SU\x02\xff\xfe", "string is not utf-8");
        check(b"HU\x03abc", "is not a number");
        check(b"C\xe9", "char is not ascii");
        check(b"ZZ", "1 bytes after the end");
        check(b"{SU\x01a}", "expected an integer type");
        check(&[b'['; MAX_DEPTH + 1], "nested deeper than 128 levels");
        assert_eq!(parse(&[[b'['; MAX_DEPTH], [b']'; MAX_DEPTH]].concat()).map(|_| ()), Ok(()));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |v| v.is_finite() && v.fract() != 0.0).prop_map(float),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips_what_the_writer_writes(value in json_value()) {
            let mut bytes = Vec::new();
            encode(&value, &mut bytes);
            prop_assert_eq!(parse(&bytes), Ok(value));
        }

        /// Any bytes at all: an error or a value, never a panic; and every truncation
        /// of a valid document is an error.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), value in json_value()) {
            let _ = parse(&bytes);
            let mut valid = Vec::new();
            encode(&value, &mut valid);
            for cut in 0..valid.len() {
                prop_assert!(parse(&valid[..cut]).is_err());
            }
        }
    }
}
