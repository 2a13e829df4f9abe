"""Shipyard's own REST routes (``/api/v1``) for what MLflow's API has no shape for: history, lineage, cards."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard.artifacts import ArtifactStore
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.events import Event
from shipyard.registry.card import model_card_markdown
from shipyard.registry.lineage import ModelLineage, model_lineage
from shipyard.server._context import context_of
from shipyard.server._json import json_response
from shipyard.tracking.service import ARTIFACT_SCHEME, artifact_key
from shipyard.wire.registry import logged_model_to_json, model_version_to_json
from shipyard.wire.tracking import dataset_input_to_json, metric_to_json, run_to_json

__all__ = ["event_to_json", "lineage_to_json", "native_routes"]

_PREFIX = "/api/v1/models"
_MAX_HISTORY = 10_000
_MAX_MLMODEL_BYTES = 1 << 20


def event_to_json(event: Event) -> dict[str, Any]:
    """One history event as JSON (every field of `shipyard.events.Event`)."""
    return {
        "event_id": event.event_id,
        "occurred_at_ms": event.occurred_at_ms,
        "kind": event.kind,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "entity_name": event.entity_name,
        "actor": event.actor,
        "version": event.version,
        "from_value": event.from_value,
        "to_value": event.to_value,
        "reason": event.reason,
        "payload": event.payload,
    }


def lineage_to_json(lineage: ModelLineage) -> dict[str, Any]:
    """A version's lineage as JSON; entities use MLflow's wire shapes, ``chain`` is precomputed for readers."""
    return {
        "model_version": model_version_to_json(lineage.version),
        "logged_model": logged_model_to_json(lineage.logged_model) if lineage.logged_model else None,
        "run": run_to_json(lineage.run) if lineage.run else None,
        "experiment_name": lineage.experiment_name,
        "code": lineage.code,
        "environment": lineage.environment,
        "datasets": [dataset_input_to_json(d) for d in lineage.datasets],
        "params": lineage.params,
        "metrics": [metric_to_json(m) for m in lineage.metrics],
        "evaluations": lineage.evaluations,
        "chain": [{"kind": kind, "label": label} for kind, label in lineage.chain],
    }


def _history_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    if not raw:
        return 1000
    if not raw.isdigit() or not 0 < int(raw) <= _MAX_HISTORY:
        raise InvalidParameter(f"Invalid value {raw!r} for 'limit': expected an integer in 1..{_MAX_HISTORY}.")
    return int(raw)


def _mlmodel_text(artifacts: ArtifactStore, location: str) -> str | None:
    """The ``MLmodel`` file of a version's folder, when it is in this server's artifact store."""
    if not location.startswith(ARTIFACT_SCHEME):
        return None
    key = f"{artifact_key(location)}/MLmodel"
    try:
        if artifacts.size(key) > _MAX_MLMODEL_BYTES:
            return None
        with artifacts.open_read(key) as handle:
            return handle.read().decode("utf-8", errors="replace")
    except ResourceNotFound:
        return None


async def history(request: Request) -> Response:
    """``GET /api/v1/models/{name}/history``: every recorded change, newest first."""
    ctx = context_of(request)
    limit = _history_limit(request)
    events = await run_in_threadpool(ctx.registry.history, request.path_params["name"], limit=limit)
    return json_response({"events": [event_to_json(e) for e in events]})


async def lineage(request: Request) -> Response:
    """``GET /api/v1/models/{name}/versions/{version}/lineage``: run, params, metrics, code, environment, data."""
    ctx = context_of(request)
    found = await run_in_threadpool(
        model_lineage, ctx.registry, request.path_params["name"], request.path_params["version"]
    )
    return json_response({"lineage": lineage_to_json(found)})


def _card(request: Request) -> str:
    ctx = context_of(request)
    name, version = request.path_params["name"], request.path_params["version"]
    found = model_lineage(ctx.registry, name, version)
    location = ctx.registry.get_download_uri(name, version)
    return model_card_markdown(found, _mlmodel_text(ctx.artifacts, location))


async def card(request: Request) -> Response:
    """``GET /api/v1/models/{name}/versions/{version}/card``: the model card as ``{"markdown": …}``."""
    return json_response({"markdown": await run_in_threadpool(_card, request)})


def native_routes() -> list[BaseRoute]:
    """Shipyard's native registry routes, for `create_app` to mount next to MLflow's."""
    return [
        Route(f"{_PREFIX}/{{name}}/history", history, methods=["GET"]),
        Route(f"{_PREFIX}/{{name}}/versions/{{version}}/lineage", lineage, methods=["GET"]),
        Route(f"{_PREFIX}/{{name}}/versions/{{version}}/card", card, methods=["GET"]),
    ]
