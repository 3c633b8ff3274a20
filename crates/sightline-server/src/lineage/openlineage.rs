//! OpenLineage events (spec 2-0-2) read into a [`LineageUpdate`]: which kind of event
//! (run, job or dataset), its time, job, run state, inputs and outputs with their
//! facets, dataset versions and column lineage. Facets are kept as sent; only what the
//! graph needs is checked, and every problem names its JSON path.

use crate::wire::time::parse_json;
use serde_json::{Map, Value};
use sightline_store::{ColumnSource, DatasetRef, LineageUpdate, RunRef};

/// Longest namespace, name, run id or field name accepted.
const MAX_NAME: usize = 1024;
/// Most datasets on either side of one event.
const MAX_DATASETS: usize = 1000;
/// Most column edges in one event.
const MAX_COLUMN_EDGES: usize = 100_000;

/// The run states of the spec; an event without `eventType` is `OTHER`.
const EVENT_TYPES: [&str; 6] = ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"];

/// A problem with an event: the JSON path and what is wrong there.
pub type Problem = (String, String);

fn problem(path: &str, message: impl Into<String>) -> Problem {
    (path.to_owned(), message.into())
}

/// The member `key` of `obj`, which must be present.
fn member<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, Problem> {
    obj.get(key).ok_or_else(|| problem(&format!("{path}.{key}"), "is required"))
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Problem> {
    v.as_object().ok_or_else(|| problem(path, "must be an object"))
}

fn name(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, Problem> {
    let at = format!("{path}.{key}");
    match obj.get(key) {
        Some(Value::String(s)) if s.is_empty() => Err(problem(&at, "must not be empty")),
        Some(Value::String(s)) if s.len() > MAX_NAME => Err(problem(&at, format!("longer than {MAX_NAME} bytes"))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(problem(&at, "must be a string")),
        None => Err(problem(&at, "is required")),
    }
}

/// The facets object at `key` as JSON text (`{}` when absent).
fn facets(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, Problem> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok("{}".to_owned()),
        Some(v @ Value::Object(_)) => Ok(v.to_string()),
        Some(_) => Err(problem(&format!("{path}.{key}"), "must be an object")),
    }
}

fn string_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// One input or output dataset.
fn dataset(v: &Value, path: &str, side_facets: &str, columns_left: &mut usize) -> Result<DatasetRef, Problem> {
    let obj = object(v, path)?;
    let mut d = DatasetRef {
        namespace: name(obj, "namespace", path)?,
        name: name(obj, "name", path)?,
        facets: facets(obj, "facets", path)?,
        ..DatasetRef::default()
    };
    facets(obj, side_facets, path)?;
    // The dataset version: the `version` dataset facet, else the input/output facet
    // some producers use.
    d.version = string_at(v, "/facets/version/datasetVersion")
        .or_else(|| string_at(v, &format!("/{side_facets}/version/datasetVersion")))
        .map(str::to_owned);
    if let Some(fields) = v.pointer("/facets/columnLineage/fields") {
        let fields_path = format!("{path}.facets.columnLineage.fields");
        for (field, spec) in object(fields, &fields_path)? {
            let field_path = format!("{fields_path}.{field}");
            let spec = object(spec, &field_path)?;
            let transformation = spec.get("transformationDescription").and_then(Value::as_str).unwrap_or_default();
            let inputs = match spec.get("inputFields") {
                Some(Value::Array(a)) => a,
                _ => return Err(problem(&format!("{field_path}.inputFields"), "must be an array")),
            };
            for (i, input) in inputs.iter().enumerate() {
                let at = format!("{field_path}.inputFields[{i}]");
                let input = object(input, &at)?;
                if *columns_left == 0 {
                    return Err(problem(&at, format!("more than {MAX_COLUMN_EDGES} column edges in one event")));
                }
                *columns_left -= 1;
                let described = input
                    .get("transformations")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(|x| {
                                let kind = x.get("type").and_then(Value::as_str)?;
                                let sub = x.get("subtype").and_then(Value::as_str).unwrap_or_default();
                                Some(if sub.is_empty() { kind.to_owned() } else { format!("{kind}/{sub}") })
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|s| !s.is_empty());
                d.columns.push(ColumnSource {
                    field: field.clone(),
                    source_namespace: name(input, "namespace", &at)?,
                    source_name: name(input, "name", &at)?,
                    source_field: name(input, "field", &at)?,
                    transformation: described.unwrap_or_else(|| transformation.to_owned()),
                });
            }
        }
    }
    Ok(d)
}

fn datasets(
    event: &Map<String, Value>,
    key: &str,
    side_facets: &str,
    columns_left: &mut usize,
) -> Result<Vec<DatasetRef>, Problem> {
    match event.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() > MAX_DATASETS => {
            Err(problem(&format!("$.{key}"), format!("more than {MAX_DATASETS} datasets")))
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| dataset(v, &format!("$.{key}[{i}]"), side_facets, columns_left))
            .collect(),
        Some(_) => Err(problem(&format!("$.{key}"), "must be an array")),
    }
}

/// Reads one event for `project_id`; `raw` is kept as the stored copy.
pub fn parse(project_id: i64, event: &Value) -> Result<LineageUpdate, Problem> {
    let obj = object(event, "$")?;
    let kind = if obj.contains_key("run") {
        "run"
    } else if obj.contains_key("dataset") {
        "dataset"
    } else if obj.contains_key("job") {
        "job"
    } else {
        return Err(problem(
            "$",
            "not an OpenLineage event: a RunEvent has run and job, a JobEvent job, a DatasetEvent dataset",
        ));
    };
    let event_time_ms = match obj.get("eventTime") {
        Some(v) => parse_json(v).map_err(|m| problem("$.eventTime", m))?,
        None => return Err(problem("$.eventTime", "is required")),
    };
    match obj.get("producer") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(problem("$.producer", "must be a string (a URI)")),
        None => return Err(problem("$.producer", "is required")),
    }
    let mut columns_left = MAX_COLUMN_EDGES;
    let mut update = LineageUpdate {
        project_id,
        kind,
        event_time_ms,
        raw: event.to_string(),
        job: None,
        run: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    if kind == "dataset" {
        let d = dataset(member(obj, "dataset", "$")?, "$.dataset", "facets", &mut columns_left)?;
        update.outputs.push(d);
        return Ok(update);
    }
    let job = object(member(obj, "job", "$")?, "$.job")?;
    update.job = Some((name(job, "namespace", "$.job")?, name(job, "name", "$.job")?, facets(job, "facets", "$.job")?));
    if kind == "run" {
        let run = object(member(obj, "run", "$")?, "$.run")?;
        let state = match obj.get("eventType") {
            None | Some(Value::Null) => "OTHER".to_owned(),
            Some(Value::String(s)) if EVENT_TYPES.contains(&s.as_str()) => s.clone(),
            Some(_) => return Err(problem("$.eventType", format!("must be one of {}", EVENT_TYPES.join(", ")))),
        };
        update.run =
            Some(RunRef { run_id: name(run, "runId", "$.run")?, state, facets: facets(run, "facets", "$.run")? });
    }
    update.inputs = datasets(obj, "inputs", "inputFacets", &mut columns_left)?;
    update.outputs = datasets(obj, "outputs", "outputFacets", &mut columns_left)?;
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_event() -> Value {
        json!({
            "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z",
            "producer": "https://example.com/producer", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "01890a6e-0000-7000-8000-000000000001", "facets": {}},
            "job": {"namespace": "etl", "name": "build_features"},
            "inputs": [{"namespace": "postgres://db:5432", "name": "public.loans", "facets": {"version": {"datasetVersion": "42"}}}],
            "outputs": [{"namespace": "s3://bucket", "name": "features/loans", "facets": {
                "schema": {"fields": [{"name": "income", "type": "double"}]},
                "columnLineage": {"fields": {"income": {"inputFields": [
                    {"namespace": "postgres://db:5432", "name": "public.loans", "field": "salary",
                     "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION"}]}]}}}
            }}]
        })
    }

    #[test]
    fn a_run_event_gives_job_run_datasets_versions_and_columns() {
        let u = parse(1, &run_event()).expect("parses");
        assert_eq!(u.kind, "run");
        assert_eq!(u.event_time_ms, 1_795_773_600_000);
        assert_eq!(u.job.as_ref().map(|j| (j.0.as_str(), j.1.as_str())), Some(("etl", "build_features")));
        assert_eq!(u.run.as_ref().map(|r| r.state.as_str()), Some("COMPLETE"));
        assert_eq!(u.inputs[0].version.as_deref(), Some("42"));
        let col = &u.outputs[0].columns[0];
        assert_eq!(
            (col.field.as_str(), col.source_name.as_str(), col.source_field.as_str()),
            ("income", "public.loans", "salary")
        );
        assert_eq!(col.transformation, "DIRECT/TRANSFORMATION");
    }

    #[test]
    fn problems_name_their_path() {
        let cases = [
            (json!([]), "$"),
            (json!({"eventTime": "2026-11-27T10:00:00Z", "producer": "p"}), "$"),
            (json!({"run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "producer": "p"}), "$.eventTime"),
            (json!({"run": {"runId": "r"}, "eventTime": 0, "producer": "p"}), "$.job"),
            (json!({"run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "eventTime": 0}), "$.producer"),
            (
                json!({"run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "eventTime": "yesterday", "producer": "p"}),
                "$.eventTime",
            ),
            (
                json!({"run": {"runId": ""}, "job": {"namespace": "n", "name": "j"}, "eventTime": 0, "producer": "p"}),
                "$.run.runId",
            ),
            (json!({"run": {"runId": "r"}, "job": {"namespace": "n"}, "eventTime": 0, "producer": "p"}), "$.job.name"),
            (
                json!({"run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "eventTime": 0, "producer": "p", "eventType": "DONE"}),
                "$.eventType",
            ),
            (
                json!({"run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "eventTime": 0, "producer": "p", "inputs": [{"name": "x"}]}),
                "$.inputs[0].namespace",
            ),
            (
                json!({"dataset": {"namespace": "n", "name": "d", "facets": []}, "eventTime": 0, "producer": "p"}),
                "$.dataset.facets",
            ),
        ];
        for (event, path) in cases {
            let err = parse(1, &event).expect_err("refused");
            assert_eq!(err.0, path, "{event}: {err:?}");
        }
    }
}
