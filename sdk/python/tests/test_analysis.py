"""References, drift, data quality and performance read through the SDK from a real
server: uploads from files (plain and gzipped), bytes, streams and DataFrames; a
retried upload re-sent whole; results that agree with what was logged."""

from __future__ import annotations

import gzip
import io
import json
import random
import time

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

import sightline
from conftest import make_model, wait_for

MINUTE_MS = 60_000


def training_rows(n: int, seed: int = 7, age_shift: float = 0.0):
    rng = random.Random(seed)
    return [
        {
            "age": round(rng.gauss(40 + age_shift, 8), 1),
            "income": round(rng.uniform(1000, 5000), 2),
            "city": rng.choice(["paris", "lyon", "nice"]),
            "member": rng.random() < 0.3,
            "prediction": rng.choice(["no", "yes"]),
        }
        for _ in range(n)
    ]


def csv_text(rows) -> str:
    lines = ["age,income,city,member,prediction"]
    for r in rows:
        lines.append(f"{r['age']},{r['income']},{r['city']},{str(r['member']).lower()},{r['prediction']}")
    return "\n".join(lines) + "\n"


def log_rows(c: sightline.Client, model: str, rows, labels=None) -> None:
    now = int(time.time() * 1000)
    events = []
    for i, r in enumerate(rows):
        features = {k: r[k] for k in ("age", "income", "city", "member")}
        events.append(
            {
                "request_id": f"{model}-{i}",
                "timestamp": now - MINUTE_MS,
                "features": features,
                "prediction": r["prediction"],
                "scores": {"yes": r.get("score", 0.5)},
            }
        )
    result = c.log_predictions(model, events, version="v1", wait=True)
    assert result.accepted == len(rows), result.errors or result.rejected
    if labels is not None:
        lr = c.log_feedback_batch(
            model, [{"request_id": f"{model}-{i}", "label": y} for i, y in enumerate(labels)], wait=True
        )
        assert lr.accepted == len(labels)


def wait_for_rows(c: sightline.Client, model: str, n: int) -> dict:
    """The aggregator folds events into profiles a second or two after they commit."""
    doc = {}

    def ready() -> bool:
        nonlocal doc
        doc = c.data_quality(model, version="v1", start=time.time() - 600, end=time.time() + 60)
        return doc["columns"][0]["rows"] >= n if doc.get("columns") else False

    assert wait_for(ready, timeout=20, interval=0.3), doc
    return doc


def test_upload_csv_file_then_drift_and_quality(server_url, tmp_path):
    model = make_model(server_url)
    path = tmp_path / "train.csv"
    path.write_text(csv_text(training_rows(3000)))
    with sightline.Client(server_url) as c:
        ref = c.upload_reference(model, path)
        assert ref["rows"] == 3000
        assert ref["version"] is None
        assert sorted(ref["upload"]["features"]) == ["age", "city", "income", "member"]
        assert ref["upload"]["prediction"] is True or ref["upload"]["prediction"] == "prediction"

        # Same distribution for city, the age moved by two standard deviations.
        log_rows(c, model, training_rows(2000, seed=8, age_shift=16))
        quality = wait_for_rows(c, model, 2000)
        by_name = {f["name"]: f for f in quality["columns"]}
        assert by_name["age"]["rows"] == 2000
        assert by_name["age"]["mean"] == pytest.approx(56, abs=1.0)
        assert by_name["city"]["unseen"] == 0

        drift = c.drift(model, version="v1", start=time.time() - 600, end=time.time() + 60)
        cols = {col["name"]: col for col in drift["columns"]}
        assert cols["age"]["drifted"] is True
        assert cols["city"]["drifted"] is False
        assert drift["rows"] == 2000

        # Per-call methods and thresholds reach the server.
        drift = c.drift(
            model,
            version="v1",
            start=time.time() - 600,
            end=time.time() + 60,
            method="psi",
            methods={"city": "chisquare"},
            thresholds={"city": 0.01},
        )
        cols = {col["name"]: col for col in drift["columns"]}
        assert cols["age"]["method"] == "psi"
        assert (cols["city"]["method"], cols["city"]["threshold"]) == ("chisquare", 0.01)

        series = c.drift(model, version="v1", start=time.time() - 600, end=time.time() + 60, step=300)
        assert len(series["windows"]) >= 2
        assert sum(w["rows"] for w in series["windows"]) == 2000


