"""TreeSHAP side by side: xgboost's pred_contribs and `sightline bench treeshap`, same
model, same rows, same two threads, in one run.

Usage (from the repository root; the venv needs numpy and xgboost as pinned in
tests/reference/requirements-explain.txt):
    cargo build --release -p sightline
    <venv>/bin/python scripts/bench/treeshap.py target/release/sightline <work dir>

It trains an XGBoost regressor of 500 trees of depth 6 on 20 features (20,000 seeded
rows, 10 % missing, `nthread=2`), saves it as JSON, writes 2,000 test rows as CSV, then
times `predict(pred_contribs=True)` with `nthread=2` and `sightline bench treeshap
--threads 2`, each the fastest of three passes, and prints a Markdown table row. The
sums of all attributions from both are compared, as a check that both did the same work.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import xgboost as xgb

N_FEATURES = 20
TREES = 500
DEPTH = 6
THREADS = 2
SEED = 20261127


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(20_000, N_FEATURES)).astype(np.float32)
    y = x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + x[:, 3:].sum(axis=1) * 0.1 + 0.1 * rng.normal(size=len(x))
    x[rng.random(x.shape) < 0.1] = np.nan
    params = {"max_depth": DEPTH, "learning_rate": 0.05, "nthread": THREADS, "seed": SEED,
              "objective": "reg:squarederror"}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=TREES)
    model = os.path.join(work, "model.json")
    booster.save_model(model)

    test = rng.normal(size=(2_000, N_FEATURES)).astype(np.float32)
    test[rng.random(test.shape) < 0.1] = np.nan
    rows = os.path.join(work, "rows.csv")
    with open(rows, "w") as f:
        f.write(",".join(f"f{i}" for i in range(N_FEATURES)) + "\n")
        for row in test:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")

    dtest = xgb.DMatrix(test)
    booster.set_param({"nthread": THREADS})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        contribs = booster.predict(dtest, pred_contribs=True)
        best = min(best, time.perf_counter() - start)
    xgb_rate = len(test) / best
    xgb_sum = float(contribs[:, :N_FEATURES].astype(np.float64).sum())

    out = subprocess.run([binary, "bench", "treeshap", "--model", model, "--data", rows,
                          "--threads", str(THREADS), "--repeat", "3"], check=True, capture_output=True, text=True)
    ours = json.loads(out.stdout)
    assert abs(ours["checksum"] - xgb_sum) <= 1e-4 * max(1.0, abs(xgb_sum)), (ours["checksum"], xgb_sum)
    load = os.getloadavg()[0]
    print(f"| {TREES} trees, depth {DEPTH}, {N_FEATURES} features, {len(test)} rows, {THREADS} threads "
          f"| {load:.1f} | {xgb_rate:,.0f} rows/s | {ours['rows_per_second']:,.0f} rows/s "
          f"| {ours['rows_per_second'] / xgb_rate:.1f}x | {ours['peak_rss_bytes'] / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
