"""Generate the interventional TreeSHAP fixture of crates/sightline-explain (shap's TreeExplainer with a background).

Pinned versions (also in tests/reference/requirements-explain-inspection.txt):
    numpy==2.4.6
    shap==0.51.0   (with numba==0.68.1, llvmlite==0.50.0, scipy, pandas, scikit-learn)
    lightgbm==4.7.0
    xgboost==3.2.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv>
    <venv>/bin/pip install --only-binary=numpy,scipy,scikit-learn,pandas,numba,llvmlite,lightgbm,xgboost \
        -r tests/reference/requirements-explain-inspection.txt
    <venv>/bin/python tests/reference/explain_interventional.py

For committed fixture models (tests/reference/explain_xgboost.py, explain_lightgbm.py) it records
`shap.TreeExplainer(model, data=background, feature_perturbation="interventional")`'s
`shap_values(rows)` and `expected_value` in raw (margin) space. Rows and background are drawn
with a fixed seed, with NaN in some rows and values on split thresholds for the XGBoost models.
It also records each library's own margins of the rows and mean margin over the background
(the expected value). shap's interventional algorithm works in single precision (its C nodes
keep thresholds and leaf values as `float`), so its attributions are off by about 3e-8 relative
for every library; the Rust test also checks against Shapley values it enumerates exactly.
Left out: the LightGBM multiclass model (shap 0.51 merges its classes into one output in this
mode), NaN in LightGBM rows (shap does not send them the model's default way here) and the model
trained with LightGBM's `zero_as_missing` (shap reads NaN but not zero as missing). For the
XGBoost multiclass model shap's expected value misses XGBoost 3's per-class base score, so the
Rust test compares the expected value with the library's mean margin instead.
"""

import json
import zlib

import lightgbm as lgb
import numpy as np
import shap
import xgboost as xgb

assert shap.__version__ == "0.51.0", shap.__version__
assert np.__version__ == "2.4.6", np.__version__
assert lgb.__version__ == "4.7.0", lgb.__version__
assert xgb.__version__ == "3.2.0", xgb.__version__

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures"
OUT = FIXTURES / "interventional.cases.json"
SEED = 20261127

# (model file, background rows, explained rows)
CASES = [
    ("lightgbm_binary.model.txt", 50, 20),
    ("lightgbm_poisson.model.txt", 30, 15),
    ("lightgbm_forest.model.txt", 30, 15),
    ("binary.model.json", 50, 20),
    ("multiclass.model.json", 30, 15),
    ("regression.model.json", 40, 15),
]


def load(model_file):
    path = str(FIXTURES / model_file)
    return xgb.Booster(model_file=path) if model_file.endswith(".json") else lgb.Booster(model_file=path)


def raw_margin(model, x):
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(x, missing=np.nan), output_margin=True).reshape(len(x), -1).astype(np.float64)
    return np.asarray(model.predict(x, raw_score=True)).reshape(len(x), -1)


def raw_divisor(model):
    """LightGBM in random-forest mode: raw scores (and shap's values) are sums over the trees, the
    prediction their average, which is Sightline's margin; the test divides by this."""
    if isinstance(model, lgb.Booster) and "average_output" in model.model_to_string():
        return model.current_iteration()
    return 1


def json_rows(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in x]


def case(model_file):
    name = model_file.split(".")[0]
    spec = next(c for c in CASES if c[0] == model_file)
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    background = rng.normal(size=(spec[1], 6))
    rows = rng.normal(scale=1.3, size=(spec[2], 6))
    background[:, 5] = np.round(background[:, 5] * 2.0) / 2.0
    rows[:, 5] = np.round(rows[:, 5] * 2.0) / 2.0
    if model_file.endswith(".json"):
        rows[rng.random(rows.shape) < 0.08] = np.nan
        background[rng.random(background.shape) < 0.05] = np.nan
        # XGBoost reads float32; rows already float32 make shap's and Sightline's reading agree.
        background = background.astype(np.float32).astype(np.float64)
        rows = rows.astype(np.float32).astype(np.float64)
    model = load(model_file)
    explainer = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
    values = np.asarray(explainer.shap_values(rows))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.ndim == 2:
        values = values[:, :, None]
    assert values.shape == (len(rows), 6, len(expected)), values.shape
    margin = raw_margin(model, rows)
    background_margin = raw_margin(model, background).mean(axis=0)
    additivity = float(np.abs(values.sum(axis=1) + expected - margin).max())
    print(f"{name}: {len(rows)} rows, {len(background)} background rows, {len(expected)} outputs, "
          f"shap's additivity error {additivity:.2e}")
    return {
        "name": name,
        "model": model_file,
        "background": json_rows(background),
        "rows": json_rows(rows),
        "raw_divisor": raw_divisor(model),
        "expected_value": expected.tolist(),
        # The library's own mean margin over the background, what the expected value must be.
        "background_margin": background_margin.tolist(),
        "margin": margin.astype(np.float64).tolist(),
        # [row][output][feature]
        "shap_values": values.transpose(0, 2, 1).tolist(),
    }


def main():
    cases = [case(spec[0]) for spec in CASES]
    document = {"generator": "tests/reference/explain_interventional.py", "shap": shap.__version__, "cases": cases}
    OUT.write_text(json.dumps(document) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])}")


if __name__ == "__main__":
    main()
