"""MLflow REST routes for registry webhooks (the delivery log is a native route: `shipyard.server.api.webhooks`)."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.events.webhooks import kinds_from_wire, status_from_wire
from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.wire.webhooks import attempt_to_json, webhook_to_json

__all__ = ["ROUTES"]


def _events(f: Fields) -> list[str] | None:
    if f.raw("events") is None:
        return None
    return kinds_from_wire(f.repeated("events"))


def _status(f: Fields) -> str | None:
    value = f.raw("status")
    return None if value is None or value == "" else status_from_wire(value)


def create_webhook(ctx: AppContext, f: Fields) -> dict[str, Any]:
    webhook = ctx.webhooks.create(
        f.req_str("name"),
        f.req_str("url"),
        _events(f) or [],
        description=f.text("description"),
        secret=f.text("secret"),
        status=_status(f) or "ACTIVE",
    )
    return {"webhook": webhook_to_json(webhook)}


def list_webhooks(ctx: AppContext, f: Fields) -> dict[str, Any]:
    found, token = ctx.webhooks.list(f.integer("max_results") or 100, f.text("page_token"))
    out: dict[str, Any] = {}
    if found:
        out["webhooks"] = [webhook_to_json(w) for w in found]
    if token:
        out["next_page_token"] = token
    return out


def get_webhook(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"webhook": webhook_to_json(ctx.webhooks.get(f.req_str("webhook_id")))}


def update_webhook(ctx: AppContext, f: Fields) -> dict[str, Any]:
    webhook = ctx.webhooks.update(
        f.req_str("webhook_id"),
        name=f.text("name") or None,  # MLflow treats an empty name or URL as "unchanged"
        url=f.text("url") or None,
        events=_events(f) or None,
        description=f.text("description"),
        status=_status(f),
        secret=f.text("secret"),
    )
    return {"webhook": webhook_to_json(webhook)}


def delete_webhook(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.webhooks.delete(f.req_str("webhook_id"))
    return {}


def test_webhook(ctx: AppContext, f: Fields) -> dict[str, Any]:
    event = f.raw("event")
    if event is not None and not isinstance(event, dict | str):
        raise InvalidParameter(f"Invalid value {event!r} for parameter 'event': expected {{'entity', 'action'}}.")
    kind = kinds_from_wire([event])[0] if event else None
    return {"result": attempt_to_json(ctx.webhooks.test(f.req_str("webhook_id"), kind))}


ROUTES = [
    ("POST", "/2.0/mlflow/webhooks", create_webhook),
    ("GET", "/2.0/mlflow/webhooks", list_webhooks),
    ("GET", "/2.0/mlflow/webhooks/{webhook_id}", get_webhook),
    ("PATCH", "/2.0/mlflow/webhooks/{webhook_id}", update_webhook),
    ("DELETE", "/2.0/mlflow/webhooks/{webhook_id}", delete_webhook),
    ("POST", "/2.0/mlflow/webhooks/{webhook_id}/test", test_webhook),
]
