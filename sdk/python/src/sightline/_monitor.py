"""``monitor``: a decorator and a context manager that time a predict call, log its
inputs and outputs, and log a failed call as an error event (with its traceback)
before re-raising the exception unchanged.

Logging never interferes with the wrapped call: any problem in turning inputs or
outputs into an event is reported through the ``sightline`` logger and swallowed.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import sysconfig
import time
import traceback
import uuid

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ._ids import new_request_id as _new_id

log = logging.getLogger("sightline")

_perf = time.perf_counter
_last_request_id: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "sightline_last_request_id", default=None
)

# The server's limits on an error's type and message (bytes of UTF-8).
MAX_ERROR_TYPE = 256
MAX_ERROR_MESSAGE = 64 * 1024


def last_request_id() -> Optional[str]:
    """The request id of the last call a ``monitor`` logged in this thread or asyncio
    task — to hand back to your caller, who may send the ground truth later."""
    return _last_request_id.get()


def _clip(text: str, limit: int) -> str:
    text = text.replace("\0", "\\0")
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    # Keep the start (the message) and the end (the innermost frames), which matter most.
    marker = "\n... (truncated) ...\n".encode()
    head = limit // 4
    tail = limit - head - len(marker)
    return (data[:head] + marker + data[-tail:]).decode("utf-8", "ignore")


def error_info(exc: BaseException) -> Dict[str, str]:
    """``{"type", "message"}`` for an exception: its qualified class name, and its text
    followed by the formatted traceback (chained causes included)."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{name}"
    tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    text = str(exc)
    message = f"{text}\n\n{tb}" if text else tb
    return {"type": _clip(name, MAX_ERROR_TYPE), "message": _clip(message, MAX_ERROR_MESSAGE)}


