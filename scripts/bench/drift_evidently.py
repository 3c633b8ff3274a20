#!/usr/bin/env python3
"""Evidently's side of the drift benchmark: read both CSV files with pandas and run DataDriftPreset.

Pinned: tests/reference/requirements-evidently.txt (evidently==0.7.23).
    python scripts/bench/drift_evidently.py DIR
Prints the number of drifted columns and the share, and the seconds spent reading and
computing, so the comparison with `sightline report drift` covers the same work.
"""

import sys
import time
import warnings

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main():
    d = sys.argv[1]
    t0 = time.perf_counter()
    ref = pd.read_csv(f"{d}/reference.csv")
    cur = pd.read_csv(f"{d}/current.csv")
    t1 = time.perf_counter()
    numeric = [c for c in ref.columns if c.startswith("num_")]
    categorical = [c for c in ref.columns if c.startswith("cat_")]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
        )
    t2 = time.perf_counter()
    value = snapshot.dict()["metrics"][0]["value"]
    print(f"evidently: drifted {value['count']:.0f} share {value['share']:.4f} read {t1 - t0:.1f} s compute {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
