"""Generate the ONNX tree-ensemble fixtures of crates/sightline-explain.

Pinned versions (also in tests/reference/requirements-explain-onnx.txt):
    numpy==2.4.6  scikit-learn==1.9.1  shap==0.51.0  xgboost==3.2.0
    onnx==1.23.2  onnxruntime==1.32.0  skl2onnx==1.20.0  onnxmltools==1.16.0
Python 3.11.

Run from the repository root, in a virtualenv outside the repository:
    python3 -m venv <venv> && <venv>/bin/pip install --only-binary=:all: \
        -r tests/reference/requirements-explain-onnx.txt
    <venv>/bin/python tests/reference/explain_onnx.py

Each case converts a model to ONNX and writes `<name>.onnx` beside a case file with
float32 test rows (NaN as null), onnxruntime's output (`probabilities` for classifiers,
`variable` for regressors), the background rows that the Rust side counts covers on (the
training set), and, for scikit-learn models, shap's path-dependent `TreeExplainer` on the
original model (attributions `[row][output][feature]` and expected values).

- scikit-learn models (skl2onnx): gradient boosting (regression, binary, three classes),
  random forests and a decision tree. Forests are trained with `bootstrap=False`: shap
  weighs branches by scikit-learn's `weighted_n_node_samples`, which for bootstrap
  samples counts draws, not training rows, and no background set reproduces that.
  A binary classifier's ONNX form has one score (the second class's), so its case holds
  the second class only. shap explains binary gradient boosting classifiers only, so the
  three-class one has predictions and no attributions.
- xgboost (onnxmltools): a binary logistic model with missing values (`BRANCH_LT`,
  `missing_value_tracks_true`); predictions only, since xgboost's covers are hessian
  sums that ONNX does not keep.
- Hand-built graphs (onnx.helper) for what the converters do not emit: `BRANCH_GT`,
  `GTE`, `EQ`, `NEQ`, `missing_value_tracks_true` on each, `AVERAGE`, two targets,
  base values and a `Cast` from double before the ensemble.

The script re-runs itself with PYTHONHASHSEED=0 (skl2onnx collects opsets in a set, whose
order string hashing randomizes per process) and names the xgboost graph itself
(onnxmltools names it with a random UUID), so rerunning reproduces the files byte for byte.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import shap
import sklearn
import skl2onnx
import onnxmltools
import xgboost as xgb
from onnx import helper, TensorProto
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

VERSIONS = {
    "numpy": (np.__version__, "2.4.6"),
    "scikit-learn": (sklearn.__version__, "1.9.1"),
    "shap": (shap.__version__, "0.51.0"),
    "xgboost": (xgb.__version__, "3.2.0"),
    "onnx": (onnx.__version__, "1.23.2"),
    "onnxruntime": (ort.__version__, "1.32.0"),
    "skl2onnx": (skl2onnx.__version__, "1.20.0"),
    "onnxmltools": (onnxmltools.__version__, "1.16.0"),
}
for package, (got, pinned) in VERSIONS.items():
    assert got == pinned, f"{package} {got} != {pinned}"

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures"
N_FEATURES = 6
SEED = 20261127
# Both opsets of the classical operators that have TreeEnsemble{Classifier,Regressor}.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def make_data(rng, n):
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, 5] = np.round(x[:, 5] * 2.0) / 2.0
    return x


def rows_json(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in x]


def run_onnx(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = {session.get_inputs()[0].name: x}
    outputs = dict(zip(names, session.run(None, feed)))
    return outputs


def write(name, model, doc):
    (OUT / f"{name}.onnx").write_bytes(model.SerializeToString())
    doc = {"generator": "tests/reference/explain_onnx.py", "model": f"{name}.onnx", **doc}
    (OUT / f"{name}.case.json").write_text(json.dumps(doc) + "\n")
    print(f"{name}: {len(doc['rows'])} rows")


def shap_case(explainer, x, classes_kept):
    """shap's attributions as [row][output][feature] and expected values per output."""
    values = np.asarray(explainer.shap_values(x, check_additivity=True))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if values.ndim == 2:
        values = values[:, :, None]
    # A binary gradient boosting model has one log-odds output in shap, a binary tree
    # or forest one per class: keep the second, the score of the ONNX binary case.
    if classes_kept is not None and values.shape[2] > 1:
        values = values[:, :, classes_kept]
        expected = expected[classes_kept]
    return values.transpose(0, 2, 1).astype(float).tolist(), expected.astype(float).tolist()


