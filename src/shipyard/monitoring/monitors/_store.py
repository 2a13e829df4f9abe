"""SQL for monitors: the specs, each window's results, and alerts recorded with their events in one transaction."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.db import Database
from shipyard.errors import ResourceAlreadyExists, ResourceNotFound
from shipyard.events import NewEvent, record_event
from shipyard.monitoring.monitors._entities import Alert, Monitor, MonitorWindow
from shipyard.monitoring.monitors._spec import MonitorSpec, dump_spec, parse_spec
from shipyard.monitoring.monitors._windows import WindowResult
from shipyard.monitoring.tables import FIRING, RESOLVED, monitor_alerts, monitor_windows, monitors

__all__ = ["ALERT_FIRED", "ALERT_RESOLVED", "MonitorStore"]

# The event kinds alerts are recorded as. Webhooks subscribe to them with ``alert.*`` (the prefix the webhook
# service reserved for monitoring) or by their full names.
ALERT_FIRED = "alert.fired"
ALERT_RESOLVED = "alert.resolved"
ENTITY_TYPE = "monitor"


def _json(value: Any) -> str:
    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [clean(v) for v in item]
        return item

    return json.dumps(clean(value), sort_keys=True, default=str)


def _monitor(row: Any) -> Monitor:
    return Monitor(
        monitor_id=row.monitor_id,
        name=row.name,
        spec=parse_spec(json.loads(row.spec)),
        created_by=row.created_by,
        created_at_ms=row.created_at,
        updated_at_ms=row.updated_at,
        last_run_at_ms=row.last_run_at,
        evaluated_through_ms=row.evaluated_through,
    )


def _window(row: Any) -> MonitorWindow:
    return MonitorWindow(
        monitor_id=row.monitor_id,
        start_ms=row.window_start,
        end_ms=row.window_end,
        computed_at_ms=row.computed_at,
        rows=row.rows,
        drifted_share=row.drifted_share,
        dataset_drift=None if row.dataset_drift is None else bool(row.dataset_drift),
        columns=json.loads(row.columns),
        quality=json.loads(row.quality),
        ops=json.loads(row.ops),
        metrics=json.loads(row.metrics),
        error=row.error,
    )


def _alert(row: Any, name: str) -> Alert:
    return Alert(
        alert_id=row.alert_id,
        monitor_id=row.monitor_id,
        monitor_name=name,
        rule=row.rule,
        severity=row.severity,
        state=row.state,
        message=row.message,
        value=row.value,
        window_start_ms=row.window_start,
        fired_at_ms=row.fired_at,
        fired_event_id=row.fired_event_id,
        resolved_window_start_ms=row.resolved_window_start,
        resolved_at_ms=row.resolved_at,
        resolved_event_id=row.resolved_event_id,
    )


class MonitorStore:
    """Monitors, windows and alerts in the metadata database."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # --- monitors -------------------------------------------------------------------------------------------
    def create(self, spec: MonitorSpec, *, actor: str, now_ms: int, replace: bool = False) -> Monitor:
        """Store a new monitor, or (``replace``) a new spec for an existing one, keeping its windows.

        Raises:
            ResourceAlreadyExists: the name is taken and ``replace`` is False.
        """
        text = dump_spec(spec)
        with self.db.write() as conn:
            found = conn.execute(select(monitors.c.monitor_id).where(monitors.c.name == spec.name)).first()
            if found is not None:
                if not replace:
                    raise ResourceAlreadyExists(f"Monitor '{spec.name}' already exists; delete it or replace it.")
                conn.execute(
                    update(monitors)
                    .where(monitors.c.monitor_id == found.monitor_id)
                    .values(spec=text, deployment=spec.deployment_name, updated_at=now_ms)
                )
            else:
                try:
                    conn.execute(
                        insert(monitors).values(
                            monitor_id=uuid.uuid4().hex,
                            name=spec.name,
                            deployment=spec.deployment_name,
                            spec=text,
                            created_by=actor[:256],
                            created_at=now_ms,
                            updated_at=now_ms,
                        )
                    )
                except IntegrityError:
                    raise ResourceAlreadyExists(f"Monitor '{spec.name}' already exists.") from None
            row = conn.execute(select(monitors).where(monitors.c.name == spec.name)).one()
            return _monitor(row)

    def get(self, name: str) -> Monitor:
        """One monitor by name.

        Raises:
            ResourceNotFound: no monitor has this name.
        """
        with self.db.read() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).first()
        if row is None:
            raise ResourceNotFound(f"Monitor '{name[:128]}' does not exist.")
        return _monitor(row)

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(monitors).order_by(monitors.c.name)).all()
        return [_monitor(r) for r in rows]

    def delete(self, name: str) -> None:
        """Delete a monitor with its windows and alerts (the events stay in the outbox).

        Raises:
            ResourceNotFound: no monitor has this name.
        """
        with self.db.write() as conn:
            found = conn.execute(select(monitors.c.monitor_id).where(monitors.c.name == name)).first()
            if found is None:
                raise ResourceNotFound(f"Monitor '{name[:128]}' does not exist.")
            for table in (monitor_windows, monitor_alerts):
                conn.execute(delete(table).where(table.c.monitor_id == found.monitor_id))
            conn.execute(delete(monitors).where(monitors.c.monitor_id == found.monitor_id))

    def mark_run(self, monitor_id: str, *, now_ms: int, evaluated_through_ms: int | None) -> None:
        """Record that a run finished and how far its rules have been evaluated."""
        values: dict[str, Any] = {"last_run_at": now_ms}
        if evaluated_through_ms is not None:
            values["evaluated_through"] = evaluated_through_ms
        with self.db.write() as conn:
            conn.execute(update(monitors).where(monitors.c.monitor_id == monitor_id).values(**values))

    # --- windows --------------------------------------------------------------------------------------------
    def computed(self, monitor_id: str, starts: Sequence[int]) -> set[int]:
        """Which of ``starts`` already have a stored window."""
        if not starts:
            return set()
        with self.db.read() as conn:
            rows = conn.execute(
                select(monitor_windows.c.window_start).where(
                    monitor_windows.c.monitor_id == monitor_id,
                    monitor_windows.c.window_start >= min(starts),
                    monitor_windows.c.window_start <= max(starts),
                )
            ).all()
        return {r.window_start for r in rows} & set(starts)

    def add_window(self, monitor_id: str, start_ms: int, end_ms: int, result: WindowResult, *, now_ms: int) -> bool:
        """Store one window's results; False (nothing written) when another run stored it first."""
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(monitor_windows).values(
                        monitor_id=monitor_id,
                        window_start=start_ms,
                        window_end=end_ms,
                        computed_at=now_ms,
                        rows=result.rows,
                        drifted_share=result.drifted_share,
                        dataset_drift=result.dataset_drift,
                        columns=_json(result.columns),
                        quality=_json(result.quality),
                        ops=_json(result.ops),
                        metrics=_json(result.metrics),
                        error=result.error,
                    )
                )
        except IntegrityError:
            return False
        return True

    def windows(self, monitor_id: str, *, limit: int = 1000) -> list[MonitorWindow]:
        """The newest ``limit`` windows, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(monitor_windows)
                .where(monitor_windows.c.monitor_id == monitor_id)
                .order_by(monitor_windows.c.window_start.desc())
                .limit(limit)
            ).all()
        return [_window(r) for r in reversed(rows)]

    # --- alerts ---------------------------------------------------------------------------------------------
    def open_alerts(self, monitor: Monitor) -> dict[str, Alert]:
        """The firing alert of each rule that has one."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(monitor_alerts).where(
                    monitor_alerts.c.monitor_id == monitor.monitor_id, monitor_alerts.c.state == FIRING
                )
            ).all()
        return {r.rule: _alert(r, monitor.name) for r in rows}

    def alerts(self, monitors_: Iterable[Monitor], *, limit: int = 200) -> list[Alert]:
        """The newest ``limit`` alerts of these monitors, newest first."""
        names = {m.monitor_id: m.name for m in monitors_}
        if not names:
            return []
        with self.db.read() as conn:
            rows = conn.execute(
                select(monitor_alerts)
                .where(monitor_alerts.c.monitor_id.in_(list(names)))
                .order_by(monitor_alerts.c.alert_id.desc())
                .limit(limit)
            ).all()
        return [_alert(r, names[r.monitor_id]) for r in rows]

    def fire(
        self,
        monitor: Monitor,
        *,
        rule: str,
        severity: str,
        message: str,
        value: float | None,
        window: MonitorWindow,
        actor: str,
        now_ms: int,
    ) -> Alert | None:
        """Open an alert for ``rule`` and record ``alert.fired`` with it; None if one is open already."""
        with self.db.write() as conn:
            if self._open_id(conn, monitor.monitor_id, rule) is not None:
                return None
            result = conn.execute(
                insert(monitor_alerts).values(
                    monitor_id=monitor.monitor_id,
                    rule=rule,
                    severity=severity,
                    state=FIRING,
                    message=message,
                    value=value,
                    window_start=window.start_ms,
                    fired_at=now_ms,
                )
            )
            assert result.inserted_primary_key is not None
            alert_id = int(result.inserted_primary_key[0])
            event = self._event(monitor, ALERT_FIRED, alert_id, rule, severity, message, value, window, actor)
            event_id = record_event(conn, event, now_ms)
            conn.execute(
                update(monitor_alerts).where(monitor_alerts.c.alert_id == alert_id).values(fired_event_id=event_id)
            )
            row = conn.execute(select(monitor_alerts).where(monitor_alerts.c.alert_id == alert_id)).one()
        return _alert(row, monitor.name)

    def resolve(
        self,
        monitor: Monitor,
        *,
        rule: str,
        message: str,
        value: float | None,
        window: MonitorWindow,
        actor: str,
        now_ms: int,
    ) -> Alert | None:
        """Resolve ``rule``'s open alert and record ``alert.resolved``; None if none is open."""
        with self.db.write() as conn:
            alert_id = self._open_id(conn, monitor.monitor_id, rule)
            if alert_id is None:
                return None
            severity = conn.execute(
                select(monitor_alerts.c.severity).where(monitor_alerts.c.alert_id == alert_id)
            ).scalar_one()
            event = self._event(monitor, ALERT_RESOLVED, alert_id, rule, severity, message, value, window, actor)
            event_id = record_event(conn, event, now_ms)
            conn.execute(
                update(monitor_alerts)
                .where(monitor_alerts.c.alert_id == alert_id)
                .values(
                    state=RESOLVED,
                    resolved_window_start=window.start_ms,
                    resolved_at=now_ms,
                    resolved_event_id=event_id,
                )
            )
            row = conn.execute(select(monitor_alerts).where(monitor_alerts.c.alert_id == alert_id)).one()
        return _alert(row, monitor.name)

    @staticmethod
    def _open_id(conn: Connection, monitor_id: str, rule: str) -> int | None:
        found = conn.execute(
            select(monitor_alerts.c.alert_id).where(
                monitor_alerts.c.monitor_id == monitor_id,
                monitor_alerts.c.rule == rule,
                monitor_alerts.c.state == FIRING,
            )
        ).scalar()
        return None if found is None else int(found)

    @staticmethod
    def _event(
        monitor: Monitor,
        kind: str,
        alert_id: int,
        rule: str,
        severity: str,
        message: str,
        value: float | None,
        window: MonitorWindow,
        actor: str,
    ) -> NewEvent:
        drifted = sorted(name for name, col in window.columns.items() if isinstance(col, dict) and col.get("drifted"))
        fired = kind == ALERT_FIRED
        return NewEvent(
            kind=kind,
            entity_type=ENTITY_TYPE,
            entity_id=monitor.monitor_id,
            entity_name=monitor.name,
            actor=actor,
            from_value=RESOLVED if fired else FIRING,
            to_value=FIRING if fired else RESOLVED,
            reason=message,
            payload={
                "alert_id": alert_id,
                "monitor": monitor.name,
                "deployment": monitor.deployment,
                "rule": rule,
                "severity": severity,
                "state": FIRING if fired else RESOLVED,
                "message": message,
                "value": value if value is None or math.isfinite(value) else None,
                "window_start_ms": window.start_ms,
                "window_end_ms": window.end_ms,
                "rows": window.rows,
                "drifted_share": window.drifted_share,
                "drifted_columns": drifted,
            },
        )
