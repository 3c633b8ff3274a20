//! `sightline report drift` end to end: the real binary on temporary CSV files, its
//! numbers checked against the `sightline-stats` functions, and every kind of bad input
//! answered with one clear line and a non-zero exit, never a panic.

use std::process::Output;

use serde_json::Value;
use sightline_stats::drift;

use crate::support::sightline_command;

/// Files written for one run, and what the binary answered.
struct Run {
    output: Output,
    json: Option<Value>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts a failure with exactly one `error:` line that contains `needle`.
    fn expect_error(&self, needle: &str) {
        let stderr = self.stderr();
        assert!(!self.output.status.success(), "expected failure, stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }

    fn column(&self, name: &str) -> &Value {
        let json = self.json.as_ref().expect("a JSON report");
        json["columns"].as_array().expect("columns").iter().find(|c| c["name"] == name).expect("column in the report")
    }
}

/// Runs `report drift` on the given file contents (bytes, so malformed text can be sent),
/// with `--json` into the same temporary directory when `json` is set.
fn run(reference: &[u8], current: &[u8], json: bool, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ref_path, cur_path, json_path) =
        (dir.path().join("ref.csv"), dir.path().join("cur.csv"), dir.path().join("out.json"));
    std::fs::write(&ref_path, reference).expect("write reference");
    std::fs::write(&cur_path, current).expect("write current");
    let mut cmd = sightline_command();
    cmd.args(["report", "drift", "--reference"]).arg(&ref_path).arg("--current").arg(&cur_path);
    if json {
        cmd.arg("--json").arg(&json_path);
    }
    cmd.args(extra);
    let output = cmd.output().expect("run sightline");
    let json = if json && output.status.success() {
        let text = std::fs::read_to_string(&json_path).expect("JSON written");
        Some(serde_json::from_str(&text).expect("valid JSON"))
    } else {
        None
    };
    Run { output, json }
}

fn csv(header: &str, rows: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text.into_bytes()
}

fn number(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

/// Compares with a tolerance only for the decimal round trip through JSON (which is
/// exact for serde_json's shortest representation, so this is belt and braces).
fn close(actual: &Value, expected: f64) {
    let a = number(actual);
    assert!((a - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{a} != {expected}");
}

#[test]
fn small_data_picks_the_tests_and_agrees_with_the_stats_crate() {
    // 200 rows: `shifted` moves by half its range, `stable` is the same values in
    // another order; `colour` (3 categories) keeps its shares, `flag` (2) flips.
    let n = 200;
    let shifted_ref: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let shifted_cur: Vec<f64> = (0..n).map(|i| 50.0 + i as f64 * 0.5).collect();
    let stable_ref: Vec<f64> = (0..n).map(|i| ((i * 37) % n) as f64 / 10.0).collect();
    let stable_cur: Vec<f64> = (0..n).map(|i| ((i * 53 + 7) % n) as f64 / 10.0).collect();
    let colour = ["red", "green", "blue"];
    let flag_ref = |i: usize| if i.is_multiple_of(10) { "yes" } else { "no" };
    let flag_cur = |i: usize| if i.is_multiple_of(10) { "no" } else { "yes" };
    let reference = csv(
        "shifted,stable,colour,flag",
        (0..n).map(|i| format!("{},{},{},{}", shifted_ref[i], stable_ref[i], colour[i % 3], flag_ref(i))),
    );
    let current = csv(
        "shifted,stable,colour,flag",
        (0..n).map(|i| format!("{},{},{},{}", shifted_cur[i], stable_cur[i], colour[(i + 1) % 3], flag_cur(i))),
    );
    let run = run(&reference, &current, true, &[]);
    assert!(run.output.status.success(), "{}", run.stderr());

    let expected = drift::ks_2samp(&shifted_ref, &shifted_cur).expect("ks");
    let c = run.column("shifted");
    assert_eq!((c["type"].as_str(), c["method"].as_str()), (Some("numeric"), Some("ks")));
    close(&c["score"], expected.score);
    close(&c["p_value"], expected.p_value.expect("p"));
    assert_eq!(c["threshold"], 0.05);
    assert_eq!(c["drifted"], true);

    let expected = drift::ks_2samp(&stable_ref, &stable_cur).expect("ks");
    let c = run.column("stable");
    close(&c["score"], expected.score);
    close(&c["p_value"], expected.p_value.expect("p"));
    assert_eq!(c["drifted"], false);

    // Shares unchanged (each colour a third, give or take one row): no drift.
    let c = run.column("colour");
    assert_eq!((c["type"].as_str(), c["method"].as_str()), (Some("categorical"), Some("chisquare")));
    // Categories in first appearance order: red, green, blue. The reference has one
    // blue short (200 = 67 + 67 + 66); the current starts at green, so red is short.
    let expected = drift::chi_square(&[67.0, 67.0, 66.0], &[66.0, 67.0, 67.0]).expect("chi-square");
    close(&c["score"], expected.score);
    close(&c["p_value"], expected.p_value.expect("p"));
    assert_eq!(c["drifted"], false);

    // `no` is the smaller category; successes are the other one, `yes`.
    let c = run.column("flag");
    assert_eq!(c["method"], "z");
    let expected = drift::z_test(20, 200, 180, 200).expect("z");
    close(&c["score"], expected.score);
    close(&c["p_value"], expected.p_value.expect("p"));
    assert_eq!(c["drifted"], true);

    let json = run.json.as_ref().expect("JSON");
    assert_eq!(json["share_drifted"], 0.5);
    assert_eq!(json["dataset_drifted"], true);
    assert_eq!(json.as_object().map(|o| o.len()), Some(3), "only the issue's keys: {json}");
}

#[test]
fn large_data_picks_the_distances() {
    // 1,001 reference values: one past Evidently's small-data cut-off.
    let n = 1001;
    let num_ref: Vec<f64> = (0..n).map(|i| (i % 97) as f64).collect();
    let num_cur: Vec<f64> = (0..n).map(|i| (i % 97) as f64 + 30.0).collect();
    let reference = csv("num,cat", (0..n).map(|i| format!("{},{}", num_ref[i], ["a", "b", "c"][i % 3])));
    let current = csv("num,cat", (0..n).map(|i| format!("{},{}", num_cur[i], ["a", "b", "c"][i % 3])));
    let run = run(&reference, &current, true, &[]);
    assert!(run.output.status.success(), "{}", run.stderr());

    let c = run.column("num");
    assert_eq!(c["method"], "wasserstein_normed");
    close(&c["score"], drift::wasserstein_normed(&num_ref, &num_cur).expect("wasserstein").score);
    assert!(c.get("p_value").is_none(), "a distance has no p-value: {c}");
    assert_eq!(c["threshold"], 0.1);
    assert_eq!(c["drifted"], true);

    let c = run.column("cat");
    assert_eq!(c["method"], "jensenshannon");
    close(&c["score"], 0.0);
    assert_eq!(c["drifted"], false);
    assert_eq!(run.json.as_ref().expect("JSON")["share_drifted"], 0.5);
}

#[test]
fn a_category_the_reference_never_had_is_certain_drift() {
    let reference = csv("c", (0..30).map(|i| ["a", "b", "c"][i % 3].to_owned()));
    let current = csv("c", (0..30).map(|i| ["a", "b", "d"][i % 3].to_owned()));
    let run = run(&reference, &current, true, &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let c = run.column("c");
    assert_eq!(c["method"], "chisquare");
    // The statistic is infinite, which JSON cannot hold: null, with p-value 0.
    assert!(c["score"].is_null(), "{c}");
    assert_eq!(c["p_value"], 0.0);
    assert_eq!(c["drifted"], true);
}

#[test]
fn overrides_and_the_table() {
    // Numbers forced categorical: three distinct values, chi-square on counts.
    let reference = csv("code,v", (0..30).map(|i| format!("{},{}", i % 3, i)));
    let current = csv("code,v", (0..30).map(|i| format!("{},{}", i % 3, i)));
    let run = run(&reference, &current, false, &["--categorical", "code"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let table = run.stdout();
    let code = table.lines().find(|l| l.starts_with("code")).expect("a row for code");
    assert!(code.contains("categorical") && code.contains("chisquare"), "{table}");
    let v = table.lines().find(|l| l.starts_with("v ")).expect("a row for v");
    assert!(v.contains("numeric") && v.contains("ks"), "{table}");
    assert!(table.contains("dataset drift: no"), "{table}");
}

#[test]
fn missing_values_are_skipped_and_counted() {
    // A second column, because a one-column row with an empty field is a blank line,
    // which the csv crate skips (as pandas does).
    let reference = csv("x,k", ["1", "", "NA", "2", "NaN", "3", "null"].map(|v| format!("{v},k")));
    let current = csv("x,k", ["1", "2", "3", "nan"].map(|v| format!("{v},k")));
    let run = run(&reference, &current, false, &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let row = run.stdout().lines().find(|l| l.starts_with("x ")).map(String::from).expect("row");
    assert!(row.contains("numeric") && row.contains("4/1"), "{row}");
}

#[test]
fn empty_file_is_an_error() {
    run(b"", b"a\n1\n", false, &[]).expect_error("ref.csv is empty");
    run(b"a\n1\n", b"", false, &[]).expect_error("cur.csv is empty");
}

#[test]
fn header_without_rows_is_an_error() {
    run(b"a,b\n", b"a,b\n1,2\n", false, &[]).expect_error("ref.csv has a header but no data rows");
}

#[test]
fn header_mismatch_names_the_columns() {
    run(b"a,b,c\n1,2,3\n", b"a,c,d\n1,3,4\n", false, &[])
        .expect_error("different columns: only in reference: [b]; only in current: [d]");
    // The same columns in another order are fine.
    let ok = run(b"a,b\n1,x\n2,y\n", b"b,a\nx,1\ny,2\n", false, &[]);
    assert!(ok.output.status.success(), "{}", ok.stderr());
}

#[test]
fn text_in_a_forced_numeric_column_names_row_and_column() {
    run(b"a,b\n1,2\n3,4\n", b"a,b\n1,2\n3,oops\n", false, &["--numeric", "b"])
        .expect_error("cur.csv: row 2 (line 3), column \"b\": \"oops\" is not a finite number");
    // Without the override the column is simply categorical.
    let ok = run(b"a,b\n1,2\n3,4\n", b"a,b\n1,2\n3,oops\n", true, &[]);
    assert!(ok.output.status.success(), "{}", ok.stderr());
    assert_eq!(ok.column("b")["type"], "categorical");
}

#[test]
fn unknown_or_contradictory_overrides_are_errors() {
    run(b"a\n1\n", b"a\n1\n", false, &["--categorical", "nope"]).expect_error("--categorical names \"nope\"");
    run(b"a\n1\n", b"a\n1\n", false, &["--categorical", "a", "--numeric", "a"])
        .expect_error("both as --categorical and as --numeric");
}

#[test]
fn all_missing_column_is_reported_not_compared() {
    let reference = b"a,b\n1,\n2,NA\n3,\n";
    let current = b"a,b\n1,5\n2,\n3,6\n";
    let table = run(reference, current, false, &[]);
    assert!(table.output.status.success(), "{}", table.stderr());
    assert!(table.stdout().contains("b: not compared, all values missing in the reference"), "{}", table.stdout());
    assert!(table.stderr().contains("warning: column \"b\" not compared"), "{}", table.stderr());

    let json = run(reference, current, true, &[]);
    let doc = json.json.as_ref().expect("JSON");
    assert_eq!(doc["columns"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["columns"][0]["name"], "a");

    // Nothing left to compare at all is an error.
    run(b"a\nNA\n", b"a\n1\n", false, &[]).expect_error("no column has values in both files");
}

#[test]
fn a_single_row_is_compared() {
    let run = run(b"x,c\n1.5,a\n", b"x,c\n2.5,b\n", true, &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let x = run.column("x");
    // Two distinct values in all: the binary z-test, as Evidently picks for small numeric data.
    assert_eq!(x["method"], "z");
    let expected = drift::z_test(0, 1, 1, 1).expect("z");
    close(&x["score"], expected.score);
    close(&x["p_value"], expected.p_value.expect("p"));
    assert_eq!(run.column("c")["method"], "z");
}

#[test]
fn malformed_csv_is_an_error() {
    run(b"a,b\n1,2\n3\n", b"a,b\n1,2\n", false, &[]).expect_error("ref.csv: malformed CSV");
    run(b"a,b\n1,2\n", b"a,b\n1,\xff\n", false, &[]).expect_error("cur.csv: malformed CSV");
    run(b"a,a\n1,2\n", b"a,a\n1,2\n", false, &[]).expect_error("column \"a\" appears twice");
}

#[test]
fn a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = sightline_command()
        .args(["report", "drift", "--reference"])
        .arg(dir.path().join("absent.csv"))
        .arg("--current")
        .arg(dir.path().join("absent.csv"))
        .output()
        .expect("run sightline");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.starts_with("error: cannot open") && stderr.lines().count() == 1, "{stderr}");
}

/// Runs `report drift` on two files with the given names (the extension picks the format).
fn run_named(files: [(&str, &[u8]); 2], extra: &[&str]) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("out.json");
    let mut cmd = sightline_command();
    cmd.args(["report", "drift"]);
    for ((name, bytes), flag) in files.iter().zip(["--reference", "--current"]) {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write input");
        cmd.arg(flag).arg(&path);
    }
    cmd.arg("--json").arg(&json_path);
    for arg in extra {
        // `@` stands for the temporary directory, for output paths.
        cmd.arg(arg.replace('@', &dir.path().display().to_string()));
    }
    let output = cmd.output().expect("run sightline");
    let json = output.status.success().then(|| {
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("JSON written")).expect("valid JSON")
    });
    (Run { output, json }, dir)
}

/// The same small data as CSV and as NDJSON lines, with a missing value and a category.
fn sample_rows(n: usize, shift: f64) -> Vec<(f64, Option<&'static str>, bool)> {
    (0..n)
        .map(|i| {
            let x = ((i * 37) % 101) as f64 / 10.0 + shift;
            let c = match i % 7 {
                0 => None,
                1 | 2 => Some("red"),
                3 | 4 => Some(if shift > 0.0 { "blue" } else { "green" }),
                _ => Some("green"),
            };
            (x, c, i % 3 == 0)
        })
        .collect()
}

fn as_csv(rows: &[(f64, Option<&str>, bool)]) -> Vec<u8> {
    csv("x,colour,flag", rows.iter().map(|(x, c, f)| format!("{x},{},{f}", c.unwrap_or(""))))
}

fn as_ndjson(rows: &[(f64, Option<&str>, bool)]) -> Vec<u8> {
    let mut out = String::new();
    for (x, c, f) in rows {
        // Written by hand: `json!` would sort the keys, and the column order is the file's.
        let colour = c.map_or("null".to_owned(), |c| format!("\"{c}\""));
        out.push_str(&format!("{{\"x\": {x}, \"colour\": {colour}, \"flag\": {f}}}"));
        out.push('\n');
    }
    out.into_bytes()
}

fn as_parquet(rows: &[(f64, Option<&str>, bool)]) -> Vec<u8> {
    use std::sync::Arc;

    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = parse_message_type(
        "message schema { REQUIRED DOUBLE x; OPTIONAL BYTE_ARRAY colour (UTF8); REQUIRED BOOLEAN flag; }",
    )
    .expect("schema parses");
    let mut bytes = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut bytes, Arc::new(schema), Arc::new(WriterProperties::builder().build()))
            .expect("writer");
    // Two row groups, so reading crosses a row group boundary.
    for chunk in rows.chunks(rows.len().div_ceil(2)) {
        let mut group = writer.next_row_group().expect("row group");
        let xs: Vec<f64> = chunk.iter().map(|r| r.0).collect();
        let mut col = group.next_column().expect("column").expect("x");
        col.typed::<DoubleType>().write_batch(&xs, None, None).expect("write x");
        col.close().expect("close x");
        let colours: Vec<ByteArray> = chunk.iter().filter_map(|r| r.1).map(ByteArray::from).collect();
        let levels: Vec<i16> = chunk.iter().map(|r| i16::from(r.1.is_some())).collect();
        let mut col = group.next_column().expect("column").expect("colour");
        col.typed::<ByteArrayType>().write_batch(&colours, Some(&levels), None).expect("write colour");
        col.close().expect("close colour");
        let flags: Vec<bool> = chunk.iter().map(|r| r.2).collect();
        let mut col = group.next_column().expect("column").expect("flag");
        col.typed::<BoolType>().write_batch(&flags, None, None).expect("write flag");
        col.close().expect("close flag");
        group.close().expect("close row group");
    }
    writer.close().expect("close file");
    bytes
}

#[test]
fn ndjson_and_parquet_give_the_csv_report() {
    let (r, c) = (sample_rows(300, 0.0), sample_rows(200, 0.4));
    let (from_csv, _d1) = run_named([("r.csv", &as_csv(&r)), ("c.csv", &as_csv(&c))], &[]);
    let (from_ndjson, _d2) = run_named([("r.ndjson", &as_ndjson(&r)), ("c.jsonl", &as_ndjson(&c))], &[]);
    let (from_parquet, _d3) = run_named([("r.parquet", &as_parquet(&r)), ("c.parquet", &as_parquet(&c))], &[]);
    let (mixed, _d4) = run_named([("r.parquet", &as_parquet(&r)), ("c.csv", &as_csv(&c))], &[]);
    let expected = from_csv.json.clone().unwrap_or_else(|| panic!("CSV run failed: {}", from_csv.stderr()));
    for (name, run) in [("ndjson", &from_ndjson), ("parquet", &from_parquet), ("parquet+csv", &mixed)] {
        assert!(run.output.status.success(), "{name}: {}", run.stderr());
        assert_eq!(run.json.as_ref(), Some(&expected), "{name}");
    }
    assert_eq!(from_parquet.column("colour")["method"], "chisquare");
    assert_eq!(from_parquet.column("flag")["method"], "z");
    assert_eq!(from_parquet.column("x")["method"], "ks");
}

#[test]
fn format_flag_overrides_the_extension_and_unknown_extensions_are_refused() {
    let (r, c) = (sample_rows(50, 0.0), sample_rows(50, 0.0));
    let (run, _d) = run_named([("r.txt", &as_ndjson(&r)), ("c.txt", &as_ndjson(&c))], &["--format", "ndjson"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let (run, _d) = run_named([("r.txt", &as_ndjson(&r)), ("c.txt", &as_ndjson(&c))], &[]);
    run.expect_error("--format");
}

#[test]
fn bad_ndjson_is_one_clear_line() {
    let good = as_ndjson(&sample_rows(20, 0.0));
    let first = "{\"x\": 1, \"colour\": \"red\", \"flag\": true}\n";
    let cases: [(String, &str); 6] = [
        (String::new(), "is empty"),
        (format!("{first}{{\"x\": \n"), "line 2: malformed JSON"),
        (format!("{first}{{\"x\": 2, \"y\": 3}}\n"), "line 2: key \"y\" is not a column"),
        (format!("{first}{{\"x\": [1, 2]}}\n"), "arrays and objects"),
        ("[1, 2]\n".to_owned(), "malformed JSON object"),
        (format!("{first}\n\n{{\"x\": \"abc\"}}\n"), "\"abc\" is not a finite number"),
    ];
    for (bad, needle) in cases {
        let (run, _d) = run_named([("r.ndjson", bad.as_bytes()), ("c.ndjson", &good)], &["--numeric", "x"]);
        run.expect_error(needle);
    }
}

#[test]
fn bad_parquet_is_one_clear_line() {
    let good = as_parquet(&sample_rows(20, 0.0));
    let truncated = &good[..good.len() / 2];
    for bad in [b"not parquet at all".as_slice(), truncated, b"".as_slice()] {
        let (run, _d) = run_named([("r.parquet", bad), ("c.parquet", &good)], &[]);
        run.expect_error("Parquet");
    }
}

#[test]
fn html_page_is_self_contained_and_shows_every_column() {
    let (r, c) = (sample_rows(300, 0.0), sample_rows(200, 0.4));
    let (run, dir) = run_named(
        [("r.csv", &as_csv(&r)), ("c.csv", &as_csv(&c))],
        &["--html", "@/report.html", "--categorical", "flag"],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    let page = std::fs::read_to_string(dir.path().join("report.html")).expect("page written");
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    for needle in ["http://", "https://", "src=", "<script", "<link", "url(", "@import"] {
        assert!(!page.contains(needle), "external reference {needle:?} in the page");
    }
    for name in ["x", "colour", "flag"] {
        assert!(page.contains(&format!("<h2>{name}</h2>")), "section for {name}");
    }
    assert_eq!(page.matches("<svg ").count(), 3, "one chart per column");
    assert_eq!(page.matches("<svg ").count(), page.matches("</svg>").count());
    // Every tag opened in a chart is closed, by its end tag or as `<tag … />`: a cheap
    // well-formedness check without a parser.
    for tag in ["rect", "text", "section", "table", "tr", "td", "svg"] {
        let (mut open, mut self_closed) = (0, 0);
        for start in [format!("<{tag} "), format!("<{tag}>")] {
            for (at, _) in page.match_indices(&start) {
                let end = page[at..].find('>').expect("a tag ends") + at;
                if page[..end].ends_with('/') { self_closed += 1 } else { open += 1 }
            }
        }
        assert_eq!(open, page.matches(&format!("</{tag}>")).count(), "<{tag}> balanced");
        if tag == "rect" {
            assert!(open + self_closed > 10, "bars are drawn");
        }
    }
}

#[test]
fn html_escapes_column_names_and_categories() {
    let r = csv("\"a<b>&c\",cat", (0..30).map(|i| format!("{i},\"<script>x{}\"", i % 3)));
    let c = csv("\"a<b>&c\",cat", (0..30).map(|i| format!("{},\"<script>x{}\"", i + 2, i % 4)));
    let (run, dir) = run_named([("r.csv", &r), ("c.csv", &c)], &["--html", "@/p.html"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let page = std::fs::read_to_string(dir.path().join("p.html")).expect("page written");
    assert!(!page.contains("<script"), "category text must be escaped");
    assert!(page.contains("a&lt;b&gt;&amp;c"));
}

#[test]
fn a_chosen_method_and_threshold_apply_to_every_column() {
    let (r, c) = (sample_rows(300, 0.0), sample_rows(200, 0.4));
    let (run, _d) =
        run_named([("r.csv", &as_csv(&r)), ("c.csv", &as_csv(&c))], &["--method", "psi", "--threshold", "0.5"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    for name in ["x", "colour", "flag"] {
        let col = run.column(name);
        assert_eq!(col["method"], "psi", "{name}");
        assert_eq!(col["threshold"], 0.5, "{name}");
        assert!(col.get("p_value").is_none(), "{name}");
    }
    let (run, _d) = run_named([("r.csv", &as_csv(&r)), ("c.csv", &as_csv(&c))], &["--method", "ks"]);
    run.expect_error("--method ks does not apply to categorical column \"colour\"");
    let (run, _d) = run_named([("r.csv", &as_csv(&r)), ("c.csv", &as_csv(&c))], &["--method", "energy"]);
    assert!(!run.output.status.success());
    assert!(run.stderr().contains("unknown method"), "{}", run.stderr());
}

#[test]
fn a_column_with_text_after_numbers_is_counted_as_categories_in_both_files() {
    // `v` is numbers in the reference and numbers then text in the current file; `w` is
    // text only in the reference's last row. Both must end categorical with every value
    // counted by its text, including the numbers read before the text showed up.
    let r = csv(
        "v,w",
        (0..40).map(|i| format!("{},{}", i % 3, if i == 39 { "x".to_owned() } else { (i % 2).to_string() })),
    );
    let c =
        csv("v,w", (0..40).map(|i| format!("{},{}", if i < 30 { (i % 3).to_string() } else { "z".to_owned() }, i % 2)));
    let (run, _d) = run_named([("r.csv", &r), ("c.csv", &c)], &["--method", "chisquare"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    for name in ["v", "w"] {
        assert_eq!(run.column(name)["type"], "categorical", "{name}");
    }
    // `z` never appears in the reference: certain drift. `w` gains no new category.
    assert_eq!(run.column("v")["p_value"], 0.0);
    let expected = drift::chi_square(&[20.0, 19.0, 1.0], &[20.0, 20.0, 0.0]).expect("valid counts");
    close(&run.column("w")["p_value"], expected.p_value.expect("a test"));
}

#[test]
fn ndjson_rows_may_leave_keys_out_and_those_values_are_missing() {
    let r: String = (0..30).map(|i| format!("{{\"a\": {i}, \"b\": \"k{}\"}}\n", i % 3)).collect();
    // Every third current row (not the first: it names the columns) has no `a`, and the
    // blank lines after them are skipped.
    let c: String = (0..30)
        .map(|i| {
            if i % 3 == 1 {
                format!("{{\"b\": \"k{}\"}}\n\n", i % 3)
            } else {
                format!("{{\"a\": {i}, \"b\": \"k1\"}}\n")
            }
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("r.ndjson"), &r).expect("write");
    std::fs::write(dir.path().join("c.ndjson"), &c).expect("write");
    let output = sightline_command()
        .args(["report", "drift", "--reference"])
        .arg(dir.path().join("r.ndjson"))
        .arg("--current")
        .arg(dir.path().join("c.ndjson"))
        .output()
        .expect("run sightline");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let a_row = stdout.lines().find(|l| l.starts_with("a ")).expect("row for a");
    assert!(a_row.trim_end().ends_with("0/10"), "10 missing in the current file: {a_row}");
}