def sklearn_case(name, model, x, y, test, proba_columns=None, explain=True):
    model.fit(x, y)
    # The decision tree keeps skl2onnx's default ZipMap (and its Cast of the label), so
    # one fixture has the nodes the loader must accept around the ensemble.
    zipmap = isinstance(model, DecisionTreeClassifier)
    options = {"zipmap": zipmap} if hasattr(model, "predict_proba") else None
    onx = skl2onnx.to_onnx(model, x[:1], target_opset=TARGET_OPSET, options=options)
    out = run_onnx(onx, test)
    if zipmap:
        onnx_output = np.array([[row[k] for k in sorted(row)] for row in out["output_probability"]])
        reference = model.predict_proba(test)[:, proba_columns]
        onnx_output = onnx_output[:, proba_columns]
    elif hasattr(model, "predict_proba"):
        onnx_output = out["probabilities"]
        reference = model.predict_proba(test)
        if proba_columns is not None:
            onnx_output = onnx_output[:, proba_columns]
            reference = reference[:, proba_columns]
    else:
        onnx_output = out["variable"].reshape(len(test), -1)
        reference = model.predict(test).reshape(len(test), -1)
    # onnxruntime agrees with scikit-learn up to float32 thresholds, weights and sums.
    assert np.allclose(onnx_output, reference, rtol=1e-4, atol=1e-5), name
    contribs, expected = shap_case(shap.TreeExplainer(model), test, proba_columns) if explain else (None, None)
    margin = None
    if isinstance(model, GradientBoostingClassifier):
        margin = model.decision_function(test).reshape(len(test), -1).astype(float).tolist()
    write(name, onx, {
        "num_features": N_FEATURES,
        "background": rows_json(x),
        "rows": rows_json(test),
        "onnx_output": onnx_output.astype(float).tolist(),
        "reference_margin": margin,
        "contribs": contribs,
        "expected_value": expected,
    })


def xgboost_case(rng):
    x = make_data(rng, 400)
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] > 0).astype(int)
    x[rng.random(x.shape) < 0.1] = np.nan
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, learning_rate=0.3, random_state=SEED, n_jobs=1,
                              base_score=0.5)
    model.fit(x, y)
    from onnxmltools.convert.common.data_types import FloatTensorType
    onx = onnxmltools.convert_xgboost(model, initial_types=[("X", FloatTensorType([None, N_FEATURES]))],
                                      target_opset=15)
    onx.graph.name = "xgboost_binary"
    test = make_data(rng, 40)
    test[rng.random(test.shape) < 0.15] = np.nan
    out = run_onnx(onx, test)
    # The probabilities output may be a ZipMap sequence of maps.
    proba = out["probabilities"]
    if not isinstance(proba, np.ndarray):
        proba = np.array([[row[0], row[1]] for row in proba])
    assert np.allclose(proba, model.predict_proba(test), rtol=1e-5, atol=1e-6)
    write("onnx_xgboost_binary", onx, {
        "num_features": N_FEATURES,
        "background": rows_json(x),
        "rows": rows_json(test),
        "onnx_output": proba[:, [1]].astype(float).tolist(),
        "reference_margin": model.predict(test, output_margin=True).reshape(-1, 1).astype(float).tolist(),
        "contribs": None,
        "expected_value": None,
    })


