"""A tiny ASGI app factory for the worker tests: slow answers, the worker's PID, readiness and TCP_NODELAY."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["create", "create_broken", "nodelay_of_connection"]


def create(delay_s: float = 1.5, startup_s: float = 0.0) -> Starlette:
    """An app whose ``/slow`` awaits ``delay_s`` (as a handler awaiting a model would) and answers the worker's PID.

    Routes: ``/pid`` (at once), ``/slow`` (after ``delay_s``), ``/block?s=`` (blocks the event loop, so a
    second connection must go to another worker), ``/ready`` (503 until the lifespan's ``startup_s`` warm-up
    has run), ``/two-part`` (a body written in two sends, which Nagle's algorithm would hold back) and
    ``/nodelay`` (whether this very connection's socket has TCP_NODELAY set).
    """
    ready = False

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        await asyncio.sleep(startup_s)  # stands for loading and warming the model
        ready = True
        yield
        ready = False

    async def pid(_request: Request) -> Response:
        return PlainTextResponse(str(os.getpid()))

    async def slow(_request: Request) -> Response:
        await asyncio.sleep(delay_s)
        return PlainTextResponse(str(os.getpid()))

    async def block(request: Request) -> Response:
        time.sleep(float(request.query_params.get("s", "0.3")))  # on purpose: holds this worker's event loop
        return PlainTextResponse(str(os.getpid()))

    async def is_ready(_request: Request) -> Response:
        return JSONResponse({"ready": ready}, 200 if ready else 503)

    async def two_part(_request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b'{"part": 1, '
            yield b'"pid": %d}' % os.getpid()

        return StreamingResponse(parts(), media_type="application/json")

    async def nodelay(request: Request) -> Response:
        client = request.scope.get("client")
        server = request.scope.get("server")
        if client is None or server is None:
            return JSONResponse({"error": "no client address in the scope"}, 500)
        value = nodelay_of_connection((client[0], client[1]), (server[0], server[1]))
        return JSONResponse({"nodelay": value, "pid": os.getpid()})

    routes = [
        Route("/pid", pid),
        Route("/slow", slow),
        Route("/block", block),
        Route("/ready", is_ready),
        Route("/two-part", two_part),
        Route("/nodelay", nodelay),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def create_broken(**_: Any) -> Starlette:
    """A factory that fails as a model that cannot be loaded would."""
    raise RuntimeError("the model file is corrupt (test factory)")


def nodelay_of_connection(peer: tuple[str, int], local: tuple[str, int]) -> bool | None:
    """TCP_NODELAY of this process's socket connected from ``peer`` to ``local``, or None if none is found.

    The ASGI scope does not expose the transport, so the socket is found among the process's open descriptors
    (Linux ``/proc/self/fd``) by its two addresses; a duplicate of the descriptor is inspected, then closed.
    """
    for entry in Path("/proc/self/fd").iterdir():
        try:
            copy = os.dup(int(entry.name))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
        try:
            sock = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            continue  # not a socket
        with sock:
            try:
                if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                if sock.getpeername()[:2] == peer and sock.getsockname()[:2] == local:
                    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            except OSError:
                continue  # a listening or unconnected socket has no peer
    return None
