"""Turning queued events into request bodies: JSON that the server accepts whatever
the caller handed us (numpy and pandas scalars, datetimes, NaN), then gzip.

Runs in the sender thread, never in the caller's.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import math
import uuid
import zlib
from typing import Any, List, Sequence, Tuple

# Events are encoded this many at a time: one json.dumps call holds the GIL for its
# whole run, so smaller pieces let the application's threads in between.
CHUNK = 100

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def timestamp_ms(value: Any) -> Any:
    """A timestamp for the wire: epoch milliseconds (int) or an RFC 3339 string.

    Accepts ``datetime`` (naive ones are taken as UTC), ``date``, pandas ``Timestamp``,
    numpy ``datetime64``, epoch seconds as a float, epoch milliseconds as an int, and
    RFC 3339 strings (passed through)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError("a timestamp cannot be a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # Floats are epoch seconds, as time.time() returns them.
        return int(round(value * 1000))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(value, _dt.date):
        return timestamp_ms(_dt.datetime(value.year, value.month, value.day))
    to_pydatetime = getattr(value, "to_pydatetime", None)  # pandas Timestamp
    if to_pydatetime is not None:
        return timestamp_ms(to_pydatetime())
    if type(value).__name__ == "datetime64":  # numpy
        return int(value.astype("datetime64[ms]").astype("int64"))
    item = getattr(value, "item", None)  # numpy integer or float scalar
    if item is not None:
        return timestamp_ms(item())
    raise TypeError(f"cannot use {type(value).__name__} as a timestamp")


def _default(o: Any) -> Any:
    """What json.dumps calls for types it does not know."""
    name = type(o).__name__
    if name in ("NAType", "NaTType"):  # pandas missing values
        return None
    if isinstance(o, (_dt.datetime, _dt.date)) or name in ("Timestamp", "datetime64"):
        return timestamp_ms(o)
    if isinstance(o, decimal.Decimal):
        return float(o)
    if isinstance(o, uuid.UUID):
        return str(o)
    if isinstance(o, enum.Enum):
        return o.value
    tolist = getattr(o, "tolist", None)  # numpy scalars and arrays
    if tolist is not None:
        return tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    return str(o)


_dumps = json.JSONEncoder(
    ensure_ascii=True,
    allow_nan=False,
    check_circular=True,
    separators=(",", ":"),
    default=_default,
).encode


def clean(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: non-finite floats become null, keys become strings, unknown
    types go through ``_default``. The slow path, used only when fast encoding failed."""
    if depth > 20:
        return None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                k = clean(k, depth + 1)
                k = json.dumps(k) if isinstance(k, (bool, type(None))) else str(k)
            out[k] = clean(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [clean(v, depth + 1) for v in value]
    return clean(_default(value), depth + 1)


def encode_events(key: str, events: Sequence[dict]) -> Tuple[bytes, List[int]]:
    """``{"<key>": [...]}`` as compact JSON bytes, and the indexes of events that could
    not be encoded at all (left out of the body)."""
    parts: List[str] = []
    bad: List[int] = []
    for start in range(0, len(events), CHUNK):
        piece = events[start : start + CHUNK]
        try:
            text = _dumps(piece)
        except (ValueError, TypeError, RecursionError):
            # NaN or infinity, a key json cannot take, a cycle: clean event by event.
            texts = []
            for i, ev in enumerate(piece):
                try:
                    texts.append(_dumps(clean(ev)))
                except (ValueError, TypeError, RecursionError):
                    bad.append(start + i)
            text = "[" + ",".join(texts) + "]"
        if len(text) > 2:
            parts.append(text[1:-1])
    body = '{"' + key + '":[' + ",".join(parts) + "]}"
    return body.encode("utf-8"), bad


def gzip_bytes(data: bytes, level: int) -> bytes:
    """gzip (RFC 1952) framing around raw deflate; zlib releases the GIL while it works."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()
