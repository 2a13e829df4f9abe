"""MLflow's REST API on Shipyard's services: one thin handler per route, shared dispatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.server._auth import principal_of
from shipyard.server._context import AppContext, actor_of, context_of
from shipyard.server._json import json_response
from shipyard.server._request import Fields, read_fields
from shipyard.server._routes import Call, declare
from shipyard.server.mlflow_api import (
    artifacts,
    experiments,
    logged_models,
    model_versions,
    registered_models,
    runs,
    webhooks,
)
from shipyard.server.mlflow_api._policy import FIELDS, requirement_for

__all__ = ["mlflow_routes"]

Handler = Callable[[AppContext, Fields], dict[str, Any]]
API_PREFIXES = ("/api", "/ajax-api")


# Handlers whose work can grow with the data (a page of runs, a long history, a big batch) run in the thread
# pool; the rest are single-row operations of about a millisecond, cheaper to run on the event loop than to
# hand to a thread and back.
_THREADED = {"search", "get_history", "log_batch", "log_inputs", "test_webhook"}


def _endpoint(handler: Handler) -> Callable[[Request], Any]:
    """The handler as a Starlette endpoint that declares its requirement (`requirement_for`) and checks it first."""
    threaded = handler.__name__ in _THREADED
    requirement = requirement_for(handler)

    def checked(call: Call, fields: Fields) -> dict[str, Any]:
        if not call.principal.is_admin:
            requirement.check(call, {FIELDS: fields})
        return handler(call.ctx, fields)

    @declare(requirement)
    async def endpoint(request: Request) -> Response:
        fields = await read_fields(request)
        fields.data.update(request.path_params)  # /logged-models/{model_id} and the like
        fields.actor = actor_of(request)
        fields.principal = principal_of(request)
        call = Call(context_of(request), fields.principal, request)
        if threaded:
            return json_response(await run_in_threadpool(checked, call, fields))
        return json_response(checked(call, fields))

    endpoint.__name__ = handler.__name__
    return endpoint


def mlflow_routes() -> list[BaseRoute]:
    """Every MLflow route this server implements, under ``/api`` and ``/ajax-api``."""
    table: list[tuple[str, str, Handler]] = [
        *experiments.ROUTES,
        *runs.ROUTES,
        *logged_models.ROUTES,
        *registered_models.ROUTES,
        *model_versions.ROUTES,
        *webhooks.ROUTES,
    ]
    routes: list[BaseRoute] = []
    for prefix in API_PREFIXES:
        grouped: dict[str, dict[str, Handler]] = {}
        for method, path, handler in table:
            grouped.setdefault(prefix + path, {})[method] = handler
        for path, by_method in grouped.items():
            for method, handler in by_method.items():
                routes.append(Route(path, _endpoint(handler), methods=[method]))
        routes.extend(artifacts.artifact_routes(prefix))
    return routes
