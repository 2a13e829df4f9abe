"""Drift tests on categorical columns, from each side's count per category (one ``value_counts`` per side).

Chi-square and the z-test as Evidently runs them; psi, kl_div and jensenshannon use one bin per category.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from shipyard.monitoring.stats.binned import chisquare_counts, z_test_counts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CategoryCounts", "chisquare", "z_test"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CategoryCounts:
    """Both sides' counts over the union of their non-missing categories (each seen on at least one side).

    Attributes:
        keys: the categories, reference categories first.
        ref: reference count per category.
        cur: current count per category.
    """

    keys: list[Any]
    ref: IntArray
    cur: IntArray

    @classmethod
    def from_series(cls, reference: pd.Series, current: pd.Series) -> CategoryCounts:
        """Count both sides, dropping missing values (and ``±inf`` of a float column)."""
        ref_counts = _value_counts(reference)
        cur_counts = _value_counts(current)
        keys = ref_counts.index.union(cur_counts.index, sort=False)
        return cls(
            keys=list(keys),
            ref=ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=np.int64),
            cur=cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=np.int64),
        )

    @property
    def reference_rows(self) -> int:
        return int(self.ref.sum())

    @property
    def current_rows(self) -> int:
        return int(self.cur.sum())

    @property
    def reference_distinct(self) -> int:
        return int(np.count_nonzero(self.ref))


def _value_counts(series: pd.Series) -> pd.Series:
    if series.dtype.kind == "f":
        series = series[np.isfinite(series.to_numpy())]
    counts = series.value_counts(dropna=True, sort=False)
    return counts[counts > 0]  # a pandas categorical lists its unobserved categories with count 0


def chisquare(counts: CategoryCounts) -> float:
    """Evidently's chi-square goodness-of-fit p-value (an unseen category gives p = 0)."""
    return chisquare_counts(counts.ref, counts.cur)


def z_test(counts: CategoryCounts) -> float:
    """Evidently's z-test: the first category in sorted order is "0", every other one is "1"."""
    if counts.reference_rows == 0 or counts.current_rows == 0:
        return math.nan
    try:
        first = sorted(counts.keys)[0]
    except TypeError:  # categories of mixed types: order them by their text
        first = sorted(counts.keys, key=str)[0]
    index = counts.keys.index(first)
    return z_test_counts(
        counts.reference_rows - int(counts.ref[index]),
        counts.reference_rows,
        counts.current_rows - int(counts.cur[index]),
        counts.current_rows,
    )
