//! Reading the reference and current files (CSV, NDJSON or Parquet): headers, column
//! types and values.
//!
//! A column is numeric only if all its non-missing values, in both files, are finite
//! numbers. Each file is streamed once, keeping the numbers of columns that are numeric
//! so far and counting the text of the others; a column that meets text after numbers
//! (in either file) is counted again from its text in a second pass over the files
//! where numbers were kept, so no value is ever held as a string. Memory is the numeric
//! values (8 bytes each) and one count per distinct category. Every format is read as rows of text fields
//! (`csv::StringRecord`), so the type rule and the error messages are the same for all;
//! `sightline-tabular` says how NDJSON and Parquet values become text. The two files are read
//! on two threads.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use anyhow::{Context, bail};
use sightline_stats::default_method::ColumnKind;
use sightline_tabular::{NdjsonRows, ParquetRows};

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

impl Format {
    /// The format `--format` gives, or the one the file's extension names.
    pub fn of(path: &Path, given: Option<Format>) -> anyhow::Result<Format> {
        if let Some(f) = given {
            return Ok(f);
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" | "json" => Ok(Format::Ndjson),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => bail!(
                "cannot tell the format of {} from its extension (.csv, .ndjson/.jsonl/.json, .parquet): \
                 give --format",
                path.display()
            ),
        }
    }
}

/// Rows of one file as text fields, whatever its format.
enum Rows {
    Csv(csv::Reader<File>),
    Ndjson(NdjsonRows<std::io::BufReader<File>>),
    Parquet(ParquetRows),
}

impl Rows {
    fn open(path: &Path, format: Format) -> anyhow::Result<Rows> {
        Ok(match format {
            Format::Csv => Rows::Csv(reader(path)?),
            Format::Ndjson => Rows::Ndjson(NdjsonRows::open(path)?),
            Format::Parquet => Rows::Parquet(ParquetRows::open(path)?),
        })
    }

    fn read_record(&mut self, path: &Path, record: &mut csv::StringRecord) -> anyhow::Result<bool> {
        match self {
            Rows::Csv(rdr) => rdr.read_record(record).with_context(|| format!("{}: malformed CSV", path.display())),
            Rows::Ndjson(rows) => rows.read_record(record),
            Rows::Parquet(rows) => rows.read_record(record),
        }
    }

    /// How many rows the file holds, guessed from the bytes the first `rows` rows took
    /// (CSV only). Reserving that much up front spares the numeric columns' vectors their
    /// doublings, each of which had the kernel zero fresh pages: a fifth of a report's time.
    fn estimated_rows(&self, rows: u64, record: &csv::StringRecord) -> Option<usize> {
        let Rows::Csv(rdr) = self else { return None };
        let read = record.position()?.byte().max(1);
        let total = rdr.get_ref().metadata().ok()?.len();
        // A little over the estimate, so a file whose later rows are longer still fits; never
        // more rows than the file has bytes per field separator (untouched reserved pages are
        // not resident anyway).
        let columns = record.len().max(1) as u64;
        let guess = (total / read * rows + total % read * rows / read).min(total / columns);
        usize::try_from(guess).ok().map(|n| n + n / 32)
    }

    /// Where the last record sits, for error messages.
    fn place(&self, row: u64, record: &csv::StringRecord) -> String {
        match self {
            Rows::Csv(_) => place(row, record),
            Rows::Ndjson(rows) => format!("row {row} (line {})", rows.line()),
            Rows::Parquet(rows) => format!("row {}", rows.row()),
        }
    }
}

/// One file's header and rows as text fields, whatever its format, for commands that
/// read rows rather than columns (`sightline explain`).
pub struct Table {
    path: std::path::PathBuf,
    rows: Rows,
    names: Vec<String>,
    read: u64,
}

impl Table {
    /// Opens the file and reads its header (checked as the drift report checks it).
    pub fn open(path: &Path, format: Format) -> anyhow::Result<Table> {
        let mut rows = Rows::open(path, format)?;
        let names = header(path, &mut rows)?;
        Ok(Table { path: path.to_owned(), rows, names, read: 0 })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The next row into `record`; false at the end of the file.
    pub fn next(&mut self, record: &mut csv::StringRecord) -> anyhow::Result<bool> {
        let more = self.rows.read_record(&self.path, record)?;
        if more {
            self.read += 1;
        }
        Ok(more)
    }

    /// Where the last row read sits, for error messages.
    pub fn place(&self, record: &csv::StringRecord) -> String {
        format!("{}: {}", self.path.display(), self.rows.place(self.read, record))
    }

    /// Field `at` of a record, trimmed as the drift report trims it.
    pub fn field(record: &csv::StringRecord, at: usize) -> &str {
        field(record, at)
    }
}

/// One column's non-missing values from one file, and how many were missing.
#[derive(Debug)]
pub enum Values {
    Numeric(Vec<f64>),
    /// Category counts in order of first appearance (the order keeps output stable).
    Categorical(Vec<(String, u64)>),
}

/// A column as read from both files.
#[derive(Debug)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    pub reference: Values,
    pub current: Values,
    pub reference_missing: u64,
    pub current_missing: u64,
}

