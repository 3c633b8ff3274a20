"""Checking the webhooks Sightline sends — alert notifications and retraining
triggers — in the receiver (an Airflow sensor, a CI job, a small web app)::

    doc = sightline.webhooks.verify(request.body, request.headers, secret)

The server signs ``<timestamp>.<body>`` with HMAC-SHA256 under the channel's secret and
sends ``X-Sightline-Timestamp`` (Unix seconds) and ``X-Sightline-Signature:
sha256=<hex>``. ``verify`` recomputes the signature over the exact bytes received,
compares in constant time and refuses timestamps further than ``tolerance`` seconds
from now, so a captured request cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional, Union

from .errors import SignatureError

__all__ = ["TIMESTAMP_HEADER", "SIGNATURE_HEADER", "sign", "verify"]

TIMESTAMP_HEADER = "X-Sightline-Timestamp"
SIGNATURE_HEADER = "X-Sightline-Signature"


def _key(secret: Union[str, bytes]) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: Union[str, bytes], timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (as the server
    makes it; for tests of a receiver)."""
    mac = hmac.new(_key(secret), str(int(timestamp)).encode() + b"." + bytes(body), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    # Frameworks hand headers over with any capitalization.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise SignatureError(f"no {name} header")


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: Union[str, bytes],
    *,
    tolerance: float = 300.0,
    now: Optional[float] = None,
) -> Any:
    """The webhook's JSON document, once its signature checks out; raises
    ``SignatureError`` otherwise. ``body`` must be the raw bytes received (re-encoded
    JSON would not match). ``now`` (Unix seconds) is for tests."""
    raw = _header(headers, TIMESTAMP_HEADER).strip()
    try:
        timestamp = int(raw)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} {raw!r} is not a Unix time in seconds") from None
    sent = _header(headers, SIGNATURE_HEADER).strip()
    if not hmac.compare_digest(sign(body, secret, timestamp).encode(), sent.encode()):
        raise SignatureError("the signature does not match the body (another secret, or an altered body)")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise SignatureError(f"the timestamp is {age:.0f} s away from now, beyond {tolerance:.0f} s")
    try:
        return json.loads(body)
    except ValueError:
        raise SignatureError("the signed body is not JSON") from None
