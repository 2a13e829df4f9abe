"""Shipyard's own REST routes (``/api/v1``) for what MLflow's API has no shape for: history, lineage, cards."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.auth import Level
from shipyard.errors import InvalidParameter
from shipyard.registry.lineage import ModelLineage, model_lineage
from shipyard.server._auth import principal_of
from shipyard.server._cards import version_card
from shipyard.server._context import context_of
from shipyard.server._json import json_response
from shipyard.wire.registry import event_to_json, lineage_to_json

__all__ = ["native_routes"]

_PREFIX = "/api/v1/models"
_MAX_HISTORY = 10_000


async def _readable(request: Request) -> None:
    """Require READ on the registered model named in the path."""
    principal = principal_of(request)
    if not principal.is_admin:
        ctx = context_of(request)
        await run_in_threadpool(ctx.access.model, principal, request.path_params["name"], Level.READ)


def _history_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    if not raw:
        return 1000
    if not raw.isdigit() or not 0 < int(raw) <= _MAX_HISTORY:
        raise InvalidParameter(f"Invalid value {raw!r} for 'limit': expected an integer in 1..{_MAX_HISTORY}.")
    return int(raw)


async def history(request: Request) -> Response:
    """``GET /api/v1/models/{name}/history``: every recorded change, newest first."""
    ctx = context_of(request)
    limit = _history_limit(request)
    await _readable(request)
    events = await run_in_threadpool(ctx.registry.history, request.path_params["name"], limit=limit)
    return json_response({"events": [event_to_json(e) for e in events]})


def _version_lineage(request: Request) -> ModelLineage:
    """The lineage of the version in the path, once the caller may read what it shows (see `Access.version_files`).

    Its run's params and metrics and its MLmodel come from wherever the version points, which READ on the
    registered model alone does not cover.
    """
    ctx = context_of(request)
    found = model_lineage(ctx.registry, request.path_params["name"], request.path_params["version"])
    ctx.access.version_files(principal_of(request), found.version)
    return found


async def lineage(request: Request) -> Response:
    """``GET /api/v1/models/{name}/versions/{version}/lineage``: run, params, metrics, code, environment, data."""
    await _readable(request)
    found = await run_in_threadpool(_version_lineage, request)
    return json_response({"lineage": lineage_to_json(found)})


def _card(request: Request) -> str:
    return version_card(context_of(request), _version_lineage(request))


async def card(request: Request) -> Response:
    """``GET /api/v1/models/{name}/versions/{version}/card``: the model card as ``{"markdown": …}``."""
    await _readable(request)
    return json_response({"markdown": await run_in_threadpool(_card, request)})


def native_routes() -> list[BaseRoute]:
    """Shipyard's native registry routes, for `create_app` to mount next to MLflow's."""
    return [
        Route(f"{_PREFIX}/{{name}}/history", history, methods=["GET"]),
        Route(f"{_PREFIX}/{{name}}/versions/{{version}}/lineage", lineage, methods=["GET"]),
        Route(f"{_PREFIX}/{{name}}/versions/{{version}}/card", card, methods=["GET"]),
    ]
