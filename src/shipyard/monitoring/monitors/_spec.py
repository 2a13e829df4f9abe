"""The monitor spec: what a monitor watches, against which reference, per which window, and when it alerts.

A pydantic model read from YAML or JSON; a mistake is reported with the field's dotted path
(``alerts.1.column_drift.windows: Input should be greater than or equal to 1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard._specs import read_spec_text, spec_mapping
from shipyard.errors import InvalidParameter

__all__ = [
    "AlertRule",
    "ColumnDriftRule",
    "DatasetDriftRule",
    "DatasetSource",
    "DriftSettings",
    "DriftedShareRule",
    "LogSource",
    "MetricRule",
    "MonitorSpec",
    "Reference",
    "TimeWindow",
    "dump_spec",
    "load_spec",
    "parse_spec",
    "window_seconds",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
_WINDOWS = {"1h": 3600, "1d": 86_400}
MIN_WINDOW_S = 60
MAX_WINDOW_S = 31 * 86_400
MAX_CATCH_UP = 10_000
_EXPECTED = "at least 'name', a source and 'reference'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSource(_Strict):
    """A deployment's prediction log.

    Attributes:
        uri: the log's artifact store URI (``shipyard serve --prediction-log``; a folder, ``file://`` or ``s3://``).
        name: the deployment's name (it names the log's folder and decides who may see the monitor).
        variant: watch only this variant (route); every variant by default.
        include_shadow: also test shadow predictions' inputs (they repeat the served rows: off by default).
    """

    uri: str = Field(min_length=1)
    name: str = Field(pattern=NAME_PATTERN)
    variant: str | None = None
    include_shadow: bool = False


class DatasetSource(_Strict):
    """Any Parquet data set with a time column.

    Attributes:
        path: a Parquet file or folder (a path, ``file://`` or ``s3://`` URI).
        time_column: the column the windows cut on (a timestamp, or integer ms since the epoch).
    """

    path: str = Field(min_length=1)
    time_column: str = Field(min_length=1)


class TimeWindow(_Strict):
    """A time range, ``[start_ms, end_ms)``."""

    start_ms: int = Field(ge=0)
    end_ms: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"end_ms ({self.end_ms}) must be after start_ms ({self.start_ms})")
        return self


class Reference(_Strict):
    """What each window is compared with: a Parquet data set (the training data), or a window of the same log.

    Attributes:
        path: a Parquet file or folder; its columns are named as the model's inputs (an ``input.`` prefix is
            dropped too).
        window: a time range of the watched source itself.
    """

    path: str | None = Field(default=None, min_length=1)
    window: TimeWindow | None = None

    @model_validator(mode="after")
    def _one(self) -> Reference:
        if (self.path is None) == (self.window is None):
            raise ValueError("give exactly one of 'path' or 'window'")
        return self


class DriftSettings(_Strict):
    """How drift is tested: passed to ``shipyard.monitoring.drift.data_drift`` as they are.

    Attributes:
        preset: ``default`` (Evidently's rules) or ``robust``.
        drift_share: the share of drifted columns at which a window counts as drifted.
        method: the test for every column (``ks``, ``wasserstein``, ``psi``, ``jensenshannon``, ...).
        num_method: ... for numerical columns; cat_method: for categorical ones; per_column_method: per column.
        threshold: the threshold for every column; num_threshold, cat_threshold, per_column_threshold likewise.
        numerical_columns: columns to test as numerical; categorical_columns: as categorical.
    """

    preset: Literal["default", "robust"] = "default"
    drift_share: float = Field(default=0.5, gt=0, le=1)
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: dict[str, str] | None = None
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    per_column_threshold: dict[str, float] | None = None
    numerical_columns: list[str] | None = None
    categorical_columns: list[str] | None = None

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``data_drift`` this asks for."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class _Rule(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    severity: Literal["info", "warning", "critical"] = "warning"
    windows: int = Field(default=1, ge=1, le=1000)
    """The rule fires when its condition held in this many consecutive windows."""


class DriftedShareRule(_Rule):
    """Fires when the share of drifted columns is at least ``at_least``."""

    rule: Literal["drifted_share"]
    at_least: float = Field(gt=0, le=1)


class ColumnDriftRule(_Rule):
    """Fires when one column drifted (named without the ``input.`` prefix)."""

    rule: Literal["column_drift"]
    column: str = Field(min_length=1)


class DatasetDriftRule(_Rule):
    """Fires when the window as a whole drifted (its drifted share reached ``drift.drift_share``)."""

    rule: Literal["dataset_drift"]


class MetricRule(_Rule):
    """Fires when a window metric is below ``below`` or above ``above``.

    Metrics: ``rows``, ``drifted_share``, ``latency_p50_ms``/``_p95_``/``_p99_``, ``requests``, ``labelled_rows``,
    every number of the model quality (``accuracy``, ``f1``, ``mae``...) and of the data quality, by name or
    dotted path (``model.accuracy``). A window without the metric (no labels yet) neither fires nor resolves.
    """

    rule: Literal["metric"]
    metric: str = Field(min_length=1)
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> MetricRule:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' or 'above'")
        return self


AlertRule = Annotated[DriftedShareRule | ColumnDriftRule | DatasetDriftRule | MetricRule, Field(discriminator="rule")]


class MonitorSpec(_Strict):
    """A monitor.

    Attributes:
        name: unique; letters, digits, ``_``, ``.``, ``-``.
        deployment: watch this deployment's prediction log (its grants decide who may see and change the monitor).
        dataset: ... or watch a Parquet data set with a time column (admins only on a server).
        reference: what every window is compared with.
        columns: the columns to test (names without ``input.``); every input column by default.
        drift: the drift preset, share and options.
        window: ``"1h"``, ``"1d"`` or a number of seconds.
        start_ms: the first window starts at or after this; by default the catch-up bound decides.
        delay_s: a window is computed only this long after it ends (so late labels can arrive).
        max_catch_up: at most this many windows are computed by one run (the newest ones).
        schedule_s: how often ``shipyard monitors run --loop`` runs it (default: once per window).
        task: how predictions compare with labels: ``classification``, ``regression`` or ``auto``.
        alerts: the alert rules.
    """

    name: str = Field(pattern=NAME_PATTERN)
    deployment: LogSource | None = None
    dataset: DatasetSource | None = None
    reference: Reference
    columns: list[str] | None = Field(default=None, min_length=1)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    window: Literal["1h", "1d"] | int = "1d"
    start_ms: int | None = Field(default=None, ge=0)
    delay_s: int = Field(default=0, ge=0, le=MAX_WINDOW_S)
    max_catch_up: int = Field(default=48, ge=1, le=MAX_CATCH_UP)
    schedule_s: int | None = Field(default=None, ge=1)
    task: Literal["auto", "classification", "regression"] = "auto"
    alerts: list[AlertRule] = Field(default_factory=list)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        if isinstance(value, int) and not MIN_WINDOW_S <= value <= MAX_WINDOW_S:
            raise ValueError(f"a window of seconds must be in {MIN_WINDOW_S}..{MAX_WINDOW_S}")
        return value

    @model_validator(mode="after")
    def _source(self) -> MonitorSpec:
        if (self.deployment is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'deployment' or 'dataset'")
        names = [rule.name for rule in self.alerts]
        if len(set(names)) != len(names):
            raise ValueError("alert rule names must be unique")
        return self

    @property
    def window_s(self) -> int:
        """The window's length in seconds."""
        return window_seconds(self.window)

    @property
    def deployment_name(self) -> str | None:
        """The watched deployment's name, or None for a data set monitor."""
        return self.deployment.name if self.deployment is not None else None


def window_seconds(window: str | int) -> int:
    """``"1h"`` -> 3600, ``"1d"`` -> 86400, seconds as they are."""
    return _WINDOWS[window] if isinstance(window, str) else int(window)


def _location(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())) or "(spec)"


