"""Input rules for tracking data, matching MLflow's so that both accept and refuse the same things."""

from __future__ import annotations

import math
import posixpath
import re

from shipyard.errors import InvalidParameter

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "check_batch_sizes",
    "check_experiment_name",
    "check_key",
    "check_metric",
    "check_param",
    "check_run_id",
    "check_tag",
]

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
        raise InvalidParameter(f"Metric '{name}' timestamp must be a non-negative 64-bit integer, got {timestamp_ms!r}.")
    if isinstance(step, bool) or not isinstance(step, int) or not -MAX_INT64 - 1 <= step <= MAX_INT64:
        raise InvalidParameter(f"Metric '{name}' step must be a 64-bit integer, got {step!r}.")
    return name, number, timestamp_ms, step


def check_param(key: object, value: object) -> tuple[str, str]:
    """Validate a param; the value is a string of at most 6000 characters."""
    name = check_key("Param", key)
    if not isinstance(value, str):
        raise InvalidParameter(f"Param '{name}' value must be a string, got {type(value).__name__}.")
    if len(value) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameter(
            f"Param '{name}' value exceeds the maximum length of {MAX_PARAM_VALUE_LENGTH} characters."
        )
    return name, value


def check_tag(key: object, value: object, *, max_value_length: int = MAX_TAG_VALUE_LENGTH) -> tuple[str, str]:
    """Validate a tag; the value is a string of at most 8000 characters (20000 for experiment tags)."""
    name = check_key("Tag", key)
    if not isinstance(value, str):
        raise InvalidParameter(f"Tag '{name}' value must be a string, got {type(value).__name__}.")
    if len(value) > max_value_length:
        raise InvalidParameter(f"Tag '{name}' value exceeds the maximum length of {max_value_length} characters.")
    return name, value


def check_experiment_name(name: object) -> str:
    """Validate an experiment name: a non-empty string of at most 500 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"Invalid experiment name: {name!r}. Expected a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters.")
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


def is_nan(value: float) -> bool:
    """True for NaN (stored with a flag, since SQLite turns NaN into NULL)."""
    return math.isnan(value)
