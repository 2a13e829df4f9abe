"""Input rules for tracking data, matching MLflow's so that both accept and refuse the same things."""

from __future__ import annotations

import logging
import posixpath
import re
from array import array
from collections.abc import Sequence

from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import Metric

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "MetricColumns",
    "check_batch_sizes",
    "check_experiment_name",
    "check_experiment_tag",
    "check_key",
    "check_metric",
    "check_metric_columns",
    "check_param",
    "check_run_id",
    "check_tag",
    "group_metrics",
]

_log = logging.getLogger("shipyard.tracking")

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_INT64 = 2**63 - 1

_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")


def check_key(kind: str, key: object) -> str:
    """Validate a metric, param or tag name: allowed characters, not path-like, at most 250 characters."""
    if not isinstance(key, str) or key == "":
        raise InvalidParameter(f"{kind} name must be a non-empty string, got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(f"{kind} name '{key[:60]}…' exceeds the maximum length of {MAX_KEY_LENGTH} characters.")
    if not _NAME_RE.match(key):
        raise InvalidParameter(
            f"Invalid {kind.lower()} name {key!r}: names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    normalised = posixpath.normpath(key)
    if normalised != key or normalised == "." or normalised.startswith(("..", "/")):
        raise InvalidParameter(
            f"Invalid {kind.lower()} name {key!r}: names may be treated as files in certain cases, and must not "
            "resolve to other names when treated as such (no '..', leading '/', '//' or trailing '/')."
        )
    return key


def check_metric(key: object, value: object, timestamp_ms: object, step: object) -> tuple[str, float, int, int]:
    """Validate one metric point and return it typed (NaN and ±inf are allowed, as MLflow allows them)."""
    name = check_key("Metric", key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"Metric '{name}' value must be a number, got {value!r}.")
    number = float(value)
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or not 0 <= timestamp_ms <= MAX_INT64:
        raise InvalidParameter(
            f"Metric '{name}' timestamp must be a non-negative 64-bit integer, got {timestamp_ms!r}."
        )
    if isinstance(step, bool) or not isinstance(step, int) or not -MAX_INT64 - 1 <= step <= MAX_INT64:
        raise InvalidParameter(f"Metric '{name}' step must be a 64-bit integer, got {step!r}.")
    return name, number, timestamp_ms, step


MetricColumns = tuple[list[int], list[int], list[float]]


def group_metrics(points: Sequence[Metric], known_keys: set[str]) -> dict[str, MetricColumns]:
    """Validate many points and group them by key into (steps, timestamps, values) columns.

    Checks run per column at C speed (array conversion, min/max), so a million points cost well under a
    second; names already in ``known_keys`` are not re-checked. Integral values become floats.

    Raises:
        InvalidParameter: a name, value, timestamp or step is invalid (naming the metric).
    """
    groups: dict[str, MetricColumns] = {}
    for key, value, stamp, step in points:
        columns = groups.get(key)
        if columns is None:
            columns = groups[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(stamp)
        columns[2].append(value)
    check_metric_columns(groups, known_keys)
    return groups


def check_metric_columns(groups: dict[str, MetricColumns], known_keys: set[str]) -> None:
    """Validate metric columns in place (see ``group_metrics``); integral values become floats."""
    for key, (steps, stamps, values) in groups.items():
        if not len(steps) == len(stamps) == len(values) or not steps:
            raise InvalidParameter(f"Metric '{key}' columns must be non-empty and of equal length.")
        if key not in known_keys:
            check_key("Metric", key)
            if len(known_keys) > 100_000:
                known_keys.clear()
            known_keys.add(key)
        kinds = set(map(type, values))
        if kinds - {float}:
            if kinds - {float, int}:
                bad = next(v for v in values if type(v) not in (float, int))
                raise InvalidParameter(f"Metric '{key}' value must be a number, got {bad!r}.")
            values[:] = [float(v) for v in values]
        _check_int64_column(key, "timestamp", stamps, 0)
        _check_int64_column(key, "step", steps, -MAX_INT64 - 1)


def _check_int64_column(key: str, field: str, column: list[int], lowest: int) -> None:
    try:
        array("q", column)
    except (TypeError, OverflowError):
        bad = next((v for v in column if type(v) is not int or not lowest <= v <= MAX_INT64), column[0])
        raise InvalidParameter(f"Metric '{key}' {field} must be a 64-bit integer, got {bad!r}.") from None
    if bool in set(map(type, column)) or min(column) < lowest:
        bad = next(v for v in column if type(v) is bool or v < lowest)
        raise InvalidParameter(
            f"Metric '{key}' {field} must be a {'non-negative ' if lowest == 0 else ''}64-bit integer, got {bad!r}."
        )


def _truncate(kind: str, name: str, value: str, limit: int) -> str:
    # MLflow's server cuts over-long param and tag values (with a warning) rather than refusing them.
    if len(value) <= limit:
        return value
    _log.warning("%s '%s' value of %d characters is truncated to %d", kind, name, len(value), limit)
    return value[:limit]


def check_param(key: object, value: object) -> tuple[str, str]:
    """Validate a param; a value over 6000 characters is cut to 6000, as MLflow does."""
    name = check_key("Param", key)
    if not isinstance(value, str):
        raise InvalidParameter(f"Param '{name}' value must be a string, got {type(value).__name__}.")
    return name, _truncate("Param", name, value, MAX_PARAM_VALUE_LENGTH)


def check_tag(key: object, value: object, *, max_value_length: int = MAX_TAG_VALUE_LENGTH) -> tuple[str, str]:
    """Validate a run tag (value cut to 8000 characters, as MLflow does)."""
    name = check_key("Tag", key)
    if not isinstance(value, str):
        raise InvalidParameter(f"Tag '{name}' value must be a string, got {type(value).__name__}.")
    return name, _truncate("Tag", name, value, max_value_length)


def check_experiment_tag(key: object, value: object) -> tuple[str, str]:
    """Validate an experiment tag: a value over 20000 characters is refused, as MLflow does."""
    name = check_key("Tag", key)
    if not isinstance(value, str):
        raise InvalidParameter(f"Tag '{name}' value must be a string, got {type(value).__name__}.")
    if len(value) > MAX_EXPERIMENT_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"Tag '{name}' value exceeds the maximum length of {MAX_EXPERIMENT_TAG_VALUE_LENGTH} characters."
        )
    return name, value


def check_experiment_name(name: object) -> str:
    """Validate an experiment name: a non-empty string of at most 500 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"Invalid experiment name: {name!r}. Expected a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(
            f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters."
        )
    return name


def check_run_id(run_id: object) -> str:
    """Validate the shape of a run id (the lookup itself reports a missing run)."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameter(f"Invalid run id {run_id!r}: expected a run id such as 'a1b2c3…' (hex).")
    return run_id


def check_batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    """MLflow's per-request limits for log-batch."""
    for what, count, limit in (
        ("metrics", n_metrics, MAX_METRICS_PER_BATCH),
        ("params", n_params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", n_tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metrics, params, and tags", n_metrics + n_params + n_tags, MAX_ENTITIES_PER_BATCH),
    ):
        if count > limit:
            raise InvalidParameter(
                f"A batch logging request can contain at most {limit} {what}. Got {count} {what}. "
                "Please split them across several requests."
            )
