"""Helpers shared by the model-agnostic explanation generators (explain_pdp.py, explain_permutation.py,
explain_lime.py): the committed LightGBM fixture models behind scikit-learn estimator wrappers, and
version checks. Pinned versions are in tests/reference/requirements-explain-inspection.txt.

The wrappers load the same model files the Rust tests load, so the Rust side evaluates the very
model scikit-learn and lime called; LightGBM predicts in double precision as Sightline does.
"""

import pathlib

import lightgbm as lgb
import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

assert np.__version__ == "2.4.6", np.__version__
assert sklearn.__version__ == "1.9.1", sklearn.__version__
assert lgb.__version__ == "4.7.0", lgb.__version__

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "crates/sightline-explain/tests/fixtures"
SEED = 20261127


def booster(model_file):
    return lgb.Booster(model_file=str(FIXTURES / model_file))


class BoosterRegressor(RegressorMixin, BaseEstimator):
    """A fitted LightGBM booster as a scikit-learn regressor (`predict` is LightGBM's `predict`)."""

    def __init__(self, model_file=None):
        self.model_file = model_file

    def fit(self, X=None, y=None):
        self.booster_ = booster(self.model_file)
        self.n_features_in_ = self.booster_.num_feature()
        return self

    def predict(self, X):
        return self.booster_.predict(np.asarray(X, dtype=np.float64))


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A fitted LightGBM classifier booster as a scikit-learn classifier."""

    def __init__(self, model_file=None):
        self.model_file = model_file

    def fit(self, X=None, y=None):
        self.booster_ = booster(self.model_file)
        self.n_features_in_ = self.booster_.num_feature()
        self.classes_ = np.arange(max(2, self.booster_.num_model_per_iteration()))
        return self

    def predict_proba(self, X):
        p = self.booster_.predict(np.asarray(X, dtype=np.float64))
        if p.ndim == 1:
            p = np.column_stack([1.0 - p, p])
        return p

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def json_rows(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in np.asarray(x, dtype=np.float64)]
