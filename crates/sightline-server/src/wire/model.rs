//! Model and version documents: create requests in, records out.

use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::{FeatureSpec, FeatureType, ModelSpec, Task};
use sightline_store::{ModelRecord, VersionRecord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    pub name: String,
    /// The owning project; by default the caller's only project, else `default`.
    #[serde(default)]
    pub project: Option<String>,
    pub task: TaskIn,
    #[serde(default)]
    pub features: Vec<FeatureIn>,
    #[serde(default)]
    pub classes: Vec<ClassLabel>,
    #[serde(default)]
    pub positive_class: Option<ClassLabel>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskIn {
    BinaryClassification,
    MulticlassClassification,
    Regression,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureTypeIn {
    Numeric,
    Categorical,
    Boolean,
    Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureIn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeatureTypeIn,
    #[serde(default = "default_nullable")]
    pub nullable: bool,
}

impl FeatureIn {
    pub fn into_spec(self) -> FeatureSpec {
        FeatureSpec {
            name: self.name,
            kind: match self.kind {
                FeatureTypeIn::Numeric => FeatureType::Numeric,
                FeatureTypeIn::Categorical => FeatureType::Categorical,
                FeatureTypeIn::Boolean => FeatureType::Boolean,
                FeatureTypeIn::Text => FeatureType::Text,
            },
            nullable: self.nullable,
        }
    }
}

/// `POST /api/v1/models/{model}/features`: features to append to the schema.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddFeatures {
    pub features: Vec<FeatureIn>,
}

fn default_nullable() -> bool {
    true
}

/// A class label may be written as a string, an integer or a boolean (`1`, `true`); it
/// is kept as its canonical spelling, the same one events are matched by.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ClassLabel {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl ClassLabel {
    fn spelling(self) -> String {
        match self {
            ClassLabel::Str(s) => s,
            ClassLabel::Int(i) => i.to_string(),
            ClassLabel::Bool(b) => b.to_string(),
        }
    }
}

impl CreateModel {
    pub fn into_spec(self) -> ModelSpec {
        ModelSpec {
            name: self.name,
            task: match self.task {
                TaskIn::BinaryClassification => Task::BinaryClassification,
                TaskIn::MulticlassClassification => Task::MulticlassClassification,
                TaskIn::Regression => Task::Regression,
            },
            features: self.features.into_iter().map(FeatureIn::into_spec).collect(),
            classes: self.classes.into_iter().map(ClassLabel::spelling).collect(),
            positive_class: self.positive_class.map(ClassLabel::spelling),
            description: self.description,
        }
    }
}

pub fn model_json(m: &ModelRecord, project: &str) -> Value {
    let s = &m.spec;
    json!({
        "name": s.name,
        "project": project,
        "task": s.task.as_str(),
        "features": s.features.iter().map(|f| json!({
            "name": f.name, "type": f.kind.as_str(), "nullable": f.nullable,
        })).collect::<Vec<_>>(),
        "classes": s.classes,
        "positive_class": s.positive_class,
        "description": s.description,
        "created_at": super::time::format(m.created_ms),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub fn version_json(v: &VersionRecord) -> Value {
    json!({
        "name": v.name,
        "description": v.description,
        "created_at": super::time::format(v.created_ms),
    })
}
