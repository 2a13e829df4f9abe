"""MLflow's artifact proxy (``mlflow-artifacts``): streamed upload, download, listing and delete."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from shipyard.artifacts import safe_relpath
from shipyard.server._context import context_of
from shipyard.server._json import json_response

__all__ = ["artifact_routes"]

_PREFIX = "/2.0/mlflow-artifacts/artifacts"


def _path(request: Request) -> str:
    return safe_relpath(request.path_params.get("path", ""))


async def upload(request: Request) -> Response:
    ctx = context_of(request)
    path = _path(request)
    await ctx.artifacts.awrite_stream(path, request.stream())
    return json_response({})


async def download(request: Request) -> Response:
    ctx = context_of(request)
    path = _path(request)
    local = ctx.artifacts.local_path(path)
    # Raises ResourceNotFound (404) for a missing file or a directory.
    size = await run_in_threadpool(ctx.artifacts.size, path)
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream", headers={"Content-Length": str(size)})
    # iter_read opens the object at once (one round trip to S3): do that off the event loop too.
    chunks = await run_in_threadpool(ctx.artifacts.iter_read, path)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers={"Content-Length": str(size)})


async def list_files(request: Request) -> Response:
    ctx = context_of(request)
    raw = request.query_params.get("path", "")
    path = safe_relpath(raw) if raw.strip("/") else ""
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
    await run_in_threadpool(ctx.artifacts.delete, _path(request))
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
