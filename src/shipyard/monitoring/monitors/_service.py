"""Monitors: declare one for a deployment's prediction log (or a Parquet data set), compute each complete window
against the reference, keep the results as a time series, and raise alerts as events when a rule starts or stops
firing.

Example:
    >>> service = MonitorService(open_database("sqlite:///shipyard.db"))  # doctest: +SKIP
    >>> service.create(load_spec("churn-monitor.yaml"), actor="alice")  # doctest: +SKIP
    >>> service.run("churn-drift").fired  # doctest: +SKIP
    (Alert(rule='age-drift', state='FIRING', ...),)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shipyard.db import Database
from shipyard.monitoring.monitors._entities import Alert, Monitor, MonitorWindow, RunResult
from shipyard.monitoring.monitors._io import Source, columns_for
from shipyard.monitoring.monitors._rules import RuleState, rule_state
from shipyard.monitoring.monitors._spec import (
    AlertRule,
    MonitorSpec,
)
from shipyard.monitoring.monitors._store import MonitorStore
from shipyard.monitoring.monitors._windows import WindowResult, compute_window, due_windows, with_metrics

__all__ = ["MonitorService"]

_log = logging.getLogger("shipyard.monitoring")
RUNNER = "shipyard-monitor"
# Windows of history read to evaluate rules, beyond the ones a run adds (a rule looks back ``windows`` windows).
_HISTORY_SLACK = 64


class MonitorService:
    """Create, list, run and delete monitors; read their windows and alerts.

    Args:
        database: the metadata database.
        s3_endpoint_url: an S3-compatible server for ``s3://`` logs and data sets.
        clock: seconds since the epoch (tests pass their own).
    """

    def __init__(
        self, database: Database, *, s3_endpoint_url: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = MonitorStore(database)
        self.s3_endpoint_url = s3_endpoint_url
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def create(self, spec: MonitorSpec, *, actor: str, replace: bool = False) -> Monitor:
        """Store a monitor (``replace``: give an existing one a new spec; its windows and alerts stay).

        Raises:
            ResourceAlreadyExists: the name is taken and ``replace`` is False.
        """
        return self.store.create(spec, actor=actor, now_ms=self._now_ms(), replace=replace)

    def get(self, name: str) -> Monitor:
        """One monitor.

        Raises:
            ResourceNotFound: no monitor has this name.
        """
        return self.store.get(name)

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name."""
        return self.store.list_monitors()

    def delete(self, name: str) -> None:
        """Delete a monitor, its windows and its alerts (their events stay in the outbox).

        Raises:
            ResourceNotFound: no monitor has this name.
        """
        self.store.delete(name)

    def windows(self, name: str, *, limit: int = 1000) -> list[MonitorWindow]:
        """A monitor's newest ``limit`` windows, oldest first."""
        return self.store.windows(self.store.get(name).monitor_id, limit=limit)

    def alerts(self, name: str | None = None, *, limit: int = 200) -> list[Alert]:
        """The newest alerts of one monitor (or of all), newest first."""
        chosen = [self.store.get(name)] if name is not None else self.store.list_monitors()
        return self.store.alerts(chosen, limit=limit)

    def due(self, monitor: Monitor, *, now_ms: int | None = None) -> bool:
        """Whether a scheduler should run ``monitor`` now (its ``schedule_s``, by default once per window)."""
        if monitor.last_run_at_ms is None:
            return True
        every_s = monitor.spec.schedule_s or monitor.spec.window_s
        return (now_ms if now_ms is not None else self._now_ms()) >= monitor.last_run_at_ms + every_s * 1000

    def run(self, name: str, *, now_ms: int | None = None, actor: str = RUNNER) -> RunResult:
        """Compute every complete window not computed yet (at most ``max_catch_up``, the newest), then evaluate the
        alert rules on each new window in order, recording ``alert.fired`` when a rule starts firing and
        ``alert.resolved`` when it stops. Running again with nothing new changes nothing.

        Args:
            name: the monitor.
            now_ms: the time to run as of (windows ending after it are not complete); the clock by default.
            actor: who runs it, for the events.

        Raises:
            ResourceNotFound: no monitor has this name.
            InvalidParameter: the reference or the data cannot be read.
        """
        now = now_ms if now_ms is not None else self._now_ms()
        monitor = self.store.get(name)
        spec = monitor.spec
        due = due_windows(
            now_ms=now,
            window_s=spec.window_s,
            delay_s=spec.delay_s,
            start_ms=spec.start_ms,
            max_catch_up=spec.max_catch_up,
        )
        done = self.store.computed(monitor.monitor_id, [start for start, _ in due])
        todo = [(start, end) for start, end in due if start not in done]
        computed: list[int] = []
        if todo:
            source = Source(spec, s3_endpoint_url=self.s3_endpoint_url)
            reference = source.reference()
            for start, end in todo:
                result = self._compute(source, reference, start, end)
                if self.store.add_window(monitor.monitor_id, start, end, result, now_ms=now):
                    computed.append(start)
        fired, resolved, through = self._evaluate(monitor, now_ms=now, actor=actor)
        self.store.mark_run(monitor.monitor_id, now_ms=now, evaluated_through_ms=through)
        return RunResult(monitor=name, computed=tuple(computed), fired=tuple(fired), resolved=tuple(resolved))

    def _compute(self, source: Source, reference: object, start: int, end: int) -> WindowResult:
        import pandas as pd

        assert isinstance(reference, pd.DataFrame)
        data = source.window(start, end)
        columns, _missing = columns_for(source.spec, reference, data.inputs)
        result = compute_window(source.spec, reference, data.inputs, columns, log=data.log, labelled=data.labelled)
        deployment = source.spec.deployment
        if deployment is None:
            return result
        from shipyard.predlog._ops import error_rates, read_ops

        snapshots = read_ops(
            deployment.uri, deployment.name, start_ms=start, end_ms=end, s3_endpoint_url=self.s3_endpoint_url
        )
        if not snapshots:
            return result
        # The serving processes' own counters: requests that failed never reach the prediction log.
        result.ops.update(error_rates(snapshots, start_ms=start, end_ms=end))
        return with_metrics(result)

    def _evaluate(self, monitor: Monitor, *, now_ms: int, actor: str) -> tuple[list[Alert], list[Alert], int | None]:
        """Replay the rules over the windows newer than ``evaluated_through``; returns the transitions and the
        newest window start evaluated."""
        spec = monitor.spec
        longest = max((rule.windows for rule in spec.alerts), default=1)
        series = self.store.windows(monitor.monitor_id, limit=spec.max_catch_up + longest + _HISTORY_SLACK)
        if not series:
            return [], [], None
        through = monitor.evaluated_through_ms
        open_alerts = self.store.open_alerts(monitor)
        fired: list[Alert] = []
        resolved: list[Alert] = []
        rules = {rule.name: rule for rule in spec.alerts}
        for index, window in enumerate(series):
            if through is not None and window.start_ms <= through:
                continue
            for rule in spec.alerts:
                state = rule_state(rule, series[: index + 1])
                change = self._transition(monitor, rule, state, window, open_alerts, now_ms=now_ms, actor=actor)
                if change is not None:
                    (fired if change.state == "FIRING" else resolved).append(change)
        for rule_name in [r for r in open_alerts if r not in rules]:  # a rule removed from the spec stops firing
            gone = self.store.resolve(
                monitor,
                rule=rule_name,
                message=f"{rule_name}: the rule was removed from the monitor",
                value=None,
                window=series[-1],
                actor=actor,
                now_ms=now_ms,
            )
            if gone is not None:
                resolved.append(gone)
        return fired, resolved, series[-1].start_ms

    def _transition(
        self,
        monitor: Monitor,
        rule: AlertRule,
        state: RuleState | None,
        window: MonitorWindow,
        open_alerts: dict[str, Alert],
        *,
        now_ms: int,
        actor: str,
    ) -> Alert | None:
        if state is None:
            return None
        is_open = rule.name in open_alerts
        if state.firing and not is_open:
            alert = self.store.fire(
                monitor,
                rule=rule.name,
                severity=rule.severity,
                message=state.message,
                value=state.value,
                window=window,
                actor=actor,
                now_ms=now_ms,
            )
            if alert is not None:
                open_alerts[rule.name] = alert
                _log.warning("monitor %s: alert %s (%s)", monitor.name, state.message, rule.severity)
            return alert
        if not state.firing and is_open:
            alert = self.store.resolve(
                monitor,
                rule=rule.name,
                message=state.message,
                value=state.value,
                window=window,
                actor=actor,
                now_ms=now_ms,
            )
            open_alerts.pop(rule.name, None)
            return alert
        return None
