#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/isotonic.json: isotonic regression from scikit-learn.

Pinned: numpy==2.4.6, scipy==1.17.1, scikit-learn==1.9.1 (tests/reference/requirements.txt).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/isotonic.py
The output is committed, so `cargo test` needs no Python; the data comes from a seeded
generator, so rerunning with the pinned versions reproduces the file byte for byte.

Reference: sklearn.isotonic.IsotonicRegression(increasing=True, out_of_bounds="clip"),
the calibrator NannyML's CBPE uses. Each case records the fitted breakpoints
(X_thresholds_, y_thresholds_) and predict() at query points that include values outside
the fitted range, the breakpoints themselves and points between them.
"""

import json
import pathlib

import numpy as np
from sklearn.isotonic import IsotonicRegression

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/isotonic.json"
rng = np.random.default_rng(20261128)


def case(name, x, y, weights=None):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    model = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y, sample_weight=w)
    lo, hi = float(np.min(x)), float(np.max(x))
    span = max(hi - lo, 1.0)
    queries = np.concatenate([
        [lo - span, lo, hi, hi + span],
        model.X_thresholds_,
        rng.uniform(lo - 0.1 * span, hi + 0.1 * span, size=40),
    ])
    return {
        "name": name,
        "x": [float(v) for v in x],
        "y": [float(v) for v in y],
        "weights": None if w is None else [float(v) for v in w],
        "x_thresholds": [float(v) for v in model.X_thresholds_],
        "y_thresholds": [float(v) for v in model.y_thresholds_],
        "queries": [float(v) for v in queries],
        "predictions": [float(v) for v in model.predict(queries)],
    }


def main():
    cases = []
    x = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < x**2).astype(float)
    cases.append(case("binary targets, distinct x", x, y))

    x = np.round(rng.uniform(0, 1, 400), 2)
    y = (rng.uniform(0, 1, 400) < 0.2 + 0.6 * x).astype(float)
    cases.append(case("binary targets, tied x, weights", x, y, rng.uniform(0.5, 3.0, 400)))

    x = np.round(rng.normal(0, 2, 300), 1)
    y = np.tanh(x) + rng.normal(0, 0.5, 300)
    w = rng.uniform(0, 2, 300)
    w[rng.choice(300, 30, replace=False)] = 0.0
    cases.append(case("continuous targets, tied x, some zero weights", x, y, w))

    # Within numpy's float64 resolution of the run's first x: merged; 2e-15 away: kept apart.
    x = [0.1, 0.1 + 5e-16, 0.1 + 9e-16, 0.2, 0.2 + 2e-15, 0.3, 0.4]
    cases.append(case("near-equal x merged within 1e-15", x, [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]))
    cases.append(case("one distinct x", [0.4] * 6, [0, 1, 1, 0, 1, 1]))
    cases.append(case("already increasing", [1, 2, 3, 4, 5], [0.1, 0.2, 0.2, 0.7, 0.9]))
    cases.append(case("strictly decreasing (one pool)", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 2, 3, 4, 5]))
    cases.append(case("two points", [0.3, 0.6], [1, 0]))
    cases.append(case("docstring example", list(range(10)), [5, 3, 1, 2, 8, 10, 7, 9, 6, 4]))

    x = rng.uniform(0, 1, 5000)
    logit = np.log(x / (1 - x))
    y = (rng.uniform(0, 1, 5000) < 1 / (1 + np.exp(-0.6 * logit - 0.3))).astype(float)
    cases.append(case("miscalibrated scores, 5000", x, y))

    OUT.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])} ({OUT.stat().st_size} bytes)")


main()
