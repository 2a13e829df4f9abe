"""Numerical tests against scipy, and Evidently's binning edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shipyard.monitoring.stats.numerical import (
    Sample,
    anderson,
    binned_counts,
    cramer_von_mises,
    ks,
    per_value_counts,
    wasserstein_normed,
)

RNG = np.random.default_rng(5)


def _pair(n_ref: int, n_cur: int, shift: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    return RNG.normal(size=n_ref), RNG.normal(shift, size=n_cur)


def test_sample_drops_infinities_and_nan_and_sorts() -> None:
    assert [1.0, 2.0] == Sample.from_values([2.0, np.nan, np.inf, 1.0, -np.inf]).values.tolist()


@pytest.mark.parametrize(("n_ref", "n_cur"), [(300, 400), (10_001, 500)])
def test_ks_is_scipy_ks_2samp(n_ref: int, n_cur: int) -> None:
    ref, cur = _pair(n_ref, n_cur)
    assert stats.ks_2samp(ref, cur).pvalue == ks(Sample.from_values(ref), Sample.from_values(cur))


@pytest.mark.parametrize("rounding", [None, 1])
def test_wasserstein_is_scipy_distance_over_population_std(rounding: int | None) -> None:
    ref, cur = _pair(3000, 2000)
    if rounding is not None:  # ties on both sides
        ref, cur = ref.round(rounding), cur.round(rounding)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert expected == pytest.approx(wasserstein_normed(Sample.from_values(ref), Sample.from_values(cur)), rel=1e-12)


def test_wasserstein_of_a_constant_reference_is_normed_by_a_thousandth() -> None:
    assert 1.0 / 0.001 == pytest.approx(wasserstein_normed(Sample.from_values([1.0] * 5), Sample.from_values([2.0])))


@pytest.mark.filterwarnings("ignore:p-value capped")
def test_anderson_is_scipy_anderson_ksamp_p_value() -> None:
    ref, cur = _pair(400, 500, 0.1)
    expected = stats.anderson_ksamp([np.sort(ref), np.sort(cur)], variant="midrank").pvalue
    assert expected == anderson(Sample.from_values(ref), Sample.from_values(cur))


def test_cramer_von_mises_is_scipy_p_value() -> None:
    ref, cur = _pair(50, 60)
    expected = stats.cramervonmises_2samp(ref, cur).pvalue
    assert expected == pytest.approx(cramer_von_mises(Sample.from_values(ref), Sample.from_values(cur)), rel=1e-12)


def test_binned_counts_use_pooled_sturges_histogram_above_twenty_reference_values() -> None:
    ref, cur = _pair(1000, 700, 3.0)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    ref_counts, cur_counts, binning = binned_counts(Sample.from_values(ref), Sample.from_values(cur))
    assert "pooled_sturges" == binning
    assert np.histogram(ref, edges)[0].tolist() == ref_counts.tolist()
    assert np.histogram(cur, edges)[0].tolist() == cur_counts.tolist()


def test_binned_counts_go_per_value_at_twenty_reference_values_with_new_current_values() -> None:
    ref = np.arange(20).repeat(3)
    cur = np.array([0, 0, 25])
    ref_counts, cur_counts, binning = binned_counts(Sample.from_values(ref), Sample.from_values(cur))
    assert ("per_value", [3] * 20 + [0], [2] + [0] * 19 + [1]) == (binning, ref_counts.tolist(), cur_counts.tolist())


def test_per_value_counts_cover_the_union_in_order() -> None:
    keys, ref_counts, cur_counts = per_value_counts(Sample.from_values([1.0, 1.0, 3.0]), Sample.from_values([2.0]))
    assert ([1.0, 2.0, 3.0], [2, 0, 1], [0, 1, 0]) == (keys.tolist(), ref_counts.tolist(), cur_counts.tolist())


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        (RNG.poisson(20, 30_000), RNG.poisson(22, 20_000)),  # integers in a narrow range: counted with bincount
        (RNG.choice([0.5, 1.5, 4.0], 30_000), RNG.choice([0.5, 1.5, 4.0, 7.0], 20_000)),  # few floats: looked up
    ],
)
def test_counted_samples_give_the_sorted_values_and_scipy_wasserstein(ref: np.ndarray, cur: np.ndarray) -> None:
    u, v = Sample.from_values(ref), Sample.from_values(cur)

    assert (u.counted, v.counted) == (True, True)
    assert np.sort(ref).tolist() == u.values.tolist()
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert expected == pytest.approx(wasserstein_normed(u, v), rel=1e-12)


def test_a_value_missing_from_the_head_falls_back_to_sorting() -> None:
    values = np.r_[np.zeros(3000), 0.25]

    sample = Sample.from_values(values)

    assert (False, [0.0, 0.25]) == (sample.counted, sample.unique[0].tolist())
