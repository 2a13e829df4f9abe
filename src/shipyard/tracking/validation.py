"""Input rules for tracking data, matching MLflow's so that both accept and refuse the same things."""

from __future__ import annotations

import logging
import posixpath
import re
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeAlias, overload
from urllib.parse import unquote, urlsplit

from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import DatasetInput, Metric, MetricSeries

__all__ = [
    "MAX_ARTIFACT_LOCATION_LENGTH",
    "MAX_DATASETS_PER_REQUEST",
    "MAX_DATASET_DIGEST_LENGTH",
    "MAX_DATASET_NAME_LENGTH",
    "MAX_DATASET_PROFILE_LENGTH",
    "MAX_DATASET_SCHEMA_LENGTH",
    "MAX_DATASET_SOURCE_LENGTH",
    "MAX_DATASET_SOURCE_TYPE_LENGTH",
    "MAX_ENTITIES_PER_BATCH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_INPUT_TAG_KEY_LENGTH",
    "MAX_INPUT_TAG_VALUE_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_RUN_NAME_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "MAX_USER_ID_LENGTH",
    "MetricColumns",
    "MetricGroups",
    "SeriesKey",
    "check_artifact_uri",
    "check_batch_sizes",
    "check_dataset_inputs",
    "check_experiment_name",
    "check_experiment_tag",
    "check_key",
    "check_length",
    "check_metric",
    "check_metric_columns",
    "check_param",
    "check_run_id",
    "check_run_name",
    "check_tag",
    "group_metrics",
    "series_of",
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
# MLflow's run columns: runs.name is VARCHAR(250), runs.user_id VARCHAR(256).
MAX_RUN_NAME_LENGTH = MAX_KEY_LENGTH
MAX_USER_ID_LENGTH = 256
# MLflow's MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH default: an experiment's artifact location.
MAX_ARTIFACT_LOCATION_LENGTH = 2048
# log-inputs. MLflow's client sends at most 1,000 datasets per request (MAX_DATASETS_PER_BATCH); the field
# limits are MLflow's server-side ones (mlflow/utils/validation.py), source_type is its column width.
MAX_DATASETS_PER_REQUEST = 1000
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_DATASET_SOURCE_TYPE_LENGTH = 36
MAX_DATASET_SOURCE_LENGTH = 65_535
MAX_DATASET_SCHEMA_LENGTH = 1_048_575
MAX_DATASET_PROFILE_LENGTH = 16_777_215
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500

PROXY_SCHEME = "mlflow-artifacts"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ACCEPTED_LOCATIONS = (
    "mlflow-artifacts:/<path> (or mlflow-artifacts://<host>/<path>), s3://<bucket>/<key>, or a folder beneath "
    "this server's artifact root, with no '..' component"
)
_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")


@overload
def check_length(field: str, value: str, limit: int) -> str: ...
@overload
def check_length(field: str, value: None, limit: int) -> None: ...
@overload
def check_length(field: str, value: str | None, limit: int) -> str | None: ...
def check_length(field: str, value: str | None, limit: int) -> str | None:
    """Refuse a value longer than ``limit`` characters (None, an absent field, passes).

    Args:
        field: what the value is, as the message should name it (``'description'``, ``Model version tag key``).
        value: the value sent.
        limit: the most characters accepted; a value of exactly ``limit`` characters passes.

    Returns:
        ``value``, unchanged.

    Raises:
        InvalidParameter: the value is too long; the message names the field, the limit and the length sent.

    Example:
        >>> check_length("'description'", "a short text", 5000)
        'a short text'
    """
    if value is not None and len(value) > limit:
        raise InvalidParameter(f"{field} exceeds the maximum length of {limit} characters (got {len(value)}).")
    return value


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
SeriesKey: TypeAlias = str | MetricSeries
"""What metric columns are grouped by: the key alone, or the key and the logged model the points are linked to."""
MetricGroups: TypeAlias = Mapping[str, MetricColumns] | Mapping[SeriesKey, MetricColumns]
"""Metric columns by series; plain keys alone (``dict[str, MetricColumns]``) are the common case."""


def series_of(
    key: str, model_id: str | None, dataset_name: str | None = None, dataset_digest: str | None = None
) -> SeriesKey:
    """The group a point belongs to: its key, or its key and logged model (with the dataset, if any).

    An empty ``model_id`` is no model (MLflow's server reads "" as unset); a dataset without a model is dropped,
    as MLflow keeps datasets only on a logged model's metrics.
    """
    if not model_id:
        return key
    return MetricSeries(key, model_id, dataset_name or None, dataset_digest or None)


def group_metrics(points: Sequence[Metric], known_keys: set[str]) -> dict[SeriesKey, MetricColumns]:
    """Validate many points and group them by series into (steps, timestamps, values) columns.

    Checks run per column at C speed (array conversion, min/max), so a million points cost well under a
    second; names already in ``known_keys`` are not re-checked. Integral values become floats. A point with a
    ``model_id`` is grouped under a :class:`MetricSeries`, one without under its key.

    Raises:
        InvalidParameter: a name, value, timestamp, step, model id or dataset field is invalid (naming the metric).
    """
    groups: dict[SeriesKey, MetricColumns] = {}
    for key, value, stamp, step, model_id, dataset_name, dataset_digest, _run_id in points:
        series = key if model_id is None else series_of(key, model_id, dataset_name, dataset_digest)
        columns = groups.get(series)
        if columns is None:
            columns = groups[series] = ([], [], [])
        columns[0].append(step)
        columns[1].append(stamp)
        columns[2].append(value)
    check_metric_columns(groups, known_keys)
    return groups


def _check_series(series: MetricSeries) -> None:
    key, model_id, dataset_name, dataset_digest = series
    if not isinstance(model_id, str) or not model_id:
        raise InvalidParameter(f"Metric '{key}' model_id must be a non-empty string, got {model_id!r}.")
    for field, value, limit in (
        ("dataset_name", dataset_name, MAX_DATASET_NAME_LENGTH),
        ("dataset_digest", dataset_digest, MAX_DATASET_DIGEST_LENGTH),
    ):
        if value is not None and not isinstance(value, str):
            raise InvalidParameter(f"Metric '{key}' {field} must be a string, got {value!r}.")
        check_length(f"Metric '{key}' {field}", value, limit)


def check_metric_columns(groups: MetricGroups, known_keys: set[str]) -> None:
    """Validate metric columns in place (see ``group_metrics``); integral values become floats."""
    for series, (steps, stamps, values) in groups.items():
        if isinstance(series, str):
            key = series
        else:
            key = series.key
            _check_series(series)
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


def check_run_name(name: str | None) -> str | None:
    """A run name: at most 250 characters (MLflow's column), or None to leave it as it is."""
    return check_length("Run name", name, MAX_RUN_NAME_LENGTH)


def check_dataset_inputs(inputs: Sequence[DatasetInput]) -> None:
    """Validate a log-inputs request: at most 1,000 datasets, each within MLflow's field limits.

    Limits (characters): name 500, digest 36, source_type 36, source 65,535, schema 1,048,575,
    profile 16,777,215; each input tag key 255 and value 500. Name and digest must be non-empty.

    Raises:
        InvalidParameter: too many datasets, or a field is missing or too long (named by its request path,
            e.g. ``datasets[3].dataset.digest``).
    """
    if len(inputs) > MAX_DATASETS_PER_REQUEST:
        raise InvalidParameter(
            f"A log-inputs request can contain at most {MAX_DATASETS_PER_REQUEST} datasets. Got {len(inputs)} "
            "datasets. Please split them across several requests."
        )
    for i, item in enumerate(inputs):
        where = f"datasets[{i}]"
        if not item.name or not item.digest:
            raise InvalidParameter(f"{where}.dataset needs a non-empty 'name' and 'digest'.")
        for name, value, limit in (
            ("name", item.name, MAX_DATASET_NAME_LENGTH),
            ("digest", item.digest, MAX_DATASET_DIGEST_LENGTH),
            ("source_type", item.source_type, MAX_DATASET_SOURCE_TYPE_LENGTH),
            ("source", item.source, MAX_DATASET_SOURCE_LENGTH),
            ("schema", item.schema, MAX_DATASET_SCHEMA_LENGTH),
            ("profile", item.profile, MAX_DATASET_PROFILE_LENGTH),
        ):
            check_length(f"'{where}.dataset.{name}'", value, limit)
        for key, value in item.tags.items():
            check_length(f"'{where}.tags.key'", key, MAX_INPUT_TAG_KEY_LENGTH)
            check_length(f"'{where}.tags.value' of tag '{key}'", value, MAX_INPUT_TAG_VALUE_LENGTH)


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


def _refuse_location(field: str, uri: str, problem: str, extra: str = "") -> InvalidParameter:
    shown = uri if len(uri) <= 200 else uri[:200] + "..."
    return InvalidParameter(f"Invalid {field} {shown!r}: {problem}. Accepted: {extra}{_ACCEPTED_LOCATIONS}.")


def _confined_key(field: str, uri: str, path: str, extra: str) -> str:
    """``path`` as a key relative to some root, refusing ``..`` (also percent-encoded), NULs and backslashes."""
    try:
        return safe_relpath(path.lstrip("/"))
    except InvalidParameter as exc:
        raise _refuse_location(
            field, uri, f"its path could leave the artifact root ({exc.message.rstrip('.')})", extra
        ) from None


def _local_roots(artifact_root: str) -> tuple[str, ...]:
    """A local artifact root (a path or ``file:`` URI) as given and with symlinks resolved; () for object stores."""
    if not artifact_root:
        return ()
    match = _SCHEME_RE.match(artifact_root)
    if match is not None and len(match.group(1)) > 1:
        if match.group(1).lower() != "file":
            return ()
        artifact_root = unquote(urlsplit(artifact_root).path)
    folder = Path(artifact_root).expanduser()
    return tuple(dict.fromkeys((folder.absolute().as_posix(), folder.resolve().as_posix())))


def _local_path(field: str, uri: str, extra: str) -> str:
    """The absolute path a plain path or ``file:`` URI names (a ``file:`` URI naming another host is refused)."""
    if not uri.lower().startswith("file:"):
        if not uri.startswith("/"):
            raise _refuse_location(field, uri, "it is a relative path", extra)
        return uri
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise _refuse_location(field, uri, f"it names the host {parts.netloc!r}", extra)
    if not parts.path.startswith("/"):
        raise _refuse_location(field, uri, "it is a relative file: URI", extra)
    return unquote(parts.path)


def _under(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (by components; ``//x`` and ``/./x`` read as ``/x``), or None outside."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    root_parts = [p for p in root.split("/") if p not in ("", ".")]
    if parts[: len(root_parts)] != root_parts:
        return None
    return "/".join(parts[len(root_parts) :])


def check_artifact_uri(uri: str, artifact_root: str, *, field: str = "artifact_location", extra: str = "") -> str:
    """Check that a stored location cannot point the server at files outside its artifact root.

    Accepted: ``mlflow-artifacts:/<path>`` and ``mlflow-artifacts://<host>/<path>`` (MLflow's proxied artifact
    URIs, served from this server's root), ``s3://<bucket>/<key>`` (an object store location; the server reads
    only its own root, through the artifact store), and a plain path or ``file:`` URI beneath ``artifact_root``
    when that root is a local folder. No form may have a ``..`` component, raw or percent-encoded, a NUL byte
    or a backslash. Any other scheme (``file:`` elsewhere, ``dbfs:``, ``hdfs:``, ``ftp:``, ``http:``, …) is
    refused.

    Args:
        uri: the location (an experiment's ``artifact_location``, a model version's ``source``).
        artifact_root: the server's artifact root (a folder, ``file:`` or ``s3:`` URI); empty when unknown,
            which refuses every local path.
        field: the request field, named in the message.
        extra: accepted forms to list before the ones above (the registry adds ``runs:/`` and ``models:/``).

    Returns:
        ``uri``, unchanged.

    Raises:
        InvalidParameter: the location is none of the accepted forms, or could leave the artifact root.

    Example:
        >>> check_artifact_uri("mlflow-artifacts:/1/models", "/data/artifacts")
        'mlflow-artifacts:/1/models'
    """
    if not isinstance(uri, str) or not uri.strip():
        raise _refuse_location(field, str(uri), "it is empty", extra)
    if any(ord(c) < 32 for c in uri):
        raise _refuse_location(field, uri, "it contains control characters", extra)
    match = _SCHEME_RE.match(uri)
    scheme = match.group(1).lower() if match is not None else ""
    if scheme == PROXY_SCHEME:
        rest = uri[len(PROXY_SCHEME) + 1 :]
        if rest.startswith("//"):
            rest = "/" + rest[2:].partition("/")[2]
        if not rest.startswith("/") or not _confined_key(field, uri, rest, extra):
            raise _refuse_location(field, uri, "it names no folder under the artifact root", extra)
        return uri
    if scheme == "s3":
        parts = urlsplit(uri)
        if not parts.netloc or not uri[len("s3:") :].startswith("//"):
            raise _refuse_location(field, uri, "it names no bucket", extra)
        _confined_key(field, uri, parts.path, extra)
        return uri
    if scheme and scheme != "file":
        raise _refuse_location(field, uri, f"the scheme {scheme + ':'!r} is not served by this server", extra)
    path = _local_path(field, uri, extra)
    _confined_key(field, uri, path, extra)  # '..' anywhere, raw or encoded, NUL, backslash
    if all(_under(path, root) is None for root in _local_roots(artifact_root)):
        raise _refuse_location(field, uri, "it is a local path outside this server's artifact root", extra)
    return uri
