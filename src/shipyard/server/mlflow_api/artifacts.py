"""MLflow's artifact proxy (``mlflow-artifacts``): streamed upload, download, listing and delete."""

from __future__ import annotations

import posixpath
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

__all__ = ["artifact_routes"]

_PREFIX = "/2.0/mlflow-artifacts/artifacts"
# Artifacts are anyone's uploads: a browser opening one must save it, never sniff it into HTML or run it as our
# origin. The type stays application/octet-stream, as MLflow's client expects the bytes unchanged.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def _allowed(request: Request, path: str, needed: Level) -> None:
    """Require ``needed`` on the experiment whose artifacts hold ``path`` (see ``Access.artifact``)."""
    principal = principal_of(request)
    if not principal.is_admin:
        await run_in_threadpool(context_of(request).access.artifact, principal, path, needed)


def _path(request: Request) -> str:
    return safe_relpath(request.path_params.get("path", ""))


async def upload(request: Request) -> Response:
    ctx = context_of(request)
    path = _path(request)
    await _allowed(request, path, Level.EDIT)
    await ctx.artifacts.awrite_stream(path, request.stream())
    return json_response({})


def _download_headers(path: str, size_bytes: int) -> dict[str, str]:
    """The headers of a download: a saved attachment named like the file, never content a browser runs."""
    name = quote(posixpath.basename(path), safe="")
    return {
        **_DOWNLOAD_HEADERS,
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        "Content-Length": str(size_bytes),
    }


async def download(request: Request) -> Response:
    ctx = context_of(request)
    path = _path(request)
    await _allowed(request, path, Level.READ)
    local = await run_in_threadpool(ctx.artifacts.local_path, path)
    # Raises ResourceNotFound (404) for a missing file or a directory.
    size = await run_in_threadpool(ctx.artifacts.size, path)
    headers = _download_headers(path, size)
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream", headers=headers)
    # iter_read opens the object at once (one round trip to S3): do that off the event loop too.
    chunks = await run_in_threadpool(ctx.artifacts.iter_read, path)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


async def list_files(request: Request) -> Response:
    ctx = context_of(request)
    raw = request.query_params.get("path", "")
    path = safe_relpath(raw) if raw.strip("/") else ""
    await _allowed(request, path, Level.READ)
    infos = await run_in_threadpool(ctx.artifacts.list_dir, path)
    files: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {"path": info.path.rsplit("/", 1)[-1], "is_dir": info.is_dir}
        if not info.is_dir and info.size_bytes is not None:
            entry["file_size"] = info.size_bytes
        files.append(entry)
    return json_response({"files": files} if files else {})


async def delete(request: Request) -> Response:
    ctx = context_of(request)
    path = _path(request)
    await _allowed(request, path, Level.EDIT)
    await run_in_threadpool(ctx.artifacts.delete, path)
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
