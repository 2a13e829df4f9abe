"""Drift tests on numerical columns, from the two cleaned samples sorted once and shared by every test.

KS, normed Wasserstein, Anderson-Darling and Cramér-von Mises as Evidently runs them, and Evidently's binning for
the histogram tests (pooled Sturges bins, or one bin per value for columns with at most 20 reference values).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type hints

from shipyard.monitoring.entities import Binning
from shipyard.monitoring.stats.binned import sturges_edges

__all__ = [
    "PER_VALUE_MAX_DISTINCT",
    "Sample",
    "anderson",
    "binned_counts",
    "cramer_von_mises",
    "ks",
    "per_value_counts",
    "wasserstein_normed",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PER_VALUE_MAX_DISTINCT = 20
"""Evidently bins a numerical column per value when its reference has at most this many distinct values."""


@dataclass(frozen=True)
class Sample:
    """One side of a numerical column: its non-missing values, sorted ascending.

    Attributes:
        values: the sorted values (float64, or int64 when the column's dtype is an integer).
    """

    values: npt.NDArray[np.float64] | npt.NDArray[np.int64]

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> Sample:
        """Clean (``±inf`` and NaN dropped) and sort."""
        array = np.asarray(values)
        if array.dtype.kind == "f":
            array = array[np.isfinite(array)]
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64, copy=False)
        elif array.dtype.kind == "b":
            array = array.astype(np.int64)
        else:
            array = np.asarray(array, dtype=np.float64)
            array = array[np.isfinite(array)]
        return cls(np.sort(array))

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def integer(self) -> bool:
        return self.values.dtype.kind in "iu"

    @cached_property
    def unique(self) -> tuple[FloatArray | IntArray, IntArray]:
        """Distinct values and their counts, from the sorted array without another sort."""
        values = self.values
        if values.size == 0:
            return values, np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        counts = np.diff(np.r_[starts, values.size]).astype(np.int64)
        return values[starts], counts

    @property
    def distinct(self) -> int:
        return int(self.unique[0].size)


def ks(ref: Sample, cur: Sample) -> float:
    """``scipy.stats.ks_2samp`` p-value with scipy's defaults (exact when both samples have at most 10,000 values)."""
    return float(stats.ks_2samp(ref.values, cur.values).pvalue)


def wasserstein_normed(ref: Sample, cur: Sample) -> float:
    """``scipy.stats.wasserstein_distance(ref, cur) / max(std(ref), 0.001)`` (population std), from sorted samples.

    Reproduces scipy's sum term for term from the already sorted samples: a linear merge replaces its argsorts and
    searches. Within a run of equal values the merged order may differ from scipy's, but those terms are multiplied
    by a zero gap; every other term has the same value, so the result is identical.
    """
    u = ref.values.astype(np.float64, copy=False)
    v = cur.values.astype(np.float64, copy=False)
    positions_u = np.arange(u.size) + v.searchsorted(u, "left")
    positions_v = np.arange(v.size) + u.searchsorted(v, "right")
    merged = np.empty(u.size + v.size, dtype=np.float64)
    merged[positions_u] = u
    merged[positions_v] = v
    from_u = np.zeros(merged.size, dtype=np.int64)
    from_u[positions_u] = 1
    u_below = np.cumsum(from_u[:-1])
    u_cdf = u_below / u.size
    v_cdf = (np.arange(1, merged.size) - u_below) / v.size
    distance = float(np.vecdot(np.abs(u_cdf - v_cdf), np.diff(merged)))
    return distance / max(float(np.std(u)), 0.001)


def anderson(ref: Sample, cur: Sample) -> float:
    """Anderson-Darling k-sample p-value (``scipy.stats.anderson_ksamp``, midrank variant as Evidently calls it).

    scipy interpolates the p-value from a table of critical values and caps it to ``[0.001, 0.25]``: scores of
    0.001 mean "at most 0.001" and 0.25 "at least 0.25". scipy's warnings about the capping are silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.anderson_ksamp([ref.values, cur.values], variant="midrank")
    return float(result.pvalue)


def cramer_von_mises(ref: Sample, cur: Sample) -> float:
    """Two-sample Cramér-von Mises p-value (``scipy.stats.cramervonmises_2samp``, exact for small samples)."""
    return float(stats.cramervonmises_2samp(ref.values, cur.values).pvalue)


def per_value_counts(ref: Sample, cur: Sample) -> tuple[FloatArray | IntArray, IntArray, IntArray]:
    """One bin per distinct value of either side: the values (ascending) and each side's counts."""
    ref_values, ref_counts = ref.unique
    cur_values, cur_counts = cur.unique
    keys = np.union1d(ref_values, cur_values)
    ref_full = np.zeros(keys.size, dtype=np.int64)
    cur_full = np.zeros(keys.size, dtype=np.int64)
    ref_full[np.searchsorted(keys, ref_values)] = ref_counts
    cur_full[np.searchsorted(keys, cur_values)] = cur_counts
    return keys, ref_full, cur_full


def binned_counts(ref: Sample, cur: Sample) -> tuple[IntArray, IntArray, Binning]:
    """Evidently's histogram for psi, kl_div and jensenshannon: each side's counts and the binning used.

    More than 20 distinct reference values: ``numpy.histogram_bin_edges(pooled, "sturges")`` equal-width bins over
    the pooled range, half-open except the last; otherwise one bin per distinct value of either side.
    """
    if ref.distinct <= PER_VALUE_MAX_DISTINCT:
        _, ref_counts, cur_counts = per_value_counts(ref, cur)
        return ref_counts, cur_counts, "per_value"
    low = min(ref.values[0], cur.values[0]) if cur.size else ref.values[0]
    high = max(ref.values[-1], cur.values[-1]) if cur.size else ref.values[-1]
    edges = sturges_edges(float(low), float(high), ref.size + cur.size, integer=ref.integer and cur.integer)
    return _histogram(ref.values, edges), _histogram(cur.values, edges), "pooled_sturges"


def _histogram(sorted_values: FloatArray | IntArray, edges: FloatArray) -> IntArray:
    """``numpy.histogram(values, edges)[0]`` for sorted values: bins ``[a, b)``, the last one closed."""
    positions = np.searchsorted(sorted_values, edges[:-1], side="left")
    last = np.searchsorted(sorted_values, edges[-1], side="right")
    counts: IntArray = np.diff(np.r_[positions, last]).astype(np.int64)
    return counts
