"""Monitors on the wire: the JSON shapes of monitors, windows, alerts and runs, written by the server and the CLI
and read back by the REST client."""

from __future__ import annotations

from typing import Any

from shipyard.monitoring.monitors import Alert, Monitor, MonitorWindow, RunResult, parse_spec

__all__ = [
    "alert_from_json",
    "alert_to_json",
    "monitor_from_json",
    "monitor_to_json",
    "run_from_json",
    "run_to_json",
    "window_from_json",
    "window_to_json",
]


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


def monitor_from_json(data: dict[str, Any]) -> Monitor:
    """A monitor from its JSON."""
    return Monitor(
        monitor_id=str(data["monitor_id"]),
        name=str(data["name"]),
        spec=parse_spec(data["spec"]),
        created_by=str(data.get("created_by") or ""),
        created_at_ms=int(data["created_at_ms"]),
        updated_at_ms=int(data["updated_at_ms"]),
        last_run_at_ms=data.get("last_run_at_ms"),
        evaluated_through_ms=data.get("evaluated_through_ms"),
    )


def window_from_json(data: dict[str, Any], monitor_id: str) -> MonitorWindow:
    """A window from its JSON (the details are empty when the server left them out)."""
    return MonitorWindow(
        monitor_id=monitor_id,
        start_ms=int(data["start_ms"]),
        end_ms=int(data["end_ms"]),
        computed_at_ms=int(data["computed_at_ms"]),
        rows=int(data["rows"]),
        drifted_share=data.get("drifted_share"),
        dataset_drift=data.get("dataset_drift"),
        columns=data.get("columns") or {},
        quality=data.get("quality") or {},
        ops=data.get("ops") or {},
        metrics=data.get("metrics") or {},
        error=data.get("error"),
    )


def alert_from_json(data: dict[str, Any], monitor_id: str = "") -> Alert:
    """An alert from its JSON (which names the monitor, not its id)."""
    return Alert(
        alert_id=int(data["alert_id"]),
        monitor_id=monitor_id,
        monitor_name=str(data["monitor"]),
        rule=str(data["rule"]),
        severity=str(data["severity"]),
        state=str(data["state"]),
        message=str(data["message"]),
        value=data.get("value"),
        window_start_ms=int(data["window_start_ms"]),
        fired_at_ms=int(data["fired_at_ms"]),
        fired_event_id=data.get("fired_event_id"),
        resolved_window_start_ms=data.get("resolved_window_start_ms"),
        resolved_at_ms=data.get("resolved_at_ms"),
        resolved_event_id=data.get("resolved_event_id"),
    )


def run_from_json(data: dict[str, Any]) -> RunResult:
    """What a run did, from its JSON."""
    return RunResult(
        monitor=str(data["monitor"]),
        computed=tuple(int(start) for start in data.get("computed", [])),
        fired=tuple(alert_from_json(a) for a in data.get("fired", [])),
        resolved=tuple(alert_from_json(a) for a in data.get("resolved", [])),
    )
