"""JSON shapes of MLflow's tracking API (protobuf field names, int64 as numbers, NaN as "NaN")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Run
from shipyard.tracking.validation import MetricColumns, SeriesKey, series_of

__all__ = [
    "dataset_input_from_json",
    "dataset_input_to_json",
    "decode_float",
    "decode_int",
    "encode_float",
    "experiment_from_json",
    "experiment_to_json",
    "history_to_json",
    "metric_columns_from_json",
    "metric_from_json",
    "metric_to_json",
    "run_from_json",
    "run_to_json",
    "tags_from_json",
    "tags_to_json",
]

_SPECIAL_FLOATS = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
    "nan": math.nan,
}


def encode_float(value: float) -> float | str:
    """Protobuf JSON's spelling of a double: special values are strings."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_float(value: Any, field: str) -> float:
    """Read a double as protobuf JSON allows it: a number, a numeric string, or NaN/Infinity strings."""
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}': expected a number.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}': expected a number.")


def tags_to_json(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A dict as MLflow's ``[{"key": k, "value": v}]`` list (tags and params alike)."""
    return [{"key": k, "value": v} for k, v in tags.items()]


def tags_from_json(items: Any) -> dict[str, str]:
    """``[{"key": k, "value": v}]`` to a dict; a missing value is the empty string, as MLflow."""
    return {str(t["key"]): str(t.get("value", "")) for t in items or () if t.get("key") is not None}


def experiment_to_json(exp: Experiment) -> dict[str, Any]:
    """``Experiment`` message."""
    out: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "last_update_time": exp.last_update_time_ms,
        "creation_time": exp.creation_time_ms,
    }
    if exp.tags:
        out["tags"] = tags_to_json(exp.tags)
    return out


def experiment_from_json(data: dict[str, Any]) -> Experiment:
    """Inverse of ``experiment_to_json``."""
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=data["name"],
        artifact_location=data.get("artifact_location", ""),
        lifecycle_stage=data.get("lifecycle_stage", "active"),
        creation_time_ms=int(data.get("creation_time", 0)),
        last_update_time_ms=int(data.get("last_update_time", 0)),
        tags=tags_from_json(data.get("tags")),
    )


_METRIC_LINKS = ("model_id", "dataset_name", "dataset_digest", "run_id")


def metric_to_json(metric: Metric) -> dict[str, Any]:
    """``Metric`` message; ``model_id``, ``dataset_name``, ``dataset_digest`` and ``run_id`` only when set."""
    out: dict[str, Any] = {
        "key": metric.key,
        "value": encode_float(metric.value),
        "timestamp": metric.timestamp_ms,
        "step": metric.step,
    }
    if metric.model_id is not None or metric.run_id is not None:
        for name in _METRIC_LINKS:
            value = getattr(metric, name)
            if value is not None:
                out[name] = value
    return out


def history_to_json(key: str, points: list[tuple[int, int, float]]) -> list[dict[str, Any]]:
    """A history's (timestamp, step, value) points as ``Metric`` messages, built in one pass."""
    out: list[dict[str, Any]] = [{"key": key, "value": v, "timestamp": t, "step": s} for t, s, v in points]
    total = sum(map(itemgetter(2), points), 0.0)
    if not math.isfinite(total):  # some value is NaN or infinite (or the sum overflowed): spell them out
        for item in out:
            item["value"] = encode_float(item["value"])
    return out


def metric_from_json(data: dict[str, Any]) -> Metric:
    """Inverse of ``metric_to_json``."""
    return Metric(
        data["key"],
        decode_float(data.get("value"), "value"),
        int(data.get("timestamp", 0)),
        int(data.get("step", 0)),
        *(data.get(name) or None for name in _METRIC_LINKS),
    )


