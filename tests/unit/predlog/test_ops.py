"""Error rates per window from the serving processes' cumulative counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.artifacts import open_artifact_store
from shipyard.predlog._ops import error_rates, read_ops, write_ops_snapshot


def snapshot(pid: int, started_ms: int, time_ms: int, requests: int, errors: int, version: str = "1") -> dict:
    return {
        "pid": pid,
        "started_ms": started_ms,
        "time_ms": time_ms,
        "versions": {version: {"requests": requests, "errors": errors, "client_errors": 0}},
    }


def test_a_window_counts_the_difference_since_its_start() -> None:
    found = error_rates(
        [snapshot(1, 0, 50, 100, 1), snapshot(1, 0, 150, 300, 11), snapshot(1, 0, 250, 500, 20)],
        start_ms=100,
        end_ms=200,
    )

    assert (200, 10, 0.05) == (found["served_requests"], found["errors"], found["error_rate"])


def test_a_process_started_inside_the_window_counts_from_zero_and_processes_add_up() -> None:
    found = error_rates(
        [
            snapshot(1, 0, 90, 100, 0),
            snapshot(1, 0, 190, 150, 5),
            snapshot(2, 120, 180, 40, 4, version="2"),  # started at 120: everything it counted is in the window
        ],
        start_ms=100,
        end_ms=200,
    )

    assert {"1": (50, 5), "2": (40, 4)} == {
        version: (item["requests"], item["errors"]) for version, item in found["error_versions"].items()
    }
    assert pytest.approx(9 / 90) == found["error_rate"]


def test_no_traffic_has_no_error_rate() -> None:
    assert None is error_rates([], start_ms=0, end_ms=10)["error_rate"]


def test_snapshots_written_to_the_store_are_read_back_for_their_window(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path))
    totals = {"3": {"requests": 10, "errors": 2, "client_errors": 1}}
    write_ops_snapshot(store, "churn", totals, started_ms=1_000, now_ms=1_767_225_600_000)
    (tmp_path / "ops" / "churn" / "date=2026-01-01" / "garbage.json").write_text("{")

    found = read_ops(str(tmp_path), "churn", start_ms=1_767_225_000_000, end_ms=1_767_226_000_000)
    later = read_ops(str(tmp_path), "churn", start_ms=1_767_400_000_000, end_ms=1_767_500_000_000)

    assert [totals] == [item["versions"] for item in found]
    assert [] == later
    assert [] == read_ops(str(tmp_path), "nothing-here", start_ms=0, end_ms=1)
