"""The registry's native routes (``/api/v1/models``) for what MLflow's API has no shape for: history, lineage, cards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from shipyard.auth import Level
from shipyard.registry.lineage import ModelLineage, model_lineage
from shipyard.server._cards import version_card
from shipyard.server._routes import Access, Arg, Call, Resource, native_router, route
from shipyard.server.api._fields import within
from shipyard.wire.registry import event_to_json, lineage_to_json

__all__ = ["RegisteredModel", "router"]

MAX_HISTORY = 10_000

router = native_router("/api/v1/models", "models")


@dataclass(frozen=True)
class RegisteredModel(Resource):
    """The registered model named by a request (its versions take its permissions)."""

    name: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check`."""
        call.ctx.access.model(call.principal, str(self.name(call, arguments)), level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"registered model named by '{self.name.where}'"


_READ_MODEL = Access(Level.READ, RegisteredModel(Arg("name")))


# ---------------------------------------------------------------------------------------------------- shapes
class HistoryEvent(BaseModel):
    """One recorded change of a registered model or one of its versions."""

    event_id: int
    occurred_at_ms: int
    kind: str = Field(description="What happened: model_version.created, model_version_alias.moved, ...")
    entity_type: str
    entity_id: str
    entity_name: str
    actor: str
    version: str | None
    from_value: str | None
    to_value: str | None
    reason: str | None
    payload: dict[str, Any]


class History(BaseModel):
    """Every recorded change, newest first."""

    events: list[HistoryEvent]


class ChainLink(BaseModel):
    """One step of the lineage chain (data, run, model, version...)."""

    kind: str
    label: str


class Lineage(BaseModel):
    """Where a version came from; entities in MLflow's wire shapes."""

    model_version: dict[str, Any]
    logged_model: dict[str, Any] | None
    run: dict[str, Any] | None
    experiment_name: str | None
    code: dict[str, Any]
    environment: dict[str, Any]
    datasets: list[dict[str, Any]]
    params: dict[str, Any]
    metrics: list[dict[str, Any]]
    evaluations: dict[str, Any]
    chain: list[ChainLink]


class LineageAnswer(BaseModel):
    """A version's lineage."""

    lineage: Lineage


class Card(BaseModel):
    """A version's model card."""

    markdown: str


class HistoryQuery(BaseModel):
    """How much history to return."""

    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY), within(MAX_HISTORY, as_sent=True)] = 1000


# ---------------------------------------------------------------------------------------------------- routes
@route(router, "GET", "/{name}/history", requires=_READ_MODEL, answers=History, summary="A model's history")
def history(name: str, query: Annotated[HistoryQuery, Query()], call: Call) -> dict[str, Any]:
    """Every recorded change of the registered model and its versions, newest first."""
    events = call.ctx.registry.history(name, limit=query.limit)
    return {"events": [event_to_json(e) for e in events]}


def _version_lineage(call: Call, name: str, version: str) -> ModelLineage:
    """The lineage of a version, once the caller may read what it shows (see `Access.version_files`).

    Its run's params and metrics and its MLmodel come from wherever the version points, which READ on the
    registered model alone does not cover.
    """
    found = model_lineage(call.ctx.registry, name, version)
    call.ctx.access.version_files(call.principal, found.version)
    return found


@route(
    router,
    "GET",
    "/{name}/versions/{version}/lineage",
    requires=_READ_MODEL,
    answers=LineageAnswer,
    summary="A version's lineage",
)
def lineage(name: str, version: str, call: Call) -> dict[str, Any]:
    """The run, params, metrics, code, environment and data a version came from (READ on their owners too)."""
    return {"lineage": lineage_to_json(_version_lineage(call, name, version))}


@route(router, "GET", "/{name}/versions/{version}/card", requires=_READ_MODEL, answers=Card, summary="A model card")
def card(name: str, version: str, call: Call) -> dict[str, Any]:
    """The version's model card, as Markdown (READ on what it shows too)."""
    return {"markdown": version_card(call.ctx, _version_lineage(call, name, version))}
