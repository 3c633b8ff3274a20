"""The examples under examples/ really run: the scikit-learn batch job as a script, and
the FastAPI app both in-process (TestClient) and served by uvicorn on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import sightline
from conftest import SDK, count_predictions, unique

EXAMPLES = SDK / "examples"
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def run_job(server_url, model):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "sklearn_pipeline.py"), "--url", server_url, "--model", model],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sklearn_pipeline_batch_job(server_url):
    pytest.importorskip("sklearn")
    model = unique("breast-cancer")
    first = run_job(server_url, model)
    assert first["rows"] == 171
    assert first["accepted"] == 171 and first["rejected"] == 0 and first["failed"] == 0
    assert first["labels_accepted"] == 171
    assert first["accuracy"] > 0.9
    with sightline.Client(server_url) as c:
        doc = c.get_model(model)
        assert len(doc["features"]) == 30
        assert doc["positive_class"] == "malignant"
        p = c.get_prediction(model, first["first_request_id"])
        assert p["prediction"] in ("benign", "malignant")
        assert abs(sum(p["scores"].values()) - 1) < 1e-9
        assert p["label"]["label"] in ("benign", "malignant")
        assert p["tags"] == {"job": "nightly-scoring"}
    # Idempotent re-run.
    second = run_job(server_url, model)
    assert second["duplicates"] == 171 and second["accepted"] == 0
    assert second["labels_duplicates"] == 171


def load_app(monkeypatch, server_url, model):
    monkeypatch.setenv("SIGHTLINE_URL", server_url)
    monkeypatch.setenv("SIGHTLINE_MODEL", model)
    spec = importlib.util.spec_from_file_location(f"fastapi_app_{model.replace('-', '_')}", EXAMPLES / "fastapi_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fastapi_app_in_process(server_url, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    model = unique("iris")
    example = load_app(monkeypatch, server_url, model)
    ids = []
    with TestClient(example.app) as http:
        for flower, expected in ((FLOWER, "setosa"), (VIRGINICA, "virginica")):
            r = http.post("/predict", json=flower)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["prediction"] == expected
            ids.append(body["request_id"])
        bad = http.post("/predict", json={**FLOWER, "petal_width": -1})
        assert bad.status_code == 422
        assert http.post(f"/feedback/{ids[0]}", json={"label": "setosa"}).json() == {"ok": True}
    # Leaving the TestClient ran the app's shutdown, which closed (flushed) the client.
    with sightline.Client(server_url) as c:
        p = c.get_prediction(model, ids[0])
        assert p["prediction"] == "setosa" and p["label"]["label"] == "setosa"
        assert p["features"] == FLOWER
        assert p["scores"]["setosa"] > 0.9
        assert p["latency_ms"] > 0
        errors = [q for q in c.list_predictions(model) if q["error"]]
        assert len(errors) == 1
        assert errors[0]["error"]["type"] == "ValueError"
        assert "measurements must be positive" in errors[0]["error"]["message"]
        assert "Traceback" in errors[0]["error"]["message"]
        assert count_predictions(c, model) == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fastapi_app_under_uvicorn(server_url):
    pytest.importorskip("uvicorn")
    import httpx

    model = unique("iris-uvicorn")
    port = free_port()
    env = dict(os.environ, SIGHTLINE_URL=server_url, SIGHTLINE_MODEL=model)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_app.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            ids = [http.post("/predict", json=VIRGINICA).json()["request_id"] for _ in range(25)]
            for rid in ids[:5]:
                http.post(f"/feedback/{rid}", json={"label": "virginica"})
    finally:
        proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully: lifespan closes the client
        out, _ = proc.communicate(timeout=60)
    # uvicorn re-raises the signal once its graceful shutdown is done.
    assert proc.returncode in (0, -signal.SIGTERM), out
    with sightline.Client(server_url) as c:
        assert count_predictions(c, model) == 25
        labelled = [p for p in c.list_predictions(model) if p["label"]]
        assert len(labelled) == 5
        assert all(p["prediction"] == "virginica" for p in labelled)
