"""Sightline's Python SDK: log predictions, errors and ground truth from serving code
to a Sightline server, with negligible overhead in the caller's thread.

Quick use::

    import sightline
    client = sightline.Client("http://127.0.0.1:7878")
    client.log_prediction("churn", {"age": 42}, "yes", version="v1")

See README.md for the full reference.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from ._version import __version__
from .client import BatchResult, Client, new_request_id
from .errors import (
    APIError,
    ConflictError,
    NotFoundError,
    SightlineError,
    SignatureError,
    TransportError,
    ValidationError,
)
from ._monitor import Record, error_info, last_request_id, monitor
from ._frames import features_from_dataframe
from . import webhooks

__all__ = [
    "__version__",
    "APIError",
    "BatchResult",
    "Client",
    "ConflictError",
    "NotFoundError",
    "Record",
    "SightlineError",
    "SignatureError",
    "TransportError",
    "ValidationError",
    "error_info",
    "features_from_dataframe",
    "get_client",
    "init",
    "last_request_id",
    "monitor",
    "new_request_id",
    "webhooks",
]

_default: Optional[Client] = None
_default_lock = threading.Lock()


def init(url: Optional[str] = None, token: Optional[str] = None, **kwargs: Any) -> Client:
    """Creates the default client used by ``monitor`` when it is given none; the
    arguments are those of ``Client``. Closes a previous default client."""
    global _default
    with _default_lock:
        old = _default
        _default = Client(url, token, **kwargs)
    if old is not None:
        old.close()
    return _default


def get_client() -> Client:
    """The default client; created on first use from ``$SIGHTLINE_URL`` and
    ``$SIGHTLINE_TOKEN`` when ``init`` was not called."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default
