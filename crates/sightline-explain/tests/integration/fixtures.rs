//! The committed XGBoost fixtures (from tests/reference/explain_xgboost.py), read at compile time.

use serde::Deserialize;
use sightline_explain::{Ensemble, formats::xgboost_json};

/// One fixture: a model and xgboost's own outputs on test rows.
pub struct Fixture {
    pub name: &'static str,
    pub model: &'static str,
    pub case: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            model: include_str!(concat!("../fixtures/", $name, ".model.json")),
            case: include_str!(concat!("../fixtures/", $name, ".case.json")),
        }
    };
}

pub const ALL: [Fixture; 5] =
    [fixture!("binary"), fixture!("multiclass"), fixture!("regression"), fixture!("forest"), fixture!("poisson")];

/// A case file; NaN inputs are written as null because JSON has no NaN.
#[derive(Deserialize)]
pub struct Case {
    pub objective: String,
    pub num_features: usize,
    pub rows: Vec<Vec<Option<f64>>>,
    /// `[row][output]`
    pub margin: Vec<Vec<f64>>,
    /// `[row][output]`
    pub prediction: Vec<Vec<f64>>,
    /// `[row][output][feature]`, the last column is xgboost's bias (expected value).
    pub contribs: Vec<Vec<Vec<f64>>>,
}

impl Fixture {
    pub fn ensemble(&self) -> Ensemble {
        xgboost_json::load(self.model.as_bytes()).expect("fixture model loads")
    }

    pub fn case(&self) -> Case {
        serde_json::from_str(self.case).expect("fixture case parses")
    }
}

impl Case {
    pub fn row(&self, index: usize) -> Vec<f64> {
        self.rows[index].iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    }
}
