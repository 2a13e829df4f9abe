"""The ``robust`` preset's tests: effect sizes on stable bins instead of p-values, and explicit new categories.

Why: Evidently's defaults raise known false alarms. Chi-square flags any category unseen in the reference (p = 0)
and stable high-cardinality columns (many rare levels, tiny expected counts), and every p-value test flags
negligible shifts once samples reach hundreds of thousands of rows. The robust preset scores every column with one
effect size, the population stability index (PSI), on bins made so that sampling noise stays well below the
threshold whatever the sample size:

* **Bins.** A numerical column with more than 20 distinct reference values gets reference-quantile bins (the
  current data cannot stretch them: the outer bins are open). Other columns get one bin per category, except
  that categories under ``RARE_SHARE`` (0.5 %) of the reference, and all new categories, share one "other" bin.
  At most ``min(n_ref, n_cur) // MIN_ROWS_PER_BIN`` bins (50 rows per bin on the smaller side; at least 2, at most
  10 quantile bins or 50 category bins): PSI between two samples of one distribution is about
  ``(bins - 1) * (1/n_ref + 1/n_cur)``, so this keeps pure noise under 0.04, well below the threshold.
* **Threshold.** ``PSI >= 0.1`` is drift (the usual credit-scoring reading: < 0.1 stable, 0.1-0.25 moderate,
  > 0.25 major shift). On quantile bins 0.1 is about a 0.3 standard-deviation shift of a normal column, whether
  the samples have 1,000 or 10 million rows.
* **New categories.** Reported in ``details`` (the most frequent 20, their count and combined share) and flagged
  only when their combined current share exceeds ``NEW_SHARE`` (1 %) plus the reference's own rate of
  singletons (the Good-Turing estimate of the share of unseen values to expect from an unchanged long tail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.monitoring.entities import Binning
from shipyard.monitoring.stats.binned import jensenshannon, psi, shares
from shipyard.monitoring.stats.categorical import CategoryCounts
from shipyard.monitoring.stats.numerical import PER_VALUE_MAX_DISTINCT, Sample, per_value_counts, wasserstein_normed

__all__ = [
    "MAX_CATEGORY_BINS",
    "MAX_QUANTILE_BINS",
    "MIN_ROWS_PER_BIN",
    "NEW_SHARE",
    "PSI_THRESHOLD",
    "RARE_SHARE",
    "TEST_NAME",
    "RobustResult",
    "robust_categorical",
    "robust_numerical",
]

TEST_NAME = "robust_psi"
PSI_THRESHOLD = 0.1
MIN_ROWS_PER_BIN = 50
MAX_QUANTILE_BINS = 10
MAX_CATEGORY_BINS = 50
RARE_SHARE = 0.005
NEW_SHARE = 0.01
_SHOWN_NEW = 20

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RobustResult:
    """A robust test's outcome (the preset's ``ColumnDrift`` fields)."""

    score: float
    drifted: bool
    binning: Binning
    details: dict[str, Any] = field(default_factory=dict)
    threshold: float = PSI_THRESHOLD


def _max_bins(n_ref: int, n_cur: int, cap: int) -> int:
    return int(min(cap, max(2, min(n_ref, n_cur) // MIN_ROWS_PER_BIN)))


def robust_numerical(ref: Sample, cur: Sample, threshold: float = PSI_THRESHOLD) -> RobustResult:
    """PSI on reference-quantile bins (or per value when the reference has at most 20 distinct values).

    ``details`` also holds the normed Wasserstein distance, for information.
    """
    if ref.distinct <= PER_VALUE_MAX_DISTINCT:
        keys, ref_counts, cur_counts = per_value_counts(ref, cur)
        return robust_categorical(CategoryCounts(keys=keys.tolist(), ref=ref_counts, cur=cur_counts), threshold)
    bins = _max_bins(ref.size, cur.size, MAX_QUANTILE_BINS)
    edges = np.unique(np.quantile(ref.values, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.diff(np.r_[0, np.searchsorted(ref.values, edges, side="left"), ref.size])
    cur_counts = np.diff(np.r_[0, np.searchsorted(cur.values, edges, side="left"), cur.size])
    score = psi(shares(ref_counts), shares(cur_counts))
    details = {"bins": int(edges.size + 1), "wasserstein_normed": wasserstein_normed(ref, cur)}
    return RobustResult(score, score >= threshold, "reference_bins", details, threshold)


def robust_categorical(counts: CategoryCounts, threshold: float = PSI_THRESHOLD) -> RobustResult:
    """PSI over the frequent categories plus one "other" bin, and the share of new categories."""
    n_ref, n_cur = counts.reference_rows, counts.current_rows
    new = counts.ref == 0
    frequent = np.flatnonzero(~new & (counts.ref >= RARE_SHARE * n_ref))
    frequent = frequent[np.argsort(-counts.ref[frequent], kind="stable")][
        : _max_bins(n_ref, n_cur, MAX_CATEGORY_BINS) - 1
    ]
    other = np.ones(counts.ref.size, dtype=bool)
    other[frequent] = False
    ref_bins = np.r_[counts.ref[frequent], counts.ref[other].sum()]
    cur_bins = np.r_[counts.cur[frequent], counts.cur[other].sum()]
    if ref_bins[-1] == 0 and cur_bins[-1] == 0:
        ref_bins, cur_bins = ref_bins[:-1], cur_bins[:-1]
    score = psi(shares(ref_bins), shares(cur_bins))

    new_rows = int(counts.cur[new].sum())
    new_share = new_rows / n_cur if n_cur else 0.0
    singletons = int(np.count_nonzero(counts.ref == 1))
    new_threshold = NEW_SHARE + (singletons / n_ref if n_ref else 0.0)
    shown = np.flatnonzero(new)[np.argsort(-counts.cur[new], kind="stable")][:_SHOWN_NEW]
    details: dict[str, Any] = {
        "bins": int(ref_bins.size),
        "pooled_categories": int(np.count_nonzero(other & ~new)),
        "jensenshannon": jensenshannon(shares(ref_bins), shares(cur_bins)),
        "new_categories": {str(counts.keys[i]): int(counts.cur[i]) for i in shown},
        "new_category_count": int(np.count_nonzero(new)),
        "new_share": new_share,
        "new_share_threshold": new_threshold,
    }
    drifted = score >= threshold or new_share > new_threshold
    return RobustResult(score, bool(drifted), "per_value", details, threshold)
