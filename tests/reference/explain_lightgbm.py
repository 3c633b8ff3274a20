"""Generate the LightGBM fixtures of crates/sightline-explain (text models, raw scores, pred_contrib).

Pinned versions (also in tests/reference/requirements-explain-lightgbm.txt):
    numpy==2.4.6
    scipy==1.17.1   (a dependency of lightgbm)
    lightgbm==4.7.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv> && <venv>/bin/pip install -r tests/reference/requirements-explain-lightgbm.txt
    <venv>/bin/python tests/reference/explain_lightgbm.py

For each objective it trains a small model on synthetic float64 data with a fixed seed,
saves it with `Booster.save_model(...txt)` and writes a case file with test rows (NaN
written as null), LightGBM's `predict(raw_score=True)`, `predict()` and
`predict(pred_contrib=True)` (in random-forest mode the last two are sums over the
trees while `predict()` averages them; `raw_divisor` in the case file says by what).
The data exercise every missing type: features with NaN in
training get splits of missing type NaN, feature 4 never misses in training (type None,
so a NaN at prediction is read as 0.0), and the regression model uses
`zero_as_missing=True` (type Zero). The categorical model has bitset splits on
features 3 and 5, with test rows holding fractional, negative, huge and NaN categories.
Elsewhere feature 5 is coarse, so thresholds fall between
ties; some test rows sit exactly on split thresholds (LightGBM goes left on `<=`), some
hold 0.0 or values within LightGBM's zero threshold (1e-35).
"""

import json
import pathlib
import zlib

import lightgbm as lgb
import numpy as np

assert lgb.__version__ == "4.7.0", lgb.__version__
assert np.__version__ == "2.4.6", np.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures"
N_FEATURES = 6
SEED = 20261127


def make_data(rng, n, categorical=()):
    x = rng.normal(size=(n, N_FEATURES))
    # A coarse feature with many exact zeros and ties.
    x[:, 5] = np.round(x[:, 5] * 2.0) / 2.0
    for feature in categorical:
        # Integer category codes 0..11, as LightGBM expects.
        x[:, feature] = rng.integers(0, 12, size=n)
    return x


def with_missing(rng, x, rate=0.1, complete=(4,)):
    x = x.copy()
    mask = rng.random(x.shape) < rate
    # Feature 4 never misses in training, so its splits have missing type None.
    mask[:, list(complete)] = False
    x[mask] = np.nan
    return x


def thresholds(booster):
    """(feature, threshold) of every split, read from the model text."""
    pairs = []
    features = None
    for line in booster.model_to_string().splitlines():
        if line.startswith("split_feature="):
            features = [int(v) for v in line.split("=", 1)[1].split()]
        elif line.startswith("threshold=") and features is not None:
            pairs.extend(zip(features, (float(v) for v in line.split("=", 1)[1].split())))
            features = None
    return pairs


def test_rows(booster, rng, categorical):
    rows = [with_missing(rng, make_data(rng, 30, categorical), rate=0.15)]
    # NaN where training had none (feature 4): read as 0.0 by splits of type None.
    x = make_data(rng, 5, categorical)
    x[:, 4] = np.nan
    rows.append(x)
    # Exact zeros and values LightGBM's predictor treats as zero.
    x = make_data(rng, 6, categorical)
    x[:, [0, 1, 2]] = [[0.0, -0.0, 1e-36], [1e-40, 0.0, -1e-36], [0.0, 0.0, 0.0], [-0.0, 1e-34, 0.0],
                       [5e-36, 0.0, -1e-20], [0.0, 1e-300, 0.0]]
    rows.append(x)
    # Values exactly on thresholds, and one ulp either side of them.
    pairs = thresholds(booster)
    x = make_data(rng, 12, categorical)
    for i, row in enumerate(x):
        for _ in range(3):
            feature, threshold = pairs[rng.integers(len(pairs))]
            row[feature] = [threshold, np.nextafter(threshold, np.inf), np.nextafter(threshold, -np.inf)][i % 3]
    rows.append(x)
    # Category values LightGBM truncates to an integer, negative, past every set, or NaN.
    if categorical:
        x = make_data(rng, 10, categorical)
        x[:, list(categorical)] = np.array([0.0, 1.5, 2.9, -0.5, -1.0, 31.0, 100.0, 1e10, np.nan, 7.0])[:, None]
        rows.append(x)
    # Every value missing.
    rows.append(np.full((1, N_FEATURES), np.nan))
    return np.vstack(rows)


def to_json_rows(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in x]


def objective_line(booster):
    for line in booster.model_to_string().splitlines():
        if line.startswith("objective="):
            return line.split("=", 1)[1]
    raise ValueError("model has no objective line")


