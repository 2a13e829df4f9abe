"""The histogram tests against scipy and hand computation; Sturges edges against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from shipyard.monitoring import stats as public
from shipyard.monitoring.stats.binned import (
    chisquare_counts,
    fill_zeroes,
    jensenshannon,
    kl_div,
    psi,
    shares,
    sturges_edges,
    z_test_counts,
)


def test_public_names_are_exported() -> None:
    assert {"fill_zeroes", "psi", "kl_div", "jensenshannon", "chisquare_counts", "z_test_counts", "shares"} <= set(
        public.__all__
    )
    assert all(hasattr(public, name) for name in public.__all__)


def test_fill_zeroes_uses_a_ten_thousandth_when_the_smallest_share_is_larger() -> None:
    assert [0.0001, 0.4, 0.6] == fill_zeroes([0.0, 0.4, 0.6]).tolist()


def test_fill_zeroes_uses_a_millionth_of_the_smallest_share_when_it_is_tiny() -> None:
    assert [0.00005 / 1e6, 0.00005, 0.99995] == fill_zeroes([0.0, 0.00005, 0.99995]).tolist()


def test_fill_zeroes_does_not_renormalise_or_modify_its_input() -> None:
    original = np.array([0.0, 1.0])
    assert 1.0001 == pytest.approx(fill_zeroes(original).sum())
    assert [0.0, 1.0] == original.tolist()


def test_psi_matches_the_formula_on_filled_shares() -> None:
    ref, cur = np.array([0.5, 0.5, 0.0]), np.array([0.3, 0.6, 0.1])
    filled_ref = np.array([0.5, 0.5, 0.0001])
    expected = float(np.sum((filled_ref - cur) * np.log(filled_ref / cur)))
    assert expected == psi(ref, cur)


def test_kl_div_is_scipy_entropy_on_filled_shares() -> None:
    ref, cur = [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]
    assert stats.entropy([0.2, 0.8, 0.0001], [0.0001, 0.5, 0.5]) == kl_div(ref, cur)


def test_jensenshannon_is_scipy_distance_on_unfilled_shares() -> None:
    ref, cur = [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]
    assert distance.jensenshannon(ref, cur) == jensenshannon(ref, cur)
    assert math.sqrt(math.log(2)) == pytest.approx(jensenshannon([1, 0], [0, 1]))


def test_chisquare_counts_is_goodness_of_fit_to_rescaled_reference() -> None:
    ref, cur = np.array([30, 50, 20]), np.array([40, 45, 25])
    expected = stats.chisquare(cur, ref * cur.sum() / ref.sum()).pvalue
    assert expected == pytest.approx(chisquare_counts(ref, cur), rel=1e-12)


def test_chisquare_counts_is_zero_for_a_category_unseen_in_reference() -> None:
    assert 0.0 == chisquare_counts([1000, 1000, 0], [1000, 1000, 1])


def test_chisquare_counts_is_nan_for_a_single_category() -> None:
    assert math.isnan(chisquare_counts([10], [20]))


def test_z_test_counts_matches_the_pooled_two_proportion_formula() -> None:
    p1, p2 = 30 / 100, 50 / 120
    pooled = (30 + 50) / 220
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 120))
    assert 2 * (1 - stats.norm.cdf(abs(z))) == pytest.approx(z_test_counts(30, 100, 50, 120), rel=1e-12)


def test_z_test_counts_is_one_when_both_sides_hold_one_value() -> None:
    assert 1.0 == z_test_counts(0, 10, 0, 20)


def test_shares_of_zero_counts_are_zero() -> None:
    assert [0.0, 0.0] == shares([0, 0]).tolist()


@pytest.mark.parametrize("integer", [False, True])
def test_sturges_edges_match_numpy(integer: bool) -> None:
    rng = np.random.default_rng(1)
    for size in (1, 2, 7, 100, 10_000):
        values = rng.integers(-15, 15, size) if integer else rng.normal(size=size) * 1e3
        expected = np.histogram_bin_edges(values, bins="sturges")
        assert expected.tolist() == sturges_edges(values.min(), values.max(), size, integer=integer).tolist()


def test_sturges_edges_widen_integer_bins_to_one() -> None:
    values = np.arange(22).repeat(100_000)  # 22 values, 2.2M rows: numpy's width 0.95 becomes 1
    assert (
        np.histogram_bin_edges(values, bins="sturges").tolist()
        == sturges_edges(0, 21, values.size, integer=True).tolist()
    )
