#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/compare.json: champion/challenger bootstrap in numpy.

Pinned: numpy==2.4.6, scipy==1.17.1, scikit-learn==1.9.1 (tests/reference/requirements.txt).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/compare.py
The output is committed, so `cargo test` needs no Python; the data and the resample
indices come from a seeded generator, so reruns reproduce the file byte for byte.

The bootstrap written out with numpy, as Sightline defines it (sightline_stats::performance
compare module): for each resample, the metric of the champion and of the challenger on
their resampled rows (the same rows when paired), delta = challenger - champion; resamples
where the metric is undefined for either version are skipped and counted; the interval is
numpy.quantile (method "linear") of the deltas at alpha/2 and 1 - alpha/2 with
alpha = 1 - confidence; the verdict is "better"/"worse" when the interval excludes 0, in the
metric's direction. The resample indices are written to the fixture and handed to Sightline,
so both sides bootstrap the same draws. Metrics are sklearn.metrics' (already checked
against Sightline in performance.py): predicted class = score >= 0.5, zero_division=0.
"""

import json
import pathlib
import warnings

import numpy as np
from sklearn import metrics

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/compare.json"
rng = np.random.default_rng(20261130)
THRESHOLD = 0.5


def binary_metric(name):
    def value(y, s):
        p = (s >= THRESHOLD).astype(int)
        if name == "accuracy":
            return metrics.accuracy_score(y, p)
        if name == "f1":
            return metrics.f1_score(y, p, labels=[0, 1], zero_division=0.0)
        if name == "roc_auc":
            return metrics.roc_auc_score(y, s) if len(set(y.tolist())) == 2 else None
        if name == "log_loss":
            return metrics.log_loss(y, s, labels=[0, 1])
        raise ValueError(name)
    return value


def regression_metric(name):
    def value(y, p):
        if name == "mae":
            return metrics.mean_absolute_error(y, p)
        if name == "r2":
            return metrics.r2_score(y, p) if len(y) >= 2 else None
        raise ValueError(name)
    return value


HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "log_loss": False, "mae": False, "r2": True}


def case(name, task, metric, pairing, champion, challenger, resamples, confidence=0.95):
    value = (binary_metric if task == "binary" else regression_metric)(metric)
    (ya, sa), (yb, sb) = champion, challenger
    na, nb = len(ya), len(yb)
    if pairing == "paired":
        draws = [rng.integers(0, na, size=na) for _ in range(resamples)]
        pairs = [(d, d) for d in draws]
    else:
        pairs = [(rng.integers(0, na, size=na), rng.integers(0, nb, size=nb)) for _ in range(resamples)]
    deltas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ia, ib in pairs:
            va, vb = value(ya[ia], sa[ia]), value(yb[ib], sb[ib])
            if va is not None and vb is not None:
                deltas.append(float(vb) - float(va))
        whole_a, whole_b = float(value(ya, sa)), float(value(yb, sb))
    alpha = 1.0 - confidence
    lower, upper = (float(v) for v in np.quantile(np.asarray(deltas), [alpha / 2.0, 1.0 - alpha / 2.0]))
    if lower > 0:
        verdict = "better" if HIGHER_IS_BETTER[metric] else "worse"
    elif upper < 0:
        verdict = "worse" if HIGHER_IS_BETTER[metric] else "better"
    else:
        verdict = "no significant difference"
    given = ([[int(i) for i in a] for a, _ in pairs] if pairing == "paired"
             else [[[int(i) for i in a], [int(i) for i in b]] for a, b in pairs])
    second = "scores" if task == "binary" else "predictions"
    return {
        "name": name, "task": task, "metric": metric, "pairing": pairing, "confidence": confidence,
        "champion": {"labels": [float(v) for v in ya], second: [float(v) for v in sa]},
        "challenger": {"labels": [float(v) for v in yb], second: [float(v) for v in sb]},
        "resamples": given,
        "expected": {"champion": whole_a, "challenger": whole_b, "delta": whole_b - whole_a, "lower": lower,
                     "upper": upper, "used": len(deltas), "skipped": len(pairs) - len(deltas), "verdict": verdict},
    }


def scores(y, separation):
    logit = rng.normal(size=len(y)) + separation * (2 * y - 1)
    return np.round(1 / (1 + np.exp(-logit)), 3)


def main():
    cases = []
    y = rng.integers(0, 2, 200)
    cases.append(case("paired accuracy, clearly better challenger", "binary", "accuracy", "paired",
                      (y, scores(y, 0.4)), (y, scores(y, 1.5)), 250))
    s = scores(y, 1.0)
    cases.append(case("paired roc_auc, identical models", "binary", "roc_auc", "paired", (y, s), (y, s.copy()), 200))
    s2 = np.clip(s + np.round(rng.normal(0, 0.02, len(s)), 3), 0, 1)
    cases.append(case("paired f1, nearly identical models", "binary", "f1", "paired", (y, s), (y, s2), 200))
    ya, yb = rng.integers(0, 2, 250), rng.integers(0, 2, 180)
    cases.append(case("unpaired log loss, better challenger (lower)", "binary", "log_loss", "unpaired",
                      (ya, scores(ya, 0.3)), (yb, scores(yb, 1.2)), 200))
    ya = np.array([0] * 13 + [1] * 2)
    yb = np.array([0] * 12 + [1] * 3)
    cases.append(case("unpaired roc_auc, small windows with undefined resamples", "binary", "roc_auc", "unpaired",
                      (ya, scores(ya, 0.4)), (yb, scores(yb, 0.4)), 200, confidence=0.9))
    t = np.round(rng.normal(10, 3, 200), 2)
    cases.append(case("paired mae, worse challenger (higher), 90%", "regression", "mae", "paired",
                      (t, np.round(t + rng.normal(0, 1, 200), 2)), (t, np.round(t + rng.normal(0.5, 1.5, 200), 2)),
                      200, confidence=0.9))
    t2 = np.round(rng.normal(10, 3, 150), 2)
    cases.append(case("unpaired r2", "regression", "r2", "unpaired",
                      (t, np.round(t + rng.normal(0, 2, 200), 2)), (t2, np.round(t2 + rng.normal(0, 2, 150), 2)), 200))
    OUT.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])} ({OUT.stat().st_size} bytes)")


main()
