"""Webhooks on the wire: MLflow's ``Webhook`` and ``WebhookTestResult`` messages (plus Shipyard's fields MLflow's
client ignores) and the delivery log's JSON, written by the server and read by the clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.events import Delivery, DeliveryAttempt, Webhook
from shipyard.events.webhooks import ACTIVE, kinds_from_wire, mlflow_events_for

__all__ = ["attempt_to_json", "delivery_from_json", "delivery_to_json", "webhook_from_json", "webhook_to_json"]


def webhook_to_json(webhook: Webhook) -> dict[str, Any]:
    """MLflow's ``Webhook`` message, plus ``event_kinds`` and ``has_secret`` (which MLflow's client ignores).

    ``events`` lists only the pairs MLflow's client understands; ``event_kinds`` is the exact subscription.
    """
    out: dict[str, Any] = {
        "webhook_id": webhook.webhook_id,
        "name": webhook.name,
        "url": webhook.url,
        "events": [{"entity": e.upper(), "action": a.upper()} for e, a in mlflow_events_for(webhook.events)],
        "status": webhook.status,
        "creation_timestamp": webhook.creation_time_ms,
        "last_updated_timestamp": webhook.last_updated_time_ms,
        "event_kinds": list(webhook.events),
        "has_secret": webhook.has_secret,
    }
    if webhook.description:
        out["description"] = webhook.description
    return out


def webhook_from_json(data: Mapping[str, Any]) -> Webhook:
    """A Webhook from :func:`webhook_to_json`'s shape (MLflow's own server's answers work too)."""
    kinds = data.get("event_kinds") or kinds_from_wire(data.get("events") or [])
    return Webhook(
        webhook_id=str(data["webhook_id"]),
        name=str(data.get("name", "")),
        url=str(data.get("url", "")),
        events=tuple(kinds),
        status=str(data.get("status", ACTIVE)),
        creation_time_ms=int(data.get("creation_timestamp", 0)),
        last_updated_time_ms=int(data.get("last_updated_timestamp", 0)),
        description=data.get("description") or None,
        has_secret=bool(data.get("has_secret", False)),
    )


def delivery_to_json(delivery: Delivery) -> dict[str, Any]:
    """One row of the delivery log as JSON (the native ``/api/v1/webhooks/{id}/deliveries`` route)."""
    return {
        "delivery_id": delivery.delivery_id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at_ms": delivery.next_attempt_at_ms,
        "created_at_ms": delivery.created_at_ms,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at_ms": delivery.delivered_at_ms,
    }


def delivery_from_json(data: Mapping[str, Any]) -> Delivery:
    """A Delivery from :func:`delivery_to_json`'s shape."""
    return Delivery(
        delivery_id=str(data["delivery_id"]),
        webhook_id=str(data["webhook_id"]),
        event_id=int(data["event_id"]),
        status=str(data["status"]),
        attempts=int(data["attempts"]),
        next_attempt_at_ms=int(data["next_attempt_at_ms"]),
        created_at_ms=int(data["created_at_ms"]),
        last_status_code=data.get("last_status_code"),
        last_error=data.get("last_error"),
        delivered_at_ms=data.get("delivered_at_ms"),
    )


def attempt_to_json(result: DeliveryAttempt) -> dict[str, Any]:
    """MLflow's ``WebhookTestResult`` message (``success`` means a 2xx answer)."""
    out: dict[str, Any] = {"success": result.ok}
    if result.status_code is not None:
        out["response_status"] = result.status_code
    if result.response_body:
        out["response_body"] = result.response_body
    if result.error:
        out["error_message"] = result.error
    return out
