//! The committed fixtures, read at compile time: XGBoost's (JSON and UBJSON) from
//! tests/reference/explain_xgboost.py, LightGBM's from tests/reference/explain_lightgbm.py.

use serde::Deserialize;
use sightline_explain::{
    Ensemble,
    formats::{lightgbm_text, xgboost_json, xgboost_ubj},
};

/// The library that trained a fixture model and computed its expected outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    XGBoost,
    LightGBM,
}

/// One fixture: a model and its library's own outputs on test rows.
pub struct Fixture {
    pub name: &'static str,
    pub library: Library,
    /// The model file's extension, which says how to load it.
    pub extension: &'static str,
    pub model: &'static [u8],
    pub case: &'static str,
}

macro_rules! fixture {
    ($library:ident, $name:literal, $extension:literal) => {
        fixture!($library, $name, $name, $extension)
    };
    // A model saved in a second format shares the case file of the first.
    ($library:ident, $name:literal, $case:literal, $extension:literal) => {
        Fixture {
            name: $name,
            library: Library::$library,
            extension: $extension,
            model: include_bytes!(concat!("../fixtures/", $case, ".model.", $extension)),
            case: include_str!(concat!("../fixtures/", $case, ".case.json")),
        }
    };
}

pub const ALL: [Fixture; 16] = [
    fixture!(XGBoost, "binary", "json"),
    fixture!(XGBoost, "multiclass", "json"),
    fixture!(XGBoost, "regression", "json"),
    fixture!(XGBoost, "forest", "json"),
    fixture!(XGBoost, "poisson", "json"),
    fixture!(XGBoost, "binary_ubj", "binary", "ubj"),
    fixture!(XGBoost, "multiclass_ubj", "multiclass", "ubj"),
    fixture!(XGBoost, "regression_ubj", "regression", "ubj"),
    fixture!(XGBoost, "forest_ubj", "forest", "ubj"),
    fixture!(LightGBM, "lightgbm_binary", "txt"),
    fixture!(LightGBM, "lightgbm_multiclass", "txt"),
    fixture!(LightGBM, "lightgbm_regression", "txt"),
    fixture!(LightGBM, "lightgbm_multiclassova", "txt"),
    fixture!(LightGBM, "lightgbm_poisson", "txt"),
    fixture!(LightGBM, "lightgbm_forest", "txt"),
    fixture!(LightGBM, "lightgbm_categorical", "txt"),
];

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
    /// `[row][output][feature]`, the last column is the library's bias (expected value).
    pub contribs: Vec<Vec<Vec<f64>>>,
    /// What `margin` and `contribs` must be divided by to be our margin and
    /// attributions: LightGBM's iteration count in random-forest mode, where
    /// `predict(raw_score=True)` and `pred_contrib` sum the trees but `predict()`
    /// averages them, and our margin is the average the link applies to.
    #[serde(default = "one")]
    pub raw_divisor: f64,
}

fn one() -> f64 {
    1.0
}

impl Fixture {
    pub fn ensemble(&self) -> Ensemble {
        match self.extension {
            "json" => xgboost_json::load(self.model),
            "ubj" => xgboost_ubj::load(self.model),
            _ => lightgbm_text::load(self.model),
        }
        .expect("fixture model loads")
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

/// The fixture model saved as `file` (`<name>.model.txt` or `<name>.model.json`), as the
/// model-agnostic generators name it.
pub fn model(file: &str) -> Ensemble {
    let name = file.trim_end_matches(".model.txt").trim_end_matches(".model.json");
    ALL.iter().find(|fixture| fixture.name == name).expect("fixture model exists").ensemble()
}

/// A fixture row: `null` is a missing value.
pub fn rows(rows: &[Vec<Option<f64>>]) -> Vec<Vec<f64>> {
    rows.iter().map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect()).collect()
}
