"""Monitoring: data drift (Evidently's default rules, or a robust preset), data and model quality, mergeable
profiles, self-contained reports, and monitors that read the prediction log per window and raise alerts.

The result types load nothing heavy; the functions (numpy, scipy, pandas, pyarrow: the ``monitoring`` extra) are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports
from shipyard.monitoring.entities import ColumnDrift, DriftReport

if TYPE_CHECKING:
    from shipyard.monitoring.drift import data_drift, data_drift_files
    from shipyard.monitoring.profiles import (
        Profile,
        build_reference_profile,
        profile_drift,
        profile_like,
        profile_parquet,
    )
    from shipyard.monitoring.quality import classification_quality, data_quality, regression_quality
    from shipyard.monitoring.report import render_drift_report, write_drift_report

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "Profile",
    "build_reference_profile",
    "classification_quality",
    "data_drift",
    "data_drift_files",
    "data_quality",
    "profile_drift",
    "profile_like",
    "profile_parquet",
    "regression_quality",
    "render_drift_report",
    "write_drift_report",
]

_LAZY = {
    "data_drift": "shipyard.monitoring.drift",
    "data_drift_files": "shipyard.monitoring.drift",
    "Profile": "shipyard.monitoring.profiles",
    "build_reference_profile": "shipyard.monitoring.profiles",
    "profile_drift": "shipyard.monitoring.profiles",
    "profile_like": "shipyard.monitoring.profiles",
    "profile_parquet": "shipyard.monitoring.profiles",
    "classification_quality": "shipyard.monitoring.quality",
    "data_quality": "shipyard.monitoring.quality",
    "regression_quality": "shipyard.monitoring.quality",
    "render_drift_report": "shipyard.monitoring.report",
    "write_drift_report": "shipyard.monitoring.report",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())
