//! The Parquet encoder of an export: one optional column per export column (UTF-8 byte
//! arrays, doubles, booleans), one row group per page, snappy-compressed. The file
//! writer keeps its own byte count, so the bytes it has written can be taken out after
//! every row group and the pieces still make one valid file.

use super::{Cell, Column, Kind};
use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::sync::Arc;

/// The present values and the definition level of every cell (1 present, 0 missing).
fn present<T>(cells: Vec<Option<T>>) -> (Vec<T>, Vec<i16>) {
    let levels = cells.iter().map(|c| i16::from(c.is_some())).collect();
    (cells.into_iter().flatten().collect(), levels)
}

pub struct Parquet {
    writer: SerializedFileWriter<Vec<u8>>,
    kinds: Vec<Kind>,
}

fn failed(e: parquet::errors::ParquetError) -> String {
    format!("parquet: {e}")
}

impl Parquet {
    pub fn new(columns: &[Column]) -> Result<Self, String> {
        let fields = columns
            .iter()
            .map(|c| {
                let builder = match c.kind {
                    Kind::Text => Type::primitive_type_builder(&c.name, PhysicalType::BYTE_ARRAY)
                        .with_logical_type(Some(LogicalType::String)),
                    Kind::Number => Type::primitive_type_builder(&c.name, PhysicalType::DOUBLE),
                    Kind::Bool => Type::primitive_type_builder(&c.name, PhysicalType::BOOLEAN),
                };
                builder.with_repetition(Repetition::OPTIONAL).build().map(Arc::new).map_err(failed)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let schema = Type::group_type_builder("export").with_fields(fields).build().map_err(failed)?;
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = SerializedFileWriter::new(Vec::new(), Arc::new(schema), Arc::new(properties)).map_err(failed)?;
        Ok(Self { writer, kinds: columns.iter().map(|c| c.kind).collect() })
    }

    /// Writes the rows as one row group and hands back the bytes written so far.
    pub fn page(&mut self, rows: &[Vec<Cell>]) -> Result<Vec<u8>, String> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut group = self.writer.next_row_group().map_err(failed)?;
        for (index, kind) in self.kinds.iter().enumerate() {
            let mut column = group.next_column().map_err(failed)?.ok_or("parquet: fewer columns than the schema")?;
            let cells = rows.iter().map(|r| r.get(index).unwrap_or(&Cell::Null));
            // A cell of another kind than its column's is written as missing.
            match kind {
                Kind::Text => {
                    let values: Vec<Option<ByteArray>> = cells
                        .map(|c| match c {
                            Cell::Text(s) => Some(ByteArray::from(s.as_bytes())),
                            _ => None,
                        })
                        .collect();
                    let (values, levels) = present(values);
                    column.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None).map_err(failed)?;
                }
                Kind::Number => {
                    let values: Vec<Option<f64>> = cells
                        .map(|c| match c {
                            Cell::Number(x) => Some(*x),
                            _ => None,
                        })
                        .collect();
                    let (values, levels) = present(values);
                    column.typed::<DoubleType>().write_batch(&values, Some(&levels), None).map_err(failed)?;
                }
                Kind::Bool => {
                    let values: Vec<Option<bool>> = cells
                        .map(|c| match c {
                            Cell::Bool(b) => Some(*b),
                            _ => None,
                        })
                        .collect();
                    let (values, levels) = present(values);
                    column.typed::<BoolType>().write_batch(&values, Some(&levels), None).map_err(failed)?;
                }
            }
            column.close().map_err(failed)?;
        }
        group.close().map_err(failed)?;
        self.writer.flush().map_err(|e| format!("parquet: {e}"))?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }

    /// Writes the footer and hands back the last bytes.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        self.writer.into_inner().map_err(failed)
    }
}
