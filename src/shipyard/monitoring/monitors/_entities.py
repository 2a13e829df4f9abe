"""What the monitor store returns: monitors, their windows, their alerts, and what one run did.

Frozen, typed and free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.monitoring.monitors._spec import MonitorSpec

__all__ = ["Alert", "Monitor", "MonitorWindow", "RunResult"]


@dataclass(frozen=True)
class Monitor:
    """A stored monitor.

    Attributes:
        monitor_id: its stable id (events name it).
        name: its unique name.
        spec: the validated spec.
        created_by: who created it.
        created_at_ms: when.
        updated_at_ms: when its spec last changed.
        last_run_at_ms: when it last ran, if ever.
        evaluated_through_ms: alert rules have seen every window starting at or before this.
    """

    monitor_id: str
    name: str
    spec: MonitorSpec
    created_by: str
    created_at_ms: int
    updated_at_ms: int
    last_run_at_ms: int | None = None
    evaluated_through_ms: int | None = None

    @property
    def deployment(self) -> str | None:
        """The watched deployment's name (its grants govern the monitor), or None for a data set."""
        return self.spec.deployment_name


@dataclass(frozen=True)
class MonitorWindow:
    """One computed window: ``[start_ms, end_ms)``.

    Attributes:
        columns: per column: ``test``, ``score``, ``threshold``, ``drifted``, ``kind``, ``missing_share`` and
            ``histogram`` (shared bins: ``edges`` or ``categories``, with ``reference`` and ``current`` shares).
        quality: ``data`` (data quality), ``model`` (model quality of labelled rows), ``labelled_rows``.
        ops: ``requests``, ``rows``, ``latency_p50_ms``/``p95``/``p99`` and the same per model version.
        metrics: the flat name -> number map metric rules read.
        error: why the drift result is missing, if it failed.
    """

    monitor_id: str
    start_ms: int
    end_ms: int
    computed_at_ms: int
    rows: int
    drifted_share: float | None
    dataset_drift: bool | None
    columns: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    ops: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Alert:
    """One time a rule fired (``FIRING``), and when it stopped (``RESOLVED``).

    Attributes:
        window_start_ms: the window in which it started firing.
        resolved_window_start_ms: the window in which it stopped, once resolved.
        fired_event_id: the ``alert.fired`` event in the outbox.
        resolved_event_id: the ``alert.resolved`` event, once resolved.
    """

    alert_id: int
    monitor_id: str
    monitor_name: str
    rule: str
    severity: str
    state: str
    message: str
    value: float | None
    window_start_ms: int
    fired_at_ms: int
    fired_event_id: int | None = None
    resolved_window_start_ms: int | None = None
    resolved_at_ms: int | None = None
    resolved_event_id: int | None = None


@dataclass(frozen=True)
class RunResult:
    """What one run of a monitor did.

    Attributes:
        monitor: the monitor's name.
        computed: the start (ms) of every window computed by this run, oldest first.
        fired: alerts that started firing.
        resolved: alerts that stopped.
    """

    monitor: str
    computed: tuple[int, ...] = ()
    fired: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()
