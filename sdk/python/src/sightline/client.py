"""``Client``: the models and versions registry, logging predictions and feedback
(queued for the background sender), and reading predictions back."""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import urllib.parse
import weakref
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
)

from . import _frames
from ._analysis import AnalysisMixin
from ._alerting import AlertingMixin
from ._feedback import FeedbackMixin
from ._encode import encode_events, timestamp_ms
from ._http import RetryPolicy, Transport, call_with_retries
from ._sender import EXCEPTION, LABEL, PREDICTION, Sender
from ._ids import new_id_space, new_request_id
from .errors import APIError, ConflictError, TransportError

log = logging.getLogger("sightline")

DEFAULT_URL = "http://127.0.0.1:7878"
TASKS = ("binary_classification", "multiclass_classification", "regression")
FEATURE_TYPES = ("numeric", "categorical", "boolean", "text")

class BatchResult:
    """What the server said about a synchronously sent batch.

    ``accepted`` and ``duplicates`` count events; ``rejected`` lists the refused ones
    as ``{"index", "request_id", "errors": [{"path", "message"}]}``, with ``index`` the
    position in what you passed in (the row number for a DataFrame); ``failed`` counts
    events that could not be delivered at all (server unreachable after retries, or a
    permanent error such as an unknown model); ``request_ids`` are the ids used, in
    order."""

    __slots__ = ("accepted", "duplicates", "rejected", "failed", "errors", "request_ids")

    def __init__(self) -> None:
        self.accepted = 0
        self.duplicates = 0
        self.rejected: List[Dict[str, Any]] = []
        self.failed = 0
        self.errors: List[str] = []
        self.request_ids: List[str] = []

    def __repr__(self) -> str:
        return (
            f"BatchResult(accepted={self.accepted}, duplicates={self.duplicates}, "
            f"rejected={len(self.rejected)}, failed={self.failed})"
        )


def _feature_specs(features: Any) -> List[Dict[str, Any]]:
    """Feature declarations from a list of dicts, (name, type) pairs, bare names
    (numeric), a {name: type} mapping, or a pandas DataFrame (types inferred)."""
    if features is None:
        return []
    if hasattr(features, "dtypes") and hasattr(features, "columns"):
        return _frames.features_from_dataframe(features)
    if isinstance(features, Mapping):
        features = list(features.items())
    out = []
    for f in features:
        if isinstance(f, str):
            out.append({"name": f, "type": "numeric", "nullable": True})
        elif isinstance(f, Mapping):
            d = dict(f)
            d.setdefault("nullable", True)
            out.append(d)
        elif isinstance(f, (tuple, list)) and len(f) in (2, 3):
            d = {"name": f[0], "type": f[1], "nullable": True if len(f) == 2 else bool(f[2])}
            out.append(d)
        else:
            raise TypeError(f"cannot read a feature declaration from {f!r}")
    return out


