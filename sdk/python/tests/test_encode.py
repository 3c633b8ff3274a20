"""Request bodies: both JSON encoders (orjson when installed, and the standard library
one the core falls back to) turn awkward values into JSON the server accepts."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import gzip
import json
import uuid

import pytest

import sightline
from sightline import _encode
from conftest import row

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


class Color(enum.Enum):
    RED = "red"


AWKWARD = {
    "nan": float("nan"),
    "inf": np.float64("inf"),
    "np_int": np.int64(3),
    "np_float": np.float32(0.5),
    "np_bool": np.bool_(True),
    "np_str": np.str_("z"),
    "array": np.array([1, 2]),
    "int_keys": {np.int64(7): 0.5, 2: 0.25, False: 1},
    "naive": dt.datetime(2026, 1, 1),
    "aware": dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    "date": dt.date(2026, 1, 1),
    "pd_ts": pd.Timestamp("2026-01-01T00:00:01Z"),
    "pd_na": pd.NA,
    "nat": pd.NaT,
    "decimal": decimal.Decimal("1.5"),
    "uuid": uuid.UUID(int=1),
    "enum": Color.RED,
    "big": 2**70,
    "tuple": (1, 2),
    "bytes": b"ab",
    "object": object,
}

EXPECTED = {
    "nan": None,
    "inf": None,
    "np_int": 3,
    "np_float": 0.5,
    "np_bool": True,
    "np_str": "z",
    "array": [1, 2],
    "int_keys": {"7": 0.5, "2": 0.25, "false": 1},
    "naive": 1767225600000,
    "aware": 1767225600000,
    "date": 1767225600000,
    "pd_ts": 1767225601000,
    "pd_na": None,
    "nat": None,
    "decimal": 1.5,
    "uuid": "00000000-0000-0000-0000-000000000001",
    "enum": "red",
    "big": 2**70,
    "tuple": [1, 2],
    "bytes": "ab",
    "object": "<class 'object'>",
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stdlib"])
def test_awkward_values(fast):
    body, bad = _encode.encode_events("events", [AWKWARD, {"ok": 1}], fast=fast)
    assert bad == []
    doc = json.loads(body)
    assert doc["events"][0] == EXPECTED
    assert doc["events"][1] == {"ok": 1}


class Unprintable:
    def __str__(self):
        raise RuntimeError("no text for you")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stdlib"])
def test_unencodable_events_are_left_out(fast):
    body, bad = _encode.encode_events("events", [{"a": 1}, {"x": Unprintable()}, {"b": 2}], fast=fast)
    assert bad == [1]
    assert json.loads(body) == {"events": [{"a": 1}, {"b": 2}]}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stdlib"])
def test_cycles_are_cut(fast):
    loop = {"v": 1}
    loop["self"] = loop
    body, bad = _encode.encode_events("events", [loop], fast=fast)
    assert bad == []
    assert json.loads(body)["events"][0]["self"]["v"] == 1


def test_sender_counts_unencodable_events(client, model):
    client.log_prediction(model, {"age": Unprintable()}, "no")
    client.log_prediction(model, row(1), "no")
    assert client.flush(10)
    s = client.stats()
    assert s["failed"] == 1 and s["accepted"] == 1


def test_both_encoders_agree_on_plain_events():
    events = [
        {"request_id": str(i), "timestamp": 1_700_000_000_000 + i, "version": "v1",
         "features": {f"f{k}": (i * 31 + k) / 7 for k in range(25)}, "prediction": "yes",
         "scores": {"yes": 0.8, "no": 0.2}, "latency_ms": 1.25, "tags": {"t": "x"}}
        for i in range(250)
    ]
    fast, _ = _encode.encode_events("events", events, fast=True)
    slow, _ = _encode.encode_events("events", events, fast=False)
    assert json.loads(fast) == json.loads(slow) == {"events": events}


def test_gzip_round_trip():
    data = b'{"events":[]}' * 100
    assert gzip.decompress(_encode.gzip_bytes(data, 1)) == data


def test_timestamps():
    assert _encode.timestamp_ms(1.5) == 1500
    assert _encode.timestamp_ms(1234) == 1234
    assert _encode.timestamp_ms("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"
    assert _encode.timestamp_ms(np.datetime64("2026-01-01T00:00:00")) == 1767225600000
    with pytest.raises(TypeError):
        _encode.timestamp_ms(True)


def test_stdlib_encoder_end_to_end(client, model, monkeypatch):
    """The standard-library path (no orjson) through the real server."""
    monkeypatch.setattr(_encode, "_dumps_fast", _encode._dumps_stdlib)
    rid = client.log_prediction(
        model,
        {"age": np.int64(30), "income": float("nan"), "city": np.str_("lyon"), "member": np.bool_(False)},
        np.str_("no"),
        scores={"yes": np.float32(0.25), "no": 0.75},
        timestamp=dt.datetime(2026, 1, 1),
    )
    ids = client.log_predictions(model, [{"features": row(i), "prediction": "yes"} for i in range(50)])
    assert client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["features"] == {"age": 30.0, "income": None, "city": "lyon", "member": False}
    assert p["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert client.get_prediction(model, ids[-1])["prediction"] == "yes"
    assert client.stats()["accepted"] == 51


def test_encoder_in_use():
    assert _encode.encoder_name() in ("orjson", "stdlib")


def test_rfc3339():
    assert _encode.rfc3339(1767225600123) == "2026-01-01T00:00:00.123Z"
    assert _encode.rfc3339(1767225600.5) == "2026-01-01T00:00:00.500Z"
    assert _encode.rfc3339("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"
    assert _encode.rfc3339(None) is None
