"""Drift tests on histograms: shares, Evidently's zero filling, PSI, KL, Jensen-Shannon, chi-square and z on counts.

Pure numpy/scipy and I/O-free, so the same functions score two data frames (``data_drift``) and two stored
profiles (mergeable histograms). Every formula follows Evidently 0.7.23 (natural logarithms throughout).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "chisquare_counts",
    "fill_zeroes",
    "jensenshannon",
    "kl_div",
    "psi",
    "shares",
    "sturges_edges",
    "z_test_counts",
]

FloatArray = npt.NDArray[np.float64]

_ZERO_SHARE = 0.0001
"""Evidently's replacement for an empty bin when the side's smallest share is above it."""


def shares(counts: npt.ArrayLike) -> FloatArray:
    """Counts divided by their total, as float64 (all zeros when the total is 0).

    Example:
        >>> shares([1, 3]).tolist()
        [0.25, 0.75]
    """
    array: FloatArray = np.asarray(counts, dtype=np.float64)
    total = float(array.sum())
    if total == 0:
        return np.zeros_like(array)
    result: FloatArray = array / total
    return result


def fill_zeroes(shares: npt.ArrayLike) -> FloatArray:
    """Evidently's zero filling for one side's shares (a copy; not renormalised).

    Every zero share becomes ``m / 1e6`` when the smallest non-zero share ``m`` is at most 0.0001, else 0.0001.
    A side with no non-zero share at all gets 0.0001 everywhere (Evidently would raise on it).

    Example:
        >>> fill_zeroes([0.0, 0.5, 0.5]).tolist()
        [0.0001, 0.5, 0.5]
    """
    filled = np.array(shares, dtype=np.float64, copy=True)
    zero = filled == 0
    if not zero.any():
        return filled
    nonzero = filled[~zero]
    smallest = float(nonzero.min()) if nonzero.size else 1.0
    filled[zero] = smallest / 1e6 if smallest <= _ZERO_SHARE else _ZERO_SHARE
    return filled


def psi(ref_shares: npt.ArrayLike, cur_shares: npt.ArrayLike) -> float:
    """Population stability index ``sum((ref - cur) * ln(ref / cur))`` after filling zeroes on each side.

    Example:
        >>> round(psi([0.5, 0.5], [0.4, 0.6]), 6)
        0.040547
    """
    ref = fill_zeroes(ref_shares)
    cur = fill_zeroes(cur_shares)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def kl_div(ref_shares: npt.ArrayLike, cur_shares: npt.ArrayLike) -> float:
    """KL(ref || cur) with ``scipy.stats.entropy`` (which renormalises) after filling zeroes on each side.

    Example:
        >>> round(kl_div([0.5, 0.5], [0.4, 0.6]), 6)
        0.020411
    """
    from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type hints; imported when used

    return float(stats.entropy(fill_zeroes(ref_shares), fill_zeroes(cur_shares)))


def jensenshannon(ref_shares: npt.ArrayLike, cur_shares: npt.ArrayLike) -> float:
    """Jensen-Shannon *distance* (square root of the divergence, natural log) on the unfilled shares.

    Ranges from 0 to ``sqrt(ln 2)`` (about 0.8326).

    Example:
        >>> round(jensenshannon([1.0, 0.0], [0.0, 1.0]), 4)
        0.8326
    """
    from scipy.spatial import distance  # type: ignore[import-untyped]  # imported when used (import time)

    ref = np.asarray(ref_shares, dtype=np.float64)
    cur = np.asarray(cur_shares, dtype=np.float64)
    return float(distance.jensenshannon(ref, cur))


def chisquare_counts(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """Evidently's chi-square p-value: goodness of fit of the current counts to the rescaled reference counts.

    ``expected = ref_counts * n_cur / n_ref``; a bin empty in the reference but not in the current data makes
    the statistic infinite (p = 0). With a single bin the p-value is NaN.

    Example:
        >>> chisquare_counts([50, 50], [50, 50])
        1.0
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    seen = (ref > 0) | (cur > 0)  # Evidently's bins are observed values: a bin empty on both sides does not exist
    ref, cur = ref[seen], cur[seen]
    n_ref = ref.sum()
    n_cur = cur.sum()
    if ref.size < 2 or n_ref == 0 or n_cur == 0:
        return math.nan
    expected = ref * (n_cur / n_ref)
    with np.errstate(divide="ignore"):  # scipy.stats.chisquare's statistic, without its divide-by-zero warning
        statistic = float(np.sum((cur - expected) ** 2 / expected))
    from scipy import stats

    return float(stats.chi2.sf(statistic, ref.size - 1))


def z_test_counts(ref_ones: int, n_ref: int, cur_ones: int, n_cur: int) -> float:
    """Two-sided two-proportion z-test p-value, ``2 * (1 - Phi(|z|))`` with the pooled proportion (Evidently's form).

    When both sides hold a single and the same value (pooled proportion 0 or 1) the p-value is 1.

    Example:
        >>> z_test_counts(50, 100, 50, 100)
        1.0
    """
    p_ref = float(ref_ones) / n_ref
    p_cur = float(cur_ones) / n_cur
    pooled = float(p_ref * n_ref + p_cur * n_cur) / (n_ref + n_cur)
    if pooled in {0.0, 1.0}:
        return 1.0
    from scipy import stats

    z = (p_ref - p_cur) / np.sqrt(pooled * (1 - pooled) * (1.0 / n_ref + 1.0 / n_cur))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def sturges_edges(low: float, high: float, n: int, *, integer: bool = False) -> FloatArray:
    """``numpy.histogram_bin_edges(pooled, bins="sturges")`` from the pooled minimum, maximum and size alone.

    Args:
        low: the pooled minimum.
        high: the pooled maximum.
        n: the pooled number of values.
        integer: True when the pooled values are of an integer dtype (numpy then widens bins to at least 1).

    Returns:
        The equal-width bin edges, identical to numpy's.

    Example:
        >>> sturges_edges(0.0, 1.0, 8).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    first, last = float(low), float(high)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (float(high) - float(low)) / (np.log2(n) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil((last - first) / width))
    else:
        bins = 1
    return np.linspace(first, last, bins + 1, endpoint=True, dtype=np.float64)
