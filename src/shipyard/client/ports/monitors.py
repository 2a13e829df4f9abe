"""The monitors port: declare, run, inspect and delete monitors, in-process or over REST.

In-process, `LocalMonitors` runs `MonitorService` on the store (and reads the prediction log) from this process.
Over REST, `RestMonitors` speaks ``/api/v1/monitors``: the server reads the data, with the caller's grants (READ on
the watched deployment to see a monitor, EDIT to create, run or delete it).
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from shipyard.client._transport import Transport
from shipyard.monitoring.monitors import (
    Alert,
    Monitor,
    MonitorService,
    MonitorSpec,
    MonitorWindow,
    RunResult,
)
from shipyard.wire.monitoring import alert_from_json, monitor_from_json, run_from_json, window_from_json

__all__ = ["LocalMonitors", "MonitorsPort", "RestMonitors"]

_PREFIX = "/api/v1/monitors"


class MonitorsPort(Protocol):
    """What a client may do with monitors; `LocalMonitors` and `RestMonitors` both provide it."""

    def create(self, spec: MonitorSpec, *, replace: bool = ...) -> Monitor:
        """Create a monitor (``replace``: give an existing one this spec)."""
        ...

    def list_monitors(self) -> list[Monitor]:
        """Every monitor the caller may read."""
        ...

    def get(self, name: str) -> Monitor:
        """One monitor."""
        ...

    def windows(self, name: str, *, limit: int) -> list[MonitorWindow]:
        """The newest ``limit`` windows of a monitor, oldest first."""
        ...

    def alerts(self, name: str, *, limit: int) -> list[Alert]:
        """A monitor's alerts, newest first."""
        ...

    def due(self, monitor: Monitor) -> bool:
        """Whether a scheduler should run ``monitor`` now."""
        ...

    def run(self, name: str, *, now_ms: int | None = ...) -> RunResult:
        """Compute the windows due, evaluate the alert rules, record alert events."""
        ...

    def delete(self, name: str) -> None:
        """Delete a monitor with its windows and alerts."""
        ...


class LocalMonitors:
    """The monitors port on a store in this process.

    Args:
        service: the monitor service.
        actor: who creates and runs monitors, for the events (``cli:ada``).
    """

    def __init__(self, service: MonitorService, *, actor: str) -> None:
        self.service = service
        self.actor = actor

    def create(self, spec: MonitorSpec, *, replace: bool = False) -> Monitor:
        """Create (or replace) a monitor."""
        return self.service.create(spec, actor=self.actor, replace=replace)

    def list_monitors(self) -> list[Monitor]:
        """Every monitor."""
        return self.service.list_monitors()

    def get(self, name: str) -> Monitor:
        """One monitor."""
        return self.service.get(name)

    def windows(self, name: str, *, limit: int) -> list[MonitorWindow]:
        """The newest windows, oldest first."""
        return self.service.windows(name, limit=limit)

    def alerts(self, name: str, *, limit: int) -> list[Alert]:
        """A monitor's alerts, newest first."""
        return self.service.alerts(name, limit=limit)

    def due(self, monitor: Monitor) -> bool:
        """Whether its schedule says to run it now."""
        return self.service.due(monitor)

    def run(self, name: str, *, now_ms: int | None = None) -> RunResult:
        """Run a monitor here."""
        return self.service.run(name, now_ms=now_ms, actor=self.actor)

    def delete(self, name: str) -> None:
        """Delete a monitor."""
        self.service.delete(name)


class RestMonitors:
    """The monitors port over a server's ``/api/v1/monitors`` routes.

    Args:
        transport: the server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @staticmethod
    def _one(name: str) -> str:
        return f"{_PREFIX}/{quote(name, safe='')}"

    def create(self, spec: MonitorSpec, *, replace: bool = False) -> Monitor:
        """Create (or replace) a monitor on the server."""
        body = {"spec": spec.model_dump(mode="json", exclude_none=True), "replace": replace}
        return monitor_from_json(self.transport.request("POST", _PREFIX, body)["monitor"])

    def list_monitors(self) -> list[Monitor]:
        """Every monitor the caller may read."""
        return [monitor_from_json(m) for m in self.transport.request("GET", _PREFIX).get("monitors", [])]

    def get(self, name: str) -> Monitor:
        """One monitor."""
        return monitor_from_json(self._read(name, windows=1, details=False)["monitor"])

    def windows(self, name: str, *, limit: int) -> list[MonitorWindow]:
        """The newest windows, oldest first (with their column details)."""
        answer = self._read(name, windows=limit, details=True)
        monitor_id = str(answer["monitor"]["monitor_id"])
        return [window_from_json(w, monitor_id) for w in answer.get("windows", [])]

    def alerts(self, name: str, *, limit: int) -> list[Alert]:
        """A monitor's alerts, newest first."""
        answer = self.transport.request("GET", f"{self._one(name)}/alerts", {"limit": limit})
        return [alert_from_json(a) for a in answer.get("alerts", [])]

    def due(self, monitor: Monitor) -> bool:
        """Always: the server computes only complete windows not computed yet, so an early run changes nothing."""
        return True

    def run(self, name: str, *, now_ms: int | None = None) -> RunResult:
        """Have the server run a monitor now."""
        body = {} if now_ms is None else {"now_ms": now_ms}
        return run_from_json(self.transport.request("POST", f"{self._one(name)}/run", body)["run"])

    def delete(self, name: str) -> None:
        """Delete a monitor."""
        self.transport.request("DELETE", self._one(name))

    def _read(self, name: str, *, windows: int, details: bool) -> dict[str, Any]:
        query = {"windows": windows, "details": "true" if details else "false"}
        answer: dict[str, Any] = self.transport.request("GET", self._one(name), query)
        return answer
