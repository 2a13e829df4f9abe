"""Shipyard's monitor routes (``/api/v1/monitors``): create, list, read with windows and alerts, run, delete.

A monitor follows the grants of the deployment it watches: READ to see it, EDIT to create, run or delete it. A
monitor of a Parquet data set belongs to no deployment and only admins reach it. Each route names the level it
needs where it is registered. The data a spec names is authorized by its owner as well
(`shipyard.server._monitor_paths`): on create, and again on every run and read of windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shipyard.auth import Level
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.monitoring.monitors import MonitorSpec, parse_spec
from shipyard.server._monitor_paths import authorize_monitor_paths
from shipyard.server._routes import Access, Arg, Call, Resource, SignedIn, native_router, route
from shipyard.server.api._fields import Flag, Integer, refusal, within
from shipyard.wire.monitoring import alert_to_json, monitor_to_json, run_to_json, window_to_json

__all__ = ["SpecMonitor", "StoredMonitor", "router"]

MAX_WINDOWS = 5000
MAX_ALERTS = 1000

router = native_router("/api/v1/monitors", "monitors")


@dataclass(frozen=True)
class StoredMonitor(Resource):
    """A stored monitor named by a request: the grants of the deployment it watches (admins only for a data set)."""

    name: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        monitor = call.ctx.monitors.get(str(self.name(call, arguments)))
        call.ctx.access.monitor(call.principal, monitor.name, monitor.deployment, level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"deployment watched by the monitor named by '{self.name.where}' (admins only for a data set)"


@dataclass(frozen=True)
class SpecMonitor(Resource):
    """The deployment a posted monitor spec watches (admins only for a data set)."""

    spec: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        spec: MonitorSpec = self.spec(call, arguments)
        call.ctx.access.monitor(call.principal, spec.name, spec.deployment_name, level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"deployment the spec in '{self.spec.where}' watches (admins only for a data set)"


_READ = Access(Level.READ, StoredMonitor(Arg("name")))
_EDIT = Access(Level.EDIT, StoredMonitor(Arg("name")))


# ---------------------------------------------------------------------------------------------------- shapes
class MonitorOut(BaseModel):
    """A monitor with its spec."""

    monitor_id: str
    name: str
    deployment: str | None
    window_s: int
    created_by: str
    created_at_ms: int
    updated_at_ms: int
    last_run_at_ms: int | None
    evaluated_through_ms: int | None
    spec: MonitorSpec


class WindowOut(BaseModel):
    """One computed window; ``columns``, ``quality`` and ``ops`` only with ``details``."""

    start_ms: int
    end_ms: int
    computed_at_ms: int
    rows: int
    drifted_share: float | None
    dataset_drift: bool | None
    error: str | None
    metrics: dict[str, Any]
    columns: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    ops: dict[str, Any] | None = None


class AlertOut(BaseModel):
    """One time a rule fired, and when it stopped."""

    alert_id: int
    monitor: str
    rule: str
    severity: str
    state: str = Field(description="FIRING or RESOLVED")
    message: str
    value: float | None
    window_start_ms: int
    fired_at_ms: int
    fired_event_id: int | None
    resolved_window_start_ms: int | None
    resolved_at_ms: int | None
    resolved_event_id: int | None


class RunOut(BaseModel):
    """What one run did."""

    monitor: str
    computed: list[int] = Field(description="The start (ms) of every window computed, oldest first.")
    fired: list[AlertOut]
    resolved: list[AlertOut]


class Monitors(BaseModel):
    """The monitors the caller may read."""

    monitors: list[MonitorOut]


class OneMonitor(BaseModel):
    """A monitor."""

    monitor: MonitorOut


class MonitorDetail(BaseModel):
    """A monitor with its newest windows and alerts."""

    monitor: MonitorOut
    windows: list[WindowOut]
    alerts: list[AlertOut]


class Alerts(BaseModel):
    """A monitor's alerts, newest first."""

    alerts: list[AlertOut]


class RunAnswer(BaseModel):
    """A run's result."""

    run: RunOut


class Nothing(BaseModel):
    """An empty answer."""


