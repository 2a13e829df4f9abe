"""Mergeable profiles: reference statistics computed once, per-window summaries that merge exactly, drift from them.

A `Profile` holds, per column, counts and moments and either a histogram on bin edges fixed by the reference
(numerical columns) or counts per category (categorical columns). Windows are profiled on the reference's edges
(`profile_like`), so a month's profile is the exact merge of its days' profiles and drift never re-reads rows.

Where this differs from Evidently (which pools both data sets to choose its bins):

* bins are fixed by the reference: quantile edges for a numerical column with more than 20 distinct reference
  values (one bin per reference value otherwise), plus an open bin below the reference minimum and one above its
  maximum, so current values outside the reference range are counted, not dropped;
* there is no KS test (it needs raw values): where Evidently picks ``ks`` (numerical, at most 1,000 reference
  values) a profile uses ``wasserstein`` on the histograms and says so in ``details["evidently_test"]``;
* Wasserstein is computed from the histograms, each bin's values put at their mean (see `histogram_wasserstein`);
* column types are decided once, on the reference (Evidently infers them on the current data);
* a column with no values on either side is skipped and listed, where Evidently raises.

This package's public surface: the entities are in `_entities`, building from data in
`_build` and drift from profiles in `_drift`.
"""

from __future__ import annotations

from shipyard.monitoring.profiles._build import build_reference_profile, profile_like, profile_parquet
from shipyard.monitoring.profiles._drift import histogram_wasserstein, profile_drift
from shipyard.monitoring.profiles._entities import ColumnProfile, Profile, ProfileKind

__all__ = [
    "ColumnProfile",
    "Profile",
    "ProfileKind",
    "build_reference_profile",
    "histogram_wasserstein",
    "profile_drift",
    "profile_like",
    "profile_parquet",
]
