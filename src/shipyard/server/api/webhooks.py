"""Shipyard's webhook route (``/api/v1/webhooks``): a webhook's delivery log, which MLflow's API has no shape for.

The webhooks themselves are MLflow's routes (``/api/2.0/mlflow/webhooks``, in `shipyard.server.mlflow_api`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from shipyard.server._routes import Admin, Call, native_router, route
from shipyard.server.api._fields import Integer
from shipyard.wire.webhooks import delivery_to_json

__all__ = ["router"]

router = native_router("/api/v1/webhooks", "webhooks")


class DeliveryOut(BaseModel):
    """One event's delivery to one webhook: its state and attempts."""

    delivery_id: str
    webhook_id: str
    event_id: int
    status: str
    attempts: int
    next_attempt_at_ms: int
    created_at_ms: int
    last_status_code: int | None
    last_error: str | None
    delivered_at_ms: int | None


class Deliveries(BaseModel):
    """A webhook's delivery log, newest first."""

    deliveries: list[DeliveryOut]


class DeliveriesQuery(BaseModel):
    """How many deliveries."""

    limit: Integer = Field(default=None, description="1..1000; 50 if left out.")


@route(
    router,
    "GET",
    "/{webhook_id}/deliveries",
    requires=Admin("read webhook deliveries"),
    answers=Deliveries,
    summary="A webhook's deliveries",
)
def list_deliveries(webhook_id: str, query: Annotated[DeliveriesQuery, Query()], call: Call) -> dict[str, Any]:
    """The delivery log of one webhook, newest first."""
    found = call.ctx.webhooks.deliveries(webhook_id, query.limit or 50)
    return {"deliveries": [delivery_to_json(d) for d in found]}
