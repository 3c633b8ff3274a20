"""The monitor decorator and context manager against the real server: inputs,
outputs, latency, and errors captured with their traceback and re-raised unchanged."""

from __future__ import annotations

import asyncio
import logging

import pytest

import sightline
from conftest import row


class ModelBroke(RuntimeError):
    pass


def test_decorator_logs_mapping_input_and_output(client, model):
    @sightline.monitor(client, model=model, version="v1", tags={"route": "/predict"})
    def predict(features):
        return {"prediction": "yes", "scores": {"yes": 0.7, "no": 0.3}}

    out = predict(row(3))
    assert out["prediction"] == "yes"
    rid = sightline.last_request_id()
    client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["features"]["age"] == 23
    assert p["prediction"] == "yes"
    assert p["scores"] == {"yes": 0.7, "no": 0.3}
    assert p["tags"] == {"route": "/predict"}
    assert p["latency_ms"] is not None and p["latency_ms"] >= 0


def test_decorator_latency_is_measured(client, model):
    import time

    @sightline.monitor(client, model=model, version="v1")
    def slow(features):
        time.sleep(0.05)
        return "no"

    slow(row(0))
    client.flush(10)
    p = client.get_prediction(model, sightline.last_request_id())
    assert 45 <= p["latency_ms"] < 1000


def test_decorator_kwargs_become_features(client, model):
    @sightline.monitor(client, model=model, version="v1")
    def predict(age, income, city="paris", member=False):
        return "no" if age < 30 else "yes"

    assert predict(35, 1000.0, member=True) == "yes"
    client.flush(10)
    p = client.get_prediction(model, sightline.last_request_id())
    assert p["features"] == {"age": 35.0, "income": 1000.0, "city": None, "member": True}
    assert p["prediction"] == "yes"


def test_decorator_on_method_with_feature_names_and_numpy(client, model):
    np = pytest.importorskip("numpy")

    class Model:
        @sightline.monitor(client, model=model, version="v1", features=["age", "income"])
        def predict(self, x):
            return np.array(["yes"])

    Model().predict(np.array([[40, 123.5]]))
    client.flush(10)
    p = client.get_prediction(model, sightline.last_request_id())
    assert p["features"]["age"] == 40 and p["features"]["income"] == 123.5
    assert p["prediction"] == "yes"


def test_custom_features_output_and_request_id(client, model):
    @sightline.monitor(
        client,
        model=model,
        version="v1",
        features=lambda req: req["payload"],
        output=lambda res: (res["label"], {"yes": res["p"], "no": 1 - res["p"]}),
        request_id=lambda req: req["id"],
    )
    def handle(req):
        return {"label": "yes", "p": 0.9}

    handle({"id": "req-42", "payload": row(5)})
    assert sightline.last_request_id() == "req-42"
    client.flush(10)
    p = client.get_prediction(model, "req-42")
    assert p["scores"]["yes"] == 0.9 and p["prediction"] == "yes"


def failing_model(features):
    raise ModelBroke(f"cannot score age {features['age']}")


def test_error_is_logged_with_traceback_and_reraised_unchanged(client, model):
    predict = sightline.monitor(client, model=model, version="v1")(failing_model)
    with pytest.raises(ModelBroke) as info:
        predict(row(7))
    exc = info.value
    # The very exception the model raised, with its own traceback.
    assert str(exc) == "cannot score age 27"
    assert exc.__traceback__ is not None
    assert info.traceback[-1].name == "failing_model"
    assert exc.__cause__ is None and exc.__context__ is None
    client.flush(10)
    p = client.get_prediction(model, sightline.last_request_id())
    assert p["prediction"] is None
    assert p["features"]["age"] == 27
    assert p["error"]["type"].endswith("ModelBroke")
    message = p["error"]["message"]
    assert message.startswith("cannot score age 27")
    assert "Traceback (most recent call last)" in message
    assert "in failing_model" in message
    assert p["latency_ms"] is not None


def test_async_decorator(client, model):
    @sightline.monitor(client, model=model, version="v1")
    async def predict(features):
        await asyncio.sleep(0.01)
        return "no"

    @sightline.monitor(client, model=model, version="v1")
    async def broken(features):
        await asyncio.sleep(0)
        raise ModelBroke("async failure")

    async def main():
        assert await predict(row(1)) == "no"
        ok_id = sightline.last_request_id()
        with pytest.raises(ModelBroke):
            await broken(row(2))
        return ok_id, sightline.last_request_id()

    ok_id, err_id = asyncio.run(main())
    client.flush(10)
    assert client.get_prediction(model, ok_id)["prediction"] == "no"
    assert "async failure" in client.get_prediction(model, err_id)["error"]["message"]


def test_context_manager(client, model):
    with sightline.monitor(client, model=model, version="v1", features=row(9)) as m:
        m.prediction = "yes"
        m.scores = {"yes": 0.6, "no": 0.4}
    client.flush(10)
    p = client.get_prediction(model, m.request_id)
    assert p["prediction"] == "yes" and p["scores"]["yes"] == 0.6
    assert p["features"]["age"] == 29
    assert m.latency_ms is not None


