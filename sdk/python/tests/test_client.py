"""The synchronous API: models, versions, reading predictions back, errors."""

from __future__ import annotations

import datetime as dt

import os

import pytest

import sightline
from conftest import CREDIT_FEATURES, count_predictions, row, unique


def test_create_and_get_model(server_url):
    name = unique("reg")
    with sightline.Client(server_url) as c:
        doc = c.create_model(
            name,
            "binary_classification",
            CREDIT_FEATURES,
            classes=["no", "yes"],
            positive_class="yes",
            description="credit risk",
        )
        assert doc["name"] == name
        assert doc["task"] == "binary_classification"
        assert [f["name"] for f in doc["features"]] == ["age", "income", "city", "member"]
        assert doc["features"][0]["nullable"] is False
        assert doc["features"][1]["nullable"] is True
        assert doc["positive_class"] == "yes"
        assert c.get_model(name)["description"] == "credit risk"
        assert name in [m["name"] for m in c.list_models()]


def test_conflict_and_exist_ok(server_url):
    name = unique("dup")
    with sightline.Client(server_url) as c:
        c.create_model(name, "regression", ["x"])
        with pytest.raises(sightline.ConflictError) as e:
            c.create_model(name, "regression", ["x"])
        assert e.value.status == 409
        assert c.create_model(name, "regression", ["x"], exist_ok=True)["name"] == name


def test_feature_declaration_forms(server_url):
    name = unique("forms")
    with sightline.Client(server_url) as c:
        doc = c.create_model(
            name,
            "multiclass_classification",
            {"a": "numeric", "b": "categorical", "c": "boolean", "d": "text"},
            classes=[0, 1, 2],
        )
        assert [(f["name"], f["type"]) for f in doc["features"]] == [
            ("a", "numeric"),
            ("b", "categorical"),
            ("c", "boolean"),
            ("d", "text"),
        ]
        assert doc["classes"] == ["0", "1", "2"]


def test_validation_error_has_field_paths(server_url):
    with sightline.Client(server_url) as c:
        with pytest.raises(sightline.ValidationError) as e:
            c.create_model(unique("bad"), "binary_classification", ["x"], classes=["only-one"])
        assert e.value.status == 422
        assert any(err["path"] == "$.classes" for err in e.value.errors), e.value.errors


def test_add_features(server_url):
    name = unique("grow")
    with sightline.Client(server_url) as c:
        c.create_model(name, "regression", CREDIT_FEATURES)
        doc = c.add_features(name, {"tenure": "numeric", "segment": "categorical"})
        assert [f["name"] for f in doc["features"]][-2:] == ["tenure", "segment"]
        assert c.get_model(name)["features"][-1]["type"] == "categorical"
        with pytest.raises(sightline.ValidationError) as e:
            c.add_features(name, ["age"])
        assert any(err["path"] == "$.features[0].name" for err in e.value.errors), e.value.errors


def test_not_found(server_url):
    with sightline.Client(server_url) as c:
        with pytest.raises(sightline.NotFoundError) as e:
            c.get_model("no-such-model")
        assert e.value.code == "model_not_found"


def test_versions(server_url, model):
    with sightline.Client(server_url) as c:
        c.create_version(model, "v2", description="retrained")
        with pytest.raises(sightline.ConflictError):
            c.create_version(model, "v2")
        assert c.create_version(model, "v2", exist_ok=True)["name"] == "v2"
        assert [v["name"] for v in c.list_versions(model)] == ["v1", "v2"]


