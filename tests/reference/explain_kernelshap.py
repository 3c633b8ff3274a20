"""Generate the KernelSHAP fixture of crates/sightline-explain (shap's KernelExplainer, all coalitions).

Pinned versions (also in tests/reference/requirements-explain-kernelshap.txt):
    numpy==2.4.6
    shap==0.51.0   (with its dependencies scipy, pandas, scikit-learn, numba, llvmlite)
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv>
    <venv>/bin/pip install --only-binary=:all: -r tests/reference/requirements-explain-kernelshap.txt
    <venv>/bin/python tests/reference/explain_kernelshap.py

Each case is a closed-form model the Rust test evaluates too (it is named in the case),
a small background and test rows drawn with a fixed seed. For every row it records
shap's `KernelExplainer(f, background).shap_values(row, nsamples=2**M, l1_reg=False)`,
which caps nsamples at 2**M - 2 and so enumerates every coalition but the empty and full
ones, and the explainer's `expected_value`. Some background columns are constant and
some rows hold that constant, so a feature no coalition can change (shap drops it and
gives it 0) is exercised.
"""

import json
import pathlib
import zlib

import numpy as np
import shap

assert shap.__version__ == "0.51.0", shap.__version__
assert np.__version__ == "2.4.6", np.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures/kernelshap.cases.json"
SEED = 20261127

LINEAR_BETA = np.array([1.5, -2.0, 0.25, 3.0, -0.75, 0.5])


def linear(x):
    return x @ LINEAR_BETA + 0.7


def product_sine(x):
    return x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + x[:, 3] ** 2


def interactions(x):
    return (
        x[:, 0] * x[:, 1] * x[:, 2]
        + np.exp(0.5 * x[:, 3])
        + np.tanh(x[:, 4] - x[:, 5])
        + x[:, 6] * x[:, 7] ** 2
    )


# name -> (function, features, background rows, test rows, constant background column)
CASES = {
    "linear": (linear, 6, 12, 8, 4),
    "product_sine": (product_sine, 4, 10, 8, None),
    "interactions": (interactions, 8, 6, 6, 6),
}
CONSTANT = 0.25


def case(name, function, features, n_background, n_rows, constant):
    # A distinct, stable stream per case (Python's hash() of a str is salted per process).
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    background = rng.normal(size=(n_background, features))
    rows = rng.normal(scale=1.5, size=(n_rows, features))
    if constant is not None:
        background[:, constant] = CONSTANT
        # Half the rows hold the constant: that feature cannot vary for them.
        rows[::2, constant] = CONSTANT
    explainer = shap.KernelExplainer(function, background)
    values = explainer.shap_values(rows, nsamples=2**features, l1_reg=False, silent=True)
    values = np.asarray(values, dtype=np.float64)
    assert values.shape == (n_rows, features), values.shape
    expected_value = float(np.asarray(explainer.expected_value).reshape(()))
    prediction = function(rows)
    # shap's own additivity, so a fixture that does not add up is never written.
    assert np.allclose(values.sum(axis=1) + expected_value, prediction, rtol=1e-12, atol=1e-12)
    return {
        "name": name,
        "num_features": features,
        "background": background.tolist(),
        "rows": rows.tolist(),
        "prediction": prediction.tolist(),
        "expected_value": expected_value,
        "shap_values": values.tolist(),
    }


def main():
    cases = [case(name, *spec) for name, spec in CASES.items()]
    document = {"generator": "tests/reference/explain_kernelshap.py", "shap": shap.__version__, "cases": cases}
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[4])}")


if __name__ == "__main__":
    main()
