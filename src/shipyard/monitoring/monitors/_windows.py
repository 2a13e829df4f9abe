"""One monitor window, computed: the window grid, drift against the reference, small histograms for the
drill-down, data and model quality, operational figures per model version, and the flat metric map rules read.

Pure functions over pandas frames; reading the log or a data set is `_monitor_io`'s job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring.monitors._spec import MonitorSpec

__all__ = ["WindowResult", "compute_window", "due_windows", "histograms", "ops_summary", "with_metrics"]

MAX_BINS = 20
MAX_CATEGORIES = 20
OTHER = "(other)"
_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class WindowResult:
    """What one window stores."""

    rows: int
    drifted_share: float | None
    dataset_drift: bool | None
    columns: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    ops: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def due_windows(
    *, now_ms: int, window_s: int, delay_s: int, start_ms: int | None, max_catch_up: int
) -> list[tuple[int, int]]:
    """The complete windows up to ``now_ms``, oldest first: aligned on the epoch (UTC midnight for days), each
    ended at least ``delay_s`` ago, none starting before ``start_ms``, at most the newest ``max_catch_up``.

    Example:
        >>> due_windows(now_ms=3 * 3_600_000 + 5, window_s=3600, delay_s=0, start_ms=0, max_catch_up=2)
        [(3600000, 7200000), (7200000, 10800000)]
    """
    size_ms = window_s * 1000
    last_end = ((now_ms - delay_s * 1000) // size_ms) * size_ms
    first_start = last_end - max_catch_up * size_ms
    if start_ms is not None:
        first_start = max(first_start, -(-start_ms // size_ms) * size_ms)  # the first boundary at or after start
    return [(start, start + size_ms) for start in range(first_start, last_end, size_ms) if start >= 0]


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _shares(counts: Any) -> list[float]:
    total = float(sum(counts))
    return [round(float(c) / total, 6) if total else 0.0 for c in counts]


def histograms(reference: pd.Series, current: pd.Series) -> dict[str, Any] | None:
    """Reference and current distributions on shared bins (at most 20 bins, or the 20 commonest categories
    plus ``(other)``), as shares of each side's non-missing values; None when both sides are empty."""
    import numpy as np

    if _is_numeric(reference) and _is_numeric(current):
        ref = reference.to_numpy(dtype=float, na_value=np.nan)
        cur = current.to_numpy(dtype=float, na_value=np.nan)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        pooled = np.concatenate([ref, cur])
        if pooled.size == 0:
            return None
        bins = min(MAX_BINS, max(1, math.ceil(math.log2(pooled.size) + 1)))
        low, high = float(pooled.min()), float(pooled.max())
        edges = np.linspace(low, high, bins + 1) if high > low else np.array([low - 0.5, low + 0.5])
        return {
            "kind": "numerical",
            "edges": [float(round(e, 6)) for e in edges],
            "reference": _shares(np.histogram(ref, edges)[0]),
            "current": _shares(np.histogram(cur, edges)[0]),
        }
    ref_counts = reference.dropna().astype(str).value_counts()
    cur_counts = current.dropna().astype(str).value_counts()
    together = ref_counts.add(cur_counts, fill_value=0).sort_values(ascending=False, kind="stable")
    if together.empty:
        return None
    kept = [str(c) for c in together.index[:MAX_CATEGORIES]]
    rest = len(together) > MAX_CATEGORIES

    def counts(found: pd.Series) -> list[float]:
        values = [float(found.get(c, 0)) for c in kept]
        if rest:
            values.append(float(found.sum()) - sum(values))
        return values

    return {
        "kind": "categorical",
        "categories": kept + ([OTHER] if rest else []),
        "reference": _shares(counts(ref_counts)),
        "current": _shares(counts(cur_counts)),
    }


def _percentiles(latencies: Any) -> dict[str, float | None]:
    import numpy as np

    values = np.asarray(latencies, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {f"latency_p{p}_ms": None for p in _PERCENTILES}
    found = np.percentile(values, _PERCENTILES)
    return {f"latency_p{p}_ms": round(float(v), 4) for p, v in zip(_PERCENTILES, found, strict=True)}


def ops_summary(log: pd.DataFrame) -> dict[str, Any]:
    """Traffic and latency from the prediction log's rows: overall and per model version.

    A request's latency is counted once however many rows it had; shadow predictions are listed apart.
    """
    if log.empty or "request_id" not in log.columns:
        return {}
    requests = log.drop_duplicates(["request_id", "model_version", "shadow"])
    out: dict[str, Any] = {"requests": int((~requests["shadow"]).sum()), "rows": int((~log["shadow"]).sum())}
    out.update(_percentiles(requests.loc[~requests["shadow"], "latency_ms"]))
    versions: dict[str, Any] = {}
    for (version, shadow), group in requests.groupby(["model_version", "shadow"], sort=True):
        key = f"{version} (shadow)" if shadow else str(version)
        rows = log[(log["model_version"] == version) & (log["shadow"] == shadow)]
        versions[key] = {"requests": len(group), "rows": len(rows), **_percentiles(group["latency_ms"])}
    out["versions"] = versions
    return out


def _numbers(prefix: str, value: Any, out: dict[str, float], depth: int = 0) -> None:
    if isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, int | float):
        if math.isfinite(float(value)):
            out[prefix] = float(value)
    elif isinstance(value, dict) and depth < 3:
        for key, item in value.items():
            _numbers(f"{prefix}.{key}", item, out, depth + 1)


