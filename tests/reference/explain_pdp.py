"""Generate the partial dependence fixture of crates/sightline-explain (scikit-learn's partial_dependence).

Pinned versions (also in tests/reference/requirements-explain-inspection.txt):
    numpy==2.4.6
    scikit-learn==1.9.1   (with scipy==1.17.1, whose mquantiles gives the grid ends)
    lightgbm==4.7.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv>
    <venv>/bin/pip install --only-binary=numpy,scipy,scikit-learn,pandas,numba,llvmlite,lightgbm,xgboost \
        -r tests/reference/requirements-explain-inspection.txt
    <venv>/bin/python tests/reference/explain_pdp.py

Each case wraps a committed LightGBM fixture model (tests/reference/explain_lightgbm.py) as a
scikit-learn estimator (inspection_common.py) and records
`partial_dependence(est, X, [feature], method="brute", kind="both", ...)`: the grid, the average
and the ICE curves of the first 20 rows. Feature 5 of the data is coarse (fewer unique values than the resolution, so
the grid is its unique values); feature 2 holds NaN in some rows, which reach the model as
missing values while other features are varied.
"""

import json
import zlib

import numpy as np
from sklearn.inspection import partial_dependence

from inspection_common import FIXTURES, SEED, BoosterClassifier, BoosterRegressor, json_rows

OUT = FIXTURES / "pdp.cases.json"
ICE_ROWS = 20


def make_data(name, n):
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    x = rng.normal(size=(n, 6))
    x[:, 5] = np.round(x[:, 5] * 2.0) / 2.0
    x[rng.random(n) < 0.15, 2] = np.nan
    return x, rng


# (case name, model file, classifier?, feature, options)
CASES = [
    ("regression_default", "lightgbm_regression.model.txt", False, 0, {}),
    ("regression_coarse", "lightgbm_regression.model.txt", False, 5, {}),
    ("regression_narrow", "lightgbm_regression.model.txt", False, 1,
     {"percentiles": (0.1, 0.9), "grid_resolution": 20}),
    ("regression_weighted", "lightgbm_regression.model.txt", False, 4, {"grid_resolution": 25, "weighted": True}),
    ("poisson", "lightgbm_poisson.model.txt", False, 0, {"grid_resolution": 30}),
    ("binary", "lightgbm_binary.model.txt", True, 0, {}),
    ("binary_categorical", "lightgbm_binary.model.txt", True, 4, {"categorical": True}),
    ("multiclass", "lightgbm_multiclass.model.txt", True, 3, {"grid_resolution": 30}),
    ("multiclass_custom", "lightgbm_multiclass.model.txt", True, 0, {"custom_values": [-1.0, 0.0, 0.25, 2.0]}),
]


def case(name, model_file, classifier, feature, options):
    x, rng = make_data(name, 120)
    est = (BoosterClassifier if classifier else BoosterRegressor)(model_file).fit()
    kwargs = {"method": "brute", "kind": "both"}
    if "percentiles" in options:
        kwargs["percentiles"] = options["percentiles"]
    if "grid_resolution" in options:
        kwargs["grid_resolution"] = options["grid_resolution"]
    weights = None
    if options.get("weighted"):
        weights = rng.uniform(0.5, 2.0, size=len(x))
        kwargs["sample_weight"] = weights
    if options.get("categorical"):
        # Few rows, so the unique values stay a short grid.
        x = x[:12]
        kwargs["categorical_features"] = [feature]
    if "custom_values" in options:
        kwargs["custom_values"] = {feature: np.array(options["custom_values"])}
    result = partial_dependence(est, x, [feature], **kwargs)
    grid = result["grid_values"][0]
    average = np.asarray(result["average"])
    individual = np.asarray(result["individual"])
    assert average.shape[1] == len(grid) and individual.shape[1] == len(x), (average.shape, individual.shape)
    print(f"{name}: {len(grid)} grid points, {average.shape[0]} outputs, {len(x)} rows")
    return {
        "name": name,
        "model": model_file,
        "feature": feature,
        "grid_resolution": options.get("grid_resolution", 100),
        "percentiles": list(options.get("percentiles", (0.05, 0.95))),
        "categorical": bool(options.get("categorical", False)),
        "custom_values": options.get("custom_values"),
        "sample_weight": None if weights is None else weights.tolist(),
        "rows": json_rows(x),
        "grid": np.asarray(grid, dtype=np.float64).tolist(),
        "average": average.tolist(),
        # ICE curves of the first rows only, to keep the fixture small; the Rust test checks
        # the others through the average.
        "individual": individual[:, :ICE_ROWS].tolist(),
    }


def main():
    import sklearn

    cases = [case(*spec) for spec in CASES]
    document = {"generator": "tests/reference/explain_pdp.py", "scikit-learn": sklearn.__version__, "cases": cases}
    OUT.write_text(json.dumps(document) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])}")


if __name__ == "__main__":
    main()
