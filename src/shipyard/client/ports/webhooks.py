"""The webhooks port: subscriptions to registry events and their delivery log, in-process or over REST.

In-process, `shipyard.events.WebhookService` is the implementation itself (it has exactly these methods). Over
REST, `RestWebhooks` speaks MLflow's webhook routes (``/api/2.0/mlflow/webhooks``) and Shipyard's delivery log
(``/api/v1/webhooks/{id}/deliveries``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

from shipyard.client._transport import Transport
from shipyard.events import Delivery, DeliveryAttempt, Webhook
from shipyard.wire.webhooks import delivery_from_json, webhook_from_json

__all__ = ["RestWebhooks", "WebhooksPort"]

_MLFLOW = "/api/2.0/mlflow/webhooks"
_NATIVE = "/api/v1/webhooks"


class WebhooksPort(Protocol):
    """What a client may do with webhooks; `WebhookService` and `RestWebhooks` both provide it."""

    def create(
        self, name: str, url: str, events: Sequence[str], *, description: str | None = ..., secret: str | None = ...
    ) -> Webhook:
        """Subscribe ``url`` to ``events`` (``model_version.created``, ``model_version.*``, ``*``)."""
        ...

    def get(self, webhook_id: str) -> Webhook:
        """One webhook by id."""
        ...

    def update(self, webhook_id: str, *, status: str | None = ...) -> Webhook:
        """Enable (``ACTIVE``) or disable (``DISABLED``) a webhook."""
        ...

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook and its delivery log."""
        ...

    def deliveries(self, webhook_id: str, limit: int = ...) -> list[Delivery]:
        """The newest deliveries of a webhook."""
        ...

    def test(self, webhook_id: str, kind: str | None = ...) -> DeliveryAttempt:
        """Send an example delivery now, and what the receiver answered."""
        ...

    def list(self, max_results: int = ..., page_token: str | None = ...) -> tuple[list[Webhook], str | None]:
        """One page of webhooks, newest first, and the next page's token."""
        ...


class RestWebhooks:
    """The webhooks port over a server's REST routes.

    Args:
        transport: the server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @staticmethod
    def _one(webhook_id: str) -> str:
        return f"{_MLFLOW}/{quote(webhook_id, safe='')}"

    def create(
        self,
        name: str,
        url: str,
        events: Sequence[str],
        *,
        description: str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        """Subscribe ``url`` to ``events``."""
        body = {"name": name, "url": url, "events": list(events), "description": description, "secret": secret}
        answer = self.transport.request("POST", _MLFLOW, {k: v for k, v in body.items() if v is not None})
        return webhook_from_json(answer["webhook"])

    def get(self, webhook_id: str) -> Webhook:
        """One webhook by id."""
        return webhook_from_json(self.transport.request("GET", self._one(webhook_id))["webhook"])

    def update(self, webhook_id: str, *, status: str | None = None) -> Webhook:
        """Enable or disable a webhook."""
        answer = self.transport.request("PATCH", self._one(webhook_id), {"status": status} if status else {})
        return webhook_from_json(answer["webhook"])

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook and its delivery log."""
        self.transport.request("DELETE", self._one(webhook_id))

    def deliveries(self, webhook_id: str, limit: int = 50) -> list[Delivery]:
        """The newest deliveries of a webhook."""
        path = f"{_NATIVE}/{quote(webhook_id, safe='')}/deliveries"
        return [delivery_from_json(d) for d in self.transport.request("GET", path, {"limit": limit})["deliveries"]]

    def test(self, webhook_id: str, kind: str | None = None) -> DeliveryAttempt:
        """Have the server send an example delivery now."""
        body = {"event": kind} if kind else {}
        result = self.transport.request("POST", f"{self._one(webhook_id)}/test", body)["result"]
        return DeliveryAttempt(result.get("response_status"), result.get("response_body"), result.get("error_message"))

    def list(self, max_results: int = 100, page_token: str | None = None) -> tuple[list[Webhook], str | None]:
        """One page of webhooks, newest first."""
        query: dict[str, Any] = {"max_results": max_results}
        if page_token:
            query["page_token"] = page_token
        answer = self.transport.request("GET", _MLFLOW, query)
        return [webhook_from_json(w) for w in answer.get("webhooks", [])], answer.get("next_page_token")
