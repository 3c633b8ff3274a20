"""DataFrame helpers: feature declarations inferred from column types, and prediction
events built column by column. pandas is optional and never imported here: anything
with ``columns``, ``dtypes``, ``len()`` and ``df[col].tolist()``/``.isna()`` works."""

from __future__ import annotations


from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._ids import new_request_id as new_id


def _kind(dtype: Any) -> str:
    if str(dtype) == "category":
        return "categorical"
    k = getattr(dtype, "kind", "O")
    if k == "b":
        return "boolean"
    if k in "iuf":
        return "numeric"
    if k in "mM":
        return "numeric"
    return "categorical"


def features_from_dataframe(df: Any) -> List[Dict[str, Any]]:
    """One declaration per column: bool → boolean, numbers and datetimes → numeric,
    everything else (strings, categories, objects) → categorical. Every feature is
    nullable. Change ``type`` to ``text`` for free-text columns."""
    return [
        {"name": str(name), "type": _kind(dtype), "nullable": True}
        for name, dtype in zip(df.columns, df.dtypes)
    ]


def _column(df: Any, name: str) -> List[Any]:
    """A column as Python values, missing values (NaN, None, NaT, pd.NA) as None."""
    if name not in df.columns:
        raise KeyError(f"column {name!r} is not in the DataFrame")
    s = df[name]
    values = s.tolist()
    isna = getattr(s, "isna", None)
    if isna is not None:
        mask = isna().tolist()
        if any(mask):
            values = [None if m else v for v, m in zip(values, mask)]
    return values


def events_from_dataframe(
    df: Any,
    *,
    version: str,
    prediction: str,
    scores: Any,
    request_id: Optional[str],
    timestamp: Optional[str],
    latency: Optional[str],
    features: Optional[Sequence[str]],
    tags: Optional[Mapping[str, Any]],
    label: Optional[str],
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Prediction events (and labels, when a label column is named), row by row."""
    n = len(df)
    used = [prediction]
    if isinstance(scores, str):
        score_cols: Dict[str, str] = {}
        used.append(scores)
    elif isinstance(scores, Mapping):
        score_cols = {str(k): v for k, v in scores.items()}
        used.extend(score_cols.values())
    elif scores is None:
        score_cols = {}
    else:
        score_cols = {str(c): c for c in scores}
        used.extend(scores)
    for c in (request_id, timestamp, latency, label):
        if c is not None:
            used.append(c)
    if features is None:
        features = [c for c in df.columns if c not in used]
    feature_names = [str(f) for f in features]

    preds = _column(df, prediction)
    ids = _column(df, request_id) if request_id is not None else [new_id() for _ in range(n)]
    times = _column(df, timestamp) if timestamp is not None else None
    lat = _column(df, latency) if latency is not None else None
    bare_scores = _column(df, scores) if isinstance(scores, str) else None
    score_values = [(cls, _column(df, col)) for cls, col in score_cols.items()]
    feature_values = [_column(df, f) for f in features]
    tag_doc = dict(tags) if tags else None

    events: List[Dict[str, Any]] = []
    rows = zip(*feature_values) if feature_values else ((),) * n
    for i, row in enumerate(rows):
        rid = ids[i]
        ev: Dict[str, Any] = {
            "request_id": rid if isinstance(rid, str) else str(rid),
            "version": version,
            "features": dict(zip(feature_names, row)),
            "prediction": preds[i],
        }
        if times is not None and times[i] is not None:
            ev["timestamp"] = times[i]
        if lat is not None and lat[i] is not None:
            ev["latency_ms"] = lat[i]
        if bare_scores is not None and bare_scores[i] is not None:
            ev["scores"] = bare_scores[i]
        elif score_values:
            ev["scores"] = {cls: v[i] for cls, v in score_values if v[i] is not None}
        if tag_doc:
            ev["tags"] = tag_doc
        events.append(ev)

    labels: List[Dict[str, Any]] = []
    if label is not None:
        for ev, y in zip(events, _column(df, label)):
            if y is not None:
                labels.append({"request_id": ev["request_id"], "label": y})
    return events, labels
