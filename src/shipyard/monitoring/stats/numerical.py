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
        """Clean (``±inf`` and NaN dropped) and sort.

        A column with few distinct values (or integers in a narrow range) is counted per value instead, and its
        sorted array rebuilt from the counts: the same array, without a sort of the whole column.
        """
        array = np.asarray(values)
        if array.dtype.kind == "f":
            array = _finite(array.astype(np.float64, copy=False))
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64, copy=False)
        elif array.dtype.kind == "b":
            array = array.astype(np.int64)
        else:
            array = _finite(np.asarray(array, dtype=np.float64))
        counted = _count_values(array)
        if counted is None:
            return cls(np.sort(array))
        keys, counts = counted
        sample = cls(np.repeat(keys, counts))  # type: ignore[arg-type]  # numpy's stubs widen repeat's dtype
        sample.__dict__["unique"] = counted  # cached_property's slot: the counts are already known
        return sample

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

    @cached_property
    def distinct(self) -> int:
        if "unique" in self.__dict__ or self.values.size == 0:
            return int(self.unique[0].size)
        values = self.values
        return 1 + int(np.count_nonzero(values[1:] != values[:-1]))

    @property
    def counted(self) -> bool:
        """True when the per-value counts are known (few distinct values): tests may work on them directly."""
        return "unique" in self.__dict__


_HEAD = 2048
"""Values looked at to guess whether a column has few distinct values."""
_FEW = 64
"""At most this many distinct values in the head: try counting per value instead of sorting."""


def _finite(array: FloatArray) -> FloatArray:
    finite = np.isfinite(array)
    return array if bool(finite.all()) else array[finite]


def _count_values(array: FloatArray | IntArray) -> tuple[FloatArray | IntArray, IntArray] | None:
    """The distinct values (ascending) and their counts without sorting, or None when there are too many.

    Integers in a range no wider than the sample are counted with ``bincount``; otherwise, when the first values
    hold few distinct ones, every value is looked up among those (all must be found, else None).
    """
    if array.size < _HEAD:
        return None
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if high - low < array.size:
            counts = np.bincount(array - low)
            present = np.flatnonzero(counts)
            return (present + low).astype(np.int64), counts[present].astype(np.int64)
    keys = np.unique(array[:_HEAD])
    if keys.size > _FEW:
        return None
    positions = np.searchsorted(keys, array)
    np.minimum(positions, keys.size - 1, out=positions)
    if not bool(np.array_equal(keys[positions], array)):
        return None
    counts = np.bincount(positions, minlength=keys.size).astype(np.int64)
    seen = counts > 0
    found: FloatArray | IntArray = keys[seen]  # type: ignore[assignment]  # unique keeps the dtype
    return found, counts[seen]


def ks(ref: Sample, cur: Sample) -> float:
    """``scipy.stats.ks_2samp`` p-value with scipy's defaults (exact when both samples have at most 10,000 values)."""
    from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type hints; imported when used

    return float(stats.ks_2samp(ref.values, cur.values).pvalue)


def wasserstein_normed(ref: Sample, cur: Sample) -> float:
    """``scipy.stats.wasserstein_distance(ref, cur) / max(std(ref), 0.001)`` (population std), from sorted samples.

    Reproduces scipy's sum term for term from the already sorted samples: a stable merge replaces its argsorts and
    searches (numpy's stable sort merges the two sorted runs in linear time). Within a run of equal values the
    merged order may differ from scipy's, but those terms are multiplied by a zero gap; every other term has the
    same value. When both samples were counted per value, the sum runs over the distinct values only: the same
    non-zero terms, in the same order.
    """
    u = ref.values.astype(np.float64, copy=False)
    if ref.counted and cur.counted and 8 * (ref.distinct + cur.distinct) <= ref.size + cur.size:
        distance = _wasserstein_counted(ref, cur)
    else:
        v = cur.values.astype(np.float64, copy=False)
        both = np.concatenate([u, v])
        order = np.argsort(both, kind="stable")  # ties: reference values first, as scipy's searchsorted(right)
        merged = both[order]
        del both
        u_below = np.cumsum(order[:-1] < u.size)
        del order
        u_cdf = u_below / u.size
        v_cdf = (np.arange(1, merged.size) - u_below) / v.size
        distance = float(np.vecdot(np.abs(u_cdf - v_cdf), np.diff(merged)))
    return distance / max(float(np.std(u)), 0.001)


def _wasserstein_counted(ref: Sample, cur: Sample) -> float:
    keys, ref_counts, cur_counts = per_value_counts(ref, cur)
    u_cdf = np.cumsum(ref_counts[:-1]) / ref.size
    v_cdf = np.cumsum(cur_counts[:-1]) / cur.size
    return float(np.vecdot(np.abs(u_cdf - v_cdf), np.diff(keys.astype(np.float64))))


def anderson(ref: Sample, cur: Sample) -> float:
    """Anderson-Darling k-sample p-value (``scipy.stats.anderson_ksamp``, midrank variant as Evidently calls it).

    scipy interpolates the p-value from a table of critical values and caps it to ``[0.001, 0.25]``: scores of
    0.001 mean "at most 0.001" and 0.25 "at least 0.25". scipy's warnings about the capping are silenced.
    """
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.anderson_ksamp([ref.values, cur.values], variant="midrank")
    return float(result.pvalue)


def cramer_von_mises(ref: Sample, cur: Sample) -> float:
    """Two-sample Cramér-von Mises p-value (``scipy.stats.cramervonmises_2samp``, exact for small samples)."""
    from scipy import stats

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
