"""Generate the permutation importance fixture of crates/sightline-explain (scikit-learn's permutation_importance).

Pinned versions (also in tests/reference/requirements-explain-inspection.txt):
    numpy==2.4.6
    scikit-learn==1.9.1
    lightgbm==4.7.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv>
    <venv>/bin/pip install --only-binary=numpy,scipy,scikit-learn,pandas,numba,llvmlite,lightgbm,xgboost \
        -r tests/reference/requirements-explain-inspection.txt
    <venv>/bin/python tests/reference/explain_permutation.py

Each case wraps a committed LightGBM fixture model as a scikit-learn estimator
(inspection_common.py) and records `permutation_importance(est, X, y, scoring=..., n_repeats=...,
random_state=SEED)`. scikit-learn shuffles with numpy's RandomState, which Sightline does not
reproduce, so the generator also writes the permutations scikit-learn applied: it replays
scikit-learn's loop (one seed drawn from RandomState(SEED), a fresh RandomState(seed) per feature,
an index array shuffled in place each repeat and applied to the already-shuffled column, so the
permutation of repeat r is the composition of the first r shuffles), recomputes the importances
with those permutations and asserts they equal scikit-learn's. Given those permutations, the
Rust test must find the same importances.
"""

import json
import zlib

import numpy as np
import sklearn
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer

from inspection_common import FIXTURES, SEED, BoosterClassifier, BoosterRegressor, json_rows

OUT = FIXTURES / "permutation.cases.json"


def sklearn_permutations(random_state, n_rows, n_repeats):
    """The permutation of the original column each repeat of scikit-learn's loop applies."""
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    rng = np.random.RandomState(seed)
    shuffling_idx = np.arange(n_rows)
    current = np.arange(n_rows)
    permutations = []
    for _ in range(n_repeats):
        rng.shuffle(shuffling_idx)
        # X[:, c] = X[shuffling_idx, c]: the value now at row i was at row current[shuffling_idx[i]].
        current = current[shuffling_idx]
        permutations.append(current.copy())
    return permutations


def replay(est, scorer, x, y, permutations, sample_weight):
    def score(data):
        if sample_weight is None:
            return scorer(est, data, y)
        return scorer(est, data, y, sample_weight=sample_weight)

    baseline = score(x)
    importances = np.empty((x.shape[1], len(permutations)))
    for feature in range(x.shape[1]):
        for repeat, permutation in enumerate(permutations):
            shuffled = x.copy()
            shuffled[:, feature] = x[permutation, feature]
            importances[feature, repeat] = baseline - score(shuffled)
    return baseline, importances


def make_case(name, model_file, classifier, scoring, n_repeats, weighted=False):
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    n = 80
    x = rng.normal(size=(n, 6))
    x[:, 5] = np.round(x[:, 5] * 2.0) / 2.0
    x[rng.random(n) < 0.15, 2] = np.nan
    est = (BoosterClassifier if classifier else BoosterRegressor)(model_file).fit()
    if classifier:
        proba = est.predict_proba(x)
        y = np.array([rng.choice(len(p), p=p) for p in proba]).astype(np.float64)
    else:
        y = est.predict(x) + rng.normal(scale=0.5, size=n)
    sample_weight = rng.uniform(0.5, 2.0, size=n) if weighted else None

    kwargs = {"n_repeats": n_repeats, "random_state": SEED}
    if scoring is not None:
        kwargs["scoring"] = scoring
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    result = permutation_importance(est, x, y, **kwargs)

    permutations = sklearn_permutations(SEED, n, n_repeats)
    scorer = get_scorer(scoring) if scoring is not None else (lambda e, d, t, **kw: e.score(d, t, **kw))
    baseline, importances = replay(est, scorer, x, y, permutations, sample_weight)
    # The replay must be scikit-learn's computation, not an approximation of it.
    assert np.array_equal(importances, result.importances), (name, importances - result.importances)
    assert np.array_equal(importances.mean(axis=1), result.importances_mean)
    assert np.array_equal(importances.std(axis=1), result.importances_std)
    print(f"{name}: baseline {baseline:.4f}, mean importances {np.round(result.importances_mean, 4)}")
    return {
        "name": name,
        "model": model_file,
        "scoring": scoring or ("accuracy" if classifier else "r2"),
        "rows": json_rows(x),
        "targets": y.tolist(),
        "sample_weight": None if sample_weight is None else sample_weight.tolist(),
        "permutations": [p.tolist() for p in permutations],
        "baseline": float(baseline),
        "importances": result.importances.tolist(),
        "importances_mean": result.importances_mean.tolist(),
        "importances_std": result.importances_std.tolist(),
    }


CASES = [
    # The estimator's own score: r2 for a regressor, accuracy for a classifier.
    ("regression_r2", "lightgbm_regression.model.txt", False, None, 5),
    ("regression_r2_weighted", "lightgbm_regression.model.txt", False, None, 4, True),
    ("regression_neg_mse", "lightgbm_regression.model.txt", False, "neg_mean_squared_error", 6),
    ("poisson_neg_mae", "lightgbm_poisson.model.txt", False, "neg_mean_absolute_error", 3),
    ("binary_accuracy", "lightgbm_binary.model.txt", True, None, 5),
    ("binary_neg_log_loss", "lightgbm_binary.model.txt", True, "neg_log_loss", 5),
    ("multiclass_accuracy", "lightgbm_multiclass.model.txt", True, None, 7),
]


def main():
    cases = [make_case(*spec) for spec in CASES]
    document = {"generator": "tests/reference/explain_permutation.py", "scikit-learn": sklearn.__version__,
                "seed": SEED, "cases": cases}
    OUT.write_text(json.dumps(document) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])}")


if __name__ == "__main__":
    main()
