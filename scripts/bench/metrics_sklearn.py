"""scikit-learn on the records `sightline bench metrics` wrote: the same binary metric
set, timed, and every value compared with Sightline's (relative 1e-9).

    python scripts/bench/metrics_sklearn.py [DIR]
"""

import json
import math
import sys
import time
import warnings

import numpy as np
from sklearn import metrics

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/sightline-metrics-bench"
ours = json.load(open(f"{d}/sightline.json"))
n = ours["rows"]
raw = np.fromfile(f"{d}/records.bin", dtype=np.uint8)
s = raw[: 8 * n].view("<f8")
y = raw[8 * n : 9 * n].astype(int)
p = raw[9 * n : 10 * n].astype(int)


def ece(y, s, bins=10):
    idx = np.minimum(np.floor(s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - s[mask].mean())
    return total


def run():
    zd = {"zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "confusion": metrics.confusion_matrix(y, p, labels=[0, 1]).tolist(),
            "accuracy": metrics.accuracy_score(y, p),
            "precision": metrics.precision_score(y, p, **zd),
            "recall": metrics.recall_score(y, p, **zd),
            "f1": metrics.f1_score(y, p, **zd),
            "specificity": metrics.recall_score(y, p, pos_label=0, **zd),
            "roc_auc": metrics.roc_auc_score(y, s),
            "average_precision": metrics.average_precision_score(y, s),
            "log_loss": metrics.log_loss(y, s, labels=[0, 1]),
            "brier": metrics.brier_score_loss(y, s),
            "expected_calibration_error": ece(y, s),
        }


t = time.perf_counter()
theirs = run()
elapsed = time.perf_counter() - t
print(f"scikit-learn: {n} rows, full binary metric set in {elapsed:.3f} s")
bad = []
for k, v in theirs.items():
    if k == "confusion":
        if v != ours[k]:
            bad.append(k)
    elif not math.isclose(v, ours[k], rel_tol=1e-9, abs_tol=1e-12):
        bad.append(f"{k}: sklearn {v!r} sightline {ours[k]!r}")
print("values agree (relative 1e-9)" if not bad else "DISAGREE: " + "; ".join(bad))
print(f"speed-up: {elapsed / ours['seconds_median']:.1f}x")
sys.exit(1 if bad else 0)
