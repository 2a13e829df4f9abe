"""MLflow's artifact proxy (``mlflow-artifacts``): streamed upload, download, listing and delete, each declaring and
checking READ or EDIT on the experiment whose artifacts hold the path."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from shipyard.artifacts import safe_relpath
from shipyard.auth import Level
from shipyard.server._auth import principal_of
from shipyard.server._context import context_of
from shipyard.server._json import json_response
from shipyard.server._routes import Access, Arg, Call, Requirement, Resource, declare

__all__ = ["ArtifactPath", "artifact_routes"]

_PREFIX = "/2.0/mlflow-artifacts/artifacts"
# Artifacts are anyone's uploads: a browser opening one must save it, never sniff it into HTML or run it as our
# origin. The type stays application/octet-stream, as MLflow's client expects the bytes unchanged.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class ArtifactPath(Resource):
    """The experiment whose artifact folder holds the path a request names (admins only for any other path)."""

    path: Arg

    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """See `Resource.check` and ``Access.artifact``."""
        call.ctx.access.artifact(call.principal, str(self.path(call, arguments)), level)

    def describe(self) -> str:
        """See `Resource.describe`."""
        return f"experiment whose artifacts hold the path in '{self.path.where}' (admins only for any other path)"


_READ = Access(Level.READ, ArtifactPath(Arg("path")))
_EDIT = Access(Level.EDIT, ArtifactPath(Arg("path")))
Handle = Callable[[Request, str], Awaitable[Response]]


def _path(request: Request) -> str:
    return safe_relpath(request.path_params.get("path", ""))


def _listed_path(request: Request) -> str:
    raw = request.query_params.get("path", "")
    return safe_relpath(raw) if raw.strip("/") else ""


def _guarded(
    requires: Requirement, path_of: Callable[[Request], str] = _path
) -> Callable[[Handle], Callable[[Request], Awaitable[Response]]]:
    """An endpoint of the proxy: it declares ``requires`` and checks it (admins pass) on the path it is about,
    before ``handle`` runs with that path.

    Raises:
        UnguardedRoute: ``requires`` is not a `Requirement`.
    """
    declared = declare(requires)

    def wrap(handle: Handle) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handle)
        async def endpoint(request: Request) -> Response:
            path = path_of(request)
            principal = principal_of(request)
            if not principal.is_admin:
                call = Call(context_of(request), principal, request)
                await run_in_threadpool(requires.check, call, {"path": path})
            return await handle(request, path)

        return declared(endpoint)

    return wrap


@_guarded(_EDIT)
async def upload(request: Request, path: str) -> Response:
    """``PUT …/artifacts/{path}``: store the body as the file at ``path``."""
    await context_of(request).artifacts.awrite_stream(path, request.stream())
    return json_response({})


def _download_headers(path: str, size_bytes: int) -> dict[str, str]:
    """The headers of a download: a saved attachment named like the file, never content a browser runs."""
    name = quote(posixpath.basename(path), safe="")
    return {
        **_DOWNLOAD_HEADERS,
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        "Content-Length": str(size_bytes),
    }


@_guarded(_READ)
async def download(request: Request, path: str) -> Response:
    """``GET …/artifacts/{path}``: the file, as a download."""
    ctx = context_of(request)
    local = await run_in_threadpool(ctx.artifacts.local_path, path)
    # Raises ResourceNotFound (404) for a missing file or a directory.
    size = await run_in_threadpool(ctx.artifacts.size, path)
    headers = _download_headers(path, size)
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream", headers=headers)
    # iter_read opens the object at once (one round trip to S3): do that off the event loop too.
    chunks = await run_in_threadpool(ctx.artifacts.iter_read, path)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@_guarded(_READ, _listed_path)
async def list_files(request: Request, path: str) -> Response:
    """``GET …/artifacts?path=``: the files and folders directly under ``path``."""
    infos = await run_in_threadpool(context_of(request).artifacts.list_dir, path)
    files: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {"path": info.path.rsplit("/", 1)[-1], "is_dir": info.is_dir}
        if not info.is_dir and info.size_bytes is not None:
            entry["file_size"] = info.size_bytes
        files.append(entry)
    return json_response({"files": files} if files else {})


@_guarded(_EDIT)
async def delete(request: Request, path: str) -> Response:
    """``DELETE …/artifacts/{path}``: delete the file or folder at ``path``."""
    await run_in_threadpool(context_of(request).artifacts.delete, path)
    return json_response({})


def artifact_routes(api_prefix: str) -> list[Route]:
    """The proxy's routes under one API prefix (``/api`` or ``/ajax-api``)."""
    base = api_prefix + _PREFIX
    return [
        Route(base, list_files, methods=["GET"]),
        Route(base + "/{path:path}", upload, methods=["PUT"]),
        Route(base + "/{path:path}", download, methods=["GET"]),
        Route(base + "/{path:path}", delete, methods=["DELETE"]),
    ]
