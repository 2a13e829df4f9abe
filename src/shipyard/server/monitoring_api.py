"""Shipyard's monitor routes (``/api/v1/monitors``): create, list, read with windows and alerts, run, delete.

A monitor follows the grants of the deployment it watches: READ to see it, EDIT to create, run or delete it. A
monitor of a Parquet data set belongs to no deployment and only admins reach it. Every route names the level it
needs in the table at the bottom; the routes on one monitor are checked before their handler runs. The data a
spec names is authorized by its owner as well (`shipyard.server._monitor_paths`): on create, and again on every
run and read of windows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.auth import Level, Principal
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.monitoring.monitors import (
    Monitor,
    MonitorSpec,
    alert_to_json,
    monitor_to_json,
    parse_spec,
    run_to_json,
    window_to_json,
)
from shipyard.server._auth import principal_of
from shipyard.server._context import AppContext, actor_of, context_of
from shipyard.server._json import json_response
from shipyard.server._monitor_paths import authorize_monitor_paths
from shipyard.server.mlflow_api._request import Fields, read_fields

__all__ = ["monitoring_routes"]

_PREFIX = "/api/v1/monitors"
_MAX_WINDOWS = 5000
_MAX_ALERTS = 1000

CollectionHandler = Callable[[AppContext, Principal, Fields], dict[str, Any]]
MonitorHandler = Callable[[AppContext, Principal, Fields, Monitor], dict[str, Any]]


def _limit(f: Fields, name: str, default: int, most: int) -> int:
    value = f.integer(name, default=default)
    if value is None or not 0 < value <= most:
        raise InvalidParameter(f"Invalid value {value!r} for '{name}': expected an integer in 1..{most}.")
    return value


def _spec_of(f: Fields) -> MonitorSpec:
    raw = f.raw("spec")
    if raw is None:
        raw = {k: v for k, v in f.data.items() if k != "replace"}
    if not isinstance(raw, dict | str):
        raise InvalidParameter("Send the monitor spec as a JSON object in 'spec' (or as the request body).")
    return parse_spec(raw)


def list_monitors(ctx: AppContext, principal: Principal, _f: Fields) -> dict[str, Any]:
    """Every monitor the caller may read (their deployments' READ; data set monitors for admins)."""
    found = ctx.monitors.list_monitors()
    if not principal.is_admin:
        readable = ctx.access.readable_deployments(principal)
        found = [m for m in found if m.deployment is not None and readable(m.deployment)]
    return {"monitors": [monitor_to_json(m) for m in found]}


def create_monitor(ctx: AppContext, principal: Principal, f: Fields) -> dict[str, Any]:
    """Create (or with ``replace``, change) a monitor: EDIT on its deployment, and on the old one's."""
    spec = _spec_of(f)
    replace = f.boolean("replace")
    ctx.access.monitor(principal, spec.name, spec.deployment_name, Level.EDIT)
    authorize_monitor_paths(ctx, principal, spec)
    if replace:
        try:
            existing = ctx.monitors.get(spec.name)
        except ResourceNotFound:  # nothing to replace: created below
            existing = None
        if existing is not None:
            ctx.access.monitor(principal, existing.name, existing.deployment, Level.EDIT)
    actor = principal.username or f.actor or "anonymous"
    return {"monitor": monitor_to_json(ctx.monitors.create(spec, actor=actor, replace=replace))}


def get_monitor(ctx: AppContext, principal: Principal, f: Fields, monitor: Monitor) -> dict[str, Any]:
    """The monitor, its newest windows (``windows``, default 500) and alerts.

    The windows hold what the monitor read (histograms, categories): the caller must be allowed to read its data
    too, checked again here because a stored spec may predate that rule.
    """
    authorize_monitor_paths(ctx, principal, monitor.spec, stored=True)
    windows = ctx.monitors.windows(monitor.name, limit=_limit(f, "windows", 500, _MAX_WINDOWS))
    return {
        "monitor": monitor_to_json(monitor),
        "windows": [window_to_json(w, details=f.boolean("details", default=True)) for w in windows],
        "alerts": [alert_to_json(a) for a in ctx.monitors.alerts(monitor.name, limit=100)],
    }


def list_alerts(ctx: AppContext, _p: Principal, f: Fields, monitor: Monitor) -> dict[str, Any]:
    """The monitor's alerts, newest first."""
    alerts = ctx.monitors.alerts(monitor.name, limit=_limit(f, "limit", 200, _MAX_ALERTS))
    return {"alerts": [alert_to_json(a) for a in alerts]}


def run_monitor(ctx: AppContext, principal: Principal, f: Fields, monitor: Monitor) -> dict[str, Any]:
    """Compute the windows due and evaluate the rules now (or as of ``now_ms``), reading only what the caller may."""
    authorize_monitor_paths(ctx, principal, monitor.spec, stored=True)
    actor = principal.username or f.actor or "anonymous"
    return {"run": run_to_json(ctx.monitors.run(monitor.name, now_ms=f.integer("now_ms"), actor=actor))}


def delete_monitor(ctx: AppContext, _p: Principal, _f: Fields, monitor: Monitor) -> dict[str, Any]:
    """Delete the monitor with its windows and alerts."""
    ctx.monitors.delete(monitor.name)
    return {}


async def _fields(request: Request) -> Fields:
    fields = await read_fields(request)
    fields.data.update(request.path_params)
    fields.actor = actor_of(request)
    return fields


def _collection(handler: CollectionHandler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        fields = await _fields(request)
        principal = principal_of(request)
        return json_response(await run_in_threadpool(handler, context_of(request), principal, fields))

    endpoint.__name__ = handler.__name__
    return endpoint


def _guarded(handler: MonitorHandler, needed: Level) -> Callable[[Request], Any]:
    def checked(ctx: AppContext, principal: Principal, fields: Fields) -> dict[str, Any]:
        monitor = ctx.monitors.get(fields.req_str("name"))
        ctx.access.monitor(principal, monitor.name, monitor.deployment, needed)
        return handler(ctx, principal, fields, monitor)

    checked.__name__ = handler.__name__
    return _collection(checked)


def monitoring_routes() -> list[BaseRoute]:
    """The monitor routes, for `create_app`."""
    collection: list[tuple[str, str, CollectionHandler]] = [
        ("GET", "", list_monitors),  # filters to what the caller may read
        ("POST", "", create_monitor),  # EDIT on the spec's deployment, checked in the handler
    ]
    one: list[tuple[str, str, MonitorHandler, Level]] = [
        ("GET", "/{name}", get_monitor, Level.READ),
        ("GET", "/{name}/alerts", list_alerts, Level.READ),
        ("POST", "/{name}/run", run_monitor, Level.EDIT),
        ("DELETE", "/{name}", delete_monitor, Level.EDIT),
    ]
    routes: list[BaseRoute] = [Route(_PREFIX + p, _collection(h), methods=[m]) for m, p, h in collection]
    routes += [Route(_PREFIX + p, _guarded(h, level), methods=[m]) for m, p, h, level in one]
    return routes