class Client(AnalysisMixin, FeedbackMixin, AlertingMixin):
    """A connection to a Sightline server.

    ``log_*`` calls only queue the event and return at once; a background thread
    batches, compresses and sends, retrying with backoff when the server is busy or
    down. The other calls are synchronous and raise ``sightline.APIError`` (or
    ``TransportError``) on failure.

    Arguments:
        url: the server's base URL; default ``$SIGHTLINE_URL`` or
            ``http://127.0.0.1:7878``.
        token: an API token, sent as ``Authorization: Bearer``; default
            ``$SIGHTLINE_TOKEN``.
        version: the default model version for ``log_*`` calls that name none.
        batch_size: events per request (at most; fewer after ``flush_interval``).
        flush_interval: seconds an event may wait in the queue before it is sent.
        max_queue_size: events held in memory while waiting; past it new events are
            dropped and counted (``stats()["dropped"]``), the caller never waits.
        workers: sender threads (2 overlaps encoding with waiting for the server).
        compression: request body compression: ``"auto"`` (zstd when the zstandard
            package is installed — ``pip install sightline[fast]`` — else gzip),
            ``"gzip"``, ``"zstd"``, or None for none.
        compression_level: the codec's level (default 1, the fastest).
        max_retries, backoff, backoff_max: retry policy for 429, 5xx and
            connection failures; waits are exponential with jitter and never shorter
            than the server's ``Retry-After``.
        timeout: socket timeout in seconds for each request.
        close_timeout: seconds ``close()`` (and the exit hook) wait for the queue to
            drain.
        enabled: False turns every ``log_*`` call into a no-op (tests, local runs).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        version: Optional[str] = None,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_queue_size: int = 20_000,
        workers: int = 1,
        compression: Optional[str] = "auto",
        compression_level: Optional[int] = None,
        max_retries: int = 8,
        backoff: float = 0.25,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        close_timeout: float = 10.0,
        enabled: bool = True,
        ssl_context: Any = None,
    ) -> None:
        self.url = (url or os.environ.get("SIGHTLINE_URL") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("SIGHTLINE_TOKEN") or None
        self._token = token
        self.version = version
        self.enabled = enabled
        self.close_timeout = close_timeout
        self._timeout = timeout
        self._ssl = ssl_context
        self.retry = RetryPolicy(max_retries, backoff, backoff_max)
        # Validates the URL now rather than in the sender thread.
        Transport(self.url, token, timeout, ssl_context)
        self._sender = Sender(
            self._new_transport,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            workers=workers,
            compression=compression,
            compression_level=compression_level,
            retry=self.retry,
        )
        self._enqueue = self._sender.enqueue
        self._local = threading.local()
        self._closed = False
        _live_clients.add(self)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def _new_transport(self) -> Transport:
        return Transport(self.url, self._token, self._timeout, self._ssl)

    def _transport(self) -> Transport:
        t = getattr(self._local, "transport", None)
        if t is None:
            t = self._local.transport = self._new_transport()
        return t

    def _after_fork(self) -> None:
        self._local = threading.local()
        self._sender.after_fork()

    # -- synchronous calls ----------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        doc: Any = None,
        query: Optional[Mapping[str, Any]] = None,
        ok: Sequence[int] = (200,),
    ) -> Any:
        body = None
        headers = None
        if doc is not None:
            body = json.dumps(doc, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json"}
        resp, _ = call_with_retries(
            self._transport(), self.retry, method, path, body, headers, query
        )
        if resp.status not in ok:
            raise resp.error()
        return resp.json()

    @staticmethod
    def _q(name: str) -> str:
        return urllib.parse.quote(str(name), safe="")

    def health(self) -> bool:
        """True when the server is up and ready to take requests."""
        try:
            resp = self._transport().request("GET", "/readyz")
        except TransportError:
            return False
        return resp.status == 200

    def create_model(
        self,
        name: str,
        task: str,
        features: Any = None,
        *,
        classes: Optional[Sequence[Any]] = None,
        positive_class: Any = None,
        description: str = "",
        exist_ok: bool = False,
    ) -> Dict[str, Any]:
        """Registers a model and returns its document.

        ``task`` is ``binary_classification``, ``multiclass_classification`` or
        ``regression``. ``features`` may be dicts ``{"name", "type", "nullable"}``,
        ``(name, type)`` pairs, a ``{name: type}`` mapping, bare names (numeric), or a
        pandas DataFrame whose column types are used. Types are ``numeric``,
        ``categorical``, ``boolean`` and ``text``; features are nullable unless said
        otherwise. Classifiers need ``classes``. With ``exist_ok=True`` an existing
        model of that name is returned instead of raising ``ConflictError``.
        """
        doc: Dict[str, Any] = {
            "name": name,
            "task": task,
            "features": _feature_specs(features),
            "description": description,
        }
        if classes is not None:
            doc["classes"] = [_class_label(c) for c in classes]
        if positive_class is not None:
            doc["positive_class"] = _class_label(positive_class)
        try:
            return self._call("POST", "/api/v1/models", doc, ok=(201,))
        except ConflictError:
            if exist_ok:
                return self.get_model(name)
            raise

    def add_features(self, name: str, features: Any) -> Dict[str, Any]:
        """Appends features to a model's schema and returns the model's document.

        ``features`` takes the same forms as in :meth:`create_model`. Features are only
        ever appended; events logged before read back with the new ones as ``None``.
        Adding a name the model already has raises ``ValidationError``.
        """
        doc = {"features": _feature_specs(features)}
        return self._call("POST", f"/api/v1/models/{self._q(name)}/features", doc)

    def get_model(self, name: str) -> Dict[str, Any]:
        """The model's document; ``NotFoundError`` if there is none."""
        return self._call("GET", f"/api/v1/models/{self._q(name)}")

    def list_models(self, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every model, page by page."""
        return self._pages("/api/v1/models", {"limit": _page(page_size)})

    def create_version(
        self, model: str, name: str, *, description: str = "", exist_ok: bool = False
    ) -> Dict[str, Any]:
        """Registers a version of a model."""
        try:
            return self._call(
                "POST",
                f"/api/v1/models/{self._q(model)}/versions",
                {"name": name, "description": description},
                ok=(201,),
            )
        except ConflictError:
            if exist_ok:
                for v in self.list_versions(model):
                    if v.get("name") == name:
                        return v
            raise

    def list_versions(self, model: str, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every version of a model, page by page."""
        return self._pages(f"/api/v1/models/{self._q(model)}/versions", {"limit": _page(page_size)})

    def get_prediction(self, model: str, request_id: str) -> Dict[str, Any]:
        """One stored prediction with its label, if any; ``NotFoundError`` if the
        server has none with that id (it may still be in this client's queue: call
        ``flush()`` first)."""
        return self._call(
            "GET", f"/api/v1/models/{self._q(model)}/predictions/{self._q(request_id)}"
        )

    def list_predictions(
        self,
        model: str,
        *,
        start: Any = None,
        end: Any = None,
        version: Optional[str] = None,
        tag: Optional[str] = None,
        page_size: int = 100,
        limit: Optional[int] = None,
    ) -> Iterator[Dict[str, Any]]:
        """Stored predictions, newest first, fetched page by page as you iterate.

        ``start``/``end`` (the API's ``from``/``to``) bound the event time and take
        datetimes, epoch milliseconds or RFC 3339 strings; ``tag`` keeps those with a
        tag (``"name=value"``, or ``"name"`` for any value); ``limit`` caps the number
        of items returned in all."""
        query = {
            "from": timestamp_ms(start),
            "to": timestamp_ms(end),
            "version": version,
            "tag": tag,
            "limit": _page(page_size),
        }
        items = self._pages(f"/api/v1/models/{self._q(model)}/predictions", query)
        if limit is None:
            return items
        return _take(items, limit)

    def list_issues(
        self, model: str, status: Optional[str] = None, version: Optional[str] = None, page_size: int = 100
    ) -> Iterator[Dict[str, Any]]:
        """The model's issues (exceptions grouped by fingerprint), most recently seen
        first; ``status`` is ``unresolved``, ``resolved`` or ``ignored``."""
        query: Dict[str, Any] = {"limit": _page(page_size)}
        if status is not None:
            query["status"] = status
        if version is not None:
            query["version"] = version
        return self._pages(f"/api/v1/models/{self._q(model)}/issues", query)

    def get_issue(self, model: str, issue_id: int) -> Dict[str, Any]:
        """One issue with its hourly counts and latest sample events."""
        return self._call("GET", f"/api/v1/models/{self._q(model)}/issues/{int(issue_id)}")

    def set_issue_status(self, model: str, issue_id: int, status: str) -> Dict[str, Any]:
        """Marks an issue ``resolved``, ``ignored`` or ``unresolved``."""
        return self._call("PATCH", f"/api/v1/models/{self._q(model)}/issues/{int(issue_id)}", {"status": status})

    def _pages(self, path: str, query: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        query = dict(query)
        while True:
            page = self._call("GET", path, query=query)
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    # -- logging (queued) -----------------------------------------------------------

    def log_prediction(
        self,
        model: str,
        features: Optional[Mapping[str, Any]] = None,
        prediction: Any = None,
        *,
        version: Optional[str] = None,
        scores: Any = None,
        request_id: Optional[str] = None,
        timestamp: Any = None,
        latency_ms: Optional[float] = None,
        tags: Optional[Mapping[str, Any]] = None,
        error: Any = None,
        attributions: Optional[Mapping[str, float]] = None,
    ) -> str:
        """Queues one prediction event and returns its request id (generated unless
        given). Never blocks and never raises for a server-side problem.

        ``scores`` are class probabilities ``{class: p}`` (or, for a binary
        classifier, the positive class's probability as a number); ``timestamp``
        defaults to now; ``error`` is a message or ``{"type", "message"}`` for a
        failed prediction (then ``prediction`` may be None); ``attributions`` are
        per-feature attributions computed elsewhere (SHAP values, say), which the
        server's global importance reads."""
        if request_id is None:
            request_id = new_request_id()
        if not self.enabled:
            return request_id
        ev: Dict[str, Any] = {
            "request_id": request_id,
            "timestamp": time.time_ns() // 1_000_000 if timestamp is None else timestamp,
            "version": version or self.version or _missing_version(),
            "features": {} if features is None else dict(features),
        }
        if prediction is not None:
            ev["prediction"] = prediction
        if scores is not None:
            ev["scores"] = scores
        if latency_ms is not None:
            ev["latency_ms"] = latency_ms
        if tags:
            ev["tags"] = tags
        if error is not None:
            ev["error"] = error
        if attributions:
            ev["attributions"] = {k: float(v) for k, v in attributions.items()}
        self._enqueue((PREDICTION, model, ev))
        return request_id

    def log_error(
        self,
        model: str,
        exc: BaseException,
        features: Optional[Mapping[str, Any]] = None,
        *,
        version: Optional[str] = None,
        request_id: Optional[str] = None,
        timestamp: Any = None,
        latency_ms: Optional[float] = None,
        tags: Optional[Mapping[str, Any]] = None,
    ) -> str:
        """Queues a failed prediction: an event with ``error`` ``{type, message}``,
        where the message holds the exception text and its formatted traceback, and no
        prediction; and the exception itself, with its stack frames and the input, for
        the model's issues (``GET /api/v1/models/{model}/issues``). Returns the request
        id."""
        from ._monitor import error_info

        rid = self.log_prediction(
            model,
            features,
            None,
            version=version,
            request_id=request_id,
            timestamp=timestamp,
            latency_ms=latency_ms,
            tags=tags,
            error=error_info(exc),
        )
        self.report_exception(model, exc, version=version, request_id=rid, input=features, timestamp=timestamp)
        return rid

    def report_exception(
        self,
        model: str,
        exc: BaseException,
        *,
        version: Optional[str] = None,
        request_id: Optional[str] = None,
        input: Any = None,
        timestamp: Any = None,
    ) -> None:
        """Queues an exception for the model's issues: its type, message, stack frames
        (marked as your code or a library's) and, optionally, the input snapshot that
        caused it. Sent in the background like predictions; never raises."""
        from ._monitor import exception_event

        try:
            doc = exception_event(exc, version=version or self.version, request_id=request_id, input=input)
            if timestamp is not None:
                doc["timestamp"] = timestamp
        except Exception:
            log.exception("sightline: could not describe an exception for %r", model)
            return
        self._enqueue((EXCEPTION, model, doc))

    def log_predictions(
        self,
        model: str,
        events: Iterable[Mapping[str, Any]],
        *,
        version: Optional[str] = None,
        wait: bool = False,
    ) -> Union[List[str], BatchResult]:
        """Logs many events given as dicts with the ``log_prediction`` keys
        (``features``, ``prediction``, ``scores``, ``request_id``, ``timestamp``,
        ``latency_ms``, ``tags``, ``error``, ``attributions``, ``version``).

        By default they are queued like ``log_prediction`` and their request ids
        returned. With ``wait=True`` they are sent now, from this thread, in batches
        with retries, and a ``BatchResult`` is returned — for batch jobs, where
        blocking is fine and dropping is not."""
        docs = [self._event_doc(e, version) for e in events]
        if wait:
            return self._send_now(PREDICTION, model, docs)
        ids = [d["request_id"] for d in docs]
        if self.enabled:
            self._sender.enqueue_many([(PREDICTION, model, d) for d in docs])
        return ids

    def _event_doc(self, e: Mapping[str, Any], version: Optional[str]) -> Dict[str, Any]:
        unknown = set(e) - _EVENT_KEYS
        if unknown:
            raise TypeError(f"unknown event keys: {sorted(unknown)}")
        doc = {k: v for k, v in e.items() if v is not None}
        doc.setdefault("request_id", new_request_id())
        doc.setdefault("timestamp", time.time_ns() // 1_000_000)
        if "version" not in doc:
            doc["version"] = version or self.version or _missing_version()
        doc["features"] = dict(doc.get("features") or {})
        return doc

    def log_feedback(
        self, model: str, request_id: str, label: Any, *, timestamp: Any = None
    ) -> None:
        """Queues the ground-truth label of an earlier prediction."""
        if not self.enabled:
            return
        doc: Dict[str, Any] = {"request_id": request_id, "label": label}
        if timestamp is not None:
            doc["timestamp"] = timestamp
        self._enqueue((LABEL, model, doc))

    def log_feedback_batch(
        self, model: str, labels: Iterable[Any], *, wait: bool = False
    ) -> Optional[BatchResult]:
        """Logs many labels, given as ``(request_id, label)`` pairs or dicts
        ``{"request_id", "label", "timestamp"}``. Queued by default; ``wait=True``
        sends them now and returns a ``BatchResult``."""
        docs = []
        for item in labels:
            if isinstance(item, Mapping):
                doc = {k: v for k, v in item.items() if v is not None}
            else:
                rid, label = item
                doc = {"request_id": rid, "label": label}
            docs.append(doc)
        if wait:
            return self._send_now(LABEL, model, docs)
        if self.enabled:
            self._sender.enqueue_many([(LABEL, model, d) for d in docs])
        return None

    def log_dataframe(
        self,
        df: Any,
        *,
        model: str,
        version: Optional[str] = None,
        prediction: str = "prediction",
        scores: Any = None,
        request_id: Optional[str] = None,
        timestamp: Optional[str] = None,
        latency: Optional[str] = None,
        features: Optional[Sequence[str]] = None,
        tags: Optional[Mapping[str, Any]] = None,
        label: Optional[str] = None,
        batch_size: int = 5000,
    ) -> BatchResult:
        """Sends a DataFrame of predictions now, from this thread (for batch jobs).

        Column arguments name columns of ``df``: ``prediction`` (required);
        ``scores`` a list of columns named after their classes, a ``{class: column}``
        mapping, or one column of positive-class probabilities; ``request_id``
        (generated when omitted); ``timestamp``; ``latency`` (milliseconds);
        ``label`` (ground truth, sent as feedback after the predictions).
        ``features`` lists the feature columns; by default every other column.
        ``tags`` are added to every event. Missing values (NaN, None, NaT) are sent
        as null. Returns a ``BatchResult`` whose ``rejected[i]["index"]`` is the row
        position in ``df``."""
        docs, labels = _frames.events_from_dataframe(
            df,
            version=version or self.version or _missing_version(),
            prediction=prediction,
            scores=scores,
            request_id=request_id,
            timestamp=timestamp,
            latency=latency,
            features=features,
            tags=tags,
            label=label,
        )
        result = self._send_now(PREDICTION, model, docs, batch_size)
        if labels:
            lr = self._send_now(LABEL, model, labels, batch_size)
            result.errors.extend(lr.errors)
            result.failed += lr.failed
            for r in lr.rejected:
                result.rejected.append(dict(r, kind="label"))
        return result

    def _send_now(
        self, kind: int, model: str, docs: List[Dict[str, Any]], batch_size: int = 5000
    ) -> BatchResult:
        """Sends in batches from the calling thread; reports, never raises, per-event
        refusals; raises nothing for delivery failures either (see ``failed``)."""
        result = BatchResult()
        if kind == PREDICTION:
            result.request_ids = [d["request_id"] for d in docs]
        if not self.enabled:
            return result
        endpoint, key = ("predictions", "events") if kind == PREDICTION else ("feedback", "labels")
        path = f"/api/v1/models/{self._q(model)}/{endpoint}"
        transport = self._transport()
        pending = [(s, docs[s : s + batch_size]) for s in range(0, len(docs), batch_size)]
        while pending:
            offset, chunk = pending.pop(0)
            body, bad = encode_events(key, chunk)
            for i in bad:
                result.failed += 1
                result.errors.append(f"{key}[{offset + i}]: cannot be encoded as JSON")
            if bad:
                bad_set = set(bad)
                keep = [i for i in range(len(chunk)) if i not in bad_set]
                chunk = [chunk[i] for i in keep]
                index_map = keep
            else:
                index_map = None
            if not chunk:
                continue
            body, headers = self._sender.compress(body)
            try:
                resp, _ = call_with_retries(
                    transport, self.retry, "POST", path, body, headers
                )
            except TransportError as e:
                result.failed += len(chunk)
                result.errors.append(str(e))
                continue
            doc = None
            if resp.status in (200, 422):
                try:
                    doc = resp.json()
                except ValueError:
                    doc = None
            if isinstance(doc, dict) and isinstance(doc.get("rejected"), list):
                result.accepted += int(doc.get("accepted") or 0)
                result.duplicates += int(doc.get("duplicates") or 0)
                for r in doc["rejected"]:
                    i = int(r.get("index", 0))
                    if index_map is not None and 0 <= i < len(index_map):
                        i = index_map[i]
                    result.rejected.append(dict(r, index=offset + i))
            elif resp.status == 413 and len(chunk) > 1:
                mid = len(chunk) // 2
                # Index maps only matter when something was unencodable; rare enough to
                # resend the halves with their own offsets.
                pending[:0] = [(offset, chunk[:mid]), (offset + mid, chunk[mid:])]
            else:
                result.failed += len(chunk)
                result.errors.append(str(resp.error()))
        return result

    # -- lifecycle ------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every event queued so far has been sent (or given up on).
        Returns False if ``timeout`` seconds passed first."""
        return self._sender.flush(timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes (at most ``timeout`` seconds, default ``close_timeout``) and stops
        the sender. Called at interpreter exit for every client still open. Returns
        whether everything was delivered to the server."""
        if timeout is None:
            timeout = self.close_timeout
        ok = self._sender.close(timeout)
        self._closed = True
        t = getattr(self._local, "transport", None)
        if t is not None:
            t.close()
        _live_clients.discard(self)
        return ok

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full (or the client closed)."""
        return self._sender.dropped

    def stats(self) -> Dict[str, int]:
        """Counters of the background sender: ``accepted``, ``duplicates``,
        ``rejected`` (refused by the server's validation), ``failed`` (undeliverable:
        permanent error or retries exhausted), ``dropped`` (queue full), ``retries``,
        ``requests``, ``bytes_sent``, ``queued``, ``in_flight_batches``."""
        return self._sender.stats()

    def monitor(self, model: str, version: Optional[str] = None, **kwargs: Any):
        """``sightline.monitor`` bound to this client."""
        from ._monitor import monitor

        return monitor(self, model=model, version=version, **kwargs)


_EVENT_KEYS = frozenset(
    (
        "request_id",
        "timestamp",
        "version",
        "features",
        "prediction",
        "scores",
        "latency_ms",
        "tags",
        "error",
        "attributions",
    )
)


def _class_label(c: Any) -> Any:
    item = getattr(c, "item", None)
    if item is not None and not isinstance(c, (str, bytes)):
        c = item()
    if isinstance(c, float) and c.is_integer():
        c = int(c)
    return c


def _missing_version() -> str:
    raise ValueError(
        "no model version: pass version= to the call, or Client(version=...)"
    )


def _page(size: int) -> int:
    """Page sizes within what the server allows (1 to 1000)."""
    return max(1, min(int(size), 1000))


def _take(it: Iterator[Any], n: int) -> Iterator[Any]:
    if n <= 0:
        return
    for i, x in enumerate(it, 1):
        yield x
        if i >= n:
            return


# Every open client, so that one exit hook and one fork hook serve them all without
# keeping any alive.
_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for c in list(_live_clients):
        try:
            c.close()
        except Exception:  # pragma: no cover - exit hooks must not raise
            log.exception("sightline: closing a client at exit failed")


def _reset_in_child() -> None:
    new_id_space()
    for c in list(_live_clients):
        c._after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
