"""What every route needs: the services, built once by create_app and kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.artifacts import ArtifactStore
from shipyard.config import Settings
from shipyard.events.webhooks import WebhookService
from shipyard.registry.service import RegistryService
from shipyard.tracking.service import TrackingService

__all__ = ["AppContext", "actor_of", "context_of"]

ACTOR_HEADER = "X-Shipyard-User"


@dataclass(frozen=True)
class AppContext:
    """The services behind the server."""

    settings: Settings
    tracking: TrackingService
    artifacts: ArtifactStore
    registry: RegistryService
    webhooks: WebhookService


def context_of(request: Request) -> AppContext:
    """The context stored on the app by create_app."""
    ctx: AppContext = request.app.state.context
    return ctx


def actor_of(request: Request) -> str | None:
    """Who is making the request, for the registry's history.

    Until authentication exists this is what the client says (the ``X-Shipyard-User`` header the SDK and CLI
    send); the MLflow client sends nothing, and the change is recorded as ``anonymous``.
    """
    value = request.headers.get(ACTOR_HEADER)
    return value[:256] if value else None
