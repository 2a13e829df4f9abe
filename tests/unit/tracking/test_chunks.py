"""Packing metric history into chunks and merging it back in MLflow's order."""

from __future__ import annotations

import math

from shipyard.tracking._chunks import merge_points, pack


def _raw(steps: list[int], stamps: list[int], values: list[float]) -> tuple[bytes, bytes, bytes]:
    chunk = pack(steps, stamps, values)
    return chunk.steps, chunk.timestamps, chunk.vals


def test_pack_records_count_and_time_range() -> None:
    chunk = pack([0, 1, 2], [30, 10, 20], [1.0, 2.0, 3.0])
    assert (3, 10, 30) == (chunk.n_points, chunk.min_timestamp, chunk.max_timestamp)


def test_identical_contents_have_the_same_digest() -> None:
    assert pack([1], [2], [3.0]).digest == pack([1], [2], [3.0]).digest


def test_different_contents_have_different_digests() -> None:
    assert pack([1], [2], [3.0]).digest != pack([1], [2], [3.5]).digest


def test_merge_orders_by_timestamp_then_step_then_value() -> None:
    merged = merge_points([_raw([5, 1], [200, 100], [0.5, 0.1]), _raw([1, 0], [100, 100], [0.05, 9.0])])
    assert [(100, 0, 9.0), (100, 1, 0.05), (100, 1, 0.1), (200, 5, 0.5)] == merged


def test_merge_keeps_an_identical_point_once() -> None:
    chunk = _raw([1, 2], [10, 20], [0.1, 0.2])
    assert [(10, 1, 0.1), (20, 2, 0.2)] == merge_points([chunk, chunk])


def test_nan_and_infinities_survive_and_repeated_nan_is_kept_once() -> None:
    merged = merge_points([_raw([0, 1, 1], [1, 2, 2], [math.nan, math.inf, -math.inf]), _raw([0], [1], [math.nan])])
    assert ([1, 2, 2], math.isnan(merged[0][2]), [-math.inf, math.inf]) == (
        [p[0] for p in merged],
        True,
        [p[2] for p in merged[1:]],
    )


def test_large_values_round_trip_exactly() -> None:
    steps, stamps, values = [2**62, -(2**62)], [2**62, 0], [1e308, 5e-324]
    merged = merge_points([_raw(steps, stamps, values)])
    assert [(0, -(2**62), 5e-324), (2**62, 2**62, 1e308)] == merged


def test_merge_of_nothing_is_empty() -> None:
    assert [] == merge_points([])


def test_history_json_spells_out_special_values() -> None:
    from shipyard.wire.tracking import history_to_json

    values = [
        p["value"] for p in history_to_json("k", [(1, 0, math.nan), (2, 1, math.inf), (3, 2, -math.inf), (4, 3, 1.5)])
    ]
    assert ["NaN", "Infinity", "-Infinity", 1.5] == values