/// The user's type overrides (`--categorical`, `--numeric`).
#[derive(Debug, Default)]
pub struct Overrides<'a> {
    pub categorical: &'a [String],
    pub numeric: &'a [String],
}

pub use sightline_tabular::is_missing;

/// A field as a finite number, or `None`. `inf` parses but is not finite: a column with
/// it is text unless forced numeric, and then it is an error.
fn finite_number(field: &str) -> Option<f64> {
    field.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn reader(path: &Path) -> anyhow::Result<csv::Reader<File>> {
    // `flexible(false)` turns a row with the wrong number of fields into an error instead
    // of a silent shift. Fields are trimmed where they are read (`field`), not by the
    // reader: its `Trim::All` rebuilds every record, which was a quarter of a report's time.
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::Headers)
        .buffer_capacity(1 << 20)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

fn header(path: &Path, rows: &mut Rows) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = match rows {
        Rows::Csv(rdr) => rdr
            .headers()
            .with_context(|| format!("{}: cannot read the header row", path.display()))?
            .iter()
            .map(String::from)
            .collect(),
        Rows::Ndjson(r) => r.names().to_vec(),
        Rows::Parquet(r) => r.names().to_vec(),
    };
    if names.is_empty() || names.iter().all(String::is_empty) {
        bail!("{} is empty: a header row naming the columns is required", path.display());
    }
    let mut seen = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            bail!("{}: column {} of the header has no name", path.display(), i + 1);
        }
        if !seen.insert(name.as_str()) {
            bail!("{}: column {name:?} appears twice in the header", path.display());
        }
    }
    Ok(names)
}

/// Checks that both headers name the same columns (order may differ) and returns, for
/// each reference column, its position in the current file.
fn align(reference: &[String], current: &[String]) -> anyhow::Result<Vec<usize>> {
    let position: HashMap<&str, usize> = current.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let only_reference: Vec<&str> =
        reference.iter().map(String::as_str).filter(|n| !position.contains_key(n)).collect();
    let reference_set: HashSet<&str> = reference.iter().map(String::as_str).collect();
    let only_current: Vec<&str> = current.iter().map(String::as_str).filter(|n| !reference_set.contains(n)).collect();
    if !only_reference.is_empty() || !only_current.is_empty() {
        bail!(
            "the files have different columns: only in reference: [{}]; only in current: [{}]",
            only_reference.join(", "),
            only_current.join(", ")
        );
    }
    Ok(reference.iter().map(|n| position.get(n.as_str()).copied().unwrap_or_default()).collect())
}

/// Field `at` of a record, trimmed: trimming lets "1.5 " be a number, as pandas reads it.
fn field(record: &csv::StringRecord, at: usize) -> &str {
    record.get(at).unwrap_or_default().trim()
}

/// Where a value sits, for error messages: the data row (1-based, header excluded) and
/// the file line (a quoted field may span lines, so the two can differ by more than one).
fn place(row: u64, record: &csv::StringRecord) -> String {
    match record.position() {
        Some(p) => format!("row {row} (line {})", p.line()),
        None => format!("row {row}"),
    }
}

/// Per-column accumulator.
enum Sink {
    Numeric(Vec<f64>),
    Categorical {
        index: HashMap<String, usize>,
        counts: Vec<(String, u64)>,
    },
    /// Numbers until a text value came: the earlier numbers' text is gone, so a column
    /// that ends categorical is counted again in a second pass.
    Flipped,
}

impl Sink {
    fn categorical() -> Sink {
        Sink::Categorical { index: HashMap::new(), counts: Vec::new() }
    }

