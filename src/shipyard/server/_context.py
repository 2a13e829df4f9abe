"""What every route needs: the services, built once by create_app and kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.artifacts import ArtifactStore
from shipyard.auth import AuthService, Permissions
from shipyard.auth.throttle import SignInThrottle
from shipyard.config import Settings
from shipyard.events.webhooks import WebhookService
from shipyard.monitoring.monitors import MonitorService
from shipyard.registry.service import RegistryService
from shipyard.server._access import Access
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
    accounts: AuthService
    permissions: Permissions
    access: Access
    sign_in_throttle: SignInThrottle
    monitors: MonitorService


def context_of(request: Request) -> AppContext:
    """The context stored on the app by create_app."""
    ctx: AppContext = request.app.state.context
    return ctx


def actor_of(request: Request) -> str | None:
    """Who is making the request, for the registry's history and the audit trail.

    With authentication on, the signed-in user. Without it, what the client says (the ``X-Shipyard-User``
    header the SDK and CLI send); the MLflow client sends nothing, and the change is recorded as ``anonymous``.
    """
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.username is not None:
        return str(principal.username)
    value = request.headers.get(ACTOR_HEADER)
    return value[:256] if value else None
