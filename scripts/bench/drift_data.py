#!/usr/bin/env python3
"""Writes the drift benchmark's input: reference.csv and current.csv, 1,000,000 rows x 25 columns each.

20 numeric columns (normal, log-normal, uniform, integer counts, some with a shift in the
current file) and 5 categorical ones (5 to 200 levels, one with categories the reference
never had). Seeded, so the files are the same on every run with the pinned numpy.

Pinned: numpy==2.4.6 (tests/reference/requirements-evidently.txt).
    python scripts/bench/drift_data.py OUT_DIR [ROWS]
"""

import pathlib
import sys

import numpy as np

ROWS = 1_000_000


def columns(rng, n, shift):
    cols = {}
    for i in range(20):
        kind = i % 4
        if kind == 0:
            v = rng.normal(shift * (i % 3), 1.0, n)
        elif kind == 1:
            v = rng.lognormal(0.0, 0.5 + shift * 0.1, n)
        elif kind == 2:
            v = rng.uniform(0.0, 100.0 + shift * 10, n)
        else:
            v = rng.poisson(3 + shift, n).astype(float)
        cols[f"num_{i:02d}"] = np.round(v, 4)
    for j, levels in enumerate([5, 12, 30, 80, 200]):
        names = np.array([f"c{j}_{k}" for k in range(levels + (3 if shift and j == 4 else 0))])
        p = rng.dirichlet(np.ones(len(names)) * 2)
        cols[f"cat_{j}"] = names[rng.choice(len(names), n, p=p)]
    return cols


def write(path, cols, n):
    names = list(cols)
    # Numbers are formatted column-wise once (numpy), then joined row by row in chunks.
    text = {k: (np.char.mod("%.4f", v) if v.dtype.kind == "f" else v.astype(str)) for k, v in cols.items()}
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        step = 50_000
        for start in range(0, n, step):
            rows = zip(*(text[k][start : start + step] for k in names))
            f.write("\n".join(",".join(r) for r in rows) + "\n")


def main():
    out = pathlib.Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else ROWS
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261127)
    write(out / "reference.csv", columns(rng, n, 0), n)
    write(out / "current.csv", columns(rng, n, 1), n)
    print(f"wrote {out}/reference.csv and {out}/current.csv, {n} rows each")


if __name__ == "__main__":
    main()
