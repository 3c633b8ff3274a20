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
import os
import uuid
import zlib
from typing import Any, List, Optional, Sequence, Tuple

# Events are encoded this many at a time: one json.dumps call holds the GIL for its
# whole run, so smaller pieces let the application's threads in between.
CHUNK = 100

# orjson, when installed (`pip install sightline[fast]`), encodes several times faster
# than the standard library — floats above all. Set SIGHTLINE_JSON=stdlib to not use it.
try:
    if os.environ.get("SIGHTLINE_JSON", "").lower() == "stdlib":
        raise ImportError("disabled by SIGHTLINE_JSON")
    import orjson as _orjson
except ImportError:
    _orjson = None

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


def rfc3339(value: Any) -> Any:
    """A timestamp as an RFC 3339 string in UTC with milliseconds (``timestamp_ms``'s
    inputs; strings pass through), for fields that take only strings."""
    ms = timestamp_ms(value)
    if ms is None or isinstance(ms, str):
        return ms
    t = _EPOCH + _dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


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


def encoder_name() -> str:
    """Which JSON encoder the sender uses: ``orjson`` or ``stdlib``."""
    return "orjson" if _orjson is not None else "stdlib"


def _dumps_stdlib(piece: Sequence[dict]) -> bytes:
    return _dumps(piece).encode("utf-8")


if _orjson is not None:
    _ORJSON_OPTIONS = (
        _orjson.OPT_SERIALIZE_NUMPY
        | _orjson.OPT_NON_STR_KEYS
        # Datetimes go through _default, as in the stdlib path: epoch milliseconds.
        | _orjson.OPT_PASSTHROUGH_DATETIME
    )
    _orjson_dumps = _orjson.dumps

    def _dumps_fast(piece: Sequence[dict]) -> bytes:
        # orjson writes NaN and infinities as null, as the stdlib path's clean() does.
        return _orjson_dumps(piece, default=_default, option=_ORJSON_OPTIONS)

else:  # pragma: no cover - depends on the environment
    _dumps_fast = _dumps_stdlib

def encode_events(key: str, events: Sequence[dict], fast: bool = True) -> Tuple[bytes, List[int]]:
    """``{"<key>": [...]}`` as compact JSON bytes, and the indexes of events that could
    not be encoded at all (left out of the body). ``fast=False`` forces the standard
    library encoder."""
    dumps = _dumps_fast if fast else _dumps_stdlib
    parts: List[bytes] = []
    bad: List[int] = []
    for start in range(0, len(events), CHUNK):
        piece = events[start : start + CHUNK]
        try:
            data = dumps(piece)
        except Exception:
            # NaN or infinity, a key JSON cannot take, an int beyond 64 bits, a cycle
            # (cut at depth 20): clean event by event with the standard library.
            texts = []
            for i, ev in enumerate(piece):
                try:
                    texts.append(_dumps_stdlib(clean(ev)))
                except Exception:  # e.g. a value whose __str__ raises
                    bad.append(start + i)
            data = b"[" + b",".join(texts) + b"]"
        if len(data) > 2:
            parts.append(data[1:-1])
    body = b'{"' + key.encode() + b'":[' + b",".join(parts) + b"]}"
    return body, bad


def encode_rows(rows: Sequence[dict]) -> bytes:
    """Rows as NDJSON (one object per line, each ending in a newline), with the same
    conversions as events: NaN and infinities null, timestamps epoch milliseconds,
    numpy and pandas scalars as plain numbers."""
    lines: List[bytes] = []
    for row in rows:
        try:
            lines.append(_dumps_fast(row))
        except Exception:
            lines.append(_dumps_stdlib(clean(row)))
    lines.append(b"")
    return b"\n".join(lines)


def gzip_bytes(data: bytes, level: int) -> bytes:
    """gzip (RFC 1952) framing around raw deflate; zlib releases the GIL while it works."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


# zstd, when the zstandard package is installed (`pip install sightline[fast]`):
# three to four times cheaper than gzip level 1 and half the size on event batches.
try:
    import zstandard as _zstd
except ImportError:
    _zstd = None


def zstd_available() -> bool:
    return _zstd is not None


def compressor(name: Optional[str], level: Optional[int]) -> Tuple[Optional[str], Any]:
    """(Content-Encoding, function) for a compression setting: ``"auto"`` (zstd when
    available, else gzip), ``"gzip"``, ``"zstd"`` or None (no compression)."""
    if name is None:
        return None, None
    name = name.lower()
    if name == "auto":
        name = "zstd" if _zstd is not None else "gzip"
    if name == "gzip":
        lvl = 1 if level is None else level
        if not 0 <= lvl <= 9:
            raise ValueError("gzip levels are 0 to 9")
        return "gzip", lambda data: gzip_bytes(data, lvl)
    if name == "zstd":
        if _zstd is None:
            raise ValueError("zstd compression needs the zstandard package (pip install sightline[fast])")
        lvl = 1 if level is None else level
        # A compressor per call: ZstdCompressor objects are not thread-safe, and making
        # one costs microseconds per batch.
        return "zstd", lambda data: _zstd.ZstdCompressor(level=lvl).compress(data)
    raise ValueError(f"unknown compression {name!r}: use 'auto', 'gzip', 'zstd' or None")
