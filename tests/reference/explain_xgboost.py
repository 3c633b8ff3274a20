"""Generate the XGBoost fixtures of crates/sightline-explain (models, margins, pred_contribs).

Pinned versions (also in tests/reference/requirements-explain.txt):
    numpy==2.4.6
    xgboost==3.2.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv> && <venv>/bin/pip install -r tests/reference/requirements-explain.txt
    <venv>/bin/python tests/reference/explain_xgboost.py

For each objective it trains a small model on synthetic data with a fixed seed (about 10%
of the inputs missing, so default directions matter), saves it with
`Booster.save_model(...json)` and writes a case file with test rows (NaN written as null),
xgboost's `predict(output_margin=True)`, `predict()` and `predict(pred_contribs=True)`.
Binary, multiclass, regression and forest models are also saved as UBJSON
(`save_model(...ubj)`); the script loads both files back and asserts that xgboost gives
bit-identical margins and contributions from each, so the UBJSON fixtures share the case.
Some test rows carry values equal to split thresholds, so `<` against `<=` shows.
"""

import json
import pathlib
import zlib

import numpy as np
import xgboost as xgb

assert xgb.__version__ == "3.2.0", xgb.__version__
assert np.__version__ == "2.4.6", np.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures"
N_FEATURES = 6
SEED = 20261127


def make_data(rng, n):
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    # A coarse feature: many ties, so test rows hit thresholds exactly.
    x[:, 5] = np.round(x[:, 5] * 2.0) / 2.0
    return x


def with_missing(rng, x, rate=0.1):
    x = x.copy()
    x[rng.random(x.shape) < rate] = np.nan
    return x


def threshold_rows(booster, rng, count):
    """Rows whose features sit exactly on split thresholds of the model."""
    model = json.loads(booster.save_raw("json"))
    pairs = []
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                pairs.append((tree["split_indices"][node], tree["split_conditions"][node]))
    rows = make_data(rng, count)
    for row in rows:
        for _ in range(3):
            feature, threshold = pairs[rng.integers(len(pairs))]
            row[feature] = np.float32(threshold)
    return rows


def to_json_rows(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in x]


def case(name, params, rounds, label_fn, ubj=False):
    # A distinct, stable stream per case (Python's hash() of a str is salted per process).
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    clean = make_data(rng, 600)
    y = label_fn(clean, rng)
    x = with_missing(rng, clean)
    booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=rounds)

    test = np.vstack([with_missing(rng, make_data(rng, 30)), threshold_rows(booster, rng, 10)])
    # One row entirely missing: every tree takes its default path.
    test = np.vstack([test, np.full((1, N_FEATURES), np.nan, dtype=np.float32)])
    dtest = xgb.DMatrix(test, missing=np.nan)
    margin = booster.predict(dtest, output_margin=True)
    prediction = booster.predict(dtest)
    contribs = booster.predict(dtest, pred_contribs=True)
    n = test.shape[0]
    margin = margin.reshape(n, -1)
    prediction = prediction.reshape(n, -1)
    contribs = contribs.reshape(n, -1, N_FEATURES + 1)

    model_file = f"{name}.model.json"
    booster.save_model(str(OUT / model_file))
    saved = [OUT / model_file]
    if ubj:
        saved.append(OUT / f"{name}.model.ubj")
        booster.save_model(str(saved[-1]))
    for path in saved:
        loaded = xgb.Booster(model_file=str(path))
        assert np.array_equal(loaded.predict(dtest, output_margin=True).reshape(n, -1), margin), path.name
        assert np.array_equal(loaded.predict(dtest, pred_contribs=True).reshape(contribs.shape), contribs), path.name
    doc = {
        "generator": "tests/reference/explain_xgboost.py",
        "xgboost": xgb.__version__,
        "objective": params["objective"],
        "model": model_file,
        "num_features": N_FEATURES,
        "rows": to_json_rows(test),
        "margin": margin.astype(float).tolist(),
        "prediction": prediction.astype(float).tolist(),
        "contribs": contribs.astype(float).tolist(),
    }
    (OUT / f"{name}.case.json").write_text(json.dumps(doc) + "\n")
    print(f"{name}: {len(booster.get_dump())} trees, {n} rows")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    base = {"max_depth": 4, "learning_rate": 0.3, "seed": SEED, "nthread": 1}
    case(
        "binary",
        {**base, "objective": "binary:logistic"},
        30,
        lambda x, rng: (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 5] + 0.3 * rng.normal(size=len(x)) > 0).astype(int),
        ubj=True,
    )
    case(
        "multiclass",
        {**base, "max_depth": 3, "objective": "multi:softprob", "num_class": 3},
        12,
        lambda x, rng: np.digitize(x[:, 0] - x[:, 3] + 0.5 * x[:, 5] + 0.3 * rng.normal(size=len(x)), [-0.7, 0.7]),
        ubj=True,
    )
    case(
        "regression",
        {**base, "objective": "reg:squarederror"},
        30,
        lambda x, rng: 3.0 * x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 4] + x[:, 5] + 0.1 * rng.normal(size=len(x)),
        ubj=True,
    )
    # A random forest: several trees per round (`num_parallel_tree`), row and column
    # subsampling, learning rate 1, as the xgboost documentation recommends.
    case(
        "forest",
        {**base, "learning_rate": 1.0, "num_parallel_tree": 8, "subsample": 0.8, "colsample_bynode": 0.8,
         "objective": "reg:squarederror"},
        3,
        lambda x, rng: 2.0 * x[:, 0] - x[:, 3] * x[:, 4] + 0.2 * rng.normal(size=len(x)),
        ubj=True,
    )
    case(
        "poisson",
        {**base, "max_depth": 3, "objective": "count:poisson"},
        10,
        lambda x, rng: rng.poisson(np.exp(0.5 * x[:, 0] + 0.3 * x[:, 5])),
    )


if __name__ == "__main__":
    main()
