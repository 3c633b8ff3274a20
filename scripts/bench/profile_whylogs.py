"""whylogs side of `sightline bench profile`: the same shape of rows (20 numeric
columns uniform in [f, f + 100), 5 categorical columns drawn from eight cities, seeded)
profiled with `whylogs.log` from a pandas DataFrame, the way whylogs users profile a
batch. Building the DataFrame is outside the timed part; the profile is complete when
`why.log` returns. Prints rows per second.

    python scripts/bench/profile_whylogs.py [rows]      # default 200,000
"""

import sys
import time

import numpy as np
import pandas as pd
import whylogs as why

NUMERIC, CATEGORICAL = 20, 5
CITIES = ["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lisbon", "vienna"]


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    columns = {f"num_{i}": rng.random(rows) * 100.0 + i for i in range(NUMERIC)}
    for i in range(CATEGORICAL):
        columns[f"cat_{i}"] = pd.Series(np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), rows)])
    return pd.DataFrame(columns)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    df = frame(rows)
    why.log(pandas=frame(1_000))  # imports and first-use set-up, outside the timing
    start = time.perf_counter()
    result = why.log(pandas=df)
    elapsed = time.perf_counter() - start
    view = result.view()
    counted = view.get_column("num_0").get_metric("counts").n.value
    assert counted == rows, f"whylogs counted {counted} of {rows} rows"
    print(f"whylogs {why.__version__}: {rows} rows x {NUMERIC + CATEGORICAL} columns in {elapsed:.3f} s, "
          f"{rows / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
