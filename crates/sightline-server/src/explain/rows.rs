//! Rows as an explainer reads them: the model's columns (Sightline features in the
//! model's order) filled from request objects or from logged predictions, as numbers.
//!
//! Numeric features are their values, booleans 1 and 0, categorical values the number
//! they spell (tree libraries take categories encoded as numbers); a missing value is
//! NaN where the method routes missing values and an error elsewhere.

use serde_json::{Map, Value};
use sightline_core::{FeatureValue, ModelIndex};
use sightline_store::StoredPrediction;

/// A request object's or a logged event's field that cannot be a model input; the
/// message names it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// JSON path (`$.rows[2].income`) or the logged request id.
    pub at: String,
    pub message: String,
}

/// Positions in the model spec of the model's columns.
pub struct Columns<'a> {
    pub names: &'a [String],
    positions: Vec<usize>,
}

impl<'a> Columns<'a> {
    /// Maps every column name to the model's feature of that name.
    pub fn new(index: &ModelIndex, names: &'a [String]) -> Result<Columns<'a>, String> {
        let positions = names
            .iter()
            .map(|name| index.feature_index(name).ok_or_else(|| format!("the model has no feature {name:?}")))
            .collect::<Result<_, _>>()?;
        Ok(Columns { names, positions })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The position among the model's columns of feature `name`.
    pub fn column_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

fn missing(accepts_missing: bool, at: String) -> Result<f64, RowError> {
    if accepts_missing {
        Ok(f64::NAN)
    } else {
        Err(RowError {
            at,
            message: "is missing; this method needs complete rows (treeshap and interventional accept missing values)"
                .into(),
        })
    }
}

fn parse_number(text: &str, at: &str) -> Result<f64, RowError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(RowError {
            at: at.to_owned(),
            message: format!("{text:?} is not a number; tree models read categories encoded as numbers"),
        }),
    }
}

/// Rows given as objects of feature name to value. Fields the model does not read are
/// ignored if they are features of the Sightline model, refused otherwise.
pub fn from_objects(
    index: &ModelIndex,
    columns: &Columns<'_>,
    rows: &[Map<String, Value>],
    path: &str,
    accepts_missing: bool,
) -> Result<Vec<Vec<f64>>, RowError> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            if let Some(unknown) = row.keys().find(|k| index.feature_index(k).is_none()) {
                return Err(RowError {
                    at: format!("{path}[{i}].{unknown}"),
                    message: "is not a feature of the model".into(),
                });
            }
            columns
                .names
                .iter()
                .map(|name| {
                    let at = format!("{path}[{i}].{name}");
                    match row.get(name) {
                        None | Some(Value::Null) => missing(accepts_missing, at),
                        Some(Value::Bool(b)) => Ok(if *b { 1.0 } else { 0.0 }),
                        Some(Value::Number(n)) => match n.as_f64() {
                            Some(v) if v.is_finite() => Ok(v),
                            _ => Err(RowError { at, message: format!("{n} is not a finite number") }),
                        },
                        Some(Value::String(s)) => parse_number(s, &at),
                        Some(other) => Err(RowError { at, message: format!("{other} is not a number") }),
                    }
                })
                .collect()
        })
        .collect()
}

/// Rows of logged predictions; an error is reported at `path` (where the request named
/// them) and names the request and the feature.
pub fn from_logged(
    columns: &Columns<'_>,
    events: &[StoredPrediction],
    path: &str,
    accepts_missing: bool,
) -> Result<Vec<Vec<f64>>, RowError> {
    events
        .iter()
        .map(|event| {
            columns
                .positions
                .iter()
                .zip(columns.names)
                .map(|(&position, name)| {
                    let value = event.features.iter().find(|(i, _)| *i as usize == position).map(|(_, v)| v);
                    let number = match value {
                        None | Some(FeatureValue::Null) => missing(accepts_missing, String::new()),
                        Some(FeatureValue::Number(v)) => Ok(*v),
                        Some(FeatureValue::Bool(b)) => Ok(if *b { 1.0 } else { 0.0 }),
                        Some(FeatureValue::Category(s) | FeatureValue::Text(s)) => parse_number(s, ""),
                    };
                    number.map_err(|e| RowError {
                        at: path.to_owned(),
                        message: format!("request {:?}: feature {name:?} {}", event.request_id, e.message),
                    })
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::{FeatureSpec, FeatureType, ModelSpec, Task};

    fn index() -> ModelIndex {
        let feature = |name: &str, kind| FeatureSpec { name: name.into(), kind, nullable: true };
        ModelIndex::new(ModelSpec {
            name: "m".into(),
            task: Task::Regression,
            features: vec![
                feature("a", FeatureType::Numeric),
                feature("b", FeatureType::Boolean),
                feature("c", FeatureType::Categorical),
            ],
            classes: vec![],
            positive_class: None,
            description: String::new(),
        })
    }

    #[test]
    fn objects_become_rows_in_the_model_order_and_bad_fields_are_named() {
        let index = index();
        let names = vec!["c".to_owned(), "a".to_owned(), "b".to_owned()];
        let columns = Columns::new(&index, &names).expect("known features");
        let rows: Vec<Map<String, Value>> =
            serde_json::from_str(r#"[{"a": 1.5, "b": true, "c": "3"}, {"a": null, "b": false, "c": 2}]"#)
                .expect("json");
        let out = from_objects(&index, &columns, &rows, "$.rows", true).expect("rows");
        assert_eq!(out[0], vec![3.0, 1.5, 1.0]);
        assert!(out[1][1].is_nan());
        let refused = from_objects(&index, &columns, &rows, "$.rows", false).expect_err("missing");
        assert_eq!(refused.at, "$.rows[1].a");
        let rows: Vec<Map<String, Value>> = serde_json::from_str(r#"[{"a": 1, "c": "red"}]"#).expect("json");
        assert_eq!(from_objects(&index, &columns, &rows, "$.rows", true).expect_err("text").at, "$.rows[0].c");
        let rows: Vec<Map<String, Value>> = serde_json::from_str(r#"[{"zz": 1}]"#).expect("json");
        assert_eq!(from_objects(&index, &columns, &rows, "$.rows", true).expect_err("unknown").at, "$.rows[0].zz");
        assert!(Columns::new(&index, &["nope".to_owned()]).is_err());
    }
}
