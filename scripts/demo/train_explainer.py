"""Trains the demo's gradient-boosted challenger (credit-risk v2) as a real XGBoost model,
so that `serve --demo` has a model file to explain.

Applicants are drawn as `crates/sightline-server/src/demo/population.rs` draws them
(before drift), defaults from its true log-odds; the model reads the numeric and
boolean features (trees take categories encoded as numbers; the demo's categories are
words). Writes `crates/sightline-server/src/demo/credit_risk_v2.json`.

    python3 -m venv /tmp/venv-explain
    /tmp/venv-explain/bin/pip install -r tests/reference/requirements-explain.txt
    /tmp/venv-explain/bin/python scripts/demo/train_explainer.py
"""

import pathlib

import numpy as np
import xgboost as xgb

FEATURES = ["age", "income", "loan_amount", "credit_score", "debt_to_income", "employment_years",
            "open_accounts", "has_cosigner"]
PURPOSE_WEIGHTS = [0.38, 0.18, 0.14, 0.1, 0.08, 0.12]
PURPOSE_RISK = [0.25, -0.2, -0.3, 0.1, 0.35, 0.0]
HOME_WEIGHTS = [0.42, 0.4, 0.18]
OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-server/src/demo/credit_risk_v2.json"


def applicants(rng, n):
    age = np.round(np.clip(rng.normal(41.0, 11.0, n), 18, 85))
    income = np.round(rng.lognormal(10.85, 0.45, n))
    income[rng.random(n) < 0.02] = np.nan
    loan = np.round(rng.lognormal(9.4, 0.6, n) / 100.0) * 100.0
    score = np.round(np.clip(rng.normal(690.0, 55.0, n), 300, 850))
    score[rng.random(n) < 0.01] = np.nan
    dti = np.clip(rng.normal(0.3, 0.1, n), 0.0, 1.5)
    employment = np.round(rng.exponential(6.0, n) * 10.0) / 10.0
    accounts = rng.poisson(5.0, n).astype(float)
    cosigner = (rng.random(n) < 0.12).astype(float)
    purpose = rng.choice(len(PURPOSE_WEIGHTS), n, p=PURPOSE_WEIGHTS)
    home = rng.choice(len(HOME_WEIGHTS), n, p=HOME_WEIGHTS)
    x = np.column_stack([age, income, loan, score, dti, employment, accounts, cosigner])
    income_term = np.where(np.isnan(income), 0.3, -(np.log(np.maximum(np.nan_to_num(income, nan=1.0), 1.0)) - 10.85) / 0.45)
    score_term = np.where(np.isnan(score), 0.4, -(np.nan_to_num(score, nan=690.0) - 690.0) / 55.0)
    logit = (-1.9 + 0.55 * income_term + 0.9 * score_term + 1.1 * (dti - 0.3) / 0.1
             + 0.35 * (np.log(np.maximum(loan, 1.0)) - 9.4) / 0.6 - 0.25 * (employment / 6.0 - 1.0)
             - 0.15 * (age - 41.0) / 11.0 + np.take(PURPOSE_RISK, purpose) + np.where(home == 2, -0.3, 0.0)
             - 0.5 * cosigner)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    return x, y


def main():
    rng = np.random.default_rng(20261127)
    x, y = applicants(rng, 30_000)
    data = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.15, "tree_method": "exact",
              "seed": 0, "nthread": 1}
    booster = xgb.train(params, data, num_boost_round=60)
    booster.save_model(OUT)
    accuracy = float(np.mean((booster.predict(data) > 0.5) == (y > 0.5)))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
