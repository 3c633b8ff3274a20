"""Exceptions raised by the synchronous client calls.

The background sender never raises into the caller's code: it reports through the
``sightline`` logger and counts what it could not deliver (see ``Client.stats()``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class SightlineError(Exception):
    """Base class of every error this package raises."""


class TransportError(SightlineError):
    """The server could not be reached, or the connection broke mid-request."""


class APIError(SightlineError):
    """The server answered with an error status (an ``application/problem+json`` body).

    ``status`` is the HTTP status, ``code`` the server's stable error code (for example
    ``model_not_found``), ``detail`` its message and ``errors`` the field problems
    (``[{"path": ..., "message": ...}]``) of a validation failure.
    """

    def __init__(
        self,
        status: int,
        code: Optional[str],
        detail: str,
        errors: Optional[List[Dict[str, str]]] = None,
        body: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.body = body
        self.retry_after = retry_after
        text = f"{status} {code or 'error'}: {detail}"
        if self.errors:
            first = self.errors[0]
            text += f" ({first.get('path')}: {first.get('message')}"
            if len(self.errors) > 1:
                text += f"; and {len(self.errors) - 1} more"
            text += ")"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        """429 and 5xx are worth retrying; other statuses are permanent."""
        return self.status == 429 or self.status >= 500


class NotFoundError(APIError):
    """404: the model, version or prediction does not exist."""


class ConflictError(APIError):
    """409: the model or version already exists."""


class ValidationError(APIError):
    """400/422: the request was refused as invalid; see ``errors``."""


def error_for_status(status: int) -> type:
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status in (400, 422):
        return ValidationError
    return APIError


class SignatureError(SightlineError):
    """A webhook's signature does not check out: missing or malformed headers, a body
    or timestamp that is not what was signed, another secret, or a stale timestamp."""
