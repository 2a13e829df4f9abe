"""Alert rules over a stored series, the window grid, and the monitor spec's validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from shipyard.errors import InvalidParameter
from shipyard.monitoring.monitors import (
    ColumnDriftRule,
    DatasetDriftRule,
    DriftedShareRule,
    MetricRule,
    describe,
    parse_spec,
    rule_state,
)
from shipyard.monitoring.monitors._windows import due_windows, histograms

HOUR_MS = 3_600_000
SPEC = {
    "name": "churn",
    "deployment": {"uri": "/data/predlog", "name": "churn"},
    "reference": {"window": {"start_ms": 0, "end_ms": 86_400_000}},
}


@dataclass(frozen=True)
class W:
    """A window with only what rules read."""

    drifted_share: float | None = None
    dataset_drift: bool | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def _drift(*flags: bool | None) -> list[W]:
    return [W(columns={} if f is None else {"x": {"drifted": f, "score": 0.1}}) for f in flags]


def test_a_column_rule_fires_after_n_consecutive_drifted_windows() -> None:
    rule = ColumnDriftRule(name="x", rule="column_drift", column="x", windows=3)

    states = [rule_state(rule, _drift(*flags)) for flags in ((True, True), (True, True, True))]

    assert [False, True] == [s.firing for s in states if s is not None]


def test_a_window_that_cannot_tell_neither_extends_nor_breaks_the_run() -> None:
    rule = ColumnDriftRule(name="x", rule="column_drift", column="x", windows=2)

    assert rule_state(rule, _drift(True, None)) is None
    state = rule_state(rule, _drift(True, None, True))
    assert state is not None
    assert state.firing


def test_one_clean_window_stops_a_firing_rule() -> None:
    rule = ColumnDriftRule(name="x", rule="column_drift", column="x", windows=2)

    state = rule_state(rule, _drift(True, True, True, False))

    assert state is not None
    assert not state.firing


def test_the_drifted_share_rule_compares_at_least() -> None:
    rule = DriftedShareRule(name="share", rule="drifted_share", at_least=0.5)

    held = [rule_state(rule, [W(drifted_share=s)]) for s in (0.49, 0.5)]

    assert [False, True] == [s.firing for s in held if s is not None]


def test_the_dataset_drift_rule_reads_the_window_verdict() -> None:
    rule = DatasetDriftRule(name="ds", rule="dataset_drift")

    state = rule_state(rule, [W(dataset_drift=True, drifted_share=0.7)])

    assert state is not None
    assert (True, 0.7) == (state.firing, state.value)


def test_a_metric_rule_fires_below_its_bound_and_skips_windows_without_the_metric() -> None:
    rule = MetricRule(name="acc", rule="metric", metric="accuracy", below=0.8)

    assert rule_state(rule, [W(metrics={"rows": 10})]) is None
    state = rule_state(rule, [W(metrics={"accuracy": 0.7})])
    assert state is not None
    assert state.firing


def test_a_metric_rule_fires_above_its_bound() -> None:
    rule = MetricRule(name="slow", rule="metric", metric="latency_p95_ms", above=50)

    state = rule_state(rule, [W(metrics={"latency_p95_ms": 40.0})])

    assert state is not None
    assert not state.firing


def test_a_rule_describes_itself() -> None:
    rule = ColumnDriftRule(name="x", rule="column_drift", column="age", windows=3)

    assert "column 'age' drifted for 3 consecutive windows" == describe(rule)


def test_windows_are_aligned_complete_and_bounded() -> None:
    found = due_windows(now_ms=5 * HOUR_MS + 1, window_s=3600, delay_s=0, start_ms=None, max_catch_up=2)

    assert [(3 * HOUR_MS, 4 * HOUR_MS), (4 * HOUR_MS, 5 * HOUR_MS)] == found


def test_a_window_waits_for_its_delay() -> None:
    found = due_windows(now_ms=5 * HOUR_MS + 1, window_s=3600, delay_s=1800, start_ms=HOUR_MS, max_catch_up=48)

    assert [(HOUR_MS, 2 * HOUR_MS), (2 * HOUR_MS, 3 * HOUR_MS), (3 * HOUR_MS, 4 * HOUR_MS)] == found


def test_numerical_histograms_share_their_bins() -> None:
    found = histograms(pd.Series([0.0, 1.0, 2.0, 3.0]), pd.Series([2.0, 3.0, 4.0, 5.0]))

    assert found is not None
    assert (0.0, 5.0) == (found["edges"][0], found["edges"][-1])
    assert (1.0, 1.0) == (pytest.approx(sum(found["reference"])), pytest.approx(sum(found["current"])))


def test_categorical_histograms_keep_the_commonest_categories() -> None:
    reference = pd.Series([f"c{i}" for i in range(30)] + ["c0"] * 10)

    found = histograms(reference, pd.Series(["c0", "new"]))

    assert found is not None
    assert (21, "c0", "(other)") == (len(found["categories"]), found["categories"][0], found["categories"][-1])


def test_a_spec_needs_exactly_one_source() -> None:
    both = {**SPEC, "dataset": {"path": "/data/t.parquet", "time_column": "ts"}}

    with pytest.raises(InvalidParameter, match="exactly one of 'deployment' or 'dataset'"):
        parse_spec(both)


def test_a_spec_error_names_the_nested_field() -> None:
    with pytest.raises(InvalidParameter, match=r"alerts\.0\.metric\.metric"):
        parse_spec({**SPEC, "alerts": [{"name": "a", "rule": "metric", "below": 1}]})


def test_a_spec_reads_yaml_and_names_windows() -> None:
    spec = parse_spec("name: c\ndeployment: {uri: /l, name: c}\nreference: {path: /t.parquet}\nwindow: 1h\n")

    assert (3600, "c") == (spec.window_s, spec.deployment_name)


def test_a_window_of_seconds_must_be_at_least_a_minute() -> None:
    with pytest.raises(InvalidParameter, match="window"):
        parse_spec({**SPEC, "window": 5})
