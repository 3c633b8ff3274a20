"""A small HTTP/1.1 transport on ``http.client``: one persistent connection, the
headers every call carries, and the retry policy shared by the sender and the
synchronous calls.

``http.client`` rather than ``urllib``: it keeps the connection alive between
batches, which matters at tens of thousands of events per second.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import ssl
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple, Union

from ._version import __version__
from .errors import APIError, TransportError, error_for_status

USER_AGENT = f"sightline-python/{__version__}"

# A streamed request body: called once per attempt (so a retry starts the body over),
# it returns a file object or an iterable of byte chunks, and the body's length when
# known (None: sent with chunked transfer encoding).
BodySource = Callable[[], Tuple[Union[Any, Iterable[bytes]], Optional[int]]]
Body = Union[bytes, BodySource, None]

# Streamed bodies go out in blocks of this size (http.client's default is 8 KiB).
UPLOAD_BLOCK = 1 << 16
# Bytes read per step of a streamed download.
DOWNLOAD_BLOCK = 1 << 16


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    @property
    def retry_after(self) -> Optional[float]:
        return parse_retry_after(self.headers.get("retry-after"))

    def error(self) -> APIError:
        """The API error this (non-2xx) response stands for."""
        try:
            doc = self.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            code = doc.get("code")
            detail = doc.get("detail") or doc.get("title") or ""
            errors = doc.get("errors") or []
        else:
            code = None
            detail = self.body[:500].decode("utf-8", "replace").strip()
            errors = []
        cls = error_for_status(self.status)
        return cls(self.status, code, detail, errors, doc, self.retry_after)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryPolicy:
    """Exponential backoff with jitter, never shorter than the server's Retry-After.

    The n-th retry waits a random time in ``[d/2, d]`` with ``d = min(backoff_max,
    backoff * 2**n)``; half-jitter keeps a floor so a struggling server is not hit
    again at once, and spreads clients that failed together.
    """

    def __init__(
        self, max_retries: int = 8, backoff: float = 0.25, backoff_max: float = 30.0
    ) -> None:
        if max_retries < 0 or backoff < 0 or backoff_max < 0:
            raise ValueError("retry settings must not be negative")
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        d = min(self.backoff_max, self.backoff * (2 ** min(attempt, 30)))
        d = d / 2 + random.uniform(0, d / 2)
        if retry_after is not None:
            d = max(d, retry_after)
        return d


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


class Transport:
    """One keep-alive connection to the server. Not thread-safe: each thread (or the
    sender) owns its own."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        timeout: float = 10.0,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._timeout = timeout
        self._ssl = ssl_context
        self._conn: Optional[http.client.HTTPConnection] = None
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            ctx = self._ssl or ssl.create_default_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        conn.connect()
        # Small request bodies must not wait for Nagle's algorithm.
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def _target(self, path: str, query: Optional[Mapping[str, Any]]) -> str:
        target = self._base + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                target += "?" + urllib.parse.urlencode(q)
        return target

    def stream(self, path: str, query: Optional[Mapping[str, Any]], sink: Any) -> Response:
        """GETs ``path`` and writes a 200 answer's body to ``sink`` (anything with
        ``write``) block by block, so memory stays small whatever its size; the returned
        ``Response`` then has an empty body. Any other answer is read whole (an error
        to raise)."""
        return self.request("GET", path, query=query, sink=sink)

    def _drain(self, resp: Any, what: str, sink: Any) -> None:
        """Copies the rest of ``resp`` into ``sink``. Nothing is retried from here on:
        bytes have been handed over."""
        while True:
            try:
                block = resp.read(DOWNLOAD_BLOCK)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(f"{what}: the answer broke off: {e!r}") from e
            if not block:
                return
            try:
                sink.write(block)
            except BaseException:
                # The rest of the answer is still on the connection.
                self.close()
                raise

    def request(
        self,
        method: str,
        path: str,
        body: Body = None,
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        sink: Any = None,
    ) -> Response:
        """Sends one request; raises ``TransportError`` when no answer came back.

        ``body`` is bytes or a ``BodySource`` (a streamed upload). A kept-alive
        connection the server has meanwhile closed fails on first use; that case is
        retried once on a fresh connection (the request never reached the server).
        With ``sink``, a 200 answer's body goes there (see ``stream``)."""
        target = self._target(path, query)
        all_headers = dict(self._headers)
        if headers:
            all_headers.update(headers)
        if isinstance(body, (bytes, bytearray)):
            all_headers["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            reused = self._conn is not None
            payload: Any = body
            chunked = False
            try:
                if callable(body):
                    payload, length = body()
                    if length is None:
                        chunked = True
                        all_headers.pop("Content-Length", None)
                    else:
                        all_headers["Content-Length"] = str(length)
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.blocksize = UPLOAD_BLOCK
                self._conn.request(
                    method, target, body=payload, headers=all_headers, encode_chunked=chunked
                )
                resp = self._conn.getresponse()
                streamed = sink is not None and resp.status == 200
                data = b"" if streamed else resp.read()
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ) as e:
                self.close()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{method} {target}: {e!r}") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(f"{method} {target}: {e!r}") from e
            finally:
                close = getattr(payload, "close", None)
                if callable(body) and close is not None:
                    close()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            if streamed:
                self._drain(resp, f"{method} {target}", sink)
            if resp.will_close:
                self.close()
            return Response(resp.status, hdrs, data)
        raise TransportError(f"{method} {target}: connection closed")  # pragma: no cover


def call_with_retries(
    transport: Transport,
    policy: RetryPolicy,
    method: str,
    path: str,
    body: Body = None,
    headers: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, Any]] = None,
    deadline: Optional[float] = None,
    sleep=time.sleep,
) -> Tuple[Response, int]:
    """Sends a request, retrying 429, 5xx and connection failures per ``policy`` (and
    not past ``deadline``, a ``time.monotonic()`` value). Returns the last response,
    which may be an error, and the number of retries; raises ``TransportError`` if the
    last attempt got no answer."""
    attempt = 0
    while True:
        try:
            resp = transport.request(method, path, body, headers, query)
        except TransportError:
            resp = None
            if attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt)
        else:
            if not is_retryable_status(resp.status) or attempt >= policy.max_retries:
                return resp, attempt
            wait = policy.delay(attempt, resp.retry_after)
        if deadline is not None and time.monotonic() + wait > deadline:
            if resp is not None:
                return resp, attempt
            raise TransportError(f"{method} {path}: gave up, the retry deadline passed")
        sleep(wait)
        attempt += 1
