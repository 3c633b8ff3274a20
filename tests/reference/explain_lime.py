"""Generate the LIME fixture of crates/sightline-explain (lime's LimeTabularExplainer with its defaults).

Pinned versions (also in tests/reference/requirements-explain-inspection.txt):
    numpy==2.4.6
    scikit-learn==1.9.1   (lime's Ridge)
    lightgbm==4.7.0
    lime==0.2.0.1
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv>
    <venv>/bin/pip install --only-binary=numpy,scipy,scikit-learn,pandas,numba,llvmlite,lightgbm,xgboost \
        -r tests/reference/requirements-explain-inspection.txt
    <venv>/bin/python tests/reference/explain_lime.py

lime samples its neighborhood from numpy's RandomState, which Sightline does not reproduce, so
for each instance the generator takes lime's samples out: an explainer built with
random_state=R gives them through its private `__data_inverse` (the binary representation and
the rows the model is called on), and a second explainer built with the same R runs
`explain_instance`, which draws the very same samples; the generator asserts that lime's
`explain_instance_with_data` on the extracted samples gives that explanation, then records the
samples (rows after the instance), lime's binary representation, and the intercept,
coefficients, score and local prediction. The models are committed LightGBM fixture models and a
closed-form 8-feature function the Rust test evaluates too (feature 7 is binary, so its quartiles
collapse to fewer bins); num_features 3 and 5 exercise forward selection, 7 highest weights.
"""

import importlib.metadata
import json
import zlib

import numpy as np
from lime.lime_tabular import LimeTabularExplainer

from inspection_common import FIXTURES, SEED, BoosterClassifier, BoosterRegressor, json_rows

assert importlib.metadata.version("lime") == "0.2.0.1", importlib.metadata.version("lime")

OUT = FIXTURES / "lime.cases.json"


def closed_form(x):
    return (x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + x[:, 3] ** 2 - x[:, 4] + 0.5 * x[:, 5] * x[:, 6]
            + 2.0 * x[:, 7])


def make_data(rng, n, features):
    x = rng.normal(size=(n, features))
    if features == 8:
        x[:, 7] = (x[:, 7] > 0.6).astype(np.float64)
    return x


# (case name, model, mode, label, num_features, num_samples, instances)
CASES = [
    ("binary", "lightgbm_binary.model.txt", "classification", 1, 10, 300, 3),
    ("regression", "lightgbm_regression.model.txt", "regression", 0, 10, 250, 2),
    ("multiclass_forward", "lightgbm_multiclass.model.txt", "classification", 2, 3, 250, 2),
    ("closed_form_forward", "closed_form", "regression", 0, 5, 300, 1),
    ("closed_form_highest", "closed_form", "regression", 0, 7, 300, 1),
    ("closed_form_all", "closed_form", "regression", 0, 10, 200, 1),
]


def case(name, model, mode, label, num_features, num_samples, instances):
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    features = 8 if model == "closed_form" else 6
    training = make_data(rng, 200, features)
    rows = make_data(rng, instances, features)
    if model == "closed_form":
        predict = closed_form
    elif mode == "classification":
        predict = BoosterClassifier(model).fit().predict_proba
    else:
        predict = BoosterRegressor(model).fit().predict
    explained = []
    for index, row in enumerate(rows):
        random_state = SEED + 1000 * index + zlib.crc32(name.encode()) % 1000
        sampler = LimeTabularExplainer(training, mode=mode, random_state=random_state)
        binary, inverse = sampler._LimeTabularExplainer__data_inverse(row, num_samples)
        explainer = LimeTabularExplainer(training, mode=mode, random_state=random_state)
        explanation = explainer.explain_instance(row, predict, labels=(label,), num_features=num_features,
                                                 num_samples=num_samples)
        # lime's regression mode stores the fitted explanation under label 1.
        key = 1 if mode == "regression" else label
        yss = predict(inverse)
        if yss.ndim == 1:
            yss = yss[:, None]
        distances = np.sqrt(((binary - binary[0]) ** 2).sum(axis=1))
        intercept, weights, score, local_pred = explainer.base.explain_instance_with_data(
            binary, yss, distances, label, num_features, feature_selection="auto")
        assert intercept == explanation.intercept[key], (intercept, explanation.intercept[key])
        assert [(int(f), float(w)) for f, w in weights] == [(int(f), float(w)) for f, w in explanation.local_exp[key]]
        assert score == explanation.score and local_pred[0] == explanation.local_pred[0]
        explained.append({
            "instance": row.tolist(),
            "samples": inverse[1:].tolist(),
            # One string of 0s and 1s per sample, to keep the fixture small.
            "binary": ["".join(str(int(v)) for v in sample) for sample in binary],
            "label": label,
            "intercept": float(intercept),
            "weights": [[int(f), float(w)] for f, w in weights],
            "score": float(score),
            "local_prediction": float(local_pred[0]),
            "prediction": float(yss[0, label]),
        })
        print(f"{name} instance {index}: score {score:.4f}, features {[int(f) for f, _ in weights]}")
    return {
        "name": name,
        "model": model,
        "mode": mode,
        "num_features": num_features,
        "training": json_rows(training),
        "edges": [np.unique(np.percentile(training[:, f], [25, 50, 75])).tolist() for f in range(features)],
        "instances": explained,
    }


def main():
    cases = [case(*spec) for spec in CASES]
    document = {"generator": "tests/reference/explain_lime.py", "lime": "0.2.0.1", "cases": cases}
    OUT.write_text(json.dumps(document) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])}")


if __name__ == "__main__":
    main()
