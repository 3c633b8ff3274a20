//! The demo's synthetic credit applicants: feature draws (two of them drifting slowly
//! with time), the true default probability, and the scores of the two model versions.
//!
//! Everything is drawn from the caller's seeded generator and a time parameter, so a
//! run is reproducible for a given seed and start.

use rand::Rng;
use rand::distr::weighted::WeightedIndex;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};
use serde_json::{Map, Value, json};

pub const MODEL: &str = "credit-risk";
pub const VERSIONS: [(&str, &str); 2] =
    [("v1", "logistic scorecard (champion)"), ("v2", "gradient-boosted challenger")];

const HOME: [&str; 3] = ["rent", "mortgage", "own"];
const HOME_WEIGHTS: [f64; 3] = [0.42, 0.4, 0.18];
const PURPOSE: [&str; 6] = ["debt_consolidation", "car", "home_improvement", "education", "medical", "other"];
const PURPOSE_WEIGHTS: [f64; 6] = [0.38, 0.18, 0.14, 0.1, 0.08, 0.12];
/// Extra log-odds of default by purpose, in `PURPOSE` order.
const PURPOSE_RISK: [f64; 6] = [0.25, -0.2, -0.3, 0.1, 0.35, 0.0];
const REGION: [&str; 4] = ["north", "south", "east", "west"];
const REGION_WEIGHTS: [f64; 4] = [0.3, 0.25, 0.25, 0.2];

/// Minutes for the drift to reach about 63 % of its full size.
const DRIFT_MINUTES: f64 = 45.0;

/// The model's schema as the models API takes it.
pub fn model_spec() -> Value {
    json!({
        "name": MODEL,
        "task": "binary_classification",
        "classes": ["good", "bad"],
        "positive_class": "bad",
        "description": "demo: probability that a loan applicant defaults within a year",
        "features": [
            {"name": "age", "type": "numeric", "nullable": false},
            {"name": "income", "type": "numeric"},
            {"name": "loan_amount", "type": "numeric", "nullable": false},
            {"name": "credit_score", "type": "numeric"},
            {"name": "debt_to_income", "type": "numeric"},
            {"name": "employment_years", "type": "numeric"},
            {"name": "open_accounts", "type": "numeric"},
            {"name": "home_ownership", "type": "categorical"},
            {"name": "purpose", "type": "categorical"},
            {"name": "region", "type": "categorical"},
            {"name": "has_cosigner", "type": "boolean"},
        ]
    })
}

/// One applicant's features.
#[derive(Debug, Clone)]
pub struct Applicant {
    pub age: f64,
    /// `None`: not reported (about 2 % of applicants).
    pub income: Option<f64>,
    pub loan_amount: f64,
    pub credit_score: Option<f64>,
    pub debt_to_income: f64,
    pub employment_years: f64,
    pub open_accounts: f64,
    pub home: usize,
    pub purpose: usize,
    pub region: usize,
    pub has_cosigner: bool,
}

/// The distributions applicants are drawn from.
#[derive(Debug)]
pub struct Population {
    age: Normal<f64>,
    income: LogNormal<f64>,
    loan: LogNormal<f64>,
    score: Normal<f64>,
    dti: Normal<f64>,
    employment: Exp<f64>,
    accounts: Poisson<f64>,
    home: WeightedIndex<f64>,
    purpose: WeightedIndex<f64>,
    region: WeightedIndex<f64>,
    noise: Normal<f64>,
}

