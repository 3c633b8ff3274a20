//! Rows of text fields from tabular sources: NDJSON read line by line and Parquet read
//! row group by row group, both handed out as `csv::StringRecord`s so that one type
//! rule serves every format (CSV itself is read with the `csv` crate directly). Used by
//! `sightline report` (files) and by reference uploads to the server (request bodies).

mod ndjson;
mod parquet;

pub use ndjson::NdjsonRows;
pub use parquet::ParquetRows;

/// Whether a field is a missing value: empty, `NA`, `NaN` or `null` (any letter case),
/// the markers pandas also reads as missing in a CSV.
pub fn is_missing(field: &str) -> bool {
    ["", "na", "nan", "null"].iter().any(|m| field.eq_ignore_ascii_case(m))
}
