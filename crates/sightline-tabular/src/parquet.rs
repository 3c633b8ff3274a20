//! Parquet rows through the `parquet` crate's record reader, one row group at a time.
//!
//! Top-level primitive columns only; values become text as in a CSV file so one type rule
//! serves every format: null and NaN are missing, integers and floats keep their exact
//! decimal text (shortest round trip), booleans are `true`/`false`, strings as stored;
//! dates, times and decimals become their text and so are compared as categories. A
//! nested column (group, list, map) is refused with its name.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, bail};
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::record::reader::RowIter;

pub struct ParquetRows {
    /// What error messages call the source (a file's path, "the upload").
    source: String,
    names: Vec<String>,
    rows: RowIter<'static>,
    row: u64,
}

impl ParquetRows {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        ParquetRows::new(path.display().to_string(), file)
    }

    /// Rows of a whole Parquet file held by `chunks` (a file, or bytes in memory);
    /// `source` names it in errors.
    pub fn new<C: ChunkReader + 'static>(source: String, chunks: C) -> anyhow::Result<Self> {
        let reader = SerializedFileReader::new(chunks)
            .map_err(|e| anyhow::anyhow!("{source}: not a readable Parquet file: {e}"))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let mut names = Vec::new();
        for field in schema.root_schema().get_fields() {
            if !field.is_primitive() {
                bail!("{source}: column {:?} is nested; only flat columns are supported", field.name());
            }
            names.push(field.name().to_owned());
        }
        if names.is_empty() {
            bail!("{source} has no columns");
        }
        Ok(ParquetRows { source, names, rows: RowIter::from_file_into(Box::new(reader)), row: 0 })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn row(&self) -> u64 {
        self.row
    }

    /// The next row's fields in column order, or `false` after the last row.
    pub fn read_record(&mut self, record: &mut csv::StringRecord) -> anyhow::Result<bool> {
        let Some(row) = self.rows.next() else { return Ok(false) };
        self.row += 1;
        let row = row.map_err(|e| anyhow::anyhow!("{}: row {}: malformed Parquet: {e}", self.source, self.row))?;
        record.clear();
        for (name, field) in row.get_column_iter() {
            let text = match field {
                Field::Null => String::new(),
                Field::Bool(b) => b.to_string(),
                Field::Byte(v) => v.to_string(),
                Field::Short(v) => v.to_string(),
                Field::Int(v) => v.to_string(),
                Field::Long(v) => v.to_string(),
                Field::UByte(v) => v.to_string(),
                Field::UShort(v) => v.to_string(),
                Field::UInt(v) => v.to_string(),
                Field::ULong(v) => v.to_string(),
                Field::Float16(v) => f64::from(f32::from(*v)).to_string(),
                // Widened to f64 first, so the text is the float's exact value.
                Field::Float(v) => f64::from(*v).to_string(),
                Field::Double(v) => v.to_string(),
                Field::Str(s) => s.clone(),
                Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
                    bail!("{}: row {}, column {name:?}: nested values are not supported", self.source, self.row)
                }
                other => other.to_string(),
            };
            record.push_field(&text);
        }
        Ok(true)
    }
}
