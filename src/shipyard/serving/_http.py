"""What every route of the inference server shares: its state, JSON answers, the error answer, and caller checks."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard._http_errors import ErrorKind, http_error
from shipyard.errors import ResourceNotFound
from shipyard.serving.runtime._batcher import BatcherStats
from shipyard.serving.runtime._config import ServingConfig
from shipyard.serving.runtime._metrics import MODEL_ERROR, ServingMetrics
from shipyard.serving.runtime._runtime import DeploymentRuntime

__all__ = [
    "ERROR_KIND",
    "VERSION",
    "Handler",
    "ServingState",
    "answer_headers",
    "authorize",
    "check_name",
    "client_address",
    "error_response",
    "json_response",
    "request_id",
    "route",
    "sticky_key",
]

_log = logging.getLogger("shipyard.serving")
ERROR_KIND = "shipyard.error_kind"  # scope key: set when the status alone cannot tell the error's kind
VERSION = "shipyard.version"  # scope key: the model version that answered, for the metrics
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass
class ServingState:
    """One serving app's state: the runtime, its configuration and metrics, and the prediction and feedback logs."""

    runtime: DeploymentRuntime
    config: ServingConfig
    metrics: ServingMetrics
    log: Any = None  # PredictionLog | None
    feedback: Any = None  # FeedbackLog | None
    flushed_at: float = 0.0

    @property
    def name(self) -> str:
        """The deployment's name."""
        return self.runtime.name

    @property
    def ready(self) -> bool:
        """Whether the deployment is loaded and warmed."""
        return self.runtime.ready

    def batchers(self) -> Iterator[tuple[str, BatcherStats]]:
        """Each served version's batcher counters, for the metrics."""
        for served in self.runtime.serving_now():
            yield served.version, served.batcher.snapshot()


Handler = Callable[[Request, ServingState], Awaitable[Response]]


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``content`` as a JSON answer."""
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The v2 protocol's error body: ``{"error": message}``."""
    return json_response({"error": message}, status, headers)


def route(path: str, handler: Handler, method: str) -> Route:
    """A route whose every failure becomes the protocol's error answer, counted and timed under ``path``."""
    return Route(path, _guarded(handler, path), methods=[method])


def _guarded(handler: Handler, path: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state: ServingState = request.app.state.serving
        started_s = time.perf_counter()
        try:
            response = await handler(request, state)
        except Exception as exc:
            response = _error_answer(request, exc)
        state.metrics.observe(
            path,
            response.status_code,
            time.perf_counter() - started_s,
            request.scope.get(ERROR_KIND),
            request.scope.get(VERSION, ""),
        )
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _error_answer(request: Request, exc: Exception) -> Response:
    failure = http_error(exc)
    if failure.kind is ErrorKind.REFUSED:
        return error_response(failure.status, failure.message, failure.headers or None)
    _log.error("prediction failed", exc_info=exc)
    request.scope[ERROR_KIND] = MODEL_ERROR
    return error_response(500, "The model failed to predict; the server log has the details.")


async def authorize(request: Request, state: ServingState, level: str) -> str | None:
    """The caller's name when they may act at ``level`` (``READ``, ``EDIT``) on the deployment; raises otherwise."""
    if state.config.authorize is None:
        return None
    return await state.config.authorize(request.headers, state.name, level, client=client_address(request))


def client_address(request: Request) -> str:
    """The caller's address (for throttling failed sign-ins)."""
    return request.client.host if request.client is not None else ""


def check_name(request: Request, state: ServingState) -> None:
    """Raise unless the path's ``{name}`` is this deployment's."""
    name = request.path_params["name"]
    if name != state.name:
        raise ResourceNotFound(f"No model named {name[:200]!r} here; this server serves {state.name!r}.")


def request_id(request: Request, given: str | None = None) -> str:
    """The caller's id for the request (v2 ``id`` or ``X-Request-ID``) when it is sane, else a new one."""
    candidate = given or request.headers.get("x-request-id")
    if candidate and _REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def sticky_key(request: Request, state: ServingState) -> str | None:
    """The value of the spec's sticky header, which keeps one caller on one variant."""
    sticky = state.runtime.revision.spec.sticky
    return request.headers.get(sticky.header) if sticky is not None else None


def answer_headers(route_name: str, version: str, request_id: str) -> dict[str, str]:
    """The headers that say which variant and version answered."""
    return {"X-Request-ID": request_id, "X-Shipyard-Variant": route_name, "X-Shipyard-Model-Version": version}