/// How far the drifting features have moved at `minutes` after the demo's origin: 0 at
/// the start, approaching 1.
pub fn drift_amount(minutes: f64) -> f64 {
    if minutes <= 0.0 { 0.0 } else { 1.0 - (-minutes / DRIFT_MINUTES).exp() }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Population {
    pub fn new() -> Result<Population, String> {
        let e = |what: &str, err: &dyn std::fmt::Display| format!("{what}: {err}");
        Ok(Population {
            age: Normal::new(41.0, 11.0).map_err(|x| e("age", &x))?,
            income: LogNormal::new(10.85, 0.45).map_err(|x| e("income", &x))?,
            loan: LogNormal::new(9.4, 0.6).map_err(|x| e("loan_amount", &x))?,
            score: Normal::new(690.0, 55.0).map_err(|x| e("credit_score", &x))?,
            dti: Normal::new(0.3, 0.1).map_err(|x| e("debt_to_income", &x))?,
            employment: Exp::new(1.0 / 6.0).map_err(|x| e("employment_years", &x))?,
            accounts: Poisson::new(5.0).map_err(|x| e("open_accounts", &x))?,
            home: WeightedIndex::new(HOME_WEIGHTS).map_err(|x| e("home_ownership", &x))?,
            purpose: WeightedIndex::new(PURPOSE_WEIGHTS).map_err(|x| e("purpose", &x))?,
            region: WeightedIndex::new(REGION_WEIGHTS).map_err(|x| e("region", &x))?,
            noise: Normal::new(0.0, 1.0).map_err(|x| e("noise", &x))?,
        })
    }

    /// One applicant, `drift` (0–1) of the way into the drifted population: incomes
    /// fall by up to a third and debt-to-income ratios rise by up to 0.15.
    pub fn draw(&self, rng: &mut impl Rng, drift: f64) -> Applicant {
        let income = self.income.sample(rng) * (1.0 - 0.33 * drift);
        Applicant {
            age: self.age.sample(rng).clamp(18.0, 85.0).round(),
            income: (rng.random::<f64>() >= 0.02).then_some(income.round()),
            loan_amount: (self.loan.sample(rng) / 100.0).round() * 100.0,
            credit_score: (rng.random::<f64>() >= 0.01).then(|| self.score.sample(rng).clamp(300.0, 850.0).round()),
            debt_to_income: (self.dti.sample(rng) + 0.15 * drift).clamp(0.0, 1.5),
            employment_years: (self.employment.sample(rng) * 10.0).round() / 10.0,
            open_accounts: self.accounts.sample(rng),
            home: self.home.sample(rng),
            purpose: self.purpose.sample(rng),
            region: self.region.sample(rng),
            has_cosigner: rng.random::<f64>() < 0.12,
        }
    }

    /// The true log-odds of default.
    pub fn true_logit(&self, a: &Applicant) -> f64 {
        let income = a.income.map_or(0.3, |i| -(i.max(1.0).ln() - 10.85) / 0.45);
        let score = a.credit_score.map_or(0.4, |s| -(s - 690.0) / 55.0);
        -1.9 + 0.55 * income
            + 0.9 * score
            + 1.1 * (a.debt_to_income - 0.3) / 0.1
            + 0.35 * (a.loan_amount.max(1.0).ln() - 9.4) / 0.6
            - 0.25 * (a.employment_years / 6.0 - 1.0)
            - 0.15 * (a.age - 41.0) / 11.0
            + PURPOSE_RISK.get(a.purpose).copied().unwrap_or(0.0)
            + if a.home == 2 { -0.3 } else { 0.0 }
            + if a.has_cosigner { -0.5 } else { 0.0 }
    }

    /// Whether the applicant really defaults.
    pub fn defaults(&self, rng: &mut impl Rng, a: &Applicant) -> bool {
        rng.random::<f64>() < sigmoid(self.true_logit(a))
    }

    /// The probability of default a version's model gives: v1 sees a blurred, older
    /// view of the risk; v2 is sharper.
    pub fn score(&self, rng: &mut impl Rng, a: &Applicant, version: &str) -> f64 {
        let (shrink, noise) = if version == "v2" { (0.95, 0.35) } else { (0.8, 0.7) };
        let logit = shrink * self.true_logit(a) + noise * self.noise.sample(rng);
        (sigmoid(logit) * 1e4).round() / 1e4
    }
}

impl Applicant {
    /// The features as the predictions API takes them.
    pub fn features(&self) -> Value {
        let mut m = Map::new();
        m.insert("age".into(), json!(self.age));
        m.insert("income".into(), json!(self.income));
        m.insert("loan_amount".into(), json!(self.loan_amount));
        m.insert("credit_score".into(), json!(self.credit_score));
        m.insert("debt_to_income".into(), json!((self.debt_to_income * 1e3).round() / 1e3));
        m.insert("employment_years".into(), json!(self.employment_years));
        m.insert("open_accounts".into(), json!(self.open_accounts));
        m.insert("home_ownership".into(), json!(HOME.get(self.home).copied().unwrap_or("rent")));
        m.insert("purpose".into(), json!(PURPOSE.get(self.purpose).copied().unwrap_or("other")));
        m.insert("region".into(), json!(REGION.get(self.region).copied().unwrap_or("north")));
        m.insert("has_cosigner".into(), json!(self.has_cosigner));
        Value::Object(m)
    }

    /// The CSV header of [`Applicant::csv_row`] (plus the prediction column).
    pub fn csv_header() -> &'static str {
        "age,income,loan_amount,credit_score,debt_to_income,employment_years,open_accounts,home_ownership,purpose,\
         region,has_cosigner,prediction"
    }

    /// One reference row; a missing value is an empty field.
    pub fn csv_row(&self, prediction: &str) -> String {
        let opt = |v: Option<f64>| v.map_or_else(String::new, |x| x.to_string());
        format!(
            "{},{},{},{},{:.3},{},{},{},{},{},{},{}",
            self.age,
            opt(self.income),
            self.loan_amount,
            opt(self.credit_score),
            self.debt_to_income,
            self.employment_years,
            self.open_accounts,
            HOME.get(self.home).copied().unwrap_or("rent"),
            PURPOSE.get(self.purpose).copied().unwrap_or("other"),
            REGION.get(self.region).copied().unwrap_or("north"),
            self.has_cosigner,
            prediction
        )
    }
}

