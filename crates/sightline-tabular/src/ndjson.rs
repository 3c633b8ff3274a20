//! NDJSON rows: one JSON object per line, read line by line into text fields.
//!
//! Columns are the keys of the first object, in the order the file writes them. A later
//! object may leave a key out (a missing value) but may not bring a new one: that is an
//! error naming the line, since silently dropping data would hide a producer's bug.
//! Values become the text a CSV file would hold, so one type rule serves both formats:
//! null is missing, numbers keep their JSON text, booleans are `true`/`false`, strings are
//! taken as written (so a string holding a number counts as a number, and `""` or `"NA"`
//! as missing, as in CSV). Arrays and objects are refused.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, bail};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// One object's entries in file order (serde_json's `Map` would sort them).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

pub struct NdjsonRows<R> {
    /// What error messages call the source (a file's path, "the upload").
    source: String,
    lines: R,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// The first object, read to learn the columns and handed out as the first row.
    pending: Option<Entries>,
    line: u64,
    buf: String,
}

impl NdjsonRows<BufReader<File>> {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        NdjsonRows::new(path.display().to_string(), BufReader::new(file))
    }
}

impl<R: BufRead> NdjsonRows<R> {
    /// Reads the first object of `lines` to learn the columns; `source` names it in errors.
    pub fn new(source: String, lines: R) -> anyhow::Result<Self> {
        let mut rows = NdjsonRows {
            source,
            lines,
            names: Vec::new(),
            index: HashMap::new(),
            pending: None,
            line: 0,
            buf: String::new(),
        };
        let Some(first) = rows.next_object()? else {
            bail!("{} is empty: at least one JSON object per line is required", rows.source);
        };
        for (i, (name, _)) in first.0.iter().enumerate() {
            if rows.index.insert(name.clone(), i).is_some() {
                bail!("{}: line {}: key {name:?} appears twice", rows.source, rows.line);
            }
            rows.names.push(name.clone());
        }
        rows.pending = Some(first);
        Ok(rows)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    fn next_object(&mut self) -> anyhow::Result<Option<Entries>> {
        loop {
            self.buf.clear();
            let read = self
                .lines
                .read_line(&mut self.buf)
                .with_context(|| format!("{}: cannot read line {}", self.source, self.line + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim();
            if text.is_empty() {
                continue;
            }
            let entries: Entries = serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("{}: line {}: malformed JSON object: {e}", self.source, self.line))?;
            return Ok(Some(entries));
        }
    }

    /// The next row's fields in column order, or `false` at the end of the file.
    pub fn read_record(&mut self, record: &mut csv::StringRecord) -> anyhow::Result<bool> {
        let entries = match self.pending.take() {
            Some(e) => e,
            None => match self.next_object()? {
                Some(e) => e,
                None => return Ok(false),
            },
        };
        let mut fields: Vec<Option<String>> = vec![None; self.names.len()];
        for (key, value) in entries.0 {
            let Some(&i) = self.index.get(&key) else {
                bail!(
                    "{}: line {}: key {key:?} is not a column (columns are the keys of the first object)",
                    self.source,
                    self.line
                );
            };
            let text = match value {
                serde_json::Value::Null => String::new(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => bail!(
                    "{}: line {}, key {key:?}: arrays and objects are not supported as values",
                    self.source,
                    self.line
                ),
            };
            fields[i] = Some(text);
        }
        record.clear();
        for f in &fields {
            record.push_field(f.as_deref().unwrap_or_default());
        }
        Ok(true)
    }
}