class CreateMonitor(BaseModel):
    """A monitor to create: its spec in ``spec`` (an object, or YAML/JSON text), or the spec's fields themselves."""

    model_config = ConfigDict(extra="allow")

    spec: MonitorSpec | str = Field(description="The spec; or leave it out and send the spec's fields instead.")
    replace: Flag = Field(default=False, description="Change the monitor of that name if there is one.")

    @model_validator(mode="before")
    @classmethod
    def _spec_as_body(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("spec") is None:
            return {"spec": {k: v for k, v in data.items() if k != "replace"}, "replace": data.get("replace")}
        return data

    @field_validator("spec", mode="before")
    @classmethod
    def _parsed(cls, value: Any, _info: ValidationInfo) -> MonitorSpec:
        """Read by `parse_spec`, so a mistake is named as the CLI names it (``Invalid monitor spec: …``)."""
        try:
            if not isinstance(value, dict | str):
                raise InvalidParameter("Send the monitor spec as a JSON object in 'spec' (or as the request body).")
            return parse_spec(value)
        except InvalidParameter as exc:
            raise refusal(exc) from None


class MonitorQuery(BaseModel):
    """How much of the monitor to return."""

    windows: Annotated[int, Field(ge=1, le=MAX_WINDOWS), within(MAX_WINDOWS)] = 500
    details: Flag = Field(default=True, description="Include each window's columns, quality and ops.")


class AlertsQuery(BaseModel):
    """How many alerts."""

    limit: Annotated[int, Field(ge=1, le=MAX_ALERTS), within(MAX_ALERTS)] = 200


class RunMonitor(BaseModel):
    """When to run as of."""

    now_ms: Integer = Field(default=None, description="Compute the windows due as of this time (ms); now if left out.")


_NOW = RunMonitor()


# ---------------------------------------------------------------------------------------------------- routes
@route(
    router,
    "GET",
    "",
    requires=SignedIn("lists only monitors of deployments the caller may read (data set monitors: admins)"),
    answers=Monitors,
    summary="List monitors",
)
def list_monitors(call: Call) -> dict[str, Any]:
    """Every monitor the caller may read."""
    found = call.ctx.monitors.list_monitors()
    if not call.principal.is_admin:
        readable = call.ctx.access.readable_deployments(call.principal)
        found = [m for m in found if m.deployment is not None and readable(m.deployment)]
    return {"monitors": [monitor_to_json(m) for m in found]}


@route(
    router,
    "POST",
    "",
    requires=Access(Level.EDIT, SpecMonitor(Arg("body.spec"))),
    answers=OneMonitor,
    summary="Create a monitor",
)
def create_monitor(body: Annotated[CreateMonitor, Body()], call: Call) -> dict[str, Any]:
    """Create (or with ``replace``, change) a monitor: EDIT on its deployment, and on the old one's; READ on the
    data it names."""
    spec = body.spec
    assert isinstance(spec, MonitorSpec)  # parsed by CreateMonitor
    authorize_monitor_paths(call.ctx, call.principal, spec)
    if body.replace:
        try:
            existing = call.ctx.monitors.get(spec.name)
        except ResourceNotFound:  # nothing to replace: created below
            existing = None
        if existing is not None:
            call.ctx.access.monitor(call.principal, existing.name, existing.deployment, Level.EDIT)
    created = call.ctx.monitors.create(spec, actor=call.actor, replace=body.replace)
    return {"monitor": monitor_to_json(created)}


@route(router, "GET", "/{name}", requires=_READ, answers=MonitorDetail, summary="Read a monitor")
def get_monitor(name: str, query: Annotated[MonitorQuery, Query()], call: Call) -> dict[str, Any]:
    """The monitor, its newest windows (``windows``, default 500) and alerts.

    The windows hold what the monitor read (histograms, categories): the caller must be allowed to read its data
    too, checked again here because a stored spec may predate that rule.
    """
    monitor = call.ctx.monitors.get(name)
    authorize_monitor_paths(call.ctx, call.principal, monitor.spec, stored=True)
    windows = call.ctx.monitors.windows(monitor.name, limit=query.windows)
    return {
        "monitor": monitor_to_json(monitor),
        "windows": [window_to_json(w, details=query.details) for w in windows],
        "alerts": [alert_to_json(a) for a in call.ctx.monitors.alerts(monitor.name, limit=100)],
    }


@route(router, "GET", "/{name}/alerts", requires=_READ, answers=Alerts, summary="A monitor's alerts")
def list_alerts(name: str, query: Annotated[AlertsQuery, Query()], call: Call) -> dict[str, Any]:
    """The monitor's alerts, newest first."""
    return {"alerts": [alert_to_json(a) for a in call.ctx.monitors.alerts(name, limit=query.limit)]}


@route(router, "POST", "/{name}/run", requires=_EDIT, answers=RunAnswer, summary="Run a monitor")
def run_monitor(name: str, call: Call, body: Annotated[RunMonitor, Body()] = _NOW) -> dict[str, Any]:
    """Compute the windows due and evaluate the rules now (or as of ``now_ms``), reading only what the caller may."""
    monitor = call.ctx.monitors.get(name)
    authorize_monitor_paths(call.ctx, call.principal, monitor.spec, stored=True)
    return {"run": run_to_json(call.ctx.monitors.run(monitor.name, now_ms=body.now_ms, actor=call.actor))}


@route(router, "DELETE", "/{name}", requires=_EDIT, answers=Nothing, summary="Delete a monitor")
def delete_monitor(name: str, call: Call) -> dict[str, Any]:
    """Delete the monitor with its windows and alerts."""
    call.ctx.monitors.delete(name)
    return {}