def decode_int(value: Any, field: str) -> int:
    """Read an int64 as protobuf JSON allows it: a number or a numeric string."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}': expected an integer.")


def _linked_series(item: dict[str, Any], key: str, model_id: Any, where: str) -> SeriesKey:
    """The series of a point sent with a ``model_id`` (and maybe a dataset), its fields type-checked."""
    for name, value in (
        ("model_id", model_id),
        ("dataset_name", item.get("dataset_name")),
        ("dataset_digest", item.get("dataset_digest")),
    ):
        if value is not None and not isinstance(value, str):
            raise InvalidParameter(f"Invalid value {value!r} for parameter '{where}{name}': expected a string.")
    return series_of(key, model_id, item.get("dataset_name"), item.get("dataset_digest"))


def metric_columns_from_json(items: list[Any], path: str = "metrics") -> dict[SeriesKey, MetricColumns]:
    """``Metric`` messages as (steps, timestamps, values) columns per key, or per key and logged model.

    The request's hot path: one pass, no per-point objects. Values and ranges are checked afterwards by
    ``check_metric_columns``; here only the wire shape is (missing fields, non-numeric JSON). A message with a
    ``model_id`` (MLflow 3) goes to a :class:`~shipyard.tracking.entities.MetricSeries` of that model and its
    ``dataset_name`` / ``dataset_digest``; the others are grouped under their key.

    Args:
        items: the messages (a ``log-batch`` ``metrics`` list, or a one-item list for ``log-metric``).
        path: how error messages name the list; empty for a single metric sent as the request itself.
    """
    groups: dict[SeriesKey, MetricColumns] = {}
    for index, item in enumerate(items):
        where = f"{path}[{index}]." if path else ""
        try:
            key, value, stamp = item["key"], item["value"], item["timestamp"]
        except (KeyError, TypeError):
            field = next((f for f in ("key", "value", "timestamp") if not isinstance(item, dict) or f not in item), "")
            raise InvalidParameter(f"Missing value for required parameter '{where}{field}'.") from None
        step = item.get("step", 0)
        if type(value) is not float:
            value = decode_float(value, f"{where}value")
        if type(stamp) is not int:
            stamp = decode_int(stamp, f"{where}timestamp")
        if type(step) is not int:
            step = 0 if step is None else decode_int(step, f"{where}step")
        if not isinstance(key, str):
            raise InvalidParameter(f"Invalid value {key!r} for parameter '{where}key': expected a string.")
        model_id = item.get("model_id")
        series = _linked_series(item, key, model_id, where) if model_id else key
        columns = groups.get(series)
        if columns is None:
            columns = groups[series] = ([], [], [])
        columns[0].append(step)
        columns[1].append(stamp)
        columns[2].append(value)
    return groups


def dataset_input_to_json(item: DatasetInput) -> dict[str, Any]:
    """``DatasetInput`` message: the dataset plus the tags of its use."""
    dataset: dict[str, Any] = {
        "name": item.name,
        "digest": item.digest,
        "source_type": item.source_type,
        "source": item.source,
    }
    if item.schema:
        dataset["schema"] = item.schema
    if item.profile:
        dataset["profile"] = item.profile
    out: dict[str, Any] = {"dataset": dataset}
    if item.tags:
        out["tags"] = tags_to_json(item.tags)
    return out


def dataset_input_from_json(data: dict[str, Any]) -> DatasetInput:
    """Inverse of ``dataset_input_to_json``; raises InvalidParameter on a malformed input."""
    dataset = data.get("dataset")
    if not isinstance(dataset, dict):
        raise InvalidParameter("Each dataset input needs a 'dataset' object.")
    try:
        return DatasetInput(
            name=str(dataset["name"]),
            digest=str(dataset["digest"]),
            source_type=str(dataset.get("source_type", "")),
            source=str(dataset.get("source", "")),
            schema=str(dataset.get("schema", "")),
            profile=str(dataset.get("profile", "")),
            tags={str(t["key"]): str(t.get("value", "")) for t in data.get("tags") or ()},
        )
    except (KeyError, TypeError) as exc:
        raise InvalidParameter(f"Malformed dataset input: missing or bad field {exc}.") from exc


def run_to_json(run: Run) -> dict[str, Any]:
    """``Run`` message: info, data (latest metrics, params, tags) and inputs."""
    info: dict[str, Any] = {
        "run_id": run.run_id,
        "run_uuid": run.run_id,
        "run_name": run.run_name,
        "experiment_id": run.experiment_id,
        "user_id": run.user_id,
        "status": run.status,
        "artifact_uri": run.artifact_uri,
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.start_time_ms is not None:
        info["start_time"] = run.start_time_ms
    if run.end_time_ms is not None:
        info["end_time"] = run.end_time_ms
    data: dict[str, Any] = {}
    if run.metrics:
        data["metrics"] = [metric_to_json(m) for m in run.metrics]
    if run.params:
        data["params"] = tags_to_json(run.params)
    if run.tags:
        data["tags"] = tags_to_json(run.tags)
    out: dict[str, Any] = {"info": info, "data": data}
    out["inputs"] = {"dataset_inputs": [dataset_input_to_json(i) for i in run.inputs]} if run.inputs else {}
    return out


def run_from_json(data: dict[str, Any]) -> Run:
    """Inverse of ``run_to_json``."""
    info = data["info"]
    body = data.get("data") or {}
    inputs = (data.get("inputs") or {}).get("dataset_inputs") or ()
    return Run(
        run_id=info.get("run_id") or info["run_uuid"],
        experiment_id=str(info["experiment_id"]),
        run_name=info.get("run_name", ""),
        user_id=info.get("user_id", ""),
        status=info.get("status", "RUNNING"),
        start_time_ms=int(info["start_time"]) if "start_time" in info else None,
        end_time_ms=int(info["end_time"]) if "end_time" in info else None,
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        artifact_uri=info.get("artifact_uri", ""),
        metrics=tuple(metric_from_json(m) for m in body.get("metrics") or ()),
        params={p["key"]: p.get("value", "") for p in body.get("params") or ()},
        tags=tags_from_json(body.get("tags")),
        inputs=tuple(dataset_input_from_json(i) for i in inputs),
    )
