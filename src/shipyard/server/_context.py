"""What every route needs: the services, built once by create_app and kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.artifacts import ArtifactStore
from shipyard.config import Settings
from shipyard.tracking.service import TrackingService

__all__ = ["AppContext", "context_of"]


@dataclass(frozen=True)
class AppContext:
    """The services behind the server."""

    settings: Settings
    tracking: TrackingService
    artifacts: ArtifactStore


def context_of(request: Request) -> AppContext:
    """The context stored on the app by create_app."""
    ctx: AppContext = request.app.state.context
    return ctx
