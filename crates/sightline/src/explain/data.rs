//! Rows to explain (or a background) read from a file as numbers, one column per feature.

use std::path::Path;

use anyhow::bail;

use crate::report::input::{Format, Table, is_missing};

pub struct Data {
    pub names: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

/// Reads every row; a missing value becomes NaN where `accepts_missing`, else it is an
/// error, as is any field that is not a finite number.
pub fn read(path: &Path, format: Format, num_features: usize, accepts_missing: bool) -> anyhow::Result<Data> {
    let mut table = Table::open(path, format)?;
    let names = table.names().to_vec();
    if names.len() != num_features {
        bail!(
            "{} has {} columns, the model expects {num_features} features (one column per feature, in the model's order)",
            path.display(),
            names.len()
        );
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while table.next(&mut record)? {
        let mut row = Vec::with_capacity(num_features);
        for (at, name) in names.iter().enumerate() {
            let field = Table::field(&record, at);
            let value = if is_missing(field) {
                if !accepts_missing {
                    bail!(
                        "{}: column {name:?} is missing; this method needs complete rows (treeshap and \
                         interventional accept missing values)",
                        table.place(&record)
                    );
                }
                f64::NAN
            } else {
                match field.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    _ => bail!("{}: column {name:?} holds {field:?}, not a finite number", table.place(&record)),
                }
            };
            row.push(value);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{} has no rows", path.display());
    }
    Ok(Data { names, rows })
}