def case(name, params, rounds, label_fn, categorical=(), complete=(4,)):
    # A distinct, stable stream per case (Python's hash() of a str is salted per process).
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    clean = make_data(rng, 800, categorical)
    y = label_fn(clean, rng)
    x = with_missing(rng, clean, complete=complete)
    params = {"verbose": -1, "seed": SEED, "num_threads": 1, "deterministic": True, **params}
    dataset = lgb.Dataset(x, label=y, categorical_feature=list(categorical) or "auto")
    booster = lgb.train(params, dataset, num_boost_round=rounds)

    test = test_rows(booster, rng, categorical)
    n = test.shape[0]
    margin = np.asarray(booster.predict(test, raw_score=True)).reshape(n, -1)
    prediction = np.asarray(booster.predict(test)).reshape(n, -1)
    contribs = np.asarray(booster.predict(test, pred_contrib=True)).reshape(n, -1, N_FEATURES + 1)

    model_file = f"{name}.model.txt"
    booster.save_model(str(OUT / model_file))
    iterations = booster.current_iteration()
    doc = {
        "generator": "tests/reference/explain_lightgbm.py",
        "lightgbm": lgb.__version__,
        "objective": objective_line(booster),
        "model": model_file,
        "num_features": N_FEATURES,
        # In random-forest mode (`average_output`) LightGBM's `predict()` averages the
        # trees, but `predict(raw_score=True)` and `pred_contrib` return their sums.
        # Sightline's margin is the value the link applies to (the average), so the
        # test divides LightGBM's raw scores and contributions by this.
        "raw_divisor": iterations if params.get("boosting") == "rf" else 1,
        "rows": to_json_rows(test),
        "margin": margin.astype(float).tolist(),
        "prediction": prediction.astype(float).tolist(),
        "contribs": contribs.astype(float).tolist(),
    }
    (OUT / f"{name}.case.json").write_text(json.dumps(doc) + "\n")
    print(f"{name}: {booster.num_trees()} trees, {n} rows")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    base = {"num_leaves": 15, "learning_rate": 0.2, "min_data_in_leaf": 10}
    case(
        "lightgbm_binary",
        {**base, "objective": "binary"},
        30,
        lambda x, rng: (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 5] + 0.4 * x[:, 4]
                        + 0.3 * rng.normal(size=len(x)) > 0).astype(int),
    )
    case(
        "lightgbm_multiclass",
        {**base, "num_leaves": 7, "objective": "multiclass", "num_class": 3},
        10,
        lambda x, rng: np.digitize(x[:, 0] - x[:, 3] + 0.5 * x[:, 5] + 0.5 * x[:, 4]
                                   + 0.3 * rng.normal(size=len(x)), [-0.7, 0.7]),
    )
    case(
        "lightgbm_regression",
        {**base, "objective": "regression", "zero_as_missing": True},
        30,
        lambda x, rng: 3.0 * x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 4] + x[:, 5] + 0.1 * rng.normal(size=len(x)),
    )
    # One-vs-all multiclass: a sigmoid per class instead of the softmax.
    case(
        "lightgbm_multiclassova",
        {**base, "num_leaves": 5, "objective": "multiclassova", "num_class": 3},
        8,
        lambda x, rng: np.digitize(x[:, 1] + x[:, 2] - 0.5 * x[:, 5] + 0.3 * rng.normal(size=len(x)), [-0.7, 0.7]),
    )
    case(
        "lightgbm_poisson",
        {**base, "num_leaves": 7, "objective": "poisson"},
        15,
        lambda x, rng: rng.poisson(np.exp(0.5 * x[:, 0] + 0.3 * x[:, 5])),
    )
    # Random-forest mode: bagging and feature subsampling are required by LightGBM;
    # the raw score is the average of the trees (`average_output` in the model file).
    case(
        "lightgbm_forest",
        {**base, "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.8,
         "objective": "regression"},
        12,
        lambda x, rng: 2.0 * x[:, 0] - x[:, 3] * x[:, 4] + 0.2 * rng.normal(size=len(x)),
    )
    # Categorical splits (bitsets of categories): feature 3 has NaN in training,
    # feature 5 none (missing type None, where LightGBM 3 read NaN as category 0 and
    # LightGBM 4 sends it right); more categories than `max_cat_to_onehot`, so sets hold several.
    case(
        "lightgbm_categorical",
        {**base, "objective": "binary", "min_data_per_group": 10, "cat_smooth": 1.0, "cat_l2": 1.0},
        20,
        lambda x, rng: (x[:, 0] + np.isin(x[:, 3], [1, 4, 5, 9]) - np.isin(x[:, 5], [0, 2, 3, 7, 11])
                        + 0.3 * rng.normal(size=len(x)) > 0).astype(int),
        categorical=(3, 5),
        complete=(4, 5),
    )


if __name__ == "__main__":
    main()
