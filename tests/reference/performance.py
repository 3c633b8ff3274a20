#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/performance.json: model metrics from scikit-learn.

Pinned: numpy==2.4.6, scipy==1.17.1, scikit-learn==1.9.1 (tests/reference/requirements.txt).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/performance.py
The output is committed, so `cargo test` needs no Python. The data is drawn from a
seeded generator: rerunning with the pinned versions reproduces the file byte for byte.

References:
- every classification and regression metric: sklearn.metrics itself, with
  labels=[0, 1] (binary) or labels=range(k) (multiclass) so single-class windows keep
  every class, and zero_division=0.0 (the default's value, without the warning).
- specificity: recall_score with pos_label=0.
- expected calibration error: scikit-learn has none; Sightline's definition (10 equal-width
  bins, bin b holding b <= 10*s < b + 1, s = 1 in the last bin) written out with numpy.
- mean error (bias): numpy, mean of prediction - label.
Undefined values are written as null, which is what Sightline returns (see the docs of
sightline_stats::performance): ROC AUC on one class and R^2 below two values (scikit-learn
gives NaN), average precision without positives (scikit-learn warns and gives 0), and
every metric of an empty window (scikit-learn raises).
"""

import json
import math
import pathlib
import warnings

import numpy as np
from sklearn import metrics

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/performance.json"
rng = np.random.default_rng(20261127)
ZD = {"zero_division": 0.0}


def num(x):
    """A defined metric as a JSON number; NaN (sklearn's undefined) must not reach here."""
    x = float(x)
    assert math.isfinite(x), x
    return x


def scores(a, decimals):
    # Rounding makes ties common, which is what the ranking metrics must get right.
    return [float(v) for v in np.clip(np.round(np.asarray(a, dtype=float), decimals), 0.0, 1.0)]


def ece(y, s, bins=10):
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    idx = np.minimum(np.floor(s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - s[mask].mean())
    return total


def binary_case(name, labels, predictions, score_values, threshold=None):
    y = np.asarray(labels, dtype=int)
    s = np.asarray(score_values, dtype=float)
    p = np.asarray(predictions, dtype=int) if threshold is None else (s >= threshold).astype(int)
    case = {
        "name": name,
        "labels": [int(v) for v in y],
        "predictions": [int(v) for v in predictions],
        "scores": [float(v) for v in s],
        "threshold": threshold,
    }
    if len(y) == 0:
        case["confusion"] = [[0, 0], [0, 0]]
        case["metrics"] = dict.fromkeys(BINARY_METRICS)
        return case
    both = len(set(y.tolist())) == 2
    with warnings.catch_warnings():
        # The warnings are the undefined cases; their values are replaced by null below.
        warnings.simplefilter("ignore")
        m = {
            "accuracy": num(metrics.accuracy_score(y, p)),
            "precision": num(metrics.precision_score(y, p, labels=[0, 1], **ZD)),
            "recall": num(metrics.recall_score(y, p, labels=[0, 1], **ZD)),
            "f1": num(metrics.f1_score(y, p, labels=[0, 1], **ZD)),
            "specificity": num(metrics.recall_score(y, p, labels=[0, 1], pos_label=0, **ZD)),
            "roc_auc": num(metrics.roc_auc_score(y, s)) if both else None,
            "average_precision": num(metrics.average_precision_score(y, s)) if y.any() else None,
            "log_loss": num(metrics.log_loss(y, s, labels=[0, 1])),
            "brier": num(metrics.brier_score_loss(y, s, labels=[0, 1])),
            "expected_calibration_error": num(ece(y, s)),
        }
    assert both or math.isnan(roc_nan(y, s))
    case["confusion"] = metrics.confusion_matrix(y, p, labels=[0, 1]).tolist()
    case["metrics"] = m
    return case


def roc_nan(y, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metrics.roc_auc_score(y, s)


BINARY_METRICS = ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision",
                  "log_loss", "brier", "expected_calibration_error"]


def model_scores(y, separation, decimals):
    """Scores of a logistic model: positives shifted up by `separation` on the logit scale."""
    logit = rng.normal(size=len(y)) + separation * (2 * np.asarray(y) - 1)
    return scores(1 / (1 + np.exp(-logit)), decimals)


def binary_cases():
    cases = []
    y = rng.integers(0, 2, size=400)
    s = model_scores(y, 1.0, 2)
    logged = [int(v >= 0.5) for v in s]
    # The logged predictions come from another rule for a few records, so Decision::Logged
    # is checked on its own rather than as threshold 0.5 in disguise.
    for i in rng.choice(len(logged), size=20, replace=False):
        logged[i] = 1 - logged[i]
    cases.append(binary_case("balanced 400, logged predictions", y, logged, s))
    cases.append(binary_case("balanced 400, threshold 0.5", y, logged, s, 0.5))
    cases.append(binary_case("balanced 400, threshold 0.3", y, logged, s, 0.3))
    cases.append(binary_case("balanced 400, threshold 0 (all positive)", y, logged, s, 0.0))
    cases.append(binary_case("balanced 400, threshold 1.5 (none positive)", y, logged, s, 1.5))

    y = rng.integers(0, 2, size=300)
    s = model_scores(y, 0.5, 1)
    cases.append(binary_case("heavy ties, one decimal", y, [int(v >= 0.5) for v in s], s, 0.5))
    y = rng.integers(0, 2, size=50)
    s = [0.5] * 50
    cases.append(binary_case("all scores tied", y, [1] * 50, s, 0.5))
    cases.append(binary_case("bin edges for calibration", [0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1],
                             [0] * 12, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.95], 0.5))

    y = (rng.random(2000) < 0.03).astype(int)
    s = model_scores(y, 1.5, 3)
    cases.append(binary_case("imbalanced 3% positives", y, [int(v >= 0.5) for v in s], s, 0.5))
    cases.append(binary_case("imbalanced 3% positives, threshold 0.2", y, [0] * len(y), s, 0.2))
    y = (rng.random(500) < 0.97).astype(int)
    s = model_scores(y, 1.0, 3)
    cases.append(binary_case("imbalanced 97% positives", y, [int(v >= 0.5) for v in s], s, 0.5))

    # A larger window, so summation order (numpy's pairwise sums against Rust's running
    # ones) is exercised where rounding could accumulate.
    y = (rng.random(6000) < 0.3).astype(int)
    s = model_scores(y, 0.8, 3)
    cases.append(binary_case("large 6000, three decimals", y, [int(v >= 0.5) for v in s], s, 0.45))

    y = rng.integers(0, 2, size=40)
    cases.append(binary_case("perfect hard scores", y, y, [float(v) for v in y], 0.5))
    cases.append(binary_case("worst hard scores (log loss clipped)", y, 1 - y, [float(1 - v) for v in y], 0.5))
    s = scores(np.where(y == 1, rng.uniform(0.6, 0.99, 40), rng.uniform(0.01, 0.4, 40)), 2)
    cases.append(binary_case("perfect ranking", y, [int(v >= 0.5) for v in s], s, 0.5))
    cases.append(binary_case("reversed ranking", y, [int(v < 0.5) for v in s], [1 - v for v in s], 0.5))
    cases.append(binary_case("near-certain scores near the clip", [1, 0, 1, 0], [1, 0, 1, 0],
                             [1.0 - 1e-17, 1e-17, 1.0 - 1e-15, 1e-15], 0.5))

    cases.append(binary_case("single class: all negative", [0] * 30, [0] * 30, model_scores([0] * 30, 1.0, 2), 0.5))
    cases.append(binary_case("single class: all positive", [1] * 30, [1] * 30, model_scores([1] * 30, 1.0, 2), 0.5))
    cases.append(binary_case("one record, positive", [1], [1], [0.8], 0.5))
    cases.append(binary_case("one record, negative predicted positive", [0], [1], [0.7], 0.5))
    cases.append(binary_case("two records", [0, 1], [0, 0], [0.4, 0.4], 0.5))
    cases.append(binary_case("three records, one tie", [1, 0, 1], [1, 1, 0], [0.9, 0.6, 0.6], 0.5))
    cases.append(binary_case("empty window", [], [], [], 0.5))
    return cases


MULTICLASS_METRICS = ["accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                      "weighted_recall", "weighted_f1", "log_loss"]


def multiclass_case(name, k, labels, probabilities, predictions=None):
    y = np.asarray(labels, dtype=int)
    prob = np.asarray(probabilities, dtype=float).reshape(len(y), k)
    p = prob.argmax(axis=1) if predictions is None else np.asarray(predictions, dtype=int)
    case = {
        "name": name,
        "n_classes": k,
        "labels": [int(v) for v in y],
        "predictions": [int(v) for v in p],
        "probabilities": [[float(v) for v in row] for row in prob],
    }
    if len(y) == 0:
        case["confusion"] = [[0] * k for _ in range(k)]
        case["metrics"] = dict.fromkeys(MULTICLASS_METRICS)
        return case
    labels_k = list(range(k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = {"accuracy": num(metrics.accuracy_score(y, p))}
        for avg in ("macro", "weighted"):
            m[f"{avg}_precision"] = num(metrics.precision_score(y, p, labels=labels_k, average=avg, **ZD))
            m[f"{avg}_recall"] = num(metrics.recall_score(y, p, labels=labels_k, average=avg, **ZD))
            m[f"{avg}_f1"] = num(metrics.f1_score(y, p, labels=labels_k, average=avg, **ZD))
        m["log_loss"] = num(metrics.log_loss(y, prob, labels=labels_k))
    case["confusion"] = metrics.confusion_matrix(y, p, labels=labels_k).tolist()
    case["metrics"] = {key: m[key] for key in MULTICLASS_METRICS}
    return case


def softmax_probabilities(y, k, separation, decimals):
    logits = rng.normal(size=(len(y), k))
    logits[np.arange(len(y)), y] += separation
    e = np.exp(logits)
    return np.round(e / e.sum(axis=1, keepdims=True), decimals)


def multiclass_cases():
    cases = []
    y = rng.integers(0, 3, size=300)
    cases.append(multiclass_case("3 classes, 300", 3, y, softmax_probabilities(y, 3, 1.5, 4)))
    y = rng.integers(0, 5, size=500)
    prob = softmax_probabilities(y, 5, 1.0, 3)
    logged = prob.argmax(axis=1)
    logged[rng.choice(500, size=25, replace=False)] = rng.integers(0, 5, size=25)
    cases.append(multiclass_case("5 classes, logged predictions differ from argmax", 5, y, prob, logged))
    y = rng.choice(4, size=800, p=[0.85, 0.1, 0.04, 0.01])
    cases.append(multiclass_case("4 classes, imbalanced", 4, y, softmax_probabilities(y, 4, 2.0, 4)))
    y = rng.integers(0, 2, size=60)
    cases.append(multiclass_case("4 classes, only two present", 4, y, softmax_probabilities(y, 4, 1.0, 3)))
    y = np.full(25, 2)
    cases.append(multiclass_case("3 classes, single class window", 3, y, softmax_probabilities(y, 3, 1.0, 3)))
    y = rng.integers(0, 3, size=30)
    cases.append(multiclass_case("perfect one-hot", 3, y, np.eye(3)[y]))
    cases.append(multiclass_case("worst one-hot (log loss clipped)", 3, y, np.eye(3)[(y + 1) % 3]))
    cases.append(multiclass_case("rows not summing to one", 3, [0, 1, 2, 1], [[0.5, 0.2, 0.2], [0.1, 0.7, 0.1],
                                                                            [0.3, 0.3, 0.3], [0.6, 0.6, 0.0]]))
    cases.append(multiclass_case("one record", 3, [1], [[0.2, 0.5, 0.3]]))
    cases.append(multiclass_case("empty window", 3, [], np.zeros((0, 3))))
    return cases


REGRESSION_METRICS = ["mae", "mse", "rmse", "mape", "r2", "mean_error"]


def regression_case(name, labels, predictions):
    y = np.asarray(labels, dtype=float)
    p = np.asarray(predictions, dtype=float)
    case = {"name": name, "labels": [float(v) for v in y], "predictions": [float(v) for v in p]}
    if len(y) == 0:
        case["metrics"] = dict.fromkeys(REGRESSION_METRICS)
        return case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r2 = metrics.r2_score(y, p)
    # A constant target must be exactly constant after sklearn's mean subtraction too,
    # or sklearn's answer is rounding noise (see r2 in regression.rs).
    if len(y) >= 2 and np.all(y == y[0]):
        assert np.sum((y - np.average(y)) ** 2) == 0.0, name
    case["metrics"] = {
        "mae": num(metrics.mean_absolute_error(y, p)),
        "mse": num(metrics.mean_squared_error(y, p)),
        "rmse": num(metrics.root_mean_squared_error(y, p)),
        "mape": num(metrics.mean_absolute_percentage_error(y, p)),
        "r2": None if math.isnan(r2) else num(r2),
        "mean_error": num(np.mean(p - y)),
    }
    return case


def regression_cases():
    cases = []
    x = np.round(rng.normal(50, 10, size=500), 3)
    cases.append(regression_case("normal noise", x, np.round(x + rng.normal(0, 3, 500), 3)))
    cases.append(regression_case("biased upward", x, np.round(x + 2.5 + rng.normal(0, 1, 500), 3)))
    y = np.round(rng.exponential(2.0, size=300), 2)
    cases.append(regression_case("skewed", y, np.round(y * rng.uniform(0.8, 1.2, 300) + 0.01, 3)))
    cases.append(regression_case("zero labels (mape epsilon)", [0.0, 0.0, 1.0, 2.0, -1.0], [0.0, 0.5, 1.1, 1.8, -1.2]))
    cases.append(regression_case("perfect", x[:50], x[:50]))
    cases.append(regression_case("predicting the mean (r2 = 0)", [1.0, 2.0, 3.0, 4.0], [2.5] * 4))
    cases.append(regression_case("worse than the mean (negative r2)", [1.0, 2.0, 3.0], [3.0, 1.0, 5.0]))
    cases.append(regression_case("constant target, exact", [3.0] * 5, [3.0] * 5))
    cases.append(regression_case("constant target, off", [3.0] * 5, [3.0, 3.5, 2.0, 3.0, 4.0]))
    cases.append(regression_case("negative values", -np.abs(x[:100]), -np.abs(x[:100]) + rng.normal(0, 1, 100)))
    cases.append(regression_case("one record", [2.0], [2.5]))
    cases.append(regression_case("empty window", [], []))
    return cases


def main():
    data = {"binary": binary_cases(), "multiclass": multiclass_cases(), "regression": regression_cases()}
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])} ({OUT.stat().st_size} bytes)")


main()
