"""create_app: the ASGI application: every capability's routes and pages (MLflow's REST API, the artifact proxy,
the native API, the web UI) over the services the composition root builds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from shipyard._capabilities import capabilities, resolve
from shipyard._composition import Services, build_services
from shipyard._version import __version__
from shipyard.config import SCHEMA_CHECKED_ENV, Settings
from shipyard.events import WebhookDispatcher
from shipyard.server._auth import AuthMiddleware
from shipyard.server._context import context_for
from shipyard.server._disconnect import install as install_disconnect_cancel
from shipyard.server._errors import install_error_handlers
from shipyard.server._guards import install_request_guards
from shipyard.server._json import json_response
from shipyard.server._routes import PUBLIC, SignedIn, declare
from shipyard.server.ui import ui_routes

__all__ = ["app_from_env", "create_app", "mount_capabilities"]

# The mlflow client enables OTLP trace upload for servers >= 3.4; Shipyard answers as a 3.x server.
MLFLOW_COMPAT_VERSION = "3.17.2"


def mount_capabilities(app: FastAPI) -> None:
    """Add every capability's routes, then every capability's pages, then the UI's static files.

    A route reference names a function returning Starlette routes, or a FastAPI ``APIRouter`` (or a function
    returning one). The API routes come first: they live under ``/api``, the pages do not.
    """
    found = capabilities()
    for reference in (*(r for c in found for r in c.routes), *(p for c in found for p in c.pages)):
        _mount(app, resolve(reference))
    app.router.routes.extend(ui_routes())


def _mount(app: FastAPI, contributed: Any) -> None:
    if callable(contributed) and not isinstance(contributed, APIRouter):
        contributed = contributed()
    if isinstance(contributed, APIRouter):
        app.include_router(contributed)
    else:
        app.router.routes.extend(contributed)


@declare(PUBLIC)
async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


@declare(PUBLIC)
async def _version(_request: Request) -> Response:
    return PlainTextResponse(MLFLOW_COMPAT_VERSION)


@declare(SignedIn())  # under /api: authentication lets only liveness and the version through signed out
async def _server_info(_request: Request) -> Response:
    info: dict[str, Any] = {
        "server": "shipyard",
        "shipyard_version": __version__,
        "store_type": "SqlStore",
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
    }
    return json_response(info)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The Shipyard server application: every capability's routes and pages over one set of services.

    Args:
        settings: where the store and artifacts live; read from the environment when omitted.
        services: already-built services (tests and embedding); built from ``settings`` when omitted.

    Example:
        >>> app = create_app(Settings(home=Path("/tmp/sy")))  # doctest: +SKIP
    """
    ctx = context_for(services or build_services(settings or Settings.from_env()))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each server process delivers webhooks from the outbox; deliveries are claimed atomically, so several
        # workers never send the same one twice.
        dispatcher = (
            WebhookDispatcher(ctx.database, outbound_allowlist=ctx.settings.outbound_allowlist)
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
    for docs in app.router.routes:  # FastAPI's own: the OpenAPI document, its viewer and its OAuth2 redirect page
        declare(SignedIn("the API's documentation"))(getattr(docs, "endpoint", docs))
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
    mount_capabilities(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from ``SHIPYARD_*`` variables set by ``shipyard server``."""
    settings = Settings.from_env()
    return create_app(services=build_services(settings, migrate=os.environ.get(SCHEMA_CHECKED_ENV) != "1"))
