"""Reading what the server computed — drift, data quality, performance — and managing
the references drift is measured against (upload from a file, a stream or a DataFrame;
from logged traffic; list; delete). Mixed into ``Client``: every call is synchronous
and raises ``APIError`` or ``TransportError``."""

from __future__ import annotations

import datetime as _dt
import io
import os
import zlib
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._encode import encode_rows, rfc3339, timestamp_ms
from ._http import BodySource, call_with_retries

# Content types the reference upload accepts, by file extension.
_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".ndjson": "application/x-ndjson",
    ".jsonl": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
    ".pq": "application/vnd.apache.parquet",
}
_ENCODINGS = {".gz": "gzip", ".zst": "zstd"}
_FORMATS = {
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}

# DataFrame rows encoded (and gzipped) per piece of a streamed upload: memory stays at
# one piece whatever the frame's size.
_ROWS_PER_PIECE = 10_000


def _duration(value: Any) -> Optional[str]:
    """A step for the API: ``"5m"``-style strings pass through; a ``timedelta`` or a
    number of seconds becomes whole seconds (the server wants whole minutes)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"step: cannot use {type(value).__name__} as a duration")
    seconds = int(value)
    if seconds != value or seconds <= 0:
        raise ValueError(f"step: {value!r} is not a positive whole number of seconds")
    return f"{seconds}s"


def _window(start: Any, end: Any, step: Any, version: Optional[str]) -> Dict[str, Any]:
    return {
        "version": version,
        "from": timestamp_ms(start),
        "to": timestamp_ms(end),
        "step": _duration(step),
    }


def _file_upload(path: str, content_type: Optional[str], encoding: Optional[str]) -> Tuple[BodySource, Dict[str, str]]:
    """A file streamed from disk, re-opened for every attempt. Its content type and
    compression come from its name (``train.csv.gz``) unless given."""
    name = os.fspath(path)
    base, ext = os.path.splitext(name.lower())
    if encoding is None and ext in _ENCODINGS:
        encoding = _ENCODINGS[ext]
        ext = os.path.splitext(base)[1]
    if content_type is None:
        content_type = _CONTENT_TYPES.get(ext)
        if content_type is None:
            raise ValueError(
                f"cannot tell the format of {name!r} from its name: pass format='csv', 'ndjson' or 'parquet'"
            )
    size = os.path.getsize(name)

    def source() -> Tuple[Any, Optional[int]]:
        return open(name, "rb"), size

    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    return source, headers


def _stream_upload(stream: Any) -> BodySource:
    """A readable binary stream, sent in chunks. A seekable one starts over on a retry;
    another cannot be retried (the second attempt finds it consumed and fails)."""
    start = stream.tell() if stream.seekable() else None
    used = [False]

    def source() -> Tuple[Any, Optional[int]]:
        if used[0]:
            if start is None:
                raise OSError("the upload stream is not seekable, so it cannot be sent again")
            stream.seek(start)
        used[0] = True
        return iter(lambda: stream.read(1 << 16), b""), None

    return source


def _frame_upload(df: Any) -> BodySource:
    """A DataFrame as gzipped NDJSON, encoded piece by piece while it is sent: numbers
    stay numbers, missing values (NaN, None, NaT) are null, timestamps epoch ms."""
    columns = [str(c) for c in df.columns]

    def pieces() -> Iterator[bytes]:
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        for lo in range(0, len(df), _ROWS_PER_PIECE):
            part = df.iloc[lo : lo + _ROWS_PER_PIECE]
            values = []
            for c in part.columns:
                s = part[c]
                col = s.tolist()
                mask = s.isna().tolist()
                if any(mask):
                    col = [None if m else v for v, m in zip(col, mask)]
                values.append(col)
            rows = [dict(zip(columns, r)) for r in zip(*values)]
            out = z.compress(encode_rows(rows))
            if out:
                yield out
        yield z.flush()

    return lambda: (pieces(), None)


class AnalysisMixin:
    """References, drift, data quality and performance — see the module docstring."""

    # Provided by Client.
    _call: Any
    _transport: Any
    _q: Any
    retry: Any

    # -- references ---------------------------------------------------------------

    def upload_reference(
        self,
        model: str,
        data: Any,
        *,
        version: Optional[str] = None,
        prediction: Optional[str] = None,
        format: Optional[str] = None,
        compression: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Uploads training data as the reference drift is measured against, and
        returns the stored reference with an ``upload`` summary (rows, the features
        found, ``ignored_columns``, ``missing_features``).

        ``data`` is a path (``.csv``, ``.ndjson``/``.jsonl``, ``.parquet``, optionally
        ``.gz`` or ``.zst``; streamed from disk), a pandas DataFrame (streamed as
        gzipped NDJSON, any size), bytes, or a binary file object (streamed; then
        ``format`` is needed, and ``compression`` if it is compressed). Columns named
        like features are profiled; ``prediction`` names the prediction's column
        (default ``prediction``). Without ``version`` it becomes the model's default
        reference, used by every version that has none of its own."""
        query = {"version": version, "prediction": prediction}
        content_type = _FORMATS.get(format.lower()) if format else None
        if format and content_type is None:
            raise ValueError(f"format: {format!r} is not one of csv, ndjson, parquet")
        headers: Dict[str, str] = {}
        body: Union[bytes, BodySource]
        if isinstance(data, (str, os.PathLike)):
            body, headers = _file_upload(data, content_type, compression)
        elif hasattr(data, "columns") and hasattr(data, "iloc"):
            if format not in (None, "ndjson", "jsonl"):
                raise ValueError("format: a DataFrame is sent as NDJSON; leave format unset")
            body = _frame_upload(data)
            headers = {"Content-Type": _FORMATS["ndjson"], "Content-Encoding": "gzip"}
        else:
            if content_type is None:
                raise ValueError("format: say what the data is: 'csv', 'ndjson' or 'parquet'")
            headers = {"Content-Type": content_type}
            if compression:
                headers["Content-Encoding"] = compression
            if isinstance(data, (bytes, bytearray, memoryview)):
                body = bytes(data)
            elif hasattr(data, "read"):
                body = _stream_upload(data if not isinstance(data, io.TextIOBase) else data.buffer)
            else:
                raise TypeError(f"data: cannot upload a {type(data).__name__}")
        resp, _ = call_with_retries(
            self._transport(),
            self.retry,
            "PUT",
            f"/api/v1/models/{self._q(model)}/reference",
            body,
            headers,
            query,
        )
        if resp.status != 201:
            raise resp.error()
        return resp.json()

    def reference_from_logs(
        self,
        model: str,
        start: Any,
        end: Any,
        *,
        version: Optional[str] = None,
        source_version: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Makes the traffic logged in ``[start, end)`` (of ``source_version``, or of
        every version) the reference of ``version`` (or the model's default one)."""
        doc: Dict[str, Any] = {"from": rfc3339(start), "to": rfc3339(end)}
        if version is not None:
            doc["version"] = version
        if source_version is not None:
            doc["source_version"] = source_version
        return self._call(
            "POST", f"/api/v1/models/{self._q(model)}/reference/from-logs", doc, ok=(201,)
        )

    def list_references(self, model: str) -> List[Dict[str, Any]]:
        """The model's references (the default one has ``version`` None)."""
        doc = self._call("GET", f"/api/v1/models/{self._q(model)}/reference")
        return doc.get("items", doc) if isinstance(doc, dict) else doc

    def delete_reference(self, model: str, version: Optional[str] = None) -> None:
        """Deletes a version's reference (or the default one); ``NotFoundError`` if
        there is none."""
        resp, _ = call_with_retries(
            self._transport(),
            self.retry,
            "DELETE",
            f"/api/v1/models/{self._q(model)}/reference",
            query={"version": version},
        )
        if resp.status != 204:
            raise resp.error()

    # -- results ------------------------------------------------------------------

    def drift(
        self,
        model: str,
        *,
        version: Optional[str] = None,
        start: Any = None,
        end: Any = None,
        step: Any = None,
        method: Optional[str] = None,
        threshold: Optional[float] = None,
        methods: Optional[Mapping[str, str]] = None,
        thresholds: Optional[Mapping[str, float]] = None,
    ) -> Dict[str, Any]:
        """Drift of the window ``[start, end)`` (default: the server's trailing drift
        window) against the reference: per column ``method``, ``score``, ``threshold``,
        ``drifted``, and ``share_drifted`` / ``dataset_drifted``. ``step`` (``"1h"``, a
        ``timedelta`` or seconds) makes a series under ``windows``. ``method`` and
        ``threshold`` apply to every column, ``methods`` and ``thresholds`` (by feature
        name) to one each; what is left unset comes from the model's drift settings."""
        query = _window(start, end, step, version)
        query["method"] = method
        query["threshold"] = threshold
        for name, m in (methods or {}).items():
            query[f"method:{name}"] = m
        for name, t in (thresholds or {}).items():
            query[f"threshold:{name}"] = t
        return self._call("GET", f"/api/v1/models/{self._q(model)}/drift", query=query)

    def data_quality(
        self,
        model: str,
        *,
        version: Optional[str] = None,
        start: Any = None,
        end: Any = None,
        step: Any = None,
    ) -> Dict[str, Any]:
        """Data quality of the window per feature and the prediction: missing shares,
        ranges, quantiles, values outside the reference's range, unseen categories,
        values of the wrong type in rejected events."""
        query = _window(start, end, step, version)
        return self._call("GET", f"/api/v1/models/{self._q(model)}/data-quality", query=query)

    def performance(
        self,
        model: str,
        *,
        version: Optional[str] = None,
        start: Any = None,
        end: Any = None,
        step: Any = None,
        threshold: Optional[float] = None,
        **params: Any,
    ) -> Dict[str, Any]:
        """Realized performance of the window's predictions joined with their labels
        (whenever the labels arrived): the task's metrics, ``label_coverage`` and
        ``label_delay_ms``. ``threshold`` (binary) decides the predicted class by score.
        Further query parameters the server documents pass through ``params``."""
        query = _window(start, end, step, version)
        query["threshold"] = threshold
        query.update(params)
        return self._call("GET", f"/api/v1/models/{self._q(model)}/performance", query=query)

    def explain(
        self,
        model: str,
        version: str,
        rows: Optional[Sequence[Mapping[str, Any]]] = None,
        *,
        request_ids: Optional[Sequence[str]] = None,
        method: Optional[str] = None,
        background: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> Dict[str, Any]:
        """Explains ``rows`` (feature dicts) or logged ``request_ids`` with the
        version's explainer: ``method`` is ``treeshap`` (the default with a model
        file), ``interventional``, ``kernelshap`` (the default with an endpoint) or
        ``lime``; ``background`` is ``{"rows": [...]}`` or a logged range
        ``{"from", "to", "size"}``. Further body fields (``lime_samples``, ``seed``)
        pass through ``options``."""
        doc: Dict[str, Any] = dict(options)
        if rows is not None:
            doc["rows"] = [dict(r) for r in rows]
        if request_ids is not None:
            doc["request_ids"] = list(request_ids)
        if method is not None:
            doc["method"] = method
        if background is not None:
            doc["background"] = dict(background)
        path = f"/api/v1/models/{self._q(model)}/versions/{self._q(version)}/explain"
        return self._call("POST", path, doc)

    def importance(
        self,
        model: str,
        version: str,
        *,
        start: Any = None,
        end: Any = None,
        step: Any = None,
        sample: Optional[int] = None,
        source: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Global importance (mean |SHAP|) of the version's logged predictions per
        window and its attribution drift; ``source="logged"`` reads attributions
        logged with the predictions instead of the model file."""
        query = _window(start, end, step, None)
        query.update({"sample": sample, "source": source})
        path = f"/api/v1/models/{self._q(model)}/versions/{self._q(version)}/importance"
        return self._call("GET", path, query=query)

    def get_drift_settings(self, model: str) -> Dict[str, Any]:
        """The model's stored drift defaults (methods and thresholds)."""
        return self._call("GET", f"/api/v1/models/{self._q(model)}/drift-settings")

    def set_drift_settings(
        self,
        model: str,
        *,
        method: Optional[str] = None,
        threshold: Optional[float] = None,
        features: Optional[Mapping[str, Mapping[str, Any]]] = None,
    ) -> Dict[str, Any]:
        """Stores the model's drift defaults: ``method`` and ``threshold`` for every
        column, ``features={"city": {"method": "chisquare", "threshold": 0.01}}`` for
        single ones. Replaces what was stored."""
        doc: Dict[str, Any] = {}
        if method is not None:
            doc["method"] = method
        if threshold is not None:
            doc["threshold"] = threshold
        if features:
            doc["features"] = {str(k): dict(v) for k, v in features.items()}
        return self._call("PUT", f"/api/v1/models/{self._q(model)}/drift-settings", doc)
