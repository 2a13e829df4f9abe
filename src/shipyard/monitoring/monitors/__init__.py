"""Monitors: specs, the service that computes windows and raises alerts, their entities and rules."""

from __future__ import annotations

from shipyard.monitoring.monitors._entities import Alert, Monitor, MonitorWindow, RunResult
from shipyard.monitoring.monitors._rules import check, describe, rule_state
from shipyard.monitoring.monitors._service import MonitorService
from shipyard.monitoring.monitors._spec import (
    AlertRule,
    ColumnDriftRule,
    DatasetDriftRule,
    DatasetSource,
    DriftedShareRule,
    DriftSettings,
    LogSource,
    MetricRule,
    MonitorSpec,
    Reference,
    TimeWindow,
    load_spec,
    parse_spec,
)
from shipyard.monitoring.monitors._store import ALERT_FIRED, ALERT_RESOLVED

__all__ = [
    "ALERT_FIRED",
    "ALERT_RESOLVED",
    "Alert",
    "AlertRule",
    "ColumnDriftRule",
    "DatasetDriftRule",
    "DatasetSource",
    "DriftSettings",
    "DriftedShareRule",
    "LogSource",
    "MetricRule",
    "Monitor",
    "MonitorService",
    "MonitorSpec",
    "MonitorWindow",
    "Reference",
    "RunResult",
    "TimeWindow",
    "check",
    "describe",
    "load_spec",
    "parse_spec",
    "rule_state",
]
