"""Drift statistics: Evidently's tests on histograms, numerical samples and category counts, and their selection.

Pure numpy/scipy functions (``binned``) shared by data-frame drift and profile drift; ``data_drift`` in
``shipyard.monitoring.drift`` is the entry point for data frames.
"""

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
from shipyard.monitoring.stats.selection import METHODS, Method, default_method, is_drifted

__all__ = [
    "METHODS",
    "Method",
    "chisquare_counts",
    "default_method",
    "fill_zeroes",
    "is_drifted",
    "jensenshannon",
    "kl_div",
    "psi",
    "shares",
    "sturges_edges",
    "z_test_counts",
]