def parse_spec(data: Mapping[str, Any] | str) -> MonitorSpec:
    """A validated spec from a mapping or YAML/JSON text.

    Raises:
        InvalidParameter: not a mapping, or a field is wrong; the message names the field.

    Example:
        >>> spec = parse_spec("name: churn\\ndeployment: {uri: /data/predlog, name: churn}\\n"
        ...                   "reference: {window: {start_ms: 0, end_ms: 86400000}}\\n")
        >>> spec.window_s
        86400
    """
    if isinstance(data, str):
        data = spec_mapping(data, source="The monitor spec", expected=_EXPECTED, detail_chars=None)
    if not isinstance(data, Mapping):
        raise InvalidParameter(f"The monitor spec must be a mapping with {_EXPECTED}.")
    try:
        return MonitorSpec.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e)}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidParameter(f"Invalid monitor spec: {problems}.") from None


def load_spec(path: str | Path) -> MonitorSpec:
    """A validated spec from a YAML or JSON file.

    Raises:
        InvalidParameter: unreadable, or invalid (the message names the field).
    """
    return parse_spec(read_spec_text(path, what="monitor spec"))


def dump_spec(spec: MonitorSpec) -> str:
    """The spec as stored (`parse_spec` reads it back): JSON with every default written out, so it reads back
    identical."""
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)


def is_name(text: str) -> bool:
    """Whether ``text`` is a valid monitor name."""
    return bool(_NAME.match(text))
