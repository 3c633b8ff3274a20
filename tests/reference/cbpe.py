#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/cbpe.json: NannyML's CBPE estimates per chunk.

Pinned: nannyml==0.13.1 with numpy==2.4.6, scipy==1.17.1, scikit-learn==1.9.1,
pandas==3.1.1 and the rest of tests/reference/requirements-cbpe.txt (nannyml 0.13.1
imports statsmodels without declaring it, so it is pinned there too).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/cbpe.py
The output is committed, so `cargo test` needs no Python; the data comes from a seeded
generator, so rerunning with the pinned versions reproduces the file byte for byte.

Each case fits nannyml.CBPE (binary classification, every binary metric it estimates)
on a labelled reference and estimates fixed-size chunks of an analysis set. Recorded:
- the estimated value per chunk of accuracy, precision, recall, F1, specificity, ROC AUC,
  average precision and the four confusion-matrix counts, and the sampling error of the
  first six (whether the reference has tied scores is written too: the ROC AUC one ranks
  them with numpy's unstable argsort);
- whether NannyML calibrated, and the ten hold-out sets its calibration check used
  (scikit-learn's StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42), as
  nannyml.calibration.needs_calibration draws them), so Sightline can be handed the same;
- the check's calibration errors before and after, computed as NannyML does but with a
  stable sort of the scores (numpy's default argsort is unstable, so on tied scores NannyML's
  own numbers depend on the sort's internals); NannyML's own numbers are written beside
  them, and the generator asserts both give the same decision.
"""

import json
import math
import os
import pathlib
import warnings

# NannyML sends usage events to a remote service unless this is set; set it before the import.
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import nannyml as nml  # noqa: E402
from nannyml.calibration import (  # noqa: E402
    IsotonicCalibrator, _calculate_expected_calibration_error, _get_bin_index_edges)
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedShuffleSplit  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/cbpe.json"
rng = np.random.default_rng(20261129)

METRICS = ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy", "average_precision", "confusion_matrix"]
SAMPLING_ERRORS = ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc"]
VALUES = ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision",
          "true_positive", "false_positive", "false_negative", "true_negative"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def holdouts(scores, labels):
    """The test sets of nannyml.calibration.needs_calibration, drawn the same way."""
    sss = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)
    sets = []
    for train, test in sss.split(scores, labels):
        # Sightline trains on every record not held out: check that is what NannyML does.
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
        sets.append([int(i) for i in test])
    return sets


def ece_check(scores, labels, sets, stable):
    """NannyML's check, returning (before, after); `stable` sorts ties by position."""
    parts_y, parts_raw, parts_cal = [], [], []
    for test in sets:
        train = np.setdiff1d(np.arange(len(labels)), test)
        calibrator = IsotonicCalibrator()
        calibrator.fit(scores[train], labels[train])
        parts_y.append(labels[test])
        parts_raw.append(scores[test])
        parts_cal.append(calibrator.calibrate(scores[test]))
    y, raw, cal = (np.concatenate(p) for p in (parts_y, parts_raw, parts_cal))
    edges = _get_bin_index_edges(len(raw), 10)
    if not stable:
        return (_calculate_expected_calibration_error(y, raw, edges),
                _calculate_expected_calibration_error(y, cal, edges))

    def ece(p):
        order = np.argsort(p, kind="stable")
        p, t = p[order], y[order]
        return np.sum([(hi - lo) / len(p) * abs(np.mean(p[lo:hi]) - np.mean(t[lo:hi])) for lo, hi in edges])

    return ece(raw), ece(cal)


def case(name, ref_scores, ref_labels, ref_pred, an_scores, an_pred, chunk_size, threshold=None):
    ref = pd.DataFrame({"y_true": ref_labels, "y_pred_proba": ref_scores, "y_pred": ref_pred})
    analysis = pd.DataFrame({"y_pred_proba": an_scores, "y_pred": an_pred})
    with warnings.catch_warnings():
        # Few-chunk and sampling-error warnings concern what is not compared here.
        warnings.simplefilter("ignore")
        estimator = nml.CBPE(metrics=METRICS, y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                             problem_type="classification_binary", chunk_size=chunk_size)
        estimator.fit(ref)
        result = estimator.estimate(analysis).filter(period="analysis").to_df()
    sets = holdouts(ref_scores, ref_labels)
    skipped = roc_auc_score(ref_labels, ref_scores) > 0.999
    check = None
    if not skipped:
        before, after = ece_check(ref_scores, ref_labels, sets, stable=True)
        nannyml_before, nannyml_after = ece_check(ref_scores, ref_labels, sets, stable=False)
        assert (before > after) == (nannyml_before > nannyml_after) == estimator.needs_calibration, name
        check = {"error_before": float(before), "error_after": float(after),
                 "nannyml_error_before": float(nannyml_before), "nannyml_error_after": float(nannyml_after)}
    chunks = []
    for _, row in result.iterrows():
        chunks.append({
            "start": int(row[("chunk", "start_index")]),
            "end": int(row[("chunk", "end_index")]) + 1,
            "estimated": {key: num(row[(key, "value")]) for key in VALUES},
            "sampling_error": {key: num(row[(key, "sampling_error")]) for key in SAMPLING_ERRORS},
        })
    return {
        "name": name,
        "threshold": threshold,
        "reference": {"labels": [int(v) for v in ref_labels], "predictions": [int(v) for v in ref_pred],
                      "scores": [float(v) for v in ref_scores]},
        "analysis": {"predictions": [int(v) for v in an_pred], "scores": [float(v) for v in an_scores]},
        "holdouts": sets,
        "calibrated": bool(estimator.needs_calibration),
        # The ROC AUC sampling error ranks reference scores with numpy's unstable argsort.
        "reference_scores_tied": bool(len(np.unique(ref_scores)) < len(ref_scores)),
        "calibration_check": check,
        "chunks": chunks,
    }


def logged(scores, threshold, flip):
    """Predictions from a threshold, a few flipped so the logged class is checked as given."""
    pred = (scores >= threshold).astype(int)
    idx = rng.choice(len(pred), size=int(flip * len(pred)), replace=False)
    pred[idx] = 1 - pred[idx]
    return pred


def main():
    cases = []
    # Overconfident model (score logit twice the true one) under covariate shift.
    x = rng.normal(0, 1, 3000)
    y = (rng.uniform(size=3000) < sigmoid(1.2 * x - 0.4)).astype(int)
    s = sigmoid(2.0 * x - 0.2)
    xa = rng.normal(0.5, 1.2, 3000)
    sa = sigmoid(2.0 * xa - 0.2)
    cases.append(case("overconfident scores, covariate shift", s, y, logged(s, 0.5, 0.03), sa, logged(sa, 0.5, 0.03),
                      500))

    # Scores that are the true probabilities, three decimals (ties).
    x = rng.normal(0, 1, 2000)
    p = np.round(sigmoid(1.5 * x), 3)
    y = (rng.uniform(size=2000) < p).astype(int)
    xa = rng.normal(-0.4, 1.0, 2500)
    pa = np.round(sigmoid(1.5 * xa), 3)
    cases.append(case("calibrated scores with ties", p, y, (p >= 0.5).astype(int), pa, (pa >= 0.5).astype(int), 500))

    # Underconfident model, two decimals (heavy ties), predicted positive from 0.3.
    x = rng.normal(0, 1, 2500)
    y = (rng.uniform(size=2500) < sigmoid(2.5 * x - 1.0)).astype(int)
    s = np.round(sigmoid(0.8 * x - 0.3), 2)
    xa = rng.normal(0.3, 0.8, 2000)
    sa = np.round(sigmoid(0.8 * xa - 0.3), 2)
    cases.append(case("underconfident tied scores, threshold 0.3", s, y, (s >= 0.3).astype(int), sa,
                      (sa >= 0.3).astype(int), 400, threshold=0.3))

    # Imbalanced: 5 % positives, overconfident.
    x = rng.normal(0, 1, 4000)
    y = (rng.uniform(size=4000) < sigmoid(1.5 * x - 3.5)).astype(int)
    s = sigmoid(2.2 * x - 3.0)
    xa = rng.normal(0.2, 1.0, 3000)
    sa = sigmoid(2.2 * xa - 3.0)
    cases.append(case("imbalanced 5% positives", s, y, (s >= 0.5).astype(int), sa, (sa >= 0.5).astype(int), 1000))

    # Separable reference: the AUC rule skips the check, scores are used as they are.
    y = rng.integers(0, 2, 1000)
    s = np.where(y == 1, rng.uniform(0.55, 1.0, 1000), rng.uniform(0.0, 0.45, 1000))
    sa = rng.uniform(0, 1, 1000)
    cases.append(case("separable reference, not calibrated", s, y, (s >= 0.5).astype(int), sa,
                      (sa >= 0.5).astype(int), 250))

    OUT.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])} ({OUT.stat().st_size} bytes)")


main()
