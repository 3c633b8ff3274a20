//! `sightline explain` end to end: the real binary on the committed model fixtures of
//! `sightline-explain` (XGBoost JSON and UBJSON, LightGBM text, ONNX) and temporary data
//! files, its numbers checked against the libraries' own (the fixtures' cases), and bad
//! input answered with one clear line and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::sightline_command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sightline-explain/tests/fixtures").join(name)
}

fn case(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).expect("case")).expect("case parses")
}

/// A case's rows (null is missing) as CSV with columns f0, f1, …
fn csv_rows(rows: &Value) -> String {
    let rows = rows.as_array().expect("rows");
    let width = rows[0].as_array().expect("row").len();
    let mut text = (0..width).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",") + "\n";
    for row in rows {
        let fields: Vec<String> = row
            .as_array()
            .expect("row")
            .iter()
            .map(|v| v.as_f64().map_or(String::new(), |f| format!("{f:?}")))
            .collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

struct Run {
    output: Output,
    json: Option<Value>,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn expect_error(&self, needle: &str) {
        let stderr = self.stderr();
        assert!(!self.output.status.success(), "expected failure, stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }

    fn json(&self) -> &Value {
        assert!(self.output.status.success(), "failed: {}", self.stderr());
        self.json.as_ref().expect("json written")
    }
}

/// Files given as (name, bytes) are written to a temporary directory; `{name}` in an
/// argument is replaced by that file's path, and `{json}` by the output file's.
fn run(files: &[(&str, &[u8])], args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write input");
    }
    let json_path = dir.path().join("out.json");
    let mut cmd = sightline_command();
    cmd.arg("explain");
    let mut wants_json = false;
    for arg in args {
        if *arg == "{json}" {
            wants_json = true;
            cmd.arg(&json_path);
        } else if let Some(name) = arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
            cmd.arg(dir.path().join(name));
        } else {
            cmd.arg(arg);
        }
    }
    let output = cmd.output().expect("run sightline");
    let json = (wants_json && output.status.success()).then(|| {
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written")).expect("valid json")
    });
    Run { output, json }
}

fn number(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

/// Attributions add up to the margin on every row and output.
fn assert_additive(doc: &Value) {
    for row in doc["rows"].as_array().expect("rows") {
        for output in row["outputs"].as_array().expect("outputs") {
            let sum: f64 = output["attributions"].as_array().expect("attributions").iter().map(number).sum();
            let (expected, margin) = (number(&output["expected_value"]), number(&output["margin"]));
            assert!((expected + sum - margin).abs() <= 1e-9 * (1.0 + margin.abs()), "{output}");
        }
    }
}

#[test]
fn treeshap_on_xgboost_json_and_ubj_equals_pred_contribs() {
    let case = case("binary.case.json");
    let data = csv_rows(&case["rows"]);
    let json_model = std::fs::read(fixture("binary.model.json")).expect("model");
    let ubj_model = std::fs::read(fixture("binary.model.ubj")).expect("model");
    let by_extension = run(
        &[("m.json", &json_model), ("rows.csv", data.as_bytes())],
        &["--model", "{m.json}", "--data", "{rows.csv}", "--json", "{json}"],
    );
    let doc = by_extension.json();
    assert_eq!(doc["method"], "treeshap");
    assert_eq!(doc["model"]["format"], "xgboost-json");
    assert_additive(doc);
    let rows = doc["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), case["rows"].as_array().expect("rows").len());
    for (index, row) in rows.iter().enumerate() {
        let expected = &case["contribs"][index][0];
        let ours = row["outputs"][0]["attributions"].as_array().expect("attributions");
        for (feature, value) in ours.iter().enumerate() {
            let (ours, theirs) = (number(value), number(&expected[feature]));
            assert!(
                (ours - theirs).abs() <= 1e-6 + 1e-5 * theirs.abs(),
                "row {index} feature {feature}: {ours} vs {theirs}"
            );
        }
    }
    // The UBJSON file under an extension that says nothing: recognized from its bytes,
    // and explained identically; the thread count changes nothing either.
    let sniffed = run(
        &[("model.bin", &ubj_model), ("rows.csv", data.as_bytes())],
        &["--model", "{model.bin}", "--data", "{rows.csv}", "--threads", "3", "--json", "{json}"],
    );
    let sniffed = sniffed.json();
    assert_eq!(sniffed["model"]["format"], "xgboost-ubj");
    assert_eq!(sniffed["rows"], doc["rows"]);
}

#[test]
fn every_method_on_lightgbm_and_onnx_models() {
    let lightgbm = std::fs::read(fixture("lightgbm_regression.model.txt")).expect("model");
    let case = case("lightgbm_regression.case.json");
    // NDJSON data with a missing key: treeshap accepts missing values.
    let ndjson = "{\"a\": 1.0, \"b\": -0.5, \"c\": 0.25, \"d\": 2.0, \"e\": 0.0, \"f\": 1.5}\n\
                  {\"a\": null, \"b\": 0.5, \"c\": 0.1, \"d\": -1.0, \"f\": 0.5}\n";
    let treeshap = run(
        &[("m.txt", &lightgbm), ("rows.ndjson", ndjson.as_bytes())],
        &["--model", "{m.txt}", "--data", "{rows.ndjson}", "--json", "{json}"],
    );
    assert_eq!(treeshap.json()["features"], serde_json::json!(["a", "b", "c", "d", "e", "f"]));
    assert_additive(treeshap.json());

    // Model-agnostic methods need complete rows and a background.
    let complete: Vec<Value> = case["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row.as_array().expect("row").iter().all(Value::is_number))
        .cloned()
        .collect();
    let data = csv_rows(&Value::Array(complete[..3].to_vec()));
    let background = csv_rows(&Value::Array(complete[3..].to_vec()));
    let files: [(&str, &[u8]); 3] =
        [("m.txt", &lightgbm), ("rows.csv", data.as_bytes()), ("bg.csv", background.as_bytes())];
    for method in ["interventional", "kernelshap"] {
        let run = run(
            &files,
            &[
                "--model",
                "{m.txt}",
                "--data",
                "{rows.csv}",
                "--background",
                "{bg.csv}",
                "--method",
                method,
                "--json",
                "{json}",
            ],
        );
        assert_eq!(run.json()["rows"].as_array().expect("rows").len(), 3, "{method}");
        assert_additive(run.json());
    }
    let lime = run(
        &files,
        &[
            "--model",
            "{m.txt}",
            "--data",
            "{rows.csv}",
            "--background",
            "{bg.csv}",
            "--method",
            "lime",
            "--lime-samples",
            "500",
            "--json",
            "{json}",
        ],
    );
    let output = &lime.json()["rows"][0]["outputs"][0];
    assert_eq!(output["weights"].as_array().expect("weights").len(), 6);
    assert!(number(&output["score"]) <= 1.0);
    // The table on stdout.
    let table = run(&files, &["--model", "{m.txt}", "--data", "{rows.csv}"]);
    assert!(table.output.status.success(), "{}", table.stderr());
    assert!(table.stdout().contains("row 1 output 0: margin"), "{}", table.stdout());

    // ONNX: covers are counted on the background, so treeshap needs one.
    let onnx = std::fs::read(fixture("onnx_gb_binary.onnx")).expect("model");
    let onnx_case = case_rows("onnx_gb_binary.case.json");
    let files: [(&str, &[u8]); 3] =
        [("m.onnx", &onnx), ("rows.csv", onnx_case.0.as_bytes()), ("bg.csv", onnx_case.1.as_bytes())];
    run(&files, &["--model", "{m.onnx}", "--data", "{rows.csv}"]).expect_error("give --background");
    let counted =
        run(&files, &["--model", "{m.onnx}", "--data", "{rows.csv}", "--background", "{bg.csv}", "--json", "{json}"]);
    assert_eq!(counted.json()["model"]["format"], "onnx");
    assert_additive(counted.json());
    // shap's TreeExplainer on the scikit-learn model, as in the crate's own test.
    let shap =
        serde_json::from_str::<Value>(&std::fs::read_to_string(fixture("onnx_gb_binary.case.json")).expect("case"))
            .expect("case");
    let ours = &counted.json()["rows"][0]["outputs"][0]["attributions"];
    for (feature, theirs) in shap["contribs"][0][0].as_array().expect("contribs").iter().enumerate() {
        assert!((number(&ours[feature]) - number(theirs)).abs() < 1e-5, "feature {feature}");
    }
}

/// The rows and background of an ONNX case as CSV.
fn case_rows(name: &str) -> (String, String) {
    let case = case(name);
    (csv_rows(&case["rows"]), csv_rows(&case["background"]))
}

#[test]
fn bad_input_is_one_clear_error() {
    let model = std::fs::read(fixture("regression.model.json")).expect("model");
    let rows = "f0,f1,f2,f3,f4,f5\n1,2,3,4,5,6\n";
    let explain = |files: &[(&str, &[u8])], extra: &[&str]| {
        let mut args = vec!["--model", "{m.json}", "--data", "{rows.csv}"];
        args.extend_from_slice(extra);
        run(files, &args)
    };
    // A corrupt model.
    explain(&[("m.json", &model[..model.len() / 2]), ("rows.csv", rows.as_bytes())], &[])
        .expect_error("not valid json");
    explain(&[("m.json", b"\x00\x01garbage"), ("rows.csv", rows.as_bytes())], &[]).expect_error("cannot load");
    // An unsupported objective.
    let text = String::from_utf8(model.clone()).expect("utf-8").replace("reg:squarederror", "rank:pairwise");
    explain(&[("m.json", text.as_bytes()), ("rows.csv", rows.as_bytes())], &[])
        .expect_error("xgboost objective \"rank:pairwise\"");
    // Feature count mismatch.
    explain(&[("m.json", &model), ("rows.csv", b"a,b\n1,2\n")], &[])
        .expect_error("has 2 columns, the model expects 6 features");
    // Text, infinities, NaN where the method cannot take it, no rows.
    explain(&[("m.json", &model), ("rows.csv", b"a,b,c,d,e,f\n1,2,x,4,5,6\n")], &[])
        .expect_error("column \"c\" holds \"x\"");
    explain(&[("m.json", &model), ("rows.csv", b"a,b,c,d,e,f\n1,2,inf,4,5,6\n")], &[])
        .expect_error("not a finite number");
    let with_nan = b"a,b,c,d,e,f\n1,2,NaN,4,5,6\n";
    explain(
        &[("m.json", &model), ("rows.csv", with_nan), ("bg.csv", rows.as_bytes())],
        &["--method", "lime", "--background", "{bg.csv}"],
    )
    .expect_error("column \"c\" is missing; this method needs complete rows");
    explain(&[("m.json", &model), ("rows.csv", b"a,b,c,d,e,f\n")], &[]).expect_error("has no rows");
    // Methods without their background.
    for method in ["interventional", "kernelshap", "lime"] {
        explain(&[("m.json", &model), ("rows.csv", rows.as_bytes())], &["--method", method])
            .expect_error("needs --background");
    }
    // A format nothing recognizes.
    run(&[("m.bin", b"hello"), ("rows.csv", rows.as_bytes())], &["--model", "{m.bin}", "--data", "{rows.csv}"])
        .expect_error("give --model-format");
    // An ONNX graph with an operator outside the tree ensemble (hand-encoded protobuf:
    // ir_version 8, graph { node { op_type: "Mul" } }).
    let node = [&[0x22, 3][..], b"Mul"].concat();
    let graph = [&[0x0a, node.len() as u8][..], &node].concat();
    let onnx = [&[0x08, 0x08, 0x3a, graph.len() as u8][..], &graph].concat();
    run(&[("m.onnx", &onnx), ("rows.csv", rows.as_bytes())], &["--model", "{m.onnx}", "--data", "{rows.csv}"])
        .expect_error("onnx operator ai.onnx.Mul");
    run(&[("m.onnx", &onnx[..5]), ("rows.csv", rows.as_bytes())], &["--model", "{m.onnx}", "--data", "{rows.csv}"])
        .expect_error("not a valid onnx protobuf");
}
