"""Plain data the templates show: runs-table columns and sort links, lineage facts, diffs and chart series."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.tracking import lineage, search
from shipyard.tracking.entities import Metric, Run

__all__ = [
    "DiffRow",
    "SortColumn",
    "chart_points",
    "diff_rows",
    "extra_lineage_tags",
    "latest_metrics",
    "lineage_facts",
    "order_item",
    "parse_order",
    "sort_columns",
]

MAX_CHART_POINTS = 1000
_BARE_KEY = re.compile(r"[A-Za-z0-9_.\-/:]+")
_PREFIX = {
    search.Kind.ATTRIBUTE: "attributes",
    search.Kind.PARAM: "params",
    search.Kind.METRIC: "metrics",
    search.Kind.TAG: "tags",
}
LINEAGE_PREFIXES = ("mlflow.source.", "shipyard.lineage.")
_LINEAGE_LABELS = (
    ("Git commit", lineage.TAG_GIT_COMMIT),
    ("Uncommitted changes", lineage.TAG_GIT_DIRTY),
    ("Git branch", lineage.TAG_GIT_BRANCH),
    ("Repository", lineage.TAG_GIT_REPO),
    ("Entry point", lineage.TAG_SOURCE_NAME),
    ("Source type", lineage.TAG_SOURCE_TYPE),
    ("Command", lineage.TAG_COMMAND),
    ("Python", lineage.TAG_PYTHON),
    ("Platform", lineage.TAG_PLATFORM),
    ("Installed packages", lineage.TAG_PACKAGES_COUNT),
)


def quote_key(key: str) -> str:
    """A metric, param or tag key as the filter grammar reads it: bare when plain, else in backticks."""
    if _BARE_KEY.fullmatch(key):
        return key
    return "`" + key.replace("`", "``") + "`"


def order_item(kind: search.Kind, key: str, *, ascending: bool) -> str:
    """One ``order_by`` item, e.g. ``metrics.`val loss` DESC``."""
    return f"{_PREFIX[kind]}.{quote_key(key)} {'ASC' if ascending else 'DESC'}"


def parse_order(order: str) -> search.OrderKey | None:
    """The sort key of the page's ``order`` query value (None for the default order).

    Raises:
        InvalidParameter: the value is not a valid order_by item; the message says why.
    """
    if not order.strip():
        return None
    keys = search.parse_order_by([order], search.RUN_SEARCH)
    return keys[0] if keys else None


@dataclass(frozen=True)
class SortColumn:
    """A runs-table header: its label, the order it links to, and its arrow when it is the current sort."""

    label: str
    kind: search.Kind
    key: str
    link_order: str
    arrow: str


def _sort_column(label: str, kind: search.Kind, key: str, current: search.OrderKey | None) -> SortColumn:
    is_current = current is not None and current.kind is kind and current.key == key
    if is_current:
        assert current is not None
        ascending = not current.ascending
        arrow = "▲" if current.ascending else "▼"
    else:
        # Numbers and times read best largest-first; names and strings alphabetically.
        ascending = kind not in (search.Kind.METRIC,) and key != "start_time"
        arrow = ""
    return SortColumn(label, kind, key, order_item(kind, key, ascending=ascending), arrow)


def sort_columns(
    runs: Sequence[Run], current: search.OrderKey | None
) -> tuple[list[SortColumn], list[SortColumn], list[SortColumn]]:
    """Attribute, param and metric headers for a page of runs (params and metrics: the union, sorted)."""
    attr = search.Kind.ATTRIBUTE
    attributes = [
        _sort_column("Run", attr, "run_name", current),
        _sort_column("Status", attr, "status", current),
        _sort_column("Started (UTC)", attr, "start_time", current),
        _sort_column("User", attr, "user_id", current),
    ]
    param_keys = sorted({key for run in runs for key in run.params})
    metric_keys = sorted({m.key for run in runs for m in run.metrics})
    params = [_sort_column(k, search.Kind.PARAM, k, current) for k in param_keys]
    metrics = [_sort_column(k, search.Kind.METRIC, k, current) for k in metric_keys]
    return attributes, params, metrics


def latest_metrics(run: Run) -> dict[str, Metric]:
    """The run's latest metric values by key."""
    return {m.key: m for m in run.metrics}


def lineage_facts(tags: dict[str, str]) -> list[tuple[str, str]]:
    """The lineage facts a run recorded, labelled, in a fixed order (absent facts are left out)."""
    return [(label, tags[key]) for label, key in _LINEAGE_LABELS if key in tags]


def extra_lineage_tags(tags: dict[str, str]) -> list[tuple[str, str]]:
    """Lineage-prefixed tags that have no label of their own, sorted by key."""
    known = {key for _, key in _LINEAGE_LABELS}
    return sorted((k, v) for k, v in tags.items() if k.startswith(LINEAGE_PREFIXES) and k not in known)


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side comparison: a key, one value per run, and whether the values differ."""

    key: str
    values: list[Any]
    differs: bool


def diff_rows(runs: Sequence[Run], values_of: Callable[[Run], dict[str, Any]]) -> list[DiffRow]:
    """Rows over the union of keys; a key missing from some runs counts as different."""
    per_run = [values_of(run) for run in runs]
    keys = sorted({key for values in per_run for key in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_run]
        rows.append(DiffRow(key, values, len({repr(v) for v in values}) > 1))
    return rows


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def chart_points(history: Iterable[Metric], limit: int = MAX_CHART_POINTS) -> list[list[Any]]:
    """``[step, value]`` pairs ordered by step, thinned evenly to at most ``limit`` (NaN/inf become null)."""
    points = sorted(history, key=lambda m: (m.step, m.timestamp_ms))
    if len(points) > limit:
        stride = (len(points) - 1) / (limit - 1)
        points = [points[round(i * stride)] for i in range(limit)]
    return [[m.step, _finite(m.value)] for m in points]