/// The predicted class of a score at the default 0.5 threshold.
pub fn class_of(score: f64) -> &'static str {
    if score >= 0.5 { "bad" } else { "good" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn drift_moves_income_down_and_debt_up() {
        let p = Population::new().expect("valid parameters");
        let mut rng = StdRng::seed_from_u64(7);
        let mean = |drift: f64, rng: &mut StdRng| {
            let draws: Vec<Applicant> = (0..4000).map(|_| p.draw(rng, drift)).collect();
            let income = draws.iter().filter_map(|a| a.income).sum::<f64>() / draws.len() as f64;
            let dti = draws.iter().map(|a| a.debt_to_income).sum::<f64>() / draws.len() as f64;
            (income, dti)
        };
        let (i0, d0) = mean(0.0, &mut rng);
        let (i1, d1) = mean(1.0, &mut rng);
        assert!(i1 < 0.75 * i0, "income {i0} -> {i1}");
        assert!(d1 > d0 + 0.1, "debt to income {d0} -> {d1}");
        assert_eq!(drift_amount(0.0), 0.0);
        assert!(drift_amount(600.0) > 0.99);
    }

    #[test]
    fn the_challenger_ranks_better_than_the_champion() {
        let p = Population::new().expect("valid parameters");
        let mut rng = StdRng::seed_from_u64(11);
        let (mut right1, mut right2, n) = (0, 0, 5000);
        for _ in 0..n {
            let a = p.draw(&mut rng, 0.0);
            let bad = p.defaults(&mut rng, &a);
            right1 += usize::from((class_of(p.score(&mut rng, &a, "v1")) == "bad") == bad);
            right2 += usize::from((class_of(p.score(&mut rng, &a, "v2")) == "bad") == bad);
        }
        assert!(right2 > right1, "v1 {right1} v2 {right2} of {n}");
        assert!(right1 > n / 2);
    }
}