    fn count(&mut self, field: &str) {
        if let Sink::Categorical { index, counts } = self {
            match index.get(field) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    index.insert(field.to_owned(), counts.len());
                    counts.push((field.to_owned(), 1));
                }
            }
        }
    }

    fn finish(self) -> Values {
        match self {
            Sink::Numeric(v) => Values::Numeric(v),
            Sink::Categorical { counts, .. } => Values::Categorical(counts),
            // `read` recounts every flipped column before finishing; an empty count is
            // what a column with no values looks like, should one slip through.
            Sink::Flipped => Values::Categorical(Vec::new()),
        }
    }
}

/// Rows read before the file's size is used to guess how many there are.
const RESERVE_AFTER_ROWS: u64 = 4096;

/// The main pass over one file: values of columns that are numbers so far, counts of
/// the others, and missing counts. `numeric` gives each column's starting kind; `forced`
/// marks `--numeric` columns, where text is an error naming the row and column.
fn read_values(
    path: &Path,
    rows: &mut Rows,
    names: &[String],
    order: &[usize],
    numeric: &[bool],
    forced: &[bool],
) -> anyhow::Result<(Vec<Sink>, Vec<u64>)> {
    let mut sinks: Vec<Sink> =
        numeric.iter().map(|&n| if n { Sink::Numeric(Vec::new()) } else { Sink::categorical() }).collect();
    let mut missing = vec![0_u64; order.len()];
    let mut record = csv::StringRecord::new();
    let mut row = 0_u64;
    while rows.read_record(path, &mut record)? {
        row += 1;
        if row == RESERVE_AFTER_ROWS
            && let Some(n) = rows.estimated_rows(row, &record)
        {
            for sink in &mut sinks {
                if let Sink::Numeric(values) = sink {
                    values.reserve(n.saturating_sub(values.len()));
                }
            }
        }
        for (col, &field_at) in order.iter().enumerate() {
            let field = field(&record, field_at);
            if is_missing(field) {
                missing[col] += 1;
                continue;
            }
            match &mut sinks[col] {
                Sink::Numeric(values) => match finite_number(field) {
                    Some(v) => values.push(v),
                    None if forced[col] => bail!(
                        "{}: {}, column {:?}: {field:?} is not a finite number (the column is numeric by --numeric)",
                        path.display(),
                        rows.place(row, &record),
                        names[col]
                    ),
                    None => sinks[col] = Sink::Flipped,
                },
                sink => sink.count(field),
            }
        }
    }
    if row == 0 {
        bail!("{} has a header but no data rows", path.display());
    }
    // Sorted here, on this file's thread and in place: KS and Wasserstein need sorted
    // samples and take sorted input as it is, where they would sort a copy of each
    // million-value column otherwise. No method depends on the order of the values.
    let mut scratch = Vec::new();
    for sink in &mut sinks {
        if let Sink::Numeric(values) = sink {
            sightline_stats::drift::sort_values(values, &mut scratch);
        }
    }
    Ok((sinks, missing))
}

/// The second pass, only for columns that turned out categorical after numbers were
/// collected for them in this file: their text values counted from the start.
fn recount(path: &Path, format: Format, order: &[usize], columns: &[usize]) -> anyhow::Result<Vec<Sink>> {
    let mut rows = Rows::open(path, format)?;
    if let Rows::Csv(rdr) = &mut rows {
        // The header row was checked in the first pass; reading it here skips it.
        rdr.headers().with_context(|| format!("{}: cannot read the header row", path.display()))?;
    }
    let mut sinks: Vec<Sink> = columns.iter().map(|_| Sink::categorical()).collect();
    let mut record = csv::StringRecord::new();
    while rows.read_record(path, &mut record)? {
        for (sink, &col) in sinks.iter_mut().zip(columns) {
            let field = field(&record, order[col]);
            if !is_missing(field) {
                sink.count(field);
            }
        }
    }
    Ok(sinks)
}

/// Where the two files are and what format each is in.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub reference: &'a Path,
    pub reference_format: Format,
    pub current: &'a Path,
    pub current_format: Format,
}

