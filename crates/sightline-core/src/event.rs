//! Prediction and label events, and their schema-dependent validation.

use crate::model::{ModelIndex, Task};
use crate::names::{MAX_CATEGORY_LEN, check_text};
use crate::problem::{Problem, Reason, field_path};
use crate::scalar::{FeatureValue, Scalar};

/// A model output or a ground-truth label: a class of a classifier or a number of a
/// regressor.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Class(String),
    Number(f64),
}

/// The failure of one prediction call, when the model raised instead of answering.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    pub kind: String,
    pub message: String,
}

/// A validated prediction event, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionEvent {
    pub request_id: String,
    /// When the prediction was made (epoch milliseconds); the receive time if the
    /// client did not say.
    pub timestamp_ms: i64,
    pub version: String,
    /// Present, non-null features by ordinal, ascending.
    pub features: Vec<(u32, FeatureValue)>,
    /// `None` only for an event that carries an error.
    pub prediction: Option<Target>,
    /// Class probabilities by class ordinal, ascending.
    pub scores: Vec<(u32, f64)>,
    pub latency_ms: Option<f64>,
    pub tags: Vec<(String, String)>,
    pub error: Option<ErrorInfo>,
    /// Attributions the client computed (SHAP values, say) by feature ordinal, ascending.
    pub attributions: Vec<(u32, f64)>,
}

/// A validated ground-truth label for an earlier (or later) prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelEvent {
    pub request_id: String,
    pub timestamp_ms: i64,
    pub label: Target,
}

/// The schema-dependent parts of a prediction event.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedOutputs {
    pub features: Vec<(u32, FeatureValue)>,
    pub prediction: Option<Target>,
    pub scores: Vec<(u32, f64)>,
}

/// Checks features, prediction and scores against the model. `features` and `scores`
/// are the client's key/value pairs in the order sent; `has_error` allows a missing
/// prediction. All problems are collected, with paths relative to the event.
/// Keys may be any string type, so callers can pass names borrowed from the request.
pub fn check_outputs<K: AsRef<str>>(
    index: &ModelIndex,
    features: Vec<(K, Scalar)>,
    prediction: Option<Scalar>,
    scores: Vec<(K, Scalar)>,
    has_error: bool,
) -> Result<CheckedOutputs, Vec<Problem>> {
    let model = &index.spec;
    let mut problems = Vec::new();

    let mut seen = vec![false; model.features.len()];
    // Clients usually send features in schema order: guess the next one first.
    let mut next = 0;
    let mut checked = Vec::with_capacity(features.len());
    for (name, value) in features {
        let name = name.as_ref();
        let guess = model.features.get(next).filter(|f| f.name == name).map(|_| next);
        let Some(i) = guess.or_else(|| index.feature_index(name)) else {
            problems.push(Problem::new(
                field_path("features", name),
                Reason::UnknownFeature,
                format!("unknown feature {name:?}: model {:?} declares no such feature", model.name),
            ));
            continue;
        };
        next = i + 1;
        if std::mem::replace(&mut seen[i], true) {
            problems.push(Problem::new(
                field_path("features", name),
                Reason::InvalidValue,
                "the feature appears more than once",
            ));
            continue;
        }
        match model.check_feature(i, value) {
            Ok(FeatureValue::Null) => {}
            Ok(v) => checked.push((i as u32, v)),
            Err((reason, message)) => problems.push(Problem::new(field_path("features", name), reason, message)),
        }
    }
    for (i, spec) in model.features.iter().enumerate() {
        if !seen[i] && !spec.nullable {
            problems.push(Problem::new(
                field_path("features", &spec.name),
                Reason::MissingField,
                "required (the feature is not nullable)",
            ));
        }
    }
    // Already in order when the client followed the schema, as most do.
    if !checked.is_sorted_by_key(|(i, _)| *i) {
        checked.sort_by_key(|(i, _)| *i);
    }

    let prediction = match prediction {
        None | Some(Scalar::Null) if has_error => None,
        None | Some(Scalar::Null) => {
            problems.push(Problem::new(
                "prediction",
                Reason::MissingField,
                "required (unless the event carries an error)",
            ));
            None
        }
        Some(value) => match check_target(index, &value) {
            Ok(t) => Some(t),
            Err((reason, message)) => {
                problems.push(Problem::new("prediction", reason, message));
                None
            }
        },
    };

    let mut checked_scores: Vec<(u32, f64)> = Vec::with_capacity(scores.len());
    if !scores.is_empty() && !model.task.is_classification() {
        problems.push(Problem::new("scores", Reason::InvalidValue, "a regression model has no class scores"));
    } else {
        for (label, value) in scores {
            let label = label.as_ref();
            let path = field_path("scores", label);
            let Some(i) = index.class_index(label) else {
                problems.push(Problem::new(path, Reason::UnknownClass, format!("{label:?} is not one of the classes")));
                continue;
            };
            if checked_scores.iter().any(|(j, _)| *j == i as u32) {
                problems.push(Problem::new(path, Reason::InvalidValue, "the class appears more than once"));
                continue;
            }
            match value.as_f64() {
                Some(p) if (0.0..=1.0).contains(&p) => checked_scores.push((i as u32, p)),
                Some(p) => problems.push(Problem::new(
                    path,
                    Reason::InvalidValue,
                    format!("a probability must be between 0 and 1, got {p}"),
                )),
                None => problems.push(Problem::new(
                    path,
                    Reason::WrongType,
                    format!("expected a number, got {}", value.kind()),
                )),
            }
        }
        checked_scores.sort_by_key(|(i, _)| *i);
    }

    if problems.is_empty() {
        Ok(CheckedOutputs { features: checked, prediction, scores: checked_scores })
    } else {
        Err(problems)
    }
}

