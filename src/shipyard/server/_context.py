"""What every route needs: the services (built once by the composition root) and the server's own parts."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard._composition import Services
from shipyard.artifacts import ArtifactStore
from shipyard.auth import AuthService, Permissions
from shipyard.auth.throttle import SignInThrottle
from shipyard.config import Settings
from shipyard.db import Database
from shipyard.events.webhooks import WebhookService
from shipyard.monitoring.monitors import MonitorService
from shipyard.registry.service import RegistryService
from shipyard.server._access import Access
from shipyard.tracking.service import TrackingService

__all__ = ["AppContext", "actor_of", "context_for", "context_of"]

ACTOR_HEADER = "X-Shipyard-User"


@dataclass(frozen=True)
class AppContext:
    """The services behind the server, plus what only the server has.

    Attributes:
        services: every capability's service (see `shipyard._composition.build_services`).
        access: which experiment or model a request's resource answers to, for the permission checks.
        sign_in_throttle: the one throttle on password checks, shared by every sign-in path of this process.
    """

    services: Services
    access: Access
    sign_in_throttle: SignInThrottle

    @property
    def settings(self) -> Settings:
        """What the services were built from."""
        return self.services.settings

    @property
    def database(self) -> Database:
        """The metadata store."""
        return self.services.database

    @property
    def tracking(self) -> TrackingService:
        """Experiments, runs, metrics, params, tags, inputs."""
        return self.services.tracking

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        return self.services.artifacts

    @property
    def registry(self) -> RegistryService:
        """Logged models, registered models, versions, aliases."""
        return self.services.registry

    @property
    def webhooks(self) -> WebhookService:
        """Webhook subscriptions and their deliveries."""
        return self.services.webhooks

    @property
    def accounts(self) -> AuthService:
        """Users, tokens and sessions."""
        return self.services.accounts

    @property
    def permissions(self) -> Permissions:
        """Grants, and what a caller may see."""
        return self.services.permissions

    @property
    def monitors(self) -> MonitorService:
        """Monitors, their windows and alerts."""
        return self.services.monitors


def context_for(services: Services) -> AppContext:
    """The server's context over ``services``: adds the permission resolver and the sign-in throttle."""
    return AppContext(
        services=services,
        access=Access(services.permissions, services.tracking, services.registry),
        sign_in_throttle=SignInThrottle(),
    )


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
