"""Closing the loop from Python: notification channels, retraining policies and the
triggers they fire, and the training-data export a retraining pipeline downloads (to a
file, streamed, or as a DataFrame). Mixed into ``Client``: every call is synchronous
and raises ``APIError`` or ``TransportError``."""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Union

from ._encode import timestamp_ms

PathLike = Union[str, "os.PathLike[str]"]

# Export formats by file extension; anything else is CSV.
_EXPORT_FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet"}


def _export_format(path: PathLike, format: Optional[str]) -> str:
    if format is not None:
        if format not in ("csv", "ndjson", "parquet"):
            raise ValueError(f"format: {format!r} is not one of csv, ndjson, parquet")
        return format
    return _EXPORT_FORMATS.get(os.path.splitext(os.fspath(path))[1].lower(), "csv")


class FeedbackMixin:
    def create_channel(
        self, name: str, kind: str, config: Mapping[str, Any], *, min_severity: Optional[str] = None
    ) -> Dict[str, Any]:
        """Creates a notification channel (``webhook``, ``slack``, ``alertmanager`` or
        ``email``, with that kind's ``config``); the answer shows the configuration
        masked. A webhook channel is where retraining triggers go."""
        doc: Dict[str, Any] = {"name": name, "kind": kind, "config": dict(config)}
        if min_severity is not None:
            doc["min_severity"] = min_severity
        return self._call("POST", "/api/v1/channels", doc, ok=(201,))

    def set_retraining_policy(self, model: str, policy: str, spec: Mapping[str, Any]) -> Dict[str, Any]:
        """Creates or replaces retraining policy ``policy`` of ``model``: ``spec`` is the
        API's document (``conditions``, ``window``, ``interval``, ``cooldown``,
        ``channel``, ``version``, ``match``)."""
        path = f"/api/v1/models/{self._q(model)}/retraining-policies/{self._q(policy)}"
        return self._call("PUT", path, dict(spec), ok=(200, 201))

    def evaluate_retraining_policy(self, model: str, policy: str) -> Dict[str, Any]:
        """Evaluates a policy now: each condition's value, whether it fired, and the
        trigger (with its ``delivery``) when it did."""
        path = f"/api/v1/models/{self._q(model)}/retraining-policies/{self._q(policy)}/evaluate"
        return self._call("POST", path, {})

    def retraining_triggers(self, model: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """The model's triggers, newest first."""
        doc = self._call("GET", f"/api/v1/models/{self._q(model)}/retraining-triggers", query={"limit": limit})
        return doc["items"]

    def export(
        self,
        model: str,
        path: PathLike,
        *,
        version: Optional[str] = None,
        start: Any = None,
        end: Any = None,
        format: Optional[str] = None,
        unlabelled: bool = False,
    ) -> int:
        """Downloads the model's labelled predictions (with ``unlabelled``, all of them)
        in ``[start, end)`` into ``path``: CSV, NDJSON or Parquet, from ``format`` or
        the file's extension (CSV otherwise). The download is streamed (memory stays
        small) into a temporary file that replaces ``path`` only once complete. Returns
        the bytes written."""
        query = {
            "version": version,
            "from": timestamp_ms(start),
            "to": timestamp_ms(end),
            "unlabelled": "true" if unlabelled else None,
        }
        return self._download(f"/api/v1/models/{self._q(model)}/export", query, path, format)

    def export_trigger(self, trigger: Mapping[str, Any], path: PathLike, *, format: Optional[str] = None) -> int:
        """Downloads the training data a retraining trigger points at (its
        ``export_path``: the model, version and window it fired on) into ``path``, as
        ``export`` does. ``trigger`` is the webhook's document or a listed trigger."""
        export_path = trigger.get("export_path")
        if not isinstance(export_path, str) or not export_path.startswith("/api/v1/models/"):
            raise ValueError(f"trigger: no export_path to follow in {dict(trigger)!r}")
        parts = urllib.parse.urlsplit(export_path)
        query: Dict[str, Any] = dict(urllib.parse.parse_qsl(parts.query))
        return self._download(parts.path, query, path, format)

    def training_data(
        self,
        model: str,
        *,
        version: Optional[str] = None,
        start: Any = None,
        end: Any = None,
        unlabelled: bool = False,
    ) -> Any:
        """The export as a pandas DataFrame (requires pandas): one row per prediction
        with its features, prediction, scores (``score:<class>``), label and times."""
        import pandas as pd

        with tempfile.TemporaryDirectory(prefix="sightline-export-") as tmp:
            path = os.path.join(tmp, "export.ndjson")
            written = self.export(model, path, version=version, start=start, end=end, unlabelled=unlabelled)
            if written == 0:
                return pd.DataFrame()
            return pd.read_json(path, lines=True, dtype=False)

    def _download(self, api_path: str, query: Dict[str, Any], path: PathLike, format: Optional[str]) -> int:
        query = dict(query, format=_export_format(path, format))
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        fd, partial = tempfile.mkstemp(prefix=".sightline-export-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                resp = self._transport().stream(api_path, query, out)
                if resp.status != 200:
                    raise resp.error()
                written = out.tell()
            os.replace(partial, target)
        except BaseException:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise
        return written