def test_log_then_read_back(client, model):
    ts = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    rid = client.log_prediction(
        model,
        {"age": 41, "income": 52000.5, "city": "paris", "member": True},
        "yes",
        scores={"no": 0.2, "yes": 0.8},
        timestamp=ts,
        latency_ms=3.5,
        tags={"region": "eu"},
    )
    assert client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["request_id"] == rid
    assert p["version"] == "v1"
    assert p["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert p["features"] == {"age": 41.0, "income": 52000.5, "city": "paris", "member": True}
    assert p["prediction"] == "yes"
    assert p["scores"] == {"no": 0.2, "yes": 0.8}
    assert p["latency_ms"] == 3.5
    assert p["tags"] == {"region": "eu"}
    assert p["error"] is None
    stats = client.stats()
    assert stats["accepted"] == 1 and stats["rejected"] == 0 and stats["dropped"] == 0


def test_feedback_attaches_label(client, model):
    rid = client.log_prediction(model, row(1), "no")
    client.flush(10)
    client.log_feedback(model, rid, "yes")
    client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["label"]["label"] == "yes"


def test_feedback_batch_wait(client, model):
    ids = client.log_predictions(model, [{"features": row(i), "prediction": "no"} for i in range(5)])
    client.flush(10)
    result = client.log_feedback_batch(model, [(rid, "yes") for rid in ids] + [("unknown-id", "maybe")], wait=True)
    assert result.accepted == 5
    assert len(result.rejected) == 1 and result.rejected[0]["index"] == 5
    assert all(client.get_prediction(model, r)["label"]["label"] == "yes" for r in ids)


def test_list_predictions_pages(client, model):
    ids = client.log_predictions(
        model,
        [{"features": row(i), "prediction": "no", "timestamp": 1_700_000_000_000 + i} for i in range(250)],
    )
    client.flush(10)
    items = list(client.list_predictions(model, page_size=100))
    assert len(items) == 250
    assert {p["request_id"] for p in items} == set(ids)
    # Newest first; `end` is exclusive.
    assert items[0]["request_id"] == ids[-1]
    window = list(client.list_predictions(model, start=1_700_000_000_100, end=1_700_000_000_150, page_size=7))
    assert len(window) == 50
    assert len(list(client.list_predictions(model, limit=30, page_size=7))) == 30
    assert list(client.list_predictions(model, version="v9")) == []


def test_log_predictions_wait_returns_result(client, model):
    events = [{"features": row(i), "prediction": "yes"} for i in range(10)]
    events.append({"features": {"age": "old"}, "prediction": "yes", "request_id": "bad-one"})
    result = client.log_predictions(model, events, wait=True)
    assert result.accepted == 10
    assert result.rejected[0]["index"] == 10
    assert result.rejected[0]["request_id"] == "bad-one"
    assert "age" in result.rejected[0]["errors"][0]["path"]
    # Sending the same ids again: duplicates, not stored twice.
    resend = [dict(e, request_id=r) for e, r in zip(events[:10], result.request_ids)]
    again = client.log_predictions(model, resend, wait=True)
    assert again.duplicates == 10 and again.accepted == 0
    assert count_predictions(client, model) == 10


def test_attributions_logged_with_a_prediction_feed_global_importance(client, model):
    for i in range(6):
        client.log_prediction(model, row(i), "yes", request_id=f"attr-{i}",
                              attributions={"age": 0.5 if i % 2 else -1.5, "income": 0.25})
    assert client.flush(10)
    assert client.get_prediction(model, "attr-1")["attributions"] == {"age": 0.5, "income": 0.25}
    importance = client.importance(model, "v1", source="logged")
    features = importance["features"]
    means = dict(zip(features, importance["overall"]["outputs"][0]["mean_abs_shap"]))
    assert importance["overall"]["rows"] == 6
    assert means["age"] == 1.0 and means["income"] == 0.25 and means["city"] == 0.0


def test_token_is_sent_as_bearer(proxy, model, monkeypatch):
    token = os.environ["SIGHTLINE_TOKEN"]
    monkeypatch.delenv("SIGHTLINE_TOKEN")
    with sightline.Client(proxy.url, token=token, version="v1") as c:
        c.get_model(model)
        c.log_prediction(model, row(0), "no")
        c.flush(10)
    assert proxy.requests
    assert all(r.headers.get("authorization") == f"Bearer {token}" for r in proxy.requests)


def test_no_token_no_header_and_the_server_refuses(proxy, model, monkeypatch):
    monkeypatch.delenv("SIGHTLINE_TOKEN", raising=False)
    with sightline.Client(proxy.url) as c:
        with pytest.raises(sightline.APIError) as refused:
            c.get_model(model)
    assert refused.value.status == 401 and refused.value.code == "unauthenticated"
    assert "authorization" not in proxy.requests[0].headers


def test_a_wrong_token_is_refused_and_not_retried(server_url, model):
    with sightline.Client(server_url, token="sl_not_a_real_token") as c:
        with pytest.raises(sightline.APIError) as refused:
            c.get_model(model)
    assert refused.value.status == 401


def test_health(server_url):
    with sightline.Client(server_url) as c:
        assert c.health()
    with sightline.Client("http://127.0.0.1:9") as c:
        assert not c.health()


def test_unreachable_server_raises_transport_error():
    with sightline.Client("http://127.0.0.1:9", max_retries=1, backoff=0.01) as c:
        with pytest.raises(sightline.TransportError):
            c.get_model("x")


def test_bad_url():
    with pytest.raises(ValueError):
        sightline.Client("ftp://example")


def test_missing_version_is_a_clear_error(server_url):
    with sightline.Client(server_url) as c:
        with pytest.raises(ValueError, match="version"):
            c.log_prediction("m", {}, 1)


def test_disabled_client_logs_nothing(proxy):
    with sightline.Client(proxy.url, version="v1", enabled=False) as c:
        rid = c.log_prediction("m", {"a": 1}, 1)
        assert isinstance(rid, str) and len(rid) == 32
        c.flush(1)
    assert proxy.posts() == []


def test_request_ids_are_unique():
    ids = {sightline.new_request_id() for _ in range(10000)}
    assert len(ids) == 10000
    assert all(len(i) == 32 for i in ids)
