"""ASGI middleware: when a client disconnects mid-request, cancel the database queries run for it.

The mlflow client gives up on a request after 120 s and sends it again; without this, every attempt kept running
on the database after its client had gone, and retries piled up. The heavy reads (searches, metric histories and
the web UI's pages) run in a `shipyard.db.query_scope`; this middleware reads the request's ASGI messages itself,
forwarding them to the application, and on ``http.disconnect`` cancels the scope's queries from a helper thread,
again every half second while the application is still reading (a cancel may reach PostgreSQL between two
statements), then lets the application see the disconnect too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.db import QueryScope, query_scope

__all__ = ["CancelOnDisconnect", "cancels_on_disconnect"]

_API_PREFIXES = ("/api/", "/ajax-api/")
_HEAVY_API_SUFFIXES = ("/search", "/metrics/get-history", "/metrics/get-history-bulk-interval")
_NOT_PAGES = ("/ui/static/", "/health", "/version")
_RECANCEL_S = 0.5


def cancels_on_disconnect(method: str, path: str) -> bool:
    """Whether a request is one of the heavy reads whose queries stop when its client goes away.

    Searches and metric histories of the MLflow API (both prefixes), the Shipyard API's reads, and the web UI's
    pages and their JSON. Writes are left to finish: their client retries, and the store makes retries harmless.
    """
    if path.startswith(_API_PREFIXES):
        return path.endswith(_HEAVY_API_SUFFIXES) or (method == "GET" and path.startswith("/api/v1/"))
    return method == "GET" and not path.startswith(_NOT_PAGES)


class CancelOnDisconnect:
    """Cancels the database reads of a heavy request (`cancels_on_disconnect`) whose client has disconnected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not cancels_on_disconnect(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)  # the application reads at its own pace
        answered = asyncio.Event()

        async def sending(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered.set()  # from here on, a disconnect is only the end of the exchange

        with query_scope() as queries:
            pump = asyncio.create_task(self._pump(receive, inbox, queries, answered))
            try:
                await self.app(scope, inbox.get, sending)
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _pump(
        self, receive: Receive, inbox: asyncio.Queue[Message], queries: QueryScope, answered: asyncio.Event
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            await inbox.put(message)
        if answered.is_set():
            return
        while True:  # the client has gone while the application is still at work
            if queries.busy or not queries.cancelled:
                await asyncio.to_thread(queries.cancel)
            with contextlib.suppress(asyncio.QueueFull):
                inbox.put_nowait(message)  # a streaming response listening for the disconnect learns of it
            await asyncio.sleep(_RECANCEL_S)


def install(app: Any) -> None:
    """Add the middleware (innermost, next to the routes) to a Starlette/FastAPI app."""
    app.add_middleware(CancelOnDisconnect)
