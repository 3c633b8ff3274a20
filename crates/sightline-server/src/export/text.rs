//! The text encoders of an export: CSV (a header row, then one record per row; missing
//! cells empty) and NDJSON (one object per row; missing cells and non-finite numbers null).

use super::{Cell, Column};
use serde_json::{Map, Value};

pub struct Csv {
    columns: Vec<Column>,
    header_written: bool,
}

impl Csv {
    pub fn new(columns: Vec<Column>) -> Self {
        Self { columns, header_written: false }
    }

    pub fn page(&mut self, rows: &[Vec<Cell>]) -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| format!("csv: {e}");
        if !self.header_written {
            w.write_record(self.columns.iter().map(|c| c.name.as_str())).map_err(failed)?;
            self.header_written = true;
        }
        for row in rows {
            w.write_record(row.iter().map(|cell| match cell {
                Cell::Null => String::new(),
                Cell::Text(s) => s.clone(),
                Cell::Number(x) => x.to_string(),
                Cell::Bool(b) => b.to_string(),
            }))
            .map_err(failed)?;
        }
        w.into_inner().map_err(|e| format!("csv: {}", e.error()))
    }
}

pub struct Ndjson {
    columns: Vec<Column>,
}

impl Ndjson {
    pub fn new(columns: Vec<Column>) -> Self {
        Self { columns }
    }

    pub fn page(&self, rows: &[Vec<Cell>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * 256);
        for row in rows {
            let object: Map<String, Value> = self
                .columns
                .iter()
                .zip(row)
                .map(|(c, cell)| {
                    let v = match cell {
                        Cell::Null => Value::Null,
                        Cell::Text(s) => Value::String(s.clone()),
                        Cell::Number(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
                        Cell::Bool(b) => Value::Bool(*b),
                    };
                    (c.name.clone(), v)
                })
                .collect();
            // Writing a JSON value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, &Value::Object(object));
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{Kind, Source};

    fn columns() -> Vec<Column> {
        vec![
            Column { name: "id".into(), kind: Kind::Text, source: Source::RequestId },
            Column { name: "x".into(), kind: Kind::Number, source: Source::Label },
        ]
    }

    #[test]
    fn csv_writes_the_header_once_and_quotes_what_needs_it() {
        let mut csv = Csv::new(columns());
        let first = csv.page(&[vec![Cell::Text("a,b".into()), Cell::Number(0.5)]]).expect("page");
        let second = csv.page(&[vec![Cell::Text("c".into()), Cell::Null]]).expect("page");
        assert_eq!(String::from_utf8(first).expect("utf-8"), "id,x\n\"a,b\",0.5\n");
        assert_eq!(String::from_utf8(second).expect("utf-8"), "c,\n");
        assert_eq!(Csv::new(columns()).page(&[]).expect("header"), b"id,x\n");
    }

    #[test]
    fn ndjson_writes_null_for_missing_and_non_finite() {
        let out = Ndjson::new(columns()).page(&[vec![Cell::Null, Cell::Number(f64::NAN)]]);
        assert_eq!(String::from_utf8(out).expect("utf-8"), "{\"id\":null,\"x\":null}\n");
    }
}
