"""The JSON shapes of monitors, windows, alerts and runs: one implementation for the REST API and the CLI."""

from __future__ import annotations

from typing import Any

from shipyard.monitoring.monitors._entities import Alert, Monitor, MonitorWindow, RunResult

__all__ = ["alert_to_json", "monitor_to_json", "run_to_json", "window_to_json"]


def monitor_to_json(monitor: Monitor) -> dict[str, Any]:
    """A monitor with its spec."""
    return {
        "monitor_id": monitor.monitor_id,
        "name": monitor.name,
        "deployment": monitor.deployment,
        "window_s": monitor.spec.window_s,
        "created_by": monitor.created_by,
        "created_at_ms": monitor.created_at_ms,
        "updated_at_ms": monitor.updated_at_ms,
        "last_run_at_ms": monitor.last_run_at_ms,
        "evaluated_through_ms": monitor.evaluated_through_ms,
        "spec": monitor.spec.model_dump(mode="json", exclude_none=True),
    }


def window_to_json(window: MonitorWindow, *, details: bool = True) -> dict[str, Any]:
    """One window; without ``details``, only its headline numbers."""
    out: dict[str, Any] = {
        "start_ms": window.start_ms,
        "end_ms": window.end_ms,
        "computed_at_ms": window.computed_at_ms,
        "rows": window.rows,
        "drifted_share": window.drifted_share,
        "dataset_drift": window.dataset_drift,
        "error": window.error,
        "metrics": window.metrics,
    }
    if details:
        out.update(columns=window.columns, quality=window.quality, ops=window.ops)
    return out


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """One alert."""
    return {
        "alert_id": alert.alert_id,
        "monitor": alert.monitor_name,
        "rule": alert.rule,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "value": alert.value,
        "window_start_ms": alert.window_start_ms,
        "fired_at_ms": alert.fired_at_ms,
        "fired_event_id": alert.fired_event_id,
        "resolved_window_start_ms": alert.resolved_window_start_ms,
        "resolved_at_ms": alert.resolved_at_ms,
        "resolved_event_id": alert.resolved_event_id,
    }


def run_to_json(result: RunResult) -> dict[str, Any]:
    """What a run did."""
    return {
        "monitor": result.monitor,
        "computed": list(result.computed),
        "fired": [alert_to_json(a) for a in result.fired],
        "resolved": [alert_to_json(a) for a in result.resolved],
    }
