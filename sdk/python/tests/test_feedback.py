"""The feedback loop from Python against a real server: a retraining policy fires when
accuracy drops, its signed trigger reaches a receiver that checks it with
``sightline.webhooks.verify``, and the receiver downloads the trigger's training data
to a file and as a DataFrame. Tampered, stale and foreign signatures are refused, and
a refused export leaves no file behind."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

import sightline
from conftest import make_model, unique

SECRET = "pipeline-secret-0123456789"


class Receiver:
    """A webhook receiver on loopback keeping each request's raw body and headers."""

    def __init__(self) -> None:
        self.got = []
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got.append((body, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def log_outcomes(c: sightline.Client, model: str, right: int, total: int) -> None:
    """`total` predictions of the last minute, labelled, `right` of them correct."""
    now_ms = int(time.time() * 1000)
    events = [
        {
            "request_id": f"r{i}",
            "timestamp": now_ms - 30_000 + i,
            "features": {"age": 30 + i, "income": 2000.0, "city": "paris", "member": i % 2 == 0},
            "prediction": "yes",
            "scores": {"yes": 0.8},
        }
        for i in range(total)
    ]
    assert c.log_predictions(model, events, version="v1", wait=True).accepted == total
    labels = [(f"r{i}", "yes" if i < right else "no") for i in range(total)]
    assert c.log_feedback_batch(model, labels, wait=True).accepted == total


def test_a_verified_trigger_leads_to_its_training_data(server_url, receiver, tmp_path):
    model = make_model(server_url)
    with sightline.Client(server_url) as c:
        log_outcomes(c, model, right=12, total=40)
        channel = c.create_channel(unique("pipeline"), "webhook", {"url": receiver.url, "secret": SECRET})
        assert SECRET not in json.dumps(channel), "the secret is never shown"
        policy = {
            "conditions": [{"kind": "metric_below", "metric": "accuracy", "threshold": 0.8}],
            "window": "10m",
            "channel": channel["id"],
        }
        assert c.set_retraining_policy(model, "accuracy-drop", policy)["window"] == "10m"
        evaluation = c.evaluate_retraining_policy(model, "accuracy-drop")
        assert evaluation["fired"] is True, evaluation
        assert evaluation["conditions"][0]["value"] == pytest.approx(0.3)
        assert evaluation["trigger"]["delivery"] == "delivered"
        assert [t["id"] for t in c.retraining_triggers(model)] == [evaluation["trigger"]["id"]]

        # The receiver's side: the exact bytes received, checked against the secret.
        assert len(receiver.got) == 1
        body, headers = receiver.got[0]
        trigger = sightline.webhooks.verify(body, headers, SECRET)
        assert trigger["kind"] == "retraining_trigger" and trigger["model"] == model
        assert trigger["reasons"] == ["accuracy 0.3 is below 0.8"]

        # ...and the training data it points at, to a file (format from the extension)...
        out = tmp_path / "train.csv"
        written = c.export_trigger(trigger, out)
        lines = out.read_text().splitlines()
        assert written == out.stat().st_size
        assert lines[0].split(",")[:3] == ["request_id", "timestamp", "version"]
        assert len(lines) == 41, "a header and the 40 labelled predictions"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sightline-export-")]
        # ...or as a DataFrame.
        df = c.training_data(model, version="v1")
        assert len(df) == 40
        assert (df["label"] == "yes").sum() == 12
        assert set(df["request_id"]) == {f"r{i}" for i in range(40)}
        assert sorted(df["age"]) == list(range(30, 70)), "features keep their values"


def test_tampered_stale_and_foreign_signatures_are_refused():
    body = json.dumps({"kind": "retraining_trigger", "id": 1}).encode()
    now = int(time.time())
    headers = {"x-sightline-timestamp": str(now), "x-sightline-signature": sightline.webhooks.sign(body, SECRET, now)}
    assert sightline.webhooks.verify(body, headers, SECRET)["id"] == 1
    assert sightline.webhooks.verify(body, headers, SECRET.encode())["id"] == 1, "bytes secrets work too"
    cases = [
        (body.replace(b"1", b"2"), headers, SECRET, "does not match"),
        (body, headers, "another-secret-0123456789", "does not match"),
        (body, {**headers, "x-sightline-timestamp": str(now - 1)}, SECRET, "does not match"),
        (body, {"x-sightline-signature": headers["x-sightline-signature"]}, SECRET, "no X-Sightline-Timestamp"),
        (body, {**headers, "x-sightline-timestamp": "soon"}, SECRET, "not a Unix time"),
    ]
    for b, h, secret, why in cases:
        with pytest.raises(sightline.SignatureError, match=why):
            sightline.webhooks.verify(b, h, secret)
    with pytest.raises(sightline.SignatureError, match="beyond 300 s"):
        sightline.webhooks.verify(body, headers, SECRET, now=now + 301)


def test_a_refused_export_raises_and_leaves_no_file(server_url, tmp_path):
    model = make_model(server_url)
    out = tmp_path / "train.parquet"
    with sightline.Client(server_url) as c:
        with pytest.raises(sightline.NotFoundError) as e:
            c.export(model, out, version="v9")
        assert any(err.get("path") == "version" for err in e.value.errors) or "version" in e.value.detail
        with pytest.raises(ValueError, match="format"):
            c.export(model, out, format="xlsx")
        with pytest.raises(ValueError, match="export_path"):
            c.export_trigger({"kind": "retraining_trigger"}, out)
    assert list(tmp_path.iterdir()) == []
