"""Mergeable profiles: exact merges, reference-fixed bins, JSON round trips, and drift from profiles alone."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from shipyard.errors import InvalidParameter
from shipyard.monitoring.profiles import (
    ColumnProfile,
    Profile,
    build_reference_profile,
    histogram_wasserstein,
    profile_drift,
    profile_like,
)
from shipyard.monitoring.stats import binned


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.poisson(4, n),  # int with 12-ish distinct values: numerical, one bin per value
            "city": rng.choice(["paris", "rome", "oslo", "lima"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.integers(0, 2, n),  # int 0/1: categorical
            "user": [f"u{seed}-{i}" for i in range(n)],  # text: skipped
        }
    )


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return _frame(20_000, seed=1)


@pytest.fixture(scope="module")
def reference(reference_frame: pd.DataFrame) -> Profile:
    return build_reference_profile(reference_frame)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _same(a: Profile, b: Profile) -> bool:
    """Counts, extremes, edges, histograms and categories equal; moments and bin sums equal to 1e-12."""

    def moments(profile: Profile) -> list[float]:
        return [v for c in profile.columns for v in (c.mean, c.m2, *c.bin_sums)]

    def exact(profile: Profile) -> Profile:
        return replace(profile, columns=tuple(replace(c, mean=0.0, m2=0.0, bin_sums=()) for c in profile.columns))

    return exact(a) == exact(b) and all(map(_close, moments(a), moments(b)))


# --- building -------------------------------------------------------------------------------------------------


def test_kinds_follow_evidently_inference(reference: Profile) -> None:
    kinds = {column.name: column.kind for column in reference.columns}
    assert {
        "x": "numerical",
        "count": "numerical",
        "city": "categorical",
        "flag": "categorical",
        "user": "text",
    } == kinds


def test_numerical_counts_and_moments_match_the_data(reference: Profile, reference_frame: pd.DataFrame) -> None:
    column, values = reference.column("x"), reference_frame["x"].dropna().to_numpy()
    expected = (values.size, 20_000 - values.size, values.min(), values.max(), True, True)
    actual = (
        column.count,
        column.missing,
        column.minimum,
        column.maximum,
        _close(values.mean(), column.mean),
        _close(values.std(), column.std),
    )
    assert expected == actual


def test_reference_values_fill_the_inner_bins_only(reference: Profile) -> None:
    column = reference.column("x")
    assert (0, 0, column.count) == (column.histogram[0], column.histogram[-1], sum(column.histogram))


def test_quantile_edges_give_bins_of_similar_size(reference: Profile) -> None:
    inner = np.asarray(reference.column("x").histogram[1:-1])
    assert (30, True) == (inner.size, bool(inner.max() - inner.min() <= 2))


def test_few_distinct_values_get_one_bin_each(reference: Profile, reference_frame: pd.DataFrame) -> None:
    column = reference.column("count")
    values = np.sort(reference_frame["count"].unique()).astype(float)
    inner = dict(zip(column.edges[:-1], column.histogram[1:-1], strict=True))
    expected = {float(v): int(c) for v, c in reference_frame["count"].value_counts().items()}
    assert (True, tuple(values), expected) == (column.discrete, column.edges[:-1], inner)


def test_out_of_range_values_land_in_the_outer_bins(reference: Profile) -> None:
    low, high = reference.column("x").minimum, reference.column("x").maximum
    assert low is not None
    assert high is not None
    window = _frame(10, seed=2)
    window["x"] = [low - 5, low - 1e-9, low, 0.0, high, high + 1e-9, high + 5, np.inf, -np.inf, np.nan]
    column = profile_like(reference, window).column("x")
    expected = (2, 2, 7, 2, 1)  # below, above, finite, infinite, missing
    assert expected == (column.histogram[0], column.histogram[-1], column.count, column.infinite, column.missing)


def test_categories_beyond_the_cap_are_counted_as_other() -> None:
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]
    profile = build_reference_profile(pd.DataFrame({"v": values}), categorical_columns=["v"], category_cap=3)
    column = profile.column("v")
    assert ((("a", 5), ("b", 4), ("c", 3)), 3) == (column.categories, column.other)


def test_merge_of_windows_beyond_the_cap_keeps_the_most_frequent() -> None:
    reference = build_reference_profile(pd.DataFrame({"v": ["a", "b"]}), categorical_columns=["v"], category_cap=2)
    day_1 = profile_like(reference, pd.DataFrame({"v": ["a", "a", "b"]}))
    day_2 = profile_like(reference, pd.DataFrame({"v": ["c", "c", "c", "a"]}))
    column = day_1.merge(day_2).column("v")
    assert ((("a", 3), ("c", 3)), 1) == (column.categories, column.other)


def test_arrow_batches_profile_like_the_frame(reference_frame: pd.DataFrame, reference: Profile) -> None:
    table = pa.Table.from_pandas(reference_frame, preserve_index=False)
    assert _same(reference, build_reference_profile(table.to_batches(max_chunksize=3_000)))


def test_declared_columns_are_the_only_ones_profiled(reference_frame: pd.DataFrame) -> None:
    profile = build_reference_profile(reference_frame, numerical_columns=["flag"], categorical_columns=["count"])
    assert [("flag", "numerical"), ("count", "categorical")] == [(c.name, c.kind) for c in profile.columns]


# --- merging --------------------------------------------------------------------------------------------------


def test_merged_windows_equal_the_profile_of_their_concatenation(reference: Profile) -> None:
    days = [_frame(n, seed=10 + i, shift=0.1 * i) for i, n in enumerate([3_000, 1, 7_500, 2_200])]
    days.insert(3, days[0].iloc[:0])  # an empty window (sliced, so its dtypes stay those of the others)
    merged = profile_like(reference, days[0])
    for day in days[1:]:
        merged = merged.merge(profile_like(reference, day))
    whole = profile_like(reference, pd.concat(days, ignore_index=True))
    assert _same(whole, merged)


def test_merging_profiles_made_on_other_edges_raises(reference: Profile) -> None:
    other = build_reference_profile(_frame(5_000, seed=3, shift=2.0))
    with pytest.raises(InvalidParameter, match="different bin edges"):
        reference.merge(other)


def test_window_without_a_reference_column_raises(reference: Profile) -> None:
    with pytest.raises(InvalidParameter, match=r"no column\(s\) \['city'\]"):
        profile_like(reference, _frame(10, seed=4).drop(columns=["city"]))


def test_unknown_declared_column_raises(reference_frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter, match=r"Unknown column\(s\) \['nope'\]"):
        build_reference_profile(reference_frame, numerical_columns=["nope"])


def test_empty_reference_raises() -> None:
    with pytest.raises(InvalidParameter, match="empty"):
        build_reference_profile(pd.DataFrame({"x": pd.Series([], dtype=float)}))


def test_numerical_column_holding_text_raises(reference: Profile) -> None:
    window = _frame(10, seed=5)
    window["x"] = "text"
    with pytest.raises(InvalidParameter, match="'x' is numerical but holds str values"):
        profile_like(reference, window)


# --- JSON -----------------------------------------------------------------------------------------------------


def test_json_round_trip_is_exact(reference: Profile) -> None:
    assert reference == Profile.from_json(reference.to_json())


def test_json_round_trip_keeps_float_edges_bit_for_bit(reference: Profile) -> None:
    edges = reference.column("x").edges
    loaded = Profile.from_json(reference.to_json()).column("x").edges
    assert [e.hex() for e in edges] == [e.hex() for e in loaded]


def test_save_and_load(reference: Profile, tmp_path: object) -> None:
    path = f"{tmp_path}/reference.json"
    reference.save(path)
    assert reference == Profile.load(path)


def test_empty_window_round_trips(reference: Profile) -> None:
    empty = profile_like(reference, _frame(0, seed=6))
    assert empty == Profile.from_json(empty.to_json())


def test_garbage_json_raises() -> None:
    with pytest.raises(InvalidParameter, match="Not a"):
        Profile.from_json(b'{"format": "something else"}')


# --- drift ----------------------------------------------------------------------------------------------------


def test_shifted_column_drifts_and_stable_ones_do_not(reference: Profile) -> None:
    current = _frame(20_000, seed=7)
    current["x"] = current["x"] + 0.5
    report = profile_drift(reference, profile_like(reference, current))
    drifted = {c.column: (c.test, c.drifted) for c in report.columns}
    expected = {
        "x": ("wasserstein", True),
        "count": ("wasserstein", False),
        "city": ("jensenshannon", False),
        "flag": ("jensenshannon", False),
    }
    assert (expected, {"user": "text column"}) == (drifted, report.skipped)


def test_every_profile_result_says_reference_bins(reference: Profile) -> None:
    report = profile_drift(reference, profile_like(reference, _frame(5_000, seed=8)))
    assert {"reference_bins"} == {c.binning for c in report.columns}


def test_psi_from_profiles_equals_binned_psi_on_the_same_bins(
    reference: Profile, reference_frame: pd.DataFrame
) -> None:
    current = _frame(8_000, seed=9, shift=0.3)
    edges = np.asarray(reference.column("x").edges)

    def counts(values: pd.Series) -> np.ndarray:
        finite = values.dropna().to_numpy()
        inner = np.histogram(finite, bins=edges)[0]  # numpy closes its last bin; no value equals the top edge
        return np.concatenate(([np.sum(finite < edges[0])], inner, [np.sum(finite >= edges[-1])]))

    ref_counts, cur_counts = counts(reference_frame["x"]), counts(current["x"])
    seen = (ref_counts > 0) | (cur_counts > 0)
    expected = binned.psi(binned.shares(ref_counts[seen]), binned.shares(cur_counts[seen]))
    report = profile_drift(reference, profile_like(reference, current), method="psi")
    assert _close(expected, report.column("x").score)


def test_categorical_scores_equal_binned_on_category_counts(reference: Profile, reference_frame: pd.DataFrame) -> None:
    current = _frame(5_000, seed=11)
    current.loc[:99, "city"] = "kyiv"  # a new category
    order = ["paris", "rome", "oslo", "lima", "kyiv"]
    ref_counts = reference_frame["city"].value_counts().reindex(order, fill_value=0).to_numpy()
    cur_counts = current["city"].value_counts().reindex(order, fill_value=0).to_numpy()
    expected = (
        binned.jensenshannon(binned.shares(ref_counts), binned.shares(cur_counts)),
        binned.chisquare_counts(ref_counts, cur_counts),
    )
    window = profile_like(reference, current)
    actual = (
        profile_drift(reference, window, cat_method="jensenshannon").column("city").score,
        profile_drift(reference, window, per_column_method={"city": "chisquare"}).column("city").score,
    )
    assert (expected, ["kyiv"]) == (actual, profile_drift(reference, window).column("city").details["new_categories"])


def test_small_reference_uses_evidentlys_small_sample_tests() -> None:
    rng = np.random.default_rng(12)
    frame = pd.DataFrame(
        {"x": rng.normal(size=500), "c": rng.choice(["a", "b", "c"], 500), "flag": rng.integers(0, 2, 500)}
    )
    reference = build_reference_profile(frame)
    report = profile_drift(reference, profile_like(reference, frame))
    tests = {c.column: (c.test, c.details.get("evidently_test")) for c in report.columns}
    assert {"x": ("wasserstein", "ks"), "c": ("chisquare", None), "flag": ("z", None)} == tests


def test_z_test_equals_binned_on_the_second_value_share() -> None:
    reference = build_reference_profile(pd.DataFrame({"flag": [0] * 300 + [1] * 200}))
    current = profile_like(reference, pd.DataFrame({"flag": [0] * 150 + [1] * 250}))
    expected = binned.z_test_counts(200, 500, 250, 400)
    assert _close(expected, profile_drift(reference, current).column("flag").score)


def test_robust_preset_uses_no_p_values() -> None:
    frame = pd.DataFrame({"c": ["a", "b", "c"] * 100, "flag": [0, 1, 1] * 100})
    reference = build_reference_profile(frame)
    report = profile_drift(reference, profile_like(reference, frame), preset="robust")
    assert {"jensenshannon"} == {c.test for c in report.columns}


def test_ks_on_profiles_raises_with_the_reason(reference: Profile) -> None:
    with pytest.raises(InvalidParameter, match="needs raw values"):
        profile_drift(reference, reference, num_method="ks")


def test_column_without_current_values_is_skipped(reference: Profile) -> None:
    window = _frame(100, seed=13)
    window["x"] = np.nan
    report = profile_drift(reference, profile_like(reference, window))
    assert "no values in the current data" == report.skipped["x"]


# --- Wasserstein from histograms ------------------------------------------------------------------------------


def test_wasserstein_is_exact_for_values_binned_one_by_one() -> None:
    rng = np.random.default_rng(14)
    ref_values, cur_values = rng.integers(0, 12, 4_000), rng.integers(0, 12, 3_000) + (rng.random(3_000) < 0.3)
    reference = build_reference_profile(pd.DataFrame({"v": ref_values}), numerical_columns=["v"])
    current = profile_like(reference, pd.DataFrame({"v": cur_values}))
    expected = stats.wasserstein_distance(ref_values, cur_values)
    assert _close(expected, histogram_wasserstein(reference.column("v"), current.column("v")))


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.1, 1.0), (0.5, 1.3), (2.0, 0.7)])
def test_wasserstein_from_quantile_bins_is_close_to_scipys(shift: float, scale: float) -> None:
    rng = np.random.default_rng(15)
    ref_values, cur_values = rng.normal(size=20_000), rng.normal(shift, scale, 20_000)
    reference = build_reference_profile(pd.DataFrame({"v": ref_values}))
    current = profile_like(reference, pd.DataFrame({"v": cur_values}))
    expected = stats.wasserstein_distance(ref_values, cur_values)
    actual = histogram_wasserstein(reference.column("v"), current.column("v"))
    assert abs(expected - actual) < 0.005


def test_column_profile_std_is_population_std() -> None:
    column = ColumnProfile(name="v", kind="numerical", value_type="float", count=4, mean=2.5, m2=5.0)
    assert _close(np.std([1.0, 2.0, 3.0, 4.0]), column.std)