/// Checks a prediction or label value against the task: a declared class for a
/// classifier (strings, integers and booleans are matched by their spelling), a
/// finite number for a regressor.
pub fn check_target(index: &ModelIndex, value: &Scalar) -> Result<Target, (Reason, String)> {
    let model = &index.spec;
    match model.task {
        Task::Regression => value
            .as_f64()
            .map(Target::Number)
            .ok_or_else(|| (Reason::WrongType, format!("expected a number, got {}", value.kind()))),
        Task::BinaryClassification | Task::MulticlassClassification => {
            let Some(label) = value.as_label() else {
                return Err((Reason::WrongType, format!("expected a class label, got {}", value.kind())));
            };
            if let Err(m) = check_text(&label, MAX_CATEGORY_LEN) {
                return Err((Reason::TooLong, m));
            }
            if index.class_index(&label).is_some() {
                Ok(Target::Class(label))
            } else {
                Err((Reason::UnknownClass, format!("{label:?} is not one of the classes {:?}", model.classes)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FeatureSpec, FeatureType, ModelSpec};

    fn model(task: Task) -> ModelIndex {
        let classification = task.is_classification();
        ModelIndex::new(ModelSpec {
            name: "m".into(),
            task,
            features: vec![
                FeatureSpec { name: "x".into(), kind: FeatureType::Numeric, nullable: false },
                FeatureSpec { name: "c".into(), kind: FeatureType::Categorical, nullable: true },
            ],
            classes: if classification { vec!["0".into(), "1".into()] } else { vec![] },
            positive_class: (task == Task::BinaryClassification).then(|| "1".into()),
            description: String::new(),
        })
    }

    fn paths(r: Result<CheckedOutputs, Vec<Problem>>) -> Vec<(String, Reason)> {
        r.expect_err("should fail").into_iter().map(|p| (p.path, p.reason)).collect()
    }

    #[test]
    fn accepts_a_good_event_and_sorts_by_ordinal() {
        let m = model(Task::BinaryClassification);
        let out = check_outputs::<String>(
            &m,
            vec![("c".into(), Scalar::Str("a".into())), ("x".into(), Scalar::Float(1.5))],
            Some(Scalar::Int(1)),
            vec![("1".into(), Scalar::Float(0.7)), ("0".into(), Scalar::Float(0.3))],
            false,
        )
        .expect("valid");
        assert_eq!(out.features, vec![(0, FeatureValue::Number(1.5)), (1, FeatureValue::Category("a".into()))]);
        assert_eq!(out.prediction, Some(Target::Class("1".into())));
        assert_eq!(out.scores, vec![(0, 0.3), (1, 0.7)]);
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let m = model(Task::BinaryClassification);
        let got = paths(check_outputs::<String>(
            &m,
            vec![("y".into(), Scalar::Int(1)), ("c".into(), Scalar::Float(0.5))],
            Some(Scalar::Str("2".into())),
            vec![("1".into(), Scalar::Float(1.5)), ("z".into(), Scalar::Float(0.1))],
            false,
        ));
        assert_eq!(
            got,
            vec![
                ("features.y".into(), Reason::UnknownFeature),
                ("features.c".into(), Reason::WrongType),
                ("features.x".into(), Reason::MissingField),
                ("prediction".into(), Reason::UnknownClass),
                (r#"scores["1"]"#.into(), Reason::InvalidValue),
                ("scores.z".into(), Reason::UnknownClass),
            ]
        );
    }

    #[test]
    fn repeated_keys_are_refused() {
        let m = model(Task::BinaryClassification);
        let got = paths(check_outputs::<String>(
            &m,
            vec![("x".into(), Scalar::Int(1)), ("x".into(), Scalar::Int(2))],
            Some(Scalar::Int(1)),
            vec![("1".into(), Scalar::Float(0.5)), ("1".into(), Scalar::Float(0.5))],
            false,
        ));
        assert_eq!(
            got,
            vec![("features.x".into(), Reason::InvalidValue), (r#"scores["1"]"#.into(), Reason::InvalidValue)]
        );
    }

    #[test]
    fn error_events_need_no_prediction() {
        let m = model(Task::Regression);
        let feats = vec![("x".into(), Scalar::Int(1))];
        assert!(check_outputs::<String>(&m, feats.clone(), None, vec![], true).is_ok());
        assert_eq!(
            paths(check_outputs::<String>(&m, feats, None, vec![], false)),
            vec![("prediction".into(), Reason::MissingField)]
        );
    }

    #[test]
    fn targets_follow_the_task() {
        let r = model(Task::Regression);
        assert_eq!(check_target(&r, &Scalar::Float(2.5)), Ok(Target::Number(2.5)));
        assert!(check_target(&r, &Scalar::Str("a".into())).is_err());
        let c = model(Task::MulticlassClassification);
        assert_eq!(check_target(&c, &Scalar::Int(0)), Ok(Target::Class("0".into())));
        assert!(check_target(&c, &Scalar::Float(0.5)).is_err());
    }
}