/// Runs `f` on both files at once, one thread each: reading is most of a report's time,
/// and the two files are independent.
fn both<T: Send>(
    inputs: &Inputs<'_>,
    f: impl Fn(&Path, Format, bool) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<(T, T)> {
    std::thread::scope(|s| {
        let current = s.spawn(|| f(inputs.current, inputs.current_format, false));
        let reference = f(inputs.reference, inputs.reference_format, true);
        let current = current.join().map_err(|_| anyhow::anyhow!("the reader of the current file panicked"))?;
        Ok((reference?, current?))
    })
}

/// Reads both files: headers checked against each other, types inferred or taken from
/// the overrides, values collected. Columns come in the reference file's order.
pub fn read(inputs: &Inputs<'_>, overrides: &Overrides<'_>) -> anyhow::Result<Vec<Column>> {
    let (reference, current) = (inputs.reference, inputs.current);
    let mut ref_rows = Rows::open(reference, inputs.reference_format)?;
    let mut cur_rows = Rows::open(current, inputs.current_format)?;
    let names = header(reference, &mut ref_rows)?;
    let cur_names = header(current, &mut cur_rows)?;
    let cur_order = align(&names, &cur_names)?;
    let ref_order: Vec<usize> = (0..names.len()).collect();

    let known: HashSet<&str> = names.iter().map(String::as_str).collect();
    for (flag, list) in [("--categorical", overrides.categorical), ("--numeric", overrides.numeric)] {
        if let Some(unknown) = list.iter().find(|n| !known.contains(n.as_str())) {
            bail!("{flag} names {unknown:?}, which is not a column of the files");
        }
    }
    if let Some(both) = overrides.categorical.iter().find(|n| overrides.numeric.contains(n)) {
        bail!("column {both:?} is given both as --categorical and as --numeric");
    }
    let forced: Vec<bool> = names.iter().map(|n| overrides.numeric.contains(n)).collect();
    let initial: Vec<bool> = names.iter().map(|n| !overrides.categorical.contains(n)).collect();
    // One pass per file usually does: numbers are kept as they come, text is counted. Only
    // a column that is numeric in one place and text in another needs its text counted
    // again where numbers were kept (`recount`).
    let pass =
        |path: &Path, rows: &mut Rows, order: &[usize]| read_values(path, rows, &names, order, &initial, &forced);
    let ((mut ref_sinks, ref_missing), (mut cur_sinks, cur_missing)) = std::thread::scope(|s| {
        let cur = s.spawn(|| pass(current, &mut cur_rows, &cur_order));
        let reference = pass(reference, &mut ref_rows, &ref_order);
        let cur = cur.join().map_err(|_| anyhow::anyhow!("the reader of the current file panicked"))?;
        anyhow::Ok((reference?, cur?))
    })?;
    let kinds: Vec<ColumnKind> = ref_sinks
        .iter()
        .zip(&cur_sinks)
        .map(|pair| match pair {
            (Sink::Numeric(_), Sink::Numeric(_)) => ColumnKind::Numeric,
            _ => ColumnKind::Categorical,
        })
        .collect();
    let stale = |sinks: &[Sink]| -> Vec<usize> {
        (0..kinds.len())
            .filter(|&c| kinds[c] == ColumnKind::Categorical && !matches!(sinks[c], Sink::Categorical { .. }))
            .collect()
    };
    let (ref_stale, cur_stale) = (stale(&ref_sinks), stale(&cur_sinks));
    let (ref_fresh, cur_fresh) = both(inputs, |path, format, is_reference| {
        let (order, columns) = if is_reference { (&ref_order, &ref_stale) } else { (&cur_order, &cur_stale) };
        if columns.is_empty() { Ok(Vec::new()) } else { recount(path, format, order, columns) }
    })?;
    for (sinks, stale, fresh) in [(&mut ref_sinks, &ref_stale, ref_fresh), (&mut cur_sinks, &cur_stale, cur_fresh)] {
        for (&col, sink) in stale.iter().zip(fresh) {
            sinks[col] = sink;
        }
    }
    let ref_values: Vec<Values> = ref_sinks.into_iter().map(Sink::finish).collect();
    let cur_values: Vec<Values> = cur_sinks.into_iter().map(Sink::finish).collect();
    Ok(names
        .into_iter()
        .zip(kinds)
        .zip(ref_values.into_iter().zip(cur_values))
        .zip(ref_missing.into_iter().zip(cur_missing))
        .map(|(((name, kind), (reference, current)), (reference_missing, current_missing))| Column {
            name,
            kind,
            reference,
            current,
            reference_missing,
            current_missing,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers_in_any_case() {
        for m in ["", "NA", "na", "NaN", "nan", "null", "NULL"] {
            assert!(is_missing(m), "{m:?}");
        }
        for v in ["0", "none", "N/A", "nil", "a"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    #[test]
    fn infinities_are_not_numbers_here() {
        assert_eq!(finite_number("1e3"), Some(1000.0));
        assert_eq!(finite_number("-.5"), Some(-0.5));
        assert_eq!(finite_number("inf"), None);
        assert_eq!(finite_number("12a"), None);
    }
}
