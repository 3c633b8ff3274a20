//! Model specifications: task, feature schema, classes — and their validation.

use crate::names::{MAX_CATEGORY_LEN, check_feature_name, check_slug, check_text};
use crate::problem::{Problem, Reason};
use crate::scalar::{FeatureValue, Scalar};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most features one model may declare.
pub const MAX_FEATURES: usize = 2_000;
/// Most classes one classifier may declare.
pub const MAX_CLASSES: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    BinaryClassification,
    MulticlassClassification,
    Regression,
}

impl Task {
    pub fn parse(s: &str) -> Option<Task> {
        match s {
            "binary_classification" => Some(Task::BinaryClassification),
            "multiclass_classification" => Some(Task::MulticlassClassification),
            "regression" => Some(Task::Regression),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Task::BinaryClassification => "binary_classification",
            Task::MulticlassClassification => "multiclass_classification",
            Task::Regression => "regression",
        }
    }

    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    Numeric,
    Categorical,
    Boolean,
    Text,
}

impl FeatureType {
    pub fn parse(s: &str) -> Option<FeatureType> {
        match s {
            "numeric" => Some(FeatureType::Numeric),
            "categorical" => Some(FeatureType::Categorical),
            "boolean" => Some(FeatureType::Boolean),
            "text" => Some(FeatureType::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeatureType::Numeric => "numeric",
            FeatureType::Categorical => "categorical",
            FeatureType::Boolean => "boolean",
            FeatureType::Text => "text",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Whether null (or an absent key) is an acceptable value. Missing values are data
    /// worth monitoring, so the API defaults this to `true`.
    pub nullable: bool,
}

/// What a team declares about a model. Feature order is significant: a feature's index
/// is its ordinal in stored events, so features may only ever be appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub task: Task,
    pub features: Vec<FeatureSpec>,
    /// Class labels of a classifier, in a fixed order; empty for regression.
    pub classes: Vec<String>,
    /// The positive class of a binary classifier.
    pub positive_class: Option<String>,
    pub description: String,
}

impl ModelSpec {
    /// Checks the spec as a whole; paths are relative to the model object.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if let Err(m) = check_slug(&self.name) {
            problems.push(Problem::new("name", Reason::InvalidValue, m));
        }
        if self.features.len() > MAX_FEATURES {
            problems.push(Problem::new(
                "features",
                Reason::TooMany,
                format!("at most {MAX_FEATURES} features are allowed"),
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, f) in self.features.iter().enumerate() {
            if let Err(m) = check_feature_name(&f.name) {
                problems.push(Problem::new(format!("features[{i}].name"), Reason::InvalidValue, m));
            }
            if let Some(first) = seen.insert(&f.name, i) {
                problems.push(Problem::new(
                    format!("features[{i}].name"),
                    Reason::InvalidValue,
                    format!("duplicate feature name {:?} (also features[{first}])", f.name),
                ));
            }
        }
        self.validate_classes(&mut problems);
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    fn validate_classes(&self, problems: &mut Vec<Problem>) {
        match self.task {
            Task::Regression => {
                if !self.classes.is_empty() {
                    problems.push(Problem::new("classes", Reason::InvalidValue, "a regression model has no classes"));
                }
                if self.positive_class.is_some() {
                    problems.push(Problem::new(
                        "positive_class",
                        Reason::InvalidValue,
                        "a regression model has no positive class",
                    ));
                }
            }
            Task::BinaryClassification | Task::MulticlassClassification => {
                let binary = self.task == Task::BinaryClassification;
                if binary && self.classes.len() != 2 {
                    problems.push(Problem::new(
                        "classes",
                        if self.classes.is_empty() { Reason::MissingField } else { Reason::InvalidValue },
                        "a binary classifier needs exactly 2 class labels",
                    ));
                } else if !binary && !(2..=MAX_CLASSES).contains(&self.classes.len()) {
                    problems.push(Problem::new(
                        "classes",
                        if self.classes.is_empty() { Reason::MissingField } else { Reason::InvalidValue },
                        format!("a multiclass classifier needs 2 to {MAX_CLASSES} class labels"),
                    ));
                }
                let mut seen = HashMap::new();
                for (i, c) in self.classes.iter().enumerate() {
                    if c.is_empty() {
                        problems.push(Problem::new(format!("classes[{i}]"), Reason::InvalidValue, "must not be empty"));
                    } else if let Err(m) = check_text(c, MAX_CATEGORY_LEN) {
                        problems.push(Problem::new(format!("classes[{i}]"), Reason::InvalidValue, m));
                    }
                    if let Some(first) = seen.insert(c, i) {
                        problems.push(Problem::new(
                            format!("classes[{i}]"),
                            Reason::InvalidValue,
                            format!("duplicate class {c:?} (also classes[{first}])"),
                        ));
                    }
                }
                match (&self.positive_class, binary) {
                    (None, true) => problems.push(Problem::new(
                        "positive_class",
                        Reason::MissingField,
                        "a binary classifier needs its positive class",
                    )),
                    (Some(p), true) if !self.classes.contains(p) => problems.push(Problem::new(
                        "positive_class",
                        Reason::UnknownClass,
                        format!("{p:?} is not one of the classes"),
                    )),
                    (Some(_), false) => problems.push(Problem::new(
                        "positive_class",
                        Reason::InvalidValue,
                        "only a binary classifier has a positive class",
                    )),
                    _ => {}
                }
            }
        }
    }

    /// The spec with `new` features appended, after checking them: valid and unique
    /// names, none already declared. Paths are relative to the list of new features.
    /// Features are only ever appended, so stored events keep their meaning.
    pub fn with_features_appended(&self, new: Vec<FeatureSpec>) -> Result<ModelSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        if new.is_empty() {
            problems.push(Problem::new("features", Reason::MissingField, "name at least one feature to add"));
        }
        if self.features.len() + new.len() > MAX_FEATURES {
            problems.push(Problem::new(
                "features",
                Reason::TooMany,
                format!("a model may have at most {MAX_FEATURES} features; it has {}", self.features.len()),
            ));
        }
        for (i, f) in new.iter().enumerate() {
            let path = format!("features[{i}].name");
            if let Err(m) = check_feature_name(&f.name) {
                problems.push(Problem::new(path, Reason::InvalidValue, m));
            } else if self.feature_index(&f.name).is_some() {
                problems.push(Problem::new(
                    path,
                    Reason::InvalidValue,
                    format!("the model already has a feature {:?}", f.name),
                ));
            } else if let Some(j) = new[..i].iter().position(|g| g.name == f.name) {
                problems.push(Problem::new(
                    path,
                    Reason::InvalidValue,
                    format!("duplicate feature name {:?} (also features[{j}])", f.name),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut spec = self.clone();
        spec.features.extend(new);
        Ok(spec)
    }

    /// Index of the named feature, if declared (a linear scan; see [`ModelIndex`]).
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Index of the class, if declared.
    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == label)
    }

    /// Checks one feature value against its declared type.
    pub fn check_feature(&self, index: usize, value: Scalar) -> Result<FeatureValue, (Reason, String)> {
        let Some(spec) = self.features.get(index) else {
            return Err((Reason::UnknownFeature, "unknown feature".into()));
        };
        if value == Scalar::Null {
            return if spec.nullable {
                Ok(FeatureValue::Null)
            } else {
                Err((Reason::NotNullable, "must not be null (the feature is not nullable)".into()))
            };
        }
        let wrong = |expected: &str| (Reason::WrongType, format!("expected {expected}, got {}", value.kind()));
        match spec.kind {
            FeatureType::Numeric => value.as_f64().map(FeatureValue::Number).ok_or_else(|| wrong("a number")),
            FeatureType::Boolean => match value {
                Scalar::Bool(b) => Ok(FeatureValue::Bool(b)),
                _ => Err(wrong("a boolean")),
            },
            FeatureType::Categorical => match value.as_label() {
                Some(s) => check_text(&s, MAX_CATEGORY_LEN)
                    .map(|()| FeatureValue::Category(s))
                    .map_err(|m| (Reason::TooLong, m)),
                None => Err(wrong("a string, an integer or a boolean")),
            },
            FeatureType::Text => match value {
                Scalar::Str(s) => check_text(&s, crate::names::MAX_TEXT_LEN)
                    .map(|()| FeatureValue::Text(s))
                    .map_err(|m| (Reason::TooLong, m)),
                _ => Err(wrong("a string")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary() -> ModelSpec {
        ModelSpec {
            name: "credit".into(),
            task: Task::BinaryClassification,
            features: vec![
                FeatureSpec { name: "age".into(), kind: FeatureType::Numeric, nullable: false },
                FeatureSpec { name: "city".into(), kind: FeatureType::Categorical, nullable: true },
            ],
            classes: vec!["good".into(), "bad".into()],
            positive_class: Some("bad".into()),
            description: String::new(),
        }
    }

    #[test]
    fn valid_spec_passes() {
        assert_eq!(binary().validate(), Ok(()));
    }

    #[test]
    fn spec_problems_name_their_field() {
        let check = |edit: &dyn Fn(&mut ModelSpec), path: &str| {
            let mut m = binary();
            edit(&mut m);
            let problems = m.validate().expect_err(path);
            assert!(problems.iter().any(|p| p.path == path), "{path}: {problems:?}");
        };
        check(&|m| m.name = "a b".into(), "name");
        check(&|m| m.features[1].name = "age".into(), "features[1].name");
        check(&|m| m.classes.push("x".into()), "classes");
        check(&|m| m.positive_class = Some("meh".into()), "positive_class");
        check(&|m| m.positive_class = None, "positive_class");
        check(
            &|m| {
                m.task = Task::Regression;
                m.positive_class = None;
            },
            "classes",
        );
    }

    #[test]
    fn features_are_appended_only_when_new_and_valid() {
        let m = binary();
        let new = |name: &str| FeatureSpec { name: name.into(), kind: FeatureType::Boolean, nullable: true };
        let grown = m.with_features_appended(vec![new("vip")]).expect("valid");
        assert_eq!(grown.features.len(), 3);
        assert_eq!(grown.features[..2], m.features[..], "existing features keep their ordinals");
        let paths = |r: Result<ModelSpec, Vec<Problem>>| -> Vec<String> {
            r.expect_err("invalid").into_iter().map(|p| p.path).collect()
        };
        assert_eq!(paths(m.with_features_appended(vec![new("age")])), ["features[0].name"]);
        assert_eq!(paths(m.with_features_appended(vec![new("a"), new("a")])), ["features[1].name"]);
        assert_eq!(paths(m.with_features_appended(vec![])), ["features"]);
    }

    #[test]
    fn feature_checks() {
        let m = binary();
        assert_eq!(m.check_feature(0, Scalar::Int(3)), Ok(FeatureValue::Number(3.0)));
        assert_eq!(m.check_feature(0, Scalar::Null).map_err(|e| e.0), Err(Reason::NotNullable));
        assert_eq!(m.check_feature(0, Scalar::Str("3".into())).map_err(|e| e.0), Err(Reason::WrongType));
        assert_eq!(m.check_feature(1, Scalar::Int(40213)), Ok(FeatureValue::Category("40213".into())));
        assert_eq!(m.check_feature(1, Scalar::Float(1.5)).map_err(|e| e.0), Err(Reason::WrongType));
        assert_eq!(m.check_feature(1, Scalar::Null), Ok(FeatureValue::Null));
    }
}

/// A model spec with hash lookups for feature and class names, built once per model
/// so that validating an event costs one hash probe per field, not a scan.
#[derive(Debug, Clone)]
pub struct ModelIndex {
    pub spec: ModelSpec,
    features: HashMap<String, usize>,
    classes: HashMap<String, usize>,
}

impl ModelIndex {
    pub fn new(spec: ModelSpec) -> Self {
        let features = spec.features.iter().enumerate().map(|(i, f)| (f.name.clone(), i)).collect();
        let classes = spec.classes.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        ModelIndex { spec, features, classes }
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.get(name).copied()
    }

    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.classes.get(label).copied()
    }
}
