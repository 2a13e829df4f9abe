"""Alert rules over a monitor's stored series: whether each rule holds in a window, and whether it is firing.

Pure functions, no I/O. A rule fires once its condition held in ``windows`` consecutive windows and stops as
soon as it does not hold; a window that cannot tell (no rows, no labels yet, the column not tested) is passed
over: it neither extends nor breaks the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.monitoring.monitors._spec import (
    AlertRule,
    ColumnDriftRule,
    DatasetDriftRule,
    DriftedShareRule,
    MetricRule,
)

__all__ = ["Check", "RuleState", "check", "describe", "rule_state"]


@dataclass(frozen=True)
class Check:
    """One rule in one window: whether it held (None: the window cannot tell) and the value looked at."""

    holds: bool | None
    value: float | None = None


@dataclass(frozen=True)
class RuleState:
    """A rule at the newest window of a series: firing or not, and why."""

    firing: bool
    value: float | None
    message: str


def _column(window: Any, name: str) -> dict[str, Any] | None:
    found = window.columns.get(name)
    return found if isinstance(found, dict) and "drifted" in found else None


def check(rule: AlertRule, window: Any) -> Check:
    """Whether ``rule``'s condition holds in ``window`` (a `MonitorWindow` or anything with its fields)."""
    if isinstance(rule, DriftedShareRule):
        share = window.drifted_share
        return Check(None) if share is None else Check(share >= rule.at_least, share)
    if isinstance(rule, DatasetDriftRule):
        drift, share = window.dataset_drift, window.drifted_share
        return Check(None) if drift is None else Check(bool(drift), share)
    if isinstance(rule, ColumnDriftRule):
        column = _column(window, rule.column)
        if column is None:
            return Check(None)
        score = column.get("score")
        return Check(bool(column["drifted"]), float(score) if isinstance(score, int | float) else None)
    assert isinstance(rule, MetricRule)
    return _check_metric(rule, window.metrics.get(rule.metric))


def _check_metric(rule: MetricRule, value: Any) -> Check:
    if not isinstance(value, int | float):
        return Check(None)
    if rule.below is not None:
        return Check(value < rule.below, float(value))
    assert rule.above is not None
    return Check(value > rule.above, float(value))


def describe(rule: AlertRule) -> str:
    """The rule in words: ``column 'age' drifted for 3 consecutive windows``."""
    if isinstance(rule, DriftedShareRule):
        what = f"drifted share >= {rule.at_least:g}"
    elif isinstance(rule, DatasetDriftRule):
        what = "dataset drift"
    elif isinstance(rule, ColumnDriftRule):
        what = f"column '{rule.column}' drifted"
    else:
        assert isinstance(rule, MetricRule)
        bound = f"below {rule.below:g}" if rule.below is not None else f"above {rule.above:g}"
        what = f"{rule.metric} {bound}"
    if rule.windows > 1:
        what += f" for {rule.windows} consecutive windows"
    return what


def rule_state(rule: AlertRule, windows: Sequence[Any]) -> RuleState | None:
    """The rule's state at the last window of ``windows`` (oldest first), or None when that window cannot tell.

    Firing means: the newest ``rule.windows`` windows that can tell all hold, and the newest window is one of them.
    """
    if not windows:
        return None
    last = check(rule, windows[-1])
    if last.holds is None:
        return None
    told: list[Check] = []
    for window in reversed(windows):
        found = check(rule, window)
        if found.holds is None:
            continue
        if not found.holds:
            break
        told.append(found)
        if len(told) >= rule.windows:
            break
    firing = bool(last.holds) and len(told) >= rule.windows
    value = "" if last.value is None else f" (value {last.value:.4g})"
    message = f"{rule.name}: {describe(rule)}{value}" if firing else f"{rule.name}: back to normal{value}"
    return RuleState(firing=firing, value=last.value, message=message)
