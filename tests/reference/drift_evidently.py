#!/usr/bin/env python3
"""Writes crates/sightline-stats/tests/fixtures/drift_evidently.json: Evidently's drift per column.

Pinned: evidently==0.7.23 with numpy==2.4.6, pandas==2.3.3, scipy==1.17.1 and the rest of its tree
(tests/reference/requirements-evidently.txt; evidently 0.7.23 does not import under the
pandas 3 that the other generators may use, hence a file of its own).

Run from anywhere, in a virtualenv with the pinned packages:
    python tests/reference/drift_evidently.py
The output is committed, so `cargo test` needs no Python. Data comes from a seeded
generator, and the script re-runs itself with PYTHONHASHSEED=0 (Evidently walks the
categories of a column in the order of a Python set of strings, which string hashing
randomizes per process; the sums then differ in the last bit), so rerunning with the
pinned versions reproduces the file byte for byte.

For every dataset (a reference and a current frame with the same columns) the script runs
`Report([DataDriftPreset(...)], include_tests=True)` once with Evidently's default method
choice and once per explicit method, restricted to the columns the method accepts
(`ks` and `wasserstein` take numeric columns, `chisquare` and `z` categorical ones, the
rest both). Column types are given through a `DataDefinition`, so the fixture checks the
drift calculation and not Evidently's type inference from pandas dtypes. Per column it
records the method Evidently used, its drift score (the p-value for the tests), the
threshold and whether the column's drift test failed (drift detected); per run the number
and share of drifted columns.
"""

import json
import math
import os
import pathlib
import sys
import warnings

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations import stattests
from evidently.presets import DataDriftPreset

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-stats/tests/fixtures/drift_evidently.json"
rng = np.random.default_rng(20261128)

