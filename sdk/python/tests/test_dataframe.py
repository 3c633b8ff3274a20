"""log_dataframe and schema inference from pandas DataFrames."""

from __future__ import annotations

import pytest

import sightline
from conftest import count_predictions, unique

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def frame(n=20):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(n)],
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 10_000, n),
            "city": pd.Categorical(rng.choice(["paris", "lyon", "nice"], n)),
            "member": rng.random(n) > 0.5,
            "pred": np.where(rng.random(n) > 0.5, "yes", "no"),
            "yes": rng.random(n),
            "ts": pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC"),
        }
    )


def test_features_inferred_from_dataframe(server_url):
    df = frame()
    specs = sightline.features_from_dataframe(df[["age", "income", "city", "member"]])
    assert [(s["name"], s["type"]) for s in specs] == [
        ("age", "numeric"),
        ("income", "numeric"),
        ("city", "categorical"),
        ("member", "boolean"),
    ]
    name = unique("inferred")
    with sightline.Client(server_url) as c:
        doc = c.create_model(name, "regression", df[["age", "income", "city", "member"]])
        assert [f["type"] for f in doc["features"]] == ["numeric", "numeric", "categorical", "boolean"]


def test_log_dataframe(server_url):
    df = frame(20)
    df["no"] = 1 - df["yes"]
    df.loc[3, "income"] = np.nan  # missing values are sent as null
    name = unique("batch")
    with sightline.Client(server_url) as c:
        c.create_model(
            name,
            "binary_classification",
            df[["age", "income", "city", "member"]],
            classes=["no", "yes"],
            positive_class="yes",
        )
        result = c.log_dataframe(
            df,
            model=name,
            version="2026-03",
            prediction="pred",
            scores=["yes", "no"],
            request_id="id",
            timestamp="ts",
            tags={"job": "nightly"},
        )
        assert result.accepted == 20, result.rejected
        assert result.rejected == [] and result.failed == 0
        assert result.request_ids[0] == "row-0"
        p = c.get_prediction(name, "row-3")
        assert p["features"]["income"] is None
        assert p["features"]["age"] == float(df.loc[3, "age"])
        assert p["features"]["city"] == df.loc[3, "city"]
        assert p["prediction"] == df.loc[3, "pred"]
        assert p["scores"]["yes"] == pytest.approx(df.loc[3, "yes"])
        assert p["timestamp"] == "2026-03-01T00:03:00.000Z"
        assert p["version"] == "2026-03"
        assert p["tags"] == {"job": "nightly"}
        # Re-running the job reports duplicates instead of storing twice.
        again = c.log_dataframe(df, model=name, version="2026-03", prediction="pred", scores=["yes", "no"], request_id="id", timestamp="ts")
        assert again.duplicates == 20 and again.accepted == 0
        assert count_predictions(c, name) == 20


def test_log_dataframe_positive_score_labels_and_rejections(server_url):
    df = frame(10)
    df["truth"] = np.where(df["age"] > 50, "yes", "no")
    df.loc[4, "pred"] = "maybe"  # not a class: this row is rejected
    name = unique("batch2")
    with sightline.Client(server_url) as c:
        c.create_model(name, "binary_classification", ["age", "income"], classes=["no", "yes"], positive_class="yes")
        result = c.log_dataframe(
            df,
            model=name,
            version="v1",
            prediction="pred",
            scores="yes",  # one column: the positive class's probability
            features=["age", "income"],
            label="truth",
            batch_size=3,
        )
        assert result.accepted == 9
        predictions = [r for r in result.rejected if r.get("kind") != "label"]
        assert [r["index"] for r in predictions] == [4]
        assert "prediction" in predictions[0]["errors"][0]["path"]
        # Labels may arrive before their prediction, so the server keeps row 4's label.
        assert [r for r in result.rejected if r.get("kind") == "label"] == []
        rid = result.request_ids[0]
        p = c.get_prediction(name, rid)
        assert p["label"]["label"] == df.loc[0, "truth"]
        assert p["scores"]["yes"] == pytest.approx(df.loc[0, "yes"])


def test_missing_column_is_a_clear_error(server_url):
    with sightline.Client(server_url) as c:
        with pytest.raises(KeyError, match="nope"):
            c.log_dataframe(frame(2), model="m", version="v1", prediction="nope")