def flat_metrics(result: WindowResult) -> dict[str, float]:
    """The names metric rules read: ``rows``, ``drifted_share``, the ops figures, ``model.<m>`` (also bare)
    and ``data.<...>`` numbers."""
    out: dict[str, float] = {"rows": float(result.rows)}
    if result.drifted_share is not None:
        out["drifted_share"] = result.drifted_share
        out["drifted_columns"] = float(sum(1 for c in result.columns.values() if c.get("drifted")))
    for key in ("requests", "error_rate", "errors", "served_requests", *(f"latency_p{p}_ms" for p in _PERCENTILES)):
        value = result.ops.get(key)
        if isinstance(value, int | float):
            out[key] = float(value)
    for section in ("model", "data"):
        found: dict[str, float] = {}
        _numbers(section, result.quality.get(section), found)
        out.update(found)
    for key, value in list(out.items()):
        if key.startswith("model.") and key.count(".") == 1:
            out.setdefault(key.removeprefix("model."), value)
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    return dict(value) if isinstance(value, dict) else {"value": value}


def _model_quality(labelled: pd.DataFrame, task: str) -> dict[str, Any]:
    """Model quality of the labelled rows (``prediction`` against ``label``)."""
    import numpy as np
    import pandas as pd

    from shipyard.monitoring import quality

    labels = labelled["label"]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels)
    predictions = labelled["prediction"]
    if task == "auto":
        whole = numeric and _is_numeric(predictions) and bool(np.all(np.mod(predictions.astype(float), 1) == 0))
        task = "classification" if not numeric or whole else "regression"
    if task == "regression":
        if not numeric:
            return {"task": task, "error": "labels are not numbers"}
        y_true = labels.astype(float).to_numpy()
        return {"task": task, **_as_dict(quality.regression_quality(y_true, predictions.astype(float).to_numpy()))}
    if numeric and _is_numeric(predictions):
        y_true, y_pred = labels.astype(float).to_numpy(), predictions.astype(float).to_numpy()
    else:
        y_true = pd.Series(labels).astype(str).to_numpy()
        y_pred = predictions.astype(str).to_numpy()
    return {"task": task, **_as_dict(quality.classification_quality(y_true, y_pred))}


def _quality(
    reference: pd.DataFrame, current: pd.DataFrame, labelled: pd.DataFrame | None, task: str
) -> dict[str, Any]:
    from shipyard.monitoring import quality

    out: dict[str, Any] = {}
    try:
        data = _as_dict(quality.data_quality(reference, current))
        if isinstance(data.get("columns"), list):  # keyed by column, so rules can name ``data.columns.<c>.<m>``
            data["columns"] = {str(c.get("column")): c for c in data["columns"] if isinstance(c, dict)}
        out["data"] = data
    except Exception as exc:  # quality must not cost the window its drift result
        out["data_error"] = f"{type(exc).__name__}: {exc}"[:500]
    if labelled is not None and not labelled.empty and "prediction" in labelled.columns:
        out["labelled_rows"] = len(labelled)
        try:
            out["model"] = _model_quality(labelled, task)
        except Exception as exc:
            out["model_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return out


def compute_window(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    *,
    log: pd.DataFrame | None = None,
    labelled: pd.DataFrame | None = None,
) -> WindowResult:
    """Drift, histograms, quality and ops of one window.

    Args:
        spec: the monitor.
        reference: the reference data, its columns named as ``columns``.
        current: this window's rows, columns named as ``columns``.
        columns: the columns to test (present in both frames).
        log: this window's prediction-log rows as read (for ops), or None for a data set.
        labelled: this window's rows that carry a label (``prediction`` and ``label``), or None.
    """
    from shipyard.monitoring.drift import data_drift

    ops = ops_summary(log) if log is not None else {}
    rows = len(current)
    if rows == 0 or not columns:
        result = WindowResult(rows=rows, drifted_share=None, dataset_drift=None, ops=ops)
        return with_metrics(result)
    ref, cur = reference[columns], current[columns]
    per_column: dict[str, Any] = {}
    error = None
    drifted_share: float | None = None
    dataset_drift: bool | None = None
    try:
        report = data_drift(ref, cur, columns=columns, **spec.drift.arguments())
        drifted_share, dataset_drift = float(report.drifted_share), bool(report.dataset_drift)
        for item in report.to_dict()["columns"]:
            per_column[item["column"]] = {k: item[k] for k in ("test", "score", "threshold", "drifted", "kind")}
            per_column[item["column"]]["score_is_p_value"] = item.get("score_is_p_value")
        for name, why in report.skipped.items():
            per_column.setdefault(name, {"skipped": why})
    except Exception as exc:  # a window whose data the tests refuse is stored with the reason, not lost
        error = f"{type(exc).__name__}: {exc}"[:1000]
    for name in columns:
        entry = per_column.setdefault(name, {})
        entry["histogram"] = histograms(ref[name], cur[name])
        entry["missing_share"] = round(float(cur[name].isna().mean()), 6)
    result = WindowResult(
        rows=rows,
        drifted_share=drifted_share,
        dataset_drift=dataset_drift,
        columns=per_column,
        quality=_quality(ref, cur, labelled, spec.task),
        ops=ops,
        error=error,
    )
    return with_metrics(result)


def with_metrics(result: WindowResult) -> WindowResult:
    """``result`` with its flat metrics (what metric rules read) computed from its sections."""
    return WindowResult(
        rows=result.rows,
        drifted_share=result.drifted_share,
        dataset_drift=result.dataset_drift,
        columns=result.columns,
        quality=result.quality,
        ops=result.ops,
        metrics=flat_metrics(result),
        error=result.error,
    )
