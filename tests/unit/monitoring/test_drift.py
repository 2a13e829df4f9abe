"""``data_drift``: type inference, cleaning, default selection, overrides, the report, and the robust preset."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidParameter
from shipyard.monitoring.drift import data_drift
from shipyard.monitoring.stats.columns import infer_kind
from shipyard.monitoring.stats.selection import default_method, is_drifted

RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([0.0, 1.0] * 10), "numerical"),
        (pd.Series(list(range(10)) * 2), "categorical"),
        (pd.Series(list(range(11)) * 2), "numerical"),
        (pd.Series(["a", "b"] * 10), "categorical"),
        (pd.Series([f"id{i}" for i in range(20)]), "text"),
        (pd.Series(["a", "b"] * 10, dtype=object), "categorical"),
        (pd.Series([True, False] * 5), "categorical"),
        (pd.Series(pd.Categorical(["x", "y"] * 5)), "categorical"),
        (pd.Series(pd.date_range("2026-01-01", periods=5)), None),
    ],
)
def test_infer_kind_follows_evidently(values: pd.Series, expected: str | None) -> None:
    assert expected == infer_kind(values)[0]


@pytest.mark.parametrize(
    ("kind", "rows", "distinct", "expected"),
    [
        ("numerical", 1000, 6, "ks"),
        ("numerical", 1000, 5, "chisquare"),
        ("numerical", 1000, 3, "chisquare"),
        ("numerical", 1000, 2, "z"),
        ("numerical", 1001, 6, "wasserstein"),
        ("numerical", 1001, 5, "jensenshannon"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1000, 1, "z"),
        ("categorical", 1001, 50, "jensenshannon"),
    ],
)
def test_default_method_follows_evidently_table(kind: Any, rows: int, distinct: int, expected: str) -> None:
    assert expected == default_method(kind, rows, distinct)


def test_drift_comparisons_follow_each_test() -> None:
    assert (True, False, False, True, False) == (
        is_drifted(0.05, 0.05, "le"),
        is_drifted(0.05, 0.05, "lt"),
        is_drifted(math.nan, 0.05, "lt"),
        is_drifted(0.1, 0.1, "ge"),
        is_drifted(math.nan, 0.1, "ge"),
    )


def _frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.DataFrame({"x": RNG.normal(size=rows), "c": RNG.choice(["a", "b", "c"], rows)})
    current = pd.DataFrame({"x": RNG.normal(1.0, size=rows), "c": RNG.choice(["a", "b", "c"], rows)})
    return reference, current


def test_types_are_inferred_on_the_current_frame() -> None:
    reference = pd.DataFrame({"n": np.arange(2000) % 10})
    current = pd.DataFrame({"n": np.arange(2000) % 11})
    assert "numerical" == data_drift(reference, current).column("n").kind


def test_infinities_and_missing_values_are_dropped_per_side() -> None:
    reference = pd.DataFrame({"x": [np.nan, np.inf, *RNG.normal(size=500)]})
    current = pd.DataFrame({"x": [-np.inf, *RNG.normal(size=400), np.nan, np.nan]})
    result = data_drift(reference, current).column("x")
    assert (500, 400) == (result.reference_rows, result.current_rows)


def test_an_all_missing_column_is_skipped_with_its_reason() -> None:
    reference = pd.DataFrame({"x": RNG.normal(size=50), "gone": np.nan})
    current = pd.DataFrame({"x": RNG.normal(size=50), "gone": np.nan})
    report = data_drift(reference, current)
    assert ["x"] == [c.column for c in report.columns]
    assert "empty column" in report.skipped["gone"]


def test_text_columns_are_skipped() -> None:
    reference = pd.DataFrame({"x": RNG.normal(size=50), "note": [f"n{i}" for i in range(50)]})
    report = data_drift(reference, reference.copy())
    assert {"note": "text column: not tested"} == report.skipped


def test_default_preset_flags_a_shift_and_reports_dataset_drift_at_half() -> None:
    report = data_drift(*_frames(2000))
    assert (True, False) == (report.column("x").drifted, report.column("c").drifted)
    assert (0.5, True) == (report.drifted_share, report.dataset_drift)


def test_method_overrides_resolve_per_column_then_kind_then_all() -> None:
    report = data_drift(*_frames(500), method="psi", num_method="kl_div", per_column_method={"c": "jensenshannon"})
    assert ("kl_div", "jensenshannon") == (report.column("x").test, report.column("c").test)


def test_threshold_overrides_resolve_per_column_then_kind_then_all() -> None:
    report = data_drift(*_frames(500), threshold=0.3, cat_threshold=0.2, per_column_threshold={"x": 0.01})
    assert (0.01, 0.2) == (report.column("x").threshold, report.column("c").threshold)


def test_an_overridden_method_keeps_its_default_threshold() -> None:
    assert 0.1 == data_drift(*_frames(500), num_method="anderson").column("x").threshold


def test_explicit_types_win_over_inference() -> None:
    reference, current = _frames(300)
    report = data_drift(reference, current, categorical_columns=["x"], columns=["x"])
    assert ("categorical", "chisquare") == (report.column("x").kind, report.column("x").test)


@pytest.mark.parametrize(
    "arguments",
    [{"method": "nope"}, {"num_method": "chisquare"}, {"cat_method": "ks"}, {"columns": ["missing"]}],
)
def test_bad_arguments_raise_invalid_parameter(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        data_drift(*_frames(100), **arguments)


def test_progress_is_called_once_per_column_with_keywords() -> None:
    calls: list[dict[str, Any]] = []
    data_drift(*_frames(100), progress=lambda **kwargs: calls.append(kwargs))
    assert [2, 2] == [call["total"] for call in calls]
    assert {"x", "c"} == {call["column"] for call in calls}


def test_robust_preset_does_not_flag_a_stable_500_level_column() -> None:
    reference = pd.DataFrame({"level": RNG.zipf(1.3, 10_000).clip(max=500).astype(str)})
    current = pd.DataFrame({"level": RNG.zipf(1.3, 10_000).clip(max=500).astype(str)})
    assert data_drift(reference, current, cat_method="chisquare").column("level").drifted  # Evidently's false alarm
    assert not data_drift(reference, current, preset="robust").column("level").drifted


@pytest.mark.slow
def test_robust_preset_does_not_flag_a_tiny_shift_on_a_million_rows() -> None:
    reference = pd.DataFrame({"x": RNG.normal(size=1_000_000)})
    current = pd.DataFrame({"x": RNG.normal(0.01, size=1_000_000)})
    assert data_drift(reference, current, method="ks").column("x").drifted  # the p-value flags it
    assert not data_drift(reference, current, preset="robust").column("x").drifted


def test_robust_preset_catches_real_drifts() -> None:
    reference = pd.DataFrame({"x": RNG.normal(size=5000), "c": RNG.choice(["a", "b", "c"], 5000, p=[0.6, 0.3, 0.1])})
    current = pd.DataFrame({"x": RNG.normal(0.5, size=5000), "c": RNG.choice(["a", "b", "c"], 5000, p=[0.3, 0.3, 0.4])})
    report = data_drift(reference, current, preset="robust")
    assert (True, True) == (report.column("x").drifted, report.column("c").drifted)


def test_robust_preset_reports_new_categories_and_flags_them_above_one_percent() -> None:
    reference = pd.DataFrame({"c": RNG.choice(["a", "b"], 5000)})
    current = pd.DataFrame({"c": np.r_[RNG.choice(["a", "b"], 4900), ["new"] * 100]})
    result = data_drift(reference, current, preset="robust").column("c")
    assert ({"new": 100}, 0.02, True) == (
        result.details["new_categories"],
        result.details["new_share"],
        result.drifted,
    )


def test_robust_preset_tolerates_a_single_new_value() -> None:
    reference = pd.DataFrame({"c": RNG.choice(["a", "b"], 5000)})
    current = pd.DataFrame({"c": np.r_[RNG.choice(["a", "b"], 4999), ["new"]]})
    assert data_drift(reference, current, cat_method="chisquare").column("c").drifted  # p = 0 in Evidently
    assert not data_drift(reference, current, preset="robust").column("c").drifted