def test_upload_forms_gzip_bytes_stream_dataframe(server_url, tmp_path):
    model = make_model(server_url)
    rows = training_rows(500)
    text = csv_text(rows)
    gz = tmp_path / "train.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    ndjson = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with sightline.Client(server_url) as c:
        c.create_version(model, "v2")
        c.create_version(model, "v3")
        c.create_version(model, "v4")
        assert c.upload_reference(model, gz, version="v1")["rows"] == 500
        assert c.upload_reference(model, ndjson, version="v2", format="ndjson")["rows"] == 500

        class OneWay(io.RawIOBase):
            """A pipe-like stream: readable once, not seekable."""

            def __init__(self, data: bytes) -> None:
                self.inner = io.BytesIO(data)

            def readable(self) -> bool:
                return True

            def readinto(self, b) -> int:
                chunk = self.inner.read(len(b))
                b[: len(chunk)] = chunk
                return len(chunk)

        assert c.upload_reference(model, OneWay(text.encode()), version="v3", format="csv")["rows"] == 500

        df = pd.DataFrame(rows)
        df.loc[3, "income"] = float("nan")
        df["extra"] = 1
        ref = c.upload_reference(model, df, version="v4")
        assert ref["rows"] == 500
        assert ref["upload"]["ignored_columns"] == ["extra"]
        income = next(col for col in ref["columns"] if col["name"] == "income")
        assert income["missing"] == 1

        versions = sorted(r["version"] for r in c.list_references(model))
        assert versions == ["v1", "v2", "v3", "v4"]
        c.delete_reference(model, version="v2")
        with pytest.raises(sightline.NotFoundError):
            c.delete_reference(model, version="v2")

        with pytest.raises(ValueError, match="format"):
            c.upload_reference(model, b"age\n1\n")
        bad = tmp_path / "train.txt"
        bad.write_text(text)
        with pytest.raises(ValueError, match="format"):
            c.upload_reference(model, bad)
        # A value that does not fit its feature: the server names row and column.
        with pytest.raises(sightline.ValidationError) as e:
            c.upload_reference(model, b"age,city\nold,paris\n", format="csv")
        assert "age" in str(e.value)


def test_file_upload_is_retried_whole(server_url, proxy, tmp_path):
    model = make_model(server_url)
    path = tmp_path / "train.csv"
    data = csv_text(training_rows(800)).encode()
    path.write_bytes(data)
    proxy.inject((503, {"Retry-After": "0"}))
    with sightline.Client(proxy.url, backoff=0.01) as c:
        ref = c.upload_reference(model, path)
    assert ref["rows"] == 800
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [503, 201]
    assert puts[0].raw == data and puts[1].raw == data


def test_reference_from_logs_and_settings(server_url):
    model = make_model(server_url)
    with sightline.Client(server_url) as c:
        log_rows(c, model, training_rows(300))
        wait_for_rows(c, model, 300)
        ref = c.reference_from_logs(model, time.time() - 600, time.time() + 60, source_version="v1")
        assert ref["rows"] == 300

        stored = c.set_drift_settings(model, method="ks", threshold=0.01, features={"city": {"method": "chisquare"}})
        assert stored["method"] == "ks"
        assert c.get_drift_settings(model)["features"]["city"]["method"] == "chisquare"
        drift = c.drift(model, version="v1", start=time.time() - 600, end=time.time() + 60)
        cols = {col["name"]: col for col in drift["columns"]}
        assert (cols["age"]["method"], cols["age"]["threshold"]) == ("ks", 0.01)
        assert cols["age"]["drifted"] is False  # the reference is this very traffic

        with pytest.raises(sightline.ValidationError) as e:
            c.set_drift_settings(model, features={"nope": {"method": "ks"}})
        assert "nope" in str(e.value)
        with pytest.raises(sightline.APIError) as e:
            c.drift(model, start=time.time(), end=time.time() - 60)
        assert e.value.status == 400 and "from" in e.value.detail
        with pytest.raises(ValueError, match="step"):
            c.drift(model, step=1.5)


def test_performance_matches_sklearn(server_url):
    model = make_model(server_url)
    rng = random.Random(3)
    rows = training_rows(400)
    labels = []
    for r in rows:
        r["score"] = round(rng.random(), 4)
        r["prediction"] = "yes" if r["score"] >= 0.5 else "no"
        labels.append("yes" if rng.random() < r["score"] else "no")
    with sightline.Client(server_url) as c:
        log_rows(c, model, rows, labels)
        perf = c.performance(model, version="v1", start=time.time() - 600, end=time.time() + 60)
    assert perf["predictions"] == 400 and perf["labelled"] == 400
    assert perf["label_coverage"] == 1.0
    y = [1 if v == "yes" else 0 for v in labels]
    assert perf["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(y, [1 if r["prediction"] == "yes" else 0 for r in rows]), rel=1e-9
    )
    assert perf["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, [r["score"] for r in rows]), rel=1e-9)