#: Frames sent with an exception; the server keeps at most 100 as well.
MAX_FRAMES = 100
_LIBRARY_DIRS = tuple(
    p for p in {sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib")} if p
)


def _in_app(filename: str) -> bool:
    """Whether a frame is the user's code rather than the standard library or an
    installed package (the server groups exceptions by the user's frames)."""
    return not (filename.startswith(_LIBRARY_DIRS) or "site-packages" in filename or "dist-packages" in filename)


def exception_event(
    exc: BaseException,
    *,
    version: Optional[str] = None,
    request_id: Optional[str] = None,
    input: Any = None,
) -> Dict[str, Any]:
    """An exception as the errors endpoint takes it: type, message, and its stack frames
    (outermost first) marked as the user's code or a library's."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{name}"
    frames = []
    for f in traceback.extract_tb(exc.__traceback__):
        frame: Dict[str, Any] = {"file": f.filename, "function": f.name, "in_app": _in_app(f.filename)}
        if f.lineno is not None:
            frame["line"] = f.lineno
        frames.append(frame)
    if len(frames) > MAX_FRAMES:
        frames = frames[:10] + frames[-(MAX_FRAMES - 10):]
    doc: Dict[str, Any] = {
        "type": _clip(name, MAX_ERROR_TYPE),
        "message": _clip(str(exc), MAX_ERROR_MESSAGE),
        "frames": frames,
        "event_id": uuid.uuid4().hex,
    }
    if version is not None:
        doc["version"] = version
    if request_id is not None:
        doc["request_id"] = request_id
    if input is not None:
        doc["input"] = input
    return doc


def _resolve(client: Any) -> Any:
    if client is not None:
        return client
    from . import get_client

    return get_client()


_PLAIN = frozenset((str, int, float, bool, type(None)))


def _scalarize(x: Any) -> Any:
    """A model output as one value: numpy scalars to Python, one-element arrays and
    lists to their element."""
    if type(x) in _PLAIN:
        return x
    tolist = getattr(x, "tolist", None)
    if tolist is not None:
        x = tolist()
    while isinstance(x, (list, tuple)) and len(x) == 1:
        x = x[0]
    return x


def default_output(result: Any) -> Tuple[Any, Any]:
    """(prediction, scores) from what a predict function returned: a mapping with
    ``prediction`` (and optionally ``scores``), a pydantic model of that shape, a
    ``(prediction, scores)`` pair whose second item is a mapping, or the prediction
    itself (a one-element array or list counts as its element)."""
    if type(result) is dict and "prediction" in result:  # the common case, fast
        return _scalarize(result["prediction"]), result.get("scores")
    if type(result) in _PLAIN:
        return result, None
    dump = getattr(result, "model_dump", None)
    if dump is not None and not isinstance(result, type):
        result = dump()
    if isinstance(result, Mapping):
        if "prediction" in result:
            return _scalarize(result["prediction"]), result.get("scores")
        raise ValueError(
            "the result is a mapping without a 'prediction' key; pass output= to monitor()"
        )
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        return _scalarize(result[0]), result[1]
    return _scalarize(result), None


class Record:
    """What a ``with monitor(...)`` block logs; set ``prediction`` (and optionally
    ``scores``, ``features``, ``tags``) inside the block. ``request_id`` is known from
    the start."""

    __slots__ = ("request_id", "features", "prediction", "scores", "tags", "latency_ms", "_t0")

    def __init__(self, request_id: str, features: Any, tags: Any) -> None:
        self.request_id = request_id
        self.features = features
        self.prediction: Any = None
        self.scores: Any = None
        self.tags = tags
        self.latency_ms: Optional[float] = None
        self._t0 = _perf()

    def set(self, prediction: Any = None, scores: Any = None, features: Any = None, tags: Any = None) -> None:
        if prediction is not None:
            self.prediction = prediction
        if scores is not None:
            self.scores = scores
        if features is not None:
            self.features = features
        if tags is not None:
            self.tags = tags


class monitor:
    """Monitors a predict function (as a decorator) or a block (as a context manager).

    ::

        @sightline.monitor(client, model="churn", version="v3")
        def predict(features: dict) -> str: ...

        with sightline.monitor(client, model="churn", version="v3", features=row) as m:
            m.prediction = model.predict(...)

    Arguments:
        client: the ``Client``; default ``sightline.get_client()`` (see ``init``).
        model, version: where the events go.
        features: how to get the feature values. By default a single mapping (or
            pydantic model, or pandas Series) argument is the features, otherwise the
            arguments by parameter name. A callable ``features(*args, **kwargs)`` returns
            them; a list of names labels the values of a single row argument (list,
            tuple, numpy array, ``[[...]]``). For the context manager, the features
            themselves (a mapping).
        output: ``output(result)`` returning the prediction, or ``(prediction,
            scores)``; the default reads mappings with ``prediction``/``scores``,
            ``(prediction, scores)`` pairs and plain values.
        request_id: ``request_id(*args, **kwargs)`` returning the id to log under;
            default a random one. ``sightline.last_request_id()`` tells it after the call.
        tags: tags added to every event.
        batch: the call predicts many rows at once (a DataFrame, a list of mappings or a
            2-D array with ``features=[names]``) and returns one output per row; one
            event is logged per row, each with the whole call's latency.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        model: str,
        version: Optional[str] = None,
        features: Any = None,
        output: Optional[Callable[[Any], Any]] = None,
        request_id: Optional[Callable[..., str]] = None,
        tags: Optional[Mapping[str, Any]] = None,
        batch: bool = False,
    ) -> None:
        self.client = client
        self.model = model
        self.version = version
        self.features = features
        self.output = output
        self.request_id = request_id
        self.tags = dict(tags) if tags else None
        self.batch = batch
        self._names: Optional[List[str]] = None
        self._skip_first = False
        self._stack: contextvars.ContextVar[Any] = contextvars.ContextVar("sightline_monitor")

    # -- decorator ----------------------------------------------------------------

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            params = []
        if params and params[0].name in ("self", "cls"):
            self._skip_first = True
            params = params[1:]
        self._names = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                rid = self._request_id(args, kwargs)
                t0 = _perf()
                try:
                    result = await func(*args, **kwargs)
                except Exception as exc:
                    self._log_failure(exc, args, kwargs, rid, t0)
                    raise
                self._log_success(result, args, kwargs, rid, t0)
                return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rid = self._request_id(args, kwargs)
            t0 = _perf()
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                self._log_failure(exc, args, kwargs, rid, t0)
                raise
            self._log_success(result, args, kwargs, rid, t0)
            return result

        return wrapper

    def _request_id(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> str:
        rid = None
        if self.request_id is not None:
            try:
                rid = self.request_id(*args, **kwargs)
            except Exception:
                log.exception("sightline: the request_id callable failed; using a random id")
        rid = str(rid) if rid is not None else _new_id()
        _last_request_id.set(rid)
        return rid

    def _features_of(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        spec = self.features
        if spec is None and not kwargs:
            # The common case, fast: one dict argument (after self) is the features.
            n = len(args)
            if n == 1 and type(args[0]) is dict:
                return args[0]
            if n == 2 and self._skip_first and type(args[1]) is dict:
                return args[1]
        if callable(spec):
            return spec(*args, **kwargs)
        if self._skip_first:
            args = args[1:]
        if isinstance(spec, Mapping):
            return spec
        if spec is not None:  # names for a single row argument
            row = args[0] if args else next(iter(kwargs.values()))
            return dict(zip(spec, _row(row)))
        if len(args) == 1 and not kwargs:
            return _as_mapping(args[0])
        if not args and len(kwargs) == 1:
            only = next(iter(kwargs.values()))
            m = _maybe_mapping(only)
            if m is not None:
                return m
        d = dict(zip(self._names or (), args))
        d.update(kwargs)
        return d

    def _log_success(self, result: Any, args: Any, kwargs: Any, rid: str, t0: float) -> None:
        latency = (_perf() - t0) * 1000.0
        try:
            client = _resolve(self.client)
            if self.batch:
                self._log_batch(client, result, args, kwargs, rid, latency)
                return
            features = self._features_of(args, kwargs)
            out = self.output(result) if self.output is not None else result
            if self.output is not None and not isinstance(out, tuple):
                prediction, scores = _scalarize(out), None
            else:
                prediction, scores = default_output(out)
            client.log_prediction(
                self.model,
                features,
                prediction,
                version=self.version,
                scores=scores,
                request_id=rid,
                latency_ms=latency,
                tags=self.tags,
            )
        except Exception:
            log.exception("sightline: could not log the prediction of %r", self.model)

    def _log_failure(self, exc: BaseException, args: Any, kwargs: Any, rid: str, t0: float) -> None:
        latency = (_perf() - t0) * 1000.0
        try:
            client = _resolve(self.client)
            try:
                features = None if self.batch else self._features_of(args, kwargs)
            except Exception:
                features = None
            client.log_error(
                self.model,
                exc,
                features,
                version=self.version,
                request_id=rid,
                latency_ms=latency,
                tags=self.tags,
            )
        except Exception:
            log.exception("sightline: could not log the failure of %r", self.model)

    def _log_batch(self, client: Any, result: Any, args: Any, kwargs: Any, rid: str, latency: float) -> None:
        if self._skip_first:
            args = args[1:]
        inputs = args[0] if args else next(iter(kwargs.values()))
        rows = _rows(inputs, self.features if isinstance(self.features, (list, tuple)) else None)
        outputs = self.output(result) if self.output is not None else result
        tolist = getattr(outputs, "tolist", None)
        if tolist is not None:
            outputs = tolist()
        outputs = list(outputs)
        if len(outputs) != len(rows):
            raise ValueError(f"{len(rows)} input rows but {len(outputs)} outputs")
        events = []
        for i, (row, out) in enumerate(zip(rows, outputs)):
            prediction, scores = default_output(out)
            events.append(
                {
                    "request_id": f"{rid}-{i}",
                    "features": row,
                    "prediction": prediction,
                    "scores": scores,
                    "latency_ms": latency,
                    "tags": self.tags,
                }
            )
        client.log_predictions(self.model, events, version=self.version)

    # -- context manager ------------------------------------------------------------

    def __enter__(self) -> Record:
        features = self.features if not callable(self.features) else None
        rid = _new_id()
        _last_request_id.set(rid)
        record = Record(rid, features, self.tags)
        slot: List[Any] = [record, None]
        slot[1] = self._stack.set(slot)
        return record

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        slot = self._stack.get(None)
        if slot is None:  # pragma: no cover - unbalanced use
            return False
        record, token = slot
        try:
            self._stack.reset(token)
        except ValueError:  # pragma: no cover - exited in another context
            pass
        record.latency_ms = (_perf() - record._t0) * 1000.0
        try:
            client = _resolve(self.client)
            if exc is not None:
                if isinstance(exc, Exception):
                    client.log_error(
                        self.model,
                        exc,
                        _maybe_mapping(record.features),
                        version=self.version,
                        request_id=record.request_id,
                        latency_ms=record.latency_ms,
                        tags=record.tags,
                    )
            elif record.prediction is None:
                log.warning(
                    "sightline: a monitor block for %r ended without a prediction; "
                    "nothing was logged (set .prediction inside the block)",
                    self.model,
                )
            else:
                prediction, scores = default_output(record.prediction)
                client.log_prediction(
                    self.model,
                    _maybe_mapping(record.features),
                    prediction,
                    version=self.version,
                    scores=record.scores if record.scores is not None else scores,
                    request_id=record.request_id,
                    latency_ms=record.latency_ms,
                    tags=record.tags,
                )
        except Exception:
            log.exception("sightline: could not log the monitored block of %r", self.model)
        return False  # never swallow the exception

    async def __aenter__(self) -> Record:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return self.__exit__(exc_type, exc, tb)


def _maybe_mapping(x: Any) -> Optional[Mapping[str, Any]]:
    if x is None or isinstance(x, Mapping):
        return x
    dump = getattr(x, "model_dump", None)  # pydantic v2
    if dump is not None and not isinstance(x, type):
        return dump()
    as_dict = getattr(x, "dict", None)  # pydantic v1
    if as_dict is not None and hasattr(x, "__fields__") and not isinstance(x, type):
        return as_dict()
    to_dict = getattr(x, "to_dict", None)  # pandas Series, or one-row DataFrame
    if to_dict is not None:
        if hasattr(x, "columns"):
            records = x.to_dict("records")
            if len(records) == 1:
                return records[0]
            return None
        return to_dict()
    return None


def _as_mapping(x: Any) -> Any:
    m = _maybe_mapping(x)
    if m is None:
        raise TypeError(
            f"cannot read features from a {type(x).__name__}; pass features=[names] "
            "or features=callable to monitor()"
        )
    return m


def _row(x: Any) -> Sequence[Any]:
    tolist = getattr(x, "tolist", None)
    if tolist is not None:
        x = tolist()
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], (list, tuple)):
        x = x[0]
    return x


def _rows(x: Any, names: Optional[Sequence[str]]) -> List[Dict[str, Any]]:
    if hasattr(x, "columns") and hasattr(x, "to_dict"):
        return x.to_dict("records")
    tolist = getattr(x, "tolist", None)
    if tolist is not None:
        x = tolist()
    rows = list(x)
    if not rows:
        return []
    if isinstance(rows[0], Mapping):
        return [dict(r) for r in rows]
    if names is None:
        raise TypeError("batch inputs that are not mappings need features=[names]")
    return [dict(zip(names, r)) for r in rows]