METHODS = ["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]
NUMERIC_ONLY = {"ks", "wasserstein"}
CATEGORICAL_ONLY = {"chisquare", "z"}

# A resolved default method shows up under its display name; map it back to the name.
DISPLAY = {
    t.display_name: t.name
    for t in [
        stattests.ks_stat_test,
        stattests.chi_stat_test,
        stattests.z_stat_test,
        stattests.wasserstein_stat_test,
        stattests.jensenshannon_stat_test,
        stattests.psi_stat_test,
        stattests.kl_div_stat_test,
        stattests.hellinger_stat_test,
    ]
}


def num(x):
    """JSON has no inf/nan; write them as strings the Rust side understands."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def rounded(a, decimals=4):
    # Few decimals keep the file small and make ties common.
    return np.round(np.asarray(a, dtype=float), decimals)


def with_missing(a, share):
    a = np.asarray(a, dtype=float).copy()
    a[rng.random(len(a)) < share] = np.nan
    return a


def cats(levels, n, p=None, missing=0.0):
    values = rng.choice(levels, n, p=p).astype(object)
    values[rng.random(n) < missing] = None
    return values


def numeric_columns(n_ref, n_cur):
    """Numeric columns of every shape the default rule and the binning tell apart."""
    r, c = {}, {}
    r["normal"], c["normal"] = rounded(rng.normal(0, 1, n_ref)), rounded(rng.normal(0.3, 1.2, n_cur))
    r["same"], c["same"] = rounded(rng.normal(5, 2, n_ref)), rounded(rng.normal(5, 2, n_cur))
    r["ties"], c["ties"] = rounded(rng.normal(0, 1, n_ref), 1), rounded(rng.normal(0.1, 1, n_cur), 1)
    r["missing"] = with_missing(rounded(rng.exponential(2, n_ref)), 0.2)
    c["missing"] = with_missing(rounded(rng.exponential(2.5, n_cur)), 0.3)
    r["constant"], c["constant"] = np.full(n_ref, 3.0), np.full(n_cur, 3.0)
    r["constant_shift"], c["constant_shift"] = np.full(n_ref, 3.0), rounded(rng.normal(3, 0.5, n_cur))
    r["two_values"], c["two_values"] = rng.choice([0.0, 1.0], n_ref), rng.choice([0.0, 1.0], n_cur, p=[0.3, 0.7])
    r["three_values"], c["three_values"] = rng.choice([1.0, 2.0, 3.0], n_ref), rng.choice([1.0, 2.0, 3.0], n_cur)
    r["five_values"] = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n_ref)
    c["five_values"] = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n_cur, p=[0.1, 0.1, 0.2, 0.3, 0.3])
    r["six_values"] = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n_ref)
    c["six_values"] = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], n_cur)
    r["twenty_values"] = rng.integers(0, 20, n_ref).astype(float)
    c["twenty_values"] = rng.integers(0, 22, n_cur).astype(float)
    r["thirty_values"], c["thirty_values"] = rng.integers(0, 30, n_ref).astype(float), rng.integers(3, 33, n_cur) * 1.0
    r["wide"], c["wide"] = rounded(rng.standard_t(2, n_ref) * 100), rounded(rng.standard_t(2, n_cur) * 100 + 40)
    r["negative_zero"] = rng.choice([-0.0, 0.0, 1.0, 2.0], n_ref)
    c["negative_zero"] = rng.choice([-0.0, 0.0, 1.0, 2.0, 2.5], n_cur)
    return r, c


def categorical_columns(n_ref, n_cur):
    r, c = {}, {}
    levels = ["red", "green", "blue", "amber"]
    r["colour"], c["colour"] = cats(levels, n_ref), cats(levels, n_cur, p=[0.4, 0.3, 0.2, 0.1])
    r["unseen"], c["unseen"] = cats(["a", "b", "c"], n_ref), cats(["a", "b", "c", "d"], n_cur)
    r["binary"], c["binary"] = cats(["yes", "no"], n_ref), cats(["yes", "no"], n_cur, p=[0.6, 0.4])
    r["cat_missing"] = cats(["p", "q", "r"], n_ref, missing=0.25)
    c["cat_missing"] = cats(["p", "q", "r"], n_cur, missing=0.1)
    r["single"], c["single"] = cats(["only"], n_ref), cats(["only"], n_cur)
    r["single_other"], c["single_other"] = cats(["one"], n_ref), cats(["two"], n_cur)
    r["many"], c["many"] = cats([f"k{i}" for i in range(40)], n_ref), cats([f"k{i}" for i in range(5, 45)], n_cur)
    return r, c


def booleans(n_ref, n_cur):
    return {"flag": rng.random(n_ref) < 0.5}, {"flag": rng.random(n_cur) < 0.35}


DATASETS = [
    # (name, reference rows, current rows)
    ("small", 300, 200),
    ("edge_1000", 1000, 800),
    ("large", 3000, 2000),
    ("tiny", 6, 4),
]


def frames(n_ref, n_cur):
    nr, nc = numeric_columns(n_ref, n_cur)
    cr, cc = categorical_columns(n_ref, n_cur)
    br, bc = booleans(n_ref, n_cur)
    ref = pd.DataFrame({**{k: v for k, v in nr.items()}, **cr, **br})
    cur = pd.DataFrame({**{k: v for k, v in nc.items()}, **cc, **bc})
    return ref, cur, list(nr), list(cr) + list(br)


def over_1000_with_missing():
    """1,100 reference rows of which 150 are missing: Evidently counts after dropping them."""
    n_ref, n_cur = 1100, 500
    ref = pd.DataFrame({"x": with_missing(rounded(rng.normal(0, 1, n_ref)), 0.0)})
    ref.loc[rng.choice(n_ref, 150, replace=False), "x"] = np.nan
    cur = pd.DataFrame({"x": rounded(rng.normal(0.2, 1, n_cur))})
    ref["c"] = cats(["u", "v", "w"], n_ref)
    ref.loc[rng.choice(n_ref, 150, replace=False), "c"] = None
    cur["c"] = cats(["u", "v", "w"], n_cur, p=[0.5, 0.3, 0.2])
    return ref, cur, ["x"], ["c"]


def json_values(series, numeric):
    if numeric:
        return [None if pd.isna(v) else float(v) for v in series]
    if series.dtype == bool:
        return ["True" if v else "False" for v in series]
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in series]


def run(ref, cur, numeric, categorical, method):
    columns = [
        c
        for c in numeric + categorical
        if method is None
        or (method not in CATEGORICAL_ONLY or c in categorical)
        and (method not in NUMERIC_ONLY or c in numeric)
    ]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset(method=method, columns=columns)], include_tests=True)
    with warnings.catch_warnings():
        # scipy warns about the divisions by zero an unseen category causes; the result is still read.
        warnings.simplefilter("ignore")
        snapshot = report.run(
            Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
        )
    doc = snapshot.dict()
    by_id = {}
    count = share = None
    for m in doc["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("DriftedColumnsCount"):
            count, share = m["value"]["count"], m["value"]["share"]
        else:
            name = cfg["method"]
            by_id[m["id"]] = {
                "column": cfg["column"],
                "method": DISPLAY.get(name, name),
                "score": num(m["value"]),
                "threshold": num(cfg["threshold"]),
            }
    for t in doc["tests"]:
        mid = t["metric_config"]["metric_id"]
        if mid in by_id:
            by_id[mid]["drifted"] = t["status"] == "FAIL"
    results = list(by_id.values())
    assert all("drifted" in r for r in results), "every column has a drift test"
    return {"method": method, "columns": results, "drifted_count": int(count), "share": num(share)}


def dataset(name, ref, cur, numeric, categorical):
    return {
        "name": name,
        "columns": [
            {
                "name": c,
                "type": "numeric" if c in numeric else "categorical",
                "reference": json_values(ref[c], c in numeric),
                "current": json_values(cur[c], c in numeric),
            }
            for c in numeric + categorical
        ],
        "runs": [run(ref, cur, numeric, categorical, m) for m in [None] + METHODS],
    }


def main():
    out = []
    for name, n_ref, n_cur in DATASETS:
        ref, cur, numeric, categorical = frames(n_ref, n_cur)
        if name == "tiny":
            # Six reference rows cannot hold the 20-plus distinct values these columns are about.
            numeric = [c for c in numeric if c not in ("twenty_values", "thirty_values")]
            categorical = [c for c in categorical if c != "many"]
        out.append(dataset(name, ref, cur, numeric, categorical))
    ref, cur, numeric, categorical = over_1000_with_missing()
    out.append(dataset("over_1000_with_missing", ref, cur, numeric, categorical))
    OUT.write_text(json.dumps({"evidently": "0.7.23", "datasets": out}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
