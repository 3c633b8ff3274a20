"""Watching from Python against a real server: a monitor made, read, listed, replaced
and deleted; the alert an always-true monitor raises, acknowledged; an incident opened,
updated and annotated; the error group of a logged exception resolved; channels listed
and deleted; predictions searched by tag. Refusals arrive as ``APIError`` naming the field."""

from __future__ import annotations

import time

import pytest

import sightline
from conftest import make_model, unique


def wait_for(fetch, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.2)


def test_monitors_and_their_alerts(server_url):
    model = make_model(server_url)
    monitor_id = unique("traffic")
    spec = {
        "id": monitor_id,
        "model": model,
        "signal": "throughput",
        "condition": {"op": ">=", "value": 0},
        "window": "5m",
        "interval": "1m",
        "severity": "low",
    }
    with sightline.Client(server_url) as c:
        # Traffic for the monitor to measure (a window without any has no value).
        now_ms = int(time.time() * 1000)
        events = [
            {"request_id": f"m{i}", "timestamp": now_ms - 1000 + i, "prediction": "yes",
             "features": {"age": 30, "income": 1.0, "city": "paris", "member": True}}
            for i in range(5)
        ]
        assert c.log_predictions(model, events, version="v1", wait=True).accepted == 5
        created = c.create_monitor(spec)
        assert created["id"] == monitor_id and created["severity"] == "low"
        assert c.get_monitor(monitor_id)["model"] == model
        assert monitor_id in [m["id"] for m in c.list_monitors()]
        replaced = c.set_monitor(monitor_id, {**spec, "severity": "medium"})
        assert replaced["severity"] == "medium"
        with pytest.raises(sightline.APIError) as refused:
            c.create_monitor({**spec, "id": unique("bad"), "window": "forever"})
        assert refused.value.status == 422 and "window" in str(refused.value)

        # Always true: the scheduler evaluates a new monitor at once and it fires.
        alert = wait_for(lambda: list(c.list_alerts(monitor=monitor_id, state="firing")), "the alert")[0]
        assert alert["monitor"] == monitor_id
        acknowledged = c.acknowledge_alert(alert["fingerprint"])
        assert acknowledged["acknowledged_at"], acknowledged

        c.delete_monitor(monitor_id)
        with pytest.raises(sightline.APIError) as gone:
            c.get_monitor(monitor_id)
        assert gone.value.status == 404


def test_incidents_from_python(server_url):
    with sightline.Client(server_url) as c:
        title = unique("feature store down")
        opened = c.create_incident(title, "high", runbook_url="https://example.com/runbook")
        assert opened["status"] == "open" and opened["title"] == title
        assert title in [i["title"] for i in c.list_incidents(status="open")]
        updated = c.update_incident(opened["id"], status="investigating", assignee="admin")
        assert updated["status"] == "investigating" and updated["assignee"] == "admin"
        c.add_incident_note(opened["id"], "retried the feature store")
        timeline = c.get_incident(opened["id"])["timeline"]
        assert any("retried the feature store" in str(entry) for entry in timeline), timeline
        with pytest.raises(TypeError):
            c.update_incident(opened["id"], colour="red")
        with pytest.raises(sightline.APIError) as refused:
            c.update_incident(opened["id"], status="sleeping")
        assert refused.value.status == 422 and "status" in str(refused.value)


def test_error_groups_from_python(server_url):
    model = make_model(server_url)
    with sightline.Client(server_url, version="v1", flush_interval=0.1) as c:
        try:
            {}["score"]
        except KeyError as e:
            c.log_error(model, e, {"age": 40, "income": 10.0, "city": "paris", "member": True})
        assert c.flush(10)
        issue = wait_for(lambda: list(c.list_issues(model)), "the error group")[0]
        assert issue["type"] == "KeyError" and issue["status"] == "unresolved"
        detail = c.get_issue(model, issue["id"])
        assert detail["events"] and detail["events"][0]["frames"], detail
        assert c.set_issue_status(model, issue["id"], "resolved")["status"] == "resolved"
        assert [i["id"] for i in c.list_issues(model, status="resolved")] == [issue["id"]]
        assert list(c.list_issues(model, status="unresolved")) == []


def test_channels_are_listed_and_deleted(server_url):
    with sightline.Client(server_url) as c:
        name = unique("hook")
        made = c.create_channel(name, "webhook", {"url": "https://hooks.example.com/x", "secret": "s" * 24})
        assert name in [ch["name"] for ch in c.list_channels()]
        c.delete_channel(made["id"])
        assert name not in [ch["name"] for ch in c.list_channels()]


def test_predictions_by_tag(server_url):
    model = make_model(server_url)
    now_ms = int(time.time() * 1000)
    events = [
        {
            "request_id": f"t{i}",
            "timestamp": now_ms - 10_000 + i,
            "features": {"age": 30, "income": 1.0, "city": "paris", "member": True},
            "prediction": "yes",
            "tags": {"channel": "web" if i % 3 else "branch"},
        }
        for i in range(30)
    ]
    with sightline.Client(server_url) as c:
        assert c.log_predictions(model, events, version="v1", wait=True).accepted == 30
        branch = [p["request_id"] for p in c.list_predictions(model, tag="channel=branch", page_size=3)]
        assert branch == [f"t{i}" for i in reversed(range(30)) if i % 3 == 0]
        assert len(list(c.list_predictions(model, tag="channel"))) == 30
