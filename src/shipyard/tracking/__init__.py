"""Experiment tracking: experiments, runs, params, metrics, tags, dataset inputs and lineage.

The names are imported on first use, so reading an entity loads no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.tracking.entities import (
        DatasetInput,
        Experiment,
        LifecycleStage,
        Metric,
        MetricSeries,
        Param,
        Run,
        RunStatus,
        RunTag,
        ViewType,
    )
    from shipyard.tracking.lineage import Lineage, capture_lineage
    from shipyard.tracking.service import TrackingService
    from shipyard.tracking.store import TrackingStore

__all__ = [
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Lineage",
    "Metric",
    "MetricSeries",
    "Param",
    "Run",
    "RunStatus",
    "RunTag",
    "TrackingService",
    "TrackingStore",
    "ViewType",
    "capture_lineage",
]

_LAZY = {
    "DatasetInput": "shipyard.tracking.entities",
    "Experiment": "shipyard.tracking.entities",
    "LifecycleStage": "shipyard.tracking.entities",
    "Metric": "shipyard.tracking.entities",
    "MetricSeries": "shipyard.tracking.entities",
    "Param": "shipyard.tracking.entities",
    "Run": "shipyard.tracking.entities",
    "RunStatus": "shipyard.tracking.entities",
    "RunTag": "shipyard.tracking.entities",
    "ViewType": "shipyard.tracking.entities",
    "TrackingService": "shipyard.tracking.service",
    "TrackingStore": "shipyard.tracking.store",
    "Lineage": "shipyard.tracking.lineage",
    "capture_lineage": "shipyard.tracking.lineage",
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