def test_context_manager_error(client, model):
    original = ModelBroke("inside the block")
    with pytest.raises(ModelBroke) as info:
        with sightline.monitor(client, model=model, version="v1", features=row(1)) as m:
            raise original
    assert info.value is original
    client.flush(10)
    p = client.get_prediction(model, m.request_id)
    assert p["error"]["type"].endswith("ModelBroke")
    assert "inside the block" in p["error"]["message"]
    assert "Traceback" in p["error"]["message"]


def test_context_manager_reused_across_threads(client, model):
    import threading

    mon = client.monitor(model, version="v1")
    ids = []

    def work(i):
        with mon as m:
            m.set(prediction="no", features=row(i))
        ids.append(m.request_id)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.flush(10)
    assert len(set(ids)) == 10
    for rid in ids:
        assert client.get_prediction(model, rid)["prediction"] == "no"


def test_log_error_directly(client, model):
    try:
        {}["missing"]
    except KeyError as e:
        rid = client.log_error(model, e, row(0))
    client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["error"]["type"] == "KeyError"
    assert "KeyError: 'missing'" in p["error"]["message"]


def test_logging_problems_never_break_the_call(client, model, caplog):
    @sightline.monitor(client, model=model, version="v1")
    def predict(x):
        return 1

    class Opaque:
        pass

    with caplog.at_level(logging.ERROR, logger="sightline"):
        assert predict(Opaque()) == 1  # features cannot be read from it
    assert any("could not log" in r.getMessage() for r in caplog.records)


def test_batch_mode(client, model):
    pd = pytest.importorskip("pandas")

    @sightline.monitor(client, model=model, version="v1", batch=True)
    def predict_many(df):
        return ["yes" if a > 30 else "no" for a in df["age"]]

    df = pd.DataFrame([row(i) for i in range(6)])
    predict_many(df)
    base = sightline.last_request_id()
    client.flush(10)
    for i in range(6):
        p = client.get_prediction(model, f"{base}-{i}")
        assert p["features"]["age"] == 20 + i


def test_default_client(server_url, model, monkeypatch):
    monkeypatch.setenv("SIGHTLINE_URL", server_url)
    client = sightline.init(version="v1")
    try:

        @sightline.monitor(model=model)
        def predict(features):
            return "no"

        predict(row(0))
        assert sightline.get_client() is client
        client.flush(10)
        assert client.get_prediction(model, sightline.last_request_id())["prediction"] == "no"
    finally:
        client.close()
        sightline._default = None


def test_error_info_truncates_long_messages():
    try:
        raise ValueError("x" * 200_000)
    except ValueError as e:
        info = sightline.error_info(e)
    assert len(info["message"].encode()) <= 64 * 1024
    assert info["type"] == "ValueError"
    assert "(truncated)" in info["message"]
    assert info["message"].rstrip().endswith("x")


def test_a_failure_becomes_an_issue_with_its_frames(client, model):
    @sightline.monitor(client, model=model)
    def scorer(row):
        return _lookup(row)

    for i in range(3):
        with pytest.raises(KeyError):
            scorer({"age": 30 + i, "income": 1.0, "city": "paris", "member": True})
    assert client.flush(10)
    issues = list(client.list_issues(model))
    assert len(issues) >= 1
    reported = [i for i in issues if i["type"] == "KeyError" and i["fingerprint"]]
    # The prediction's own error and the reported exception group apart (one has frames).
    with_frames = None
    for issue in reported:
        detail = client.get_issue(model, issue["id"])
        if detail["events"] and detail["events"][0].get("frames"):
            with_frames = detail
    assert with_frames is not None, issues
    assert with_frames["count"] == 3, "three occurrences, one issue: ids differ only in numbers"
    sample = with_frames["events"][0]
    assert [f["function"] for f in sample["frames"]][-1] == "_lookup"
    by_function = {f["function"]: f["in_app"] for f in sample["frames"]}
    assert by_function["_lookup"] is True and by_function["scorer"] is True
    installed = [f for f in sample["frames"] if "site-packages" in f["file"]]
    assert installed and not any(f["in_app"] for f in installed), "the SDK's own frames are a library's"
    assert sample["input"]["city"] == "paris"
    assert sample["request_id"]


def _lookup(row):
    return {"known": 1}[f"customer-{row['age']}"]


def test_issues_can_be_resolved_from_the_client(client, model):
    try:
        raise ValueError("bad input 42")
    except ValueError as e:
        client.report_exception(model, e, input={"x": 1})
    assert client.flush(10)
    issue = next(client.list_issues(model, status="unresolved"))
    assert issue["title"] == "bad input <n>"
    assert client.set_issue_status(model, issue["id"], "resolved")["status"] == "resolved"
    assert list(client.list_issues(model, status="unresolved")) == []
    with pytest.raises(sightline.ValidationError):
        client.set_issue_status(model, issue["id"], "fixed")
