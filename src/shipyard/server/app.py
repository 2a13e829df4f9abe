"""create_app: the ASGI application with MLflow's REST API, the artifact proxy and the web UI."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from shipyard._version import __version__
from shipyard.artifacts import open_artifact_store
from shipyard.auth import AuthService, Level, Permissions
from shipyard.auth.throttle import SignInThrottle
from shipyard.config import SCHEMA_CHECKED_ENV, Settings
from shipyard.db import open_database
from shipyard.events import WebhookDispatcher
from shipyard.events.webhooks import WebhookService
from shipyard.monitoring.monitors import MonitorService
from shipyard.registry.service import RegistryService
from shipyard.server._access import Access
from shipyard.server._auth import AuthMiddleware
from shipyard.server._context import AppContext
from shipyard.server._disconnect import install as install_disconnect_cancel
from shipyard.server._errors import install_error_handlers
from shipyard.server._guards import install_request_guards
from shipyard.server._json import json_response
from shipyard.server.auth_api import auth_routes
from shipyard.server.mlflow_api import mlflow_routes
from shipyard.server.monitoring_api import monitoring_routes
from shipyard.server.native_api import native_routes
from shipyard.server.ui import ui_routes
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore

__all__ = ["create_app"]

# The mlflow client enables OTLP trace upload for servers >= 3.4; Shipyard answers as a 3.x server.
MLFLOW_COMPAT_VERSION = "3.17.2"


def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    """Open the store and artifact store named by ``settings`` and wire the services.

    Args:
        settings: where the store and artifacts live.
        migrate: bring the schema to head first (``shipyard server`` does it once, before its workers start).
    """
    database = open_database(
        settings.resolved_store_uri,
        migrate=migrate,
        statement_timeout_s=settings.statement_timeout_s,
        connection_budget=settings.db_connection_budget,
        workers=settings.server_workers,
    )
    tracking = TrackingService(TrackingStore(database), artifact_root=settings.resolved_artifacts_uri)
    artifacts = open_artifact_store(settings.resolved_artifacts_uri, s3_endpoint_url=settings.s3_endpoint_url)
    registry = RegistryService(database, tracking)
    permissions = Permissions(database, Level.parse(settings.auth_default_permission))
    return AppContext(
        settings=settings,
        tracking=tracking,
        artifacts=artifacts,
        registry=registry,
        webhooks=WebhookService(database, outbound_allowlist=settings.outbound_allowlist),
        accounts=AuthService(database),
        permissions=permissions,
        access=Access(permissions, tracking, registry),
        sign_in_throttle=SignInThrottle(),
        monitors=MonitorService(database, s3_endpoint_url=settings.s3_endpoint_url),
    )


async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(_request: Request) -> Response:
    return PlainTextResponse(MLFLOW_COMPAT_VERSION)


async def _server_info(_request: Request) -> Response:
    info: dict[str, Any] = {
        "server": "shipyard",
        "shipyard_version": __version__,
        "store_type": "SqlStore",
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
    }
    return json_response(info)


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> FastAPI:
    """The Shipyard server application.

    Args:
        settings: where the store and artifacts live; read from the environment when omitted.
        context: already-built services (tests and embedding); built from ``settings`` when omitted.

    Example:
        >>> app = create_app(Settings(home=Path("/tmp/sy")))  # doctest: +SKIP
    """
    ctx = context or build_context(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each server process delivers webhooks from the outbox; deliveries are claimed atomically, so several
        # workers never send the same one twice.
        dispatcher = (
            WebhookDispatcher(ctx.registry.database, outbound_allowlist=ctx.settings.outbound_allowlist)
            if ctx.settings.deliver_webhooks
            else None
        )
        if dispatcher is not None:
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop(5.0)

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.context = ctx
    install_disconnect_cancel(app)  # innermost: the request's query scope wraps the routes alone
    # Request guards (added after this) sit outside authentication: a foreign Host is refused before anything.
    app.add_middleware(
        AuthMiddleware, accounts=ctx.accounts if ctx.settings.auth else None, throttle=ctx.sign_in_throttle
    )
    install_error_handlers(app)
    install_request_guards(app, ctx.settings)
    app.add_route("/health", _health, methods=["GET"])
    app.add_route("/version", _version, methods=["GET"])
    for prefix in ("/api", "/ajax-api"):
        app.add_route(f"{prefix}/3.0/mlflow/server-info", _server_info, methods=["GET"])
    app.router.routes.extend(mlflow_routes())
    app.router.routes.extend(native_routes())
    app.router.routes.extend(monitoring_routes())
    app.router.routes.extend(auth_routes())
    app.router.routes.extend(ui_routes())
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from ``SHIPYARD_*`` variables set by ``shipyard server``."""
    settings = Settings.from_env()
    return create_app(context=build_context(settings, migrate=os.environ.get(SCHEMA_CHECKED_ENV) != "1"))
