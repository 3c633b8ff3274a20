"""The background sender: a bounded in-memory queue drained by worker threads that
batch events by size and interval, gzip them and POST them with retries.

The caller's side (``enqueue``) does as little as possible: a length check and a
``deque.append`` (atomic under the GIL), no lock, no allocation beyond the event itself,
and never a wait. A full queue drops the event and counts it.

Delivery is at-least-once: a batch whose answer was lost is sent again, and the server
reports the repeats as duplicates (same model and request id) instead of storing them
twice.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.parse
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._encode import compressor, encode_events
from ._http import RetryPolicy, Transport, is_retryable_status
from .errors import TransportError

log = logging.getLogger("sightline")

PREDICTION = 0
LABEL = 1
EXCEPTION = 2
_ENDPOINT = {PREDICTION: ("predictions", "events"), LABEL: ("feedback", "labels"), EXCEPTION: ("errors", "events")}

# A queued item: (kind, model name, event document).
Item = Tuple[int, str, Dict[str, Any]]

_INDEX = re.compile(r"\[\d+\]")


class _Stats:
    __slots__ = (
        "accepted",
        "duplicates",
        "rejected",
        "failed",
        "retries",
        "requests",
        "bytes_sent",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)


class Sender:
    """Owns the queue and the worker threads. Thread-safe; see ``after_fork``."""

    def __init__(
        self,
        transport_factory: Callable[[], Transport],
        *,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_queue_size: int = 20_000,
        workers: int = 1,
        compression: Optional[str] = "auto",
        compression_level: Optional[int] = None,
        compress_min_bytes: int = 1024,
        retry: Optional[RetryPolicy] = None,
    ) -> None:
        if batch_size < 1 or max_queue_size < 1 or workers < 1:
            raise ValueError("batch_size, max_queue_size and workers must be at least 1")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self._factory = transport_factory
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue_size = max_queue_size
        self.workers = workers
        self.content_encoding, self._compress = compressor(compression, compression_level)
        self.compress_min_bytes = compress_min_bytes
        self.retry = retry or RetryPolicy()
        self._reset()

    # -- state --------------------------------------------------------------------

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child (where the parent's
        threads do not exist and its locks may have been held mid-operation)."""
        self._pid = os.getpid()
        self._queue: Deque[Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._start_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._started = False
        self._closed = False
        self._stopping = False
        self._urgent = 0
        self._in_flight = 0
        self._dropped = 0
        self._stats = _Stats()
        self._reported: Set[Any] = set()
        self._failing = False

    def after_fork(self) -> None:
        """Called in a forked child. The parent keeps sending what it had queued; the
        child starts empty (no event is sent twice) with its own threads and
        connections, created on its first event."""
        self._reset()

    # -- caller side ----------------------------------------------------------------

    def enqueue(self, item: Item) -> bool:
        """Queues one item; ``False`` (and counted as dropped) if the queue is full or
        the sender is closed. Never blocks."""
        q = self._queue
        n = len(q)
        if n >= self.max_queue_size or self._closed:
            self._drop(1)
            return False
        q.append(item)
        if not self._started:
            self._start()
        elif n + 1 >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def enqueue_many(self, items: List[Item]) -> int:
        """Queues what fits; returns how many were queued (the rest are dropped)."""
        q = self._queue
        room = self.max_queue_size - len(q)
        if self._closed:
            room = 0
        room = max(0, min(room, len(items)))
        if room < len(items):
            self._drop(len(items) - room)
        if room:
            q.extend(items[:room] if room < len(items) else items)
            if not self._started:
                self._start()
            if len(q) >= self.batch_size:
                self._wake.set()
        return room

    def _drop(self, n: int) -> None:
        with self._drop_lock:
            first = self._dropped == 0
            self._dropped += n
        if first:
            if self._closed:
                log.warning("sightline: the client is closed; events logged now are dropped")
            else:
                log.warning(
                    "sightline: the send queue is full (%d events); dropping events "
                    "(see Client.stats()['dropped'])",
                    self.max_queue_size,
                )

    def _start(self) -> None:
        with self._start_lock:
            if self._started or self._closed:
                return
            for i in range(self.workers):
                t = threading.Thread(
                    target=self._run, name=f"sightline-sender-{i}", daemon=True
                )
                try:
                    t.start()
                except RuntimeError:
                    # At interpreter shutdown no thread can start; close() then sends
                    # what is queued from its own thread.
                    break
                self._threads.append(t)
            self._started = bool(self._threads)

    # -- worker side --------------------------------------------------------------

    def _take(self) -> List[Item]:
        """Takes up to one batch off the queue, counted as in flight under the same lock
        that flush() checks, so flush never sees "queue empty, nothing in flight" while
        a batch is between the two."""
        q = self._queue
        with self._cond:
            n = min(len(q), self.batch_size)
            batch = []
            pop = q.popleft
            for _ in range(n):
                try:
                    batch.append(pop())
                except IndexError:  # pragma: no cover - only this side pops
                    break
            if batch:
                self._in_flight += 1
            return batch

    def _done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _run(self) -> None:
        transport: Optional[Transport] = None
        interval = self.flush_interval
        deadline = time.monotonic() + interval
        try:
            while True:
                n = len(self._queue)
                now = time.monotonic()
                if n == 0:
                    if self._stopping:
                        return
                    with self._cond:
                        self._cond.notify_all()
                    self._wake.wait(interval)
                    self._wake.clear()
                    deadline = now + interval
                    continue
                if n >= self.batch_size or self._urgent or self._stopping or now >= deadline:
                    batch = self._take()
                    if batch:
                        if transport is None:
                            transport = self._factory()
                        try:
                            self._send(transport, batch)
                        except Exception:  # never let the thread die
                            log.exception("sightline: unexpected error in the sender")
                            with self._cond:
                                self._stats.failed += len(batch)
                        finally:
                            self._done()
                    if len(self._queue) < self.batch_size:
                        deadline = time.monotonic() + interval
                    continue
                self._wake.wait(deadline - now)
                self._wake.clear()
        finally:
            if transport is not None:
                transport.close()

    def _send(self, transport: Transport, batch: List[Item]) -> None:
        groups: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
        for kind, model, doc in batch:
            groups.setdefault((kind, model), []).append(doc)
        for (kind, model), docs in groups.items():
            self._post(transport, kind, model, docs)

    def _post(self, transport: Transport, kind: int, model: str, docs: List[Dict[str, Any]]) -> None:
        endpoint, key = _ENDPOINT[kind]
        path = f"/api/v1/models/{urllib.parse.quote(model, safe='')}/{endpoint}"
        body, bad = encode_events(key, docs)
        if bad:
            self._count("failed", len(bad))
            self._report_once(
                ("unencodable", model),
                "sightline: %d %s for model %r could not be encoded as JSON and were dropped",
                len(bad),
                key,
                model,
            )
            if len(bad) == len(docs):
                return
            bad_set = set(bad)
            docs = [d for i, d in enumerate(docs) if i not in bad_set]
        body, headers = self.compress(body)
        attempt = 0
        while True:
            retry_after = None
            try:
                resp = transport.request("POST", path, body, headers)
            except TransportError as e:
                status = None
                reason = str(e)
            else:
                status = resp.status
                with self._cond:
                    self._stats.requests += 1
                    self._stats.bytes_sent += len(body)
                if status == 200 or (status == 422 and _is_batch_result(resp)):
                    self._recovered()
                    self._account(model, key, resp)
                    return
                if status == 413 and len(docs) > 1:
                    # Over the server's size or count limit: halve until it fits.
                    mid = len(docs) // 2
                    self._post(transport, kind, model, docs[:mid])
                    self._post(transport, kind, model, docs[mid:])
                    return
                if not is_retryable_status(status):
                    err = resp.error()
                    self._count("failed", len(docs))
                    self._report_once(
                        ("permanent", model, key, status, err.code),
                        "sightline: the server refused %s for model %r and they will not "
                        "be retried: %s",
                        key,
                        model,
                        err,
                    )
                    return
                reason = f"HTTP {status}"
                retry_after = resp.retry_after
            # Retryable: 429, 5xx or no answer.
            if attempt >= self.retry.max_retries or self._abort.is_set():
                self._count("failed", len(docs))
                self._report_once(
                    ("gave-up", model, key),
                    "sightline: dropping %d %s for model %r after %d retries (%s)",
                    len(docs),
                    key,
                    model,
                    attempt,
                    reason,
                )
                return
            if not self._failing:
                self._failing = True
                log.warning("sightline: sending failed (%s); retrying with backoff", reason)
            else:
                log.debug("sightline: sending failed (%s); retrying", reason)
            self._count("retries", 1)
            if self._abort.wait(self.retry.delay(attempt, retry_after)):
                self._count("failed", len(docs))
                self._report_once(
                    ("aborted", model, key),
                    "sightline: dropping %d %s for model %r: close() timed out while "
                    "retrying (%s)",
                    len(docs),
                    key,
                    model,
                    reason,
                )
                return
            attempt += 1

    def compress(self, body: bytes) -> Tuple[bytes, Dict[str, str]]:
        """The request body as sent, compressed when worth it, and its headers."""
        headers = {"Content-Type": "application/json"}
        if self._compress is not None and len(body) >= self.compress_min_bytes:
            body = self._compress(body)
            headers["Content-Encoding"] = self.content_encoding
        return body, headers

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("sightline: sending works again")

    def _account(self, model: str, key: str, resp) -> None:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return
        rejected = doc.get("rejected") or []
        with self._cond:
            self._stats.accepted += int(doc.get("accepted") or 0)
            self._stats.duplicates += int(doc.get("duplicates") or 0)
            self._stats.rejected += len(rejected)
        for r in rejected:
            for e in r.get("errors") or []:
                path = _INDEX.sub("[]", str(e.get("path", "")))
                message = str(e.get("message", ""))
                self._report_once(
                    ("rejected", model, key, path, message),
                    "sightline: the server rejected %s for model %r: %s: %s "
                    "(request_id %r; reported once per distinct problem)",
                    key,
                    model,
                    path,
                    message,
                    r.get("request_id"),
                )

    def _count(self, name: str, n: int) -> None:
        with self._cond:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    def _report_once(self, key: Any, msg: str, *args: Any) -> None:
        with self._cond:
            first = key not in self._reported
            if first:
                if len(self._reported) > 10_000:
                    self._reported.clear()
                self._reported.add(key)
        if first:
            log.warning(msg, *args)
        else:
            log.debug(msg, *args)

    # -- flush and close ----------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends everything queued so far; True when the queue is empty and no batch is
        in flight, False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._started:
            if not self._queue:
                return True
            if not self._closed:
                self._start()
            if not self._started:
                # No thread could start (interpreter shutdown): send from here.
                return self._drain_here(deadline)
        with self._cond:
            self._urgent += 1
        self._wake.set()
        try:
            with self._cond:
                while self._queue or self._in_flight:
                    if not any(t.is_alive() for t in self._threads):
                        break
                    wait = 0.05
                    if deadline is not None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False
                        wait = min(wait, remaining)
                    self._cond.wait(wait)
        finally:
            with self._cond:
                self._urgent -= 1
        if self._queue:
            return self._drain_here(deadline)
        return True

    def _drain_here(self, deadline: Optional[float]) -> bool:
        transport = self._factory()
        try:
            while self._queue:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                batch = self._take()
                try:
                    self._send(transport, batch)
                finally:
                    self._done()
        finally:
            transport.close()
        return True

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Flushes (waiting at most ``timeout`` seconds), then stops the threads. Events
        logged afterwards are dropped. Returns whether everything queued was sent."""
        if self._pid != os.getpid():  # pragma: no cover - after_fork resets the pid
            self._reset()
        if self._closed and not self._threads:
            return not self._queue
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = self.flush(timeout)
        self._closed = True
        self._stopping = True
        if not ok:
            # Make retry loops give up now rather than after their backoff.
            self._abort.set()
        self._wake.set()
        for t in self._threads:
            # A thread told to abort gives up within moments; allow it that long even
            # when the flush used up the timeout.
            remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
            t.join(remaining)
        self._threads = []
        return ok and not self._queue

    # -- introspection ------------------------------------------------------------

    @property
    def dropped(self) -> int:
        return self._dropped

    def stats(self) -> Dict[str, int]:
        with self._cond:
            s = {name: getattr(self._stats, name) for name in _Stats.__slots__}
            s["in_flight_batches"] = self._in_flight
        s["dropped"] = self._dropped
        s["queued"] = len(self._queue)
        return s


def _is_batch_result(resp) -> bool:
    """A 422 answering a batch whose every item was refused still carries the
    per-item ``rejected`` list; any other 422 is a plain error."""
    try:
        doc = resp.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("rejected"), list)