def hand_built(name, modes, rng, aggregate, double_input):
    """Two trees of depth 2 over features 0..2 with the given split modes (root, left,
    right), each leaf adding to both targets, NaN tracking true on alternate nodes."""
    tree_ids, node_ids, features, node_modes, values, trues, falses, tracks = ([] for _ in range(8))
    target_tree, target_node, target_ids, target_weights = [], [], [], []
    thresholds = [0.25, -0.5, 1.0]
    for tree in range(2):
        # node 0 splits to 1 and 2; 1 to leaves 3, 4; 2 to leaves 5, 6.
        for node, (mode, t, f) in enumerate(zip(modes, [1, 3, 5], [2, 4, 6])):
            tree_ids.append(tree)
            node_ids.append(node)
            features.append((node + tree) % 3)
            node_modes.append(mode)
            values.append(thresholds[node] if mode not in ("BRANCH_EQ", "BRANCH_NEQ") else 0.5)
            trues.append(t)
            falses.append(f)
            tracks.append((node + tree) % 2)
        for leaf in range(3, 7):
            tree_ids.append(tree)
            node_ids.append(leaf)
            features.append(0)
            node_modes.append("LEAF")
            values.append(0.0)
            trues.append(0)
            falses.append(0)
            tracks.append(0)
            for target in range(2):
                target_tree.append(tree)
                target_node.append(leaf)
                target_ids.append(target)
                target_weights.append(float(np.float32(rng.normal())))
    node = helper.make_node(
        "TreeEnsembleRegressor", ["Xf"], ["variable"], domain="ai.onnx.ml",
        n_targets=2, aggregate_function=aggregate, post_transform="NONE",
        base_values=[0.5, -1.25],
        nodes_treeids=tree_ids, nodes_nodeids=node_ids, nodes_featureids=features, nodes_modes=node_modes,
        nodes_values=values, nodes_truenodeids=trues, nodes_falsenodeids=falses,
        nodes_missing_value_tracks_true=tracks, nodes_hitrates=[1.0] * len(tree_ids),
        target_treeids=target_tree, target_nodeids=target_node, target_ids=target_ids,
        target_weights=target_weights,
    )
    elem = TensorProto.DOUBLE if double_input else TensorProto.FLOAT
    nodes = [helper.make_node("Cast", ["X"], ["Xf"], to=TensorProto.FLOAT), node] if double_input else [
        helper.make_node("Identity", ["X"], ["Xf"]), node]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("X", elem, [None, 3])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 2])],
    )
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(onx)
    x = rng.normal(size=(60, 3))
    x[:, 2] = np.round(x[:, 2] * 2.0) / 2.0  # many values equal 0.5, the EQ/NEQ threshold
    x[:20] = np.where(rng.random((20, 3)) < 0.3, np.nan, x[:20])
    # Values on the thresholds, so each comparison's equality case shows.
    x[20:23] = [[0.25, -0.5, 1.0], [-0.5, 1.0, 0.25], [1.0, 0.25, -0.5]]
    x = x if double_input else x.astype(np.float32)
    out = run_onnx(onx, x)["variable"].reshape(len(x), -1)
    write(name, onx, {
        "num_features": 3,
        "background": rows_json(x[20:]),
        "rows": rows_json(x),
        "onnx_output": out.astype(float).tolist(),
        "reference_margin": None,
        "contribs": None,
        "expected_value": None,
    })


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = make_data(rng, 300)
    test = make_data(rng, 40)
    noise = 0.3 * rng.normal(size=len(x))
    y_reg = 3.0 * x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 4] + x[:, 5] + noise
    y_bin = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 5] + noise > 0).astype(int)
    y_multi = np.digitize(x[:, 0] - x[:, 3] + 0.5 * x[:, 5] + noise, [-0.7, 0.7])
    gb = {"n_estimators": 25, "max_depth": 3, "learning_rate": 0.2, "random_state": SEED}
    rf = {"n_estimators": 8, "max_depth": 5, "max_features": 0.7, "bootstrap": False, "random_state": SEED}
    sklearn_case("onnx_gb_regression", GradientBoostingRegressor(**gb), x, y_reg, test)
    sklearn_case("onnx_gb_binary", GradientBoostingClassifier(**gb), x, y_bin, test, proba_columns=[1])
    # shap's TreeExplainer takes binary GradientBoostingClassifiers only.
    sklearn_case("onnx_gb_multiclass", GradientBoostingClassifier(**gb), x, y_multi, test, explain=False)
    sklearn_case("onnx_rf_regression", RandomForestRegressor(**rf), x, y_reg, test)
    sklearn_case("onnx_rf_multiclass", RandomForestClassifier(**rf), x, y_multi, test)
    sklearn_case("onnx_tree_binary", DecisionTreeClassifier(max_depth=6, random_state=SEED), x, y_bin, test,
                 proba_columns=[1])
    xgboost_case(rng)
    hand_built("onnx_modes_leq", ["BRANCH_LEQ", "BRANCH_GT", "BRANCH_EQ"], rng, "SUM", double_input=False)
    hand_built("onnx_modes_lt", ["BRANCH_GTE", "BRANCH_LT", "BRANCH_NEQ"], rng, "AVERAGE", double_input=True)


if __name__ == "__main__":
    main()
