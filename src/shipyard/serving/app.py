"""The inference server: one model behind the Open Inference Protocol (v2) REST routes and MLflow's
``/invocations``, with adaptive batching; optionally the v2 gRPC service too, in the same event loop.

``create_serving_app`` takes a model already loaded (the CLI resolves registry URIs and downloads the folder), so
serving never talks to the metadata store: it is a stateless process. Readiness turns true once the model has
answered its own input example (warm-up), so a load balancer never routes to a cold replica.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard._body import read_body
from shipyard._version import __version__
from shipyard.errors import InvalidParameter, Overloaded, ResourceNotFound, ShipyardError
from shipyard.models import LoadedModel
from shipyard.serving._batcher import AdaptiveBatcher, BatchingConfig
from shipyard.serving._metrics import MODEL_ERROR, ServingMetrics
from shipyard.serving._mlflow_scoring import parse_invocation, predictions_to_json
from shipyard.serving._v2 import encode_infer_response, model_metadata, parse_infer_request, request_to_model_input

__all__ = ["ServingConfig", "create_serving_app"]

_log = logging.getLogger("shipyard.serving")
_HEADER_LENGTH = "inference-header-content-length"
_GRPC_GRACE_S = 10.0
_ERROR_KIND = "shipyard.error_kind"  # scope key: set when the status alone cannot tell the error's kind


@dataclass(frozen=True)
class ServingConfig:
    """How one model is served.

    Attributes:
        name: the model's name in the v2 routes (``/v2/models/{name}``).
        version: its version (``/v2/models/{name}/versions/{version}``).
        batching: the adaptive batcher's settings.
        max_body_bytes: the largest request body accepted (413 past it; gRPC: the largest message).
        grpc_port: also serve the v2 protocol over gRPC on this port (the ``grpc`` extra), or None.
        grpc_host: the address the gRPC server binds.
    """

    name: str
    version: str = "1"
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    max_body_bytes: int = 64 * 1024 * 1024
    grpc_port: int | None = None
    grpc_host: str = "127.0.0.1"


@dataclass
class _State:
    model: LoadedModel
    config: ServingConfig
    batcher: AdaptiveBatcher
    metrics: ServingMetrics
    ready: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    async def predict(self, data: Any) -> Any:
        """Predict ``data`` as the REST routes do (through the batcher): shared with the gRPC service."""
        return await _predict(self, data)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The v2 protocol's error body: ``{"error": message}``."""
    return _json({"error": message}, status, headers)


def _route(path: str, handler: Callable[[Request, _State], Awaitable[Response]], method: str) -> Route:
    return Route(path, _guarded(handler, path), methods=[method])


def _guarded(
    handler: Callable[[Request, _State], Awaitable[Response]], route: str
) -> Callable[[Request], Awaitable[Response]]:
    """Turn every failure of a route into the protocol's error answer, and count and time it under ``route``."""

    async def endpoint(request: Request) -> Response:
        state: _State = request.app.state.serving
        started_s = time.perf_counter()
        try:
            response = await handler(request, state)
        except Exception as exc:
            response = _error_answer(request, exc)
        state.metrics.observe(
            route, response.status_code, time.perf_counter() - started_s, request.scope.get(_ERROR_KIND)
        )
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _error_answer(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Overloaded):
        return _error(503, exc.message, {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, ShipyardError):
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        return _error(status, exc.message)
    _log.error("prediction failed", exc_info=exc)
    request.scope[_ERROR_KIND] = MODEL_ERROR
    return _error(500, "The model failed to predict; the server log has the details.")


def _check_model(request: Request, state: _State) -> None:
    name = request.path_params["name"]
    version = request.path_params.get("version")
    if name != state.config.name:
        raise ResourceNotFound(f"No model named {name[:200]!r} here; this server serves {state.config.name!r}.")
    if version is not None and version != state.config.version:
        raise ResourceNotFound(
            f"Model {name!r} has no version {version[:50]!r} here; it serves {state.config.version}."
        )


async def _live(_request: Request, _state: _State) -> Response:
    return _json({"live": True})


async def _ready(_request: Request, state: _State) -> Response:
    return _json({"ready": state.ready}, 200 if state.ready else 503)


async def _model_ready(request: Request, state: _State) -> Response:
    _check_model(request, state)
    return _json({"name": state.config.name, "ready": state.ready}, 200 if state.ready else 503)


async def _server_metadata(_request: Request, _state: _State) -> Response:
    return _json({"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]})


async def _metadata(request: Request, state: _State) -> Response:
    _check_model(request, state)
    meta = model_metadata(
        state.config.name,
        versions=[state.config.version],
        platform=f"shipyard_{state.model.flavor}",
        signature=state.model.signature,
    )
    return _json(meta)


async def _infer(request: Request, state: _State) -> Response:
    _check_model(request, state)
    body = await read_body(request, state.config.max_body_bytes)
    if not body:
        raise InvalidParameter("The request body is empty: send a JSON infer request with 'inputs'.")
    parsed = parse_infer_request(body, header_length=request.headers.get(_HEADER_LENGTH))
    data = request_to_model_input(parsed, state.model.signature)
    prediction = await _predict(state, data)
    content, headers = encode_infer_response(
        prediction,
        request=parsed,
        model_name=state.config.name,
        model_version=state.config.version,
        signature=state.model.signature,
    )
    return Response(content, headers=headers, media_type=headers.pop("Content-Type", "application/json"))


async def _predict(state: _State, data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame) and len(data) > 0:
        # Checked per request, so one caller's bad input never fails the batch it would have joined; the batch
        # itself is predicted without a second check.
        return await state.batcher.predict(state.model.check_input(data))
    return await run_in_threadpool(state.model.predict, data)


async def _invocations(request: Request, state: _State) -> Response:
    """MLflow's scoring protocol: ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, CSV."""
    try:
        body = await read_body(request, state.config.max_body_bytes)
        signature = state.model.signature
        parsed = parse_invocation(body, request.headers.get("content-type"), signature.inputs if signature else None)
        if parsed.params:
            prediction = await run_in_threadpool(state.model.predict, parsed.data, parsed.params)
        else:
            prediction = await _predict(state, parsed.data)
        return Response(predictions_to_json(prediction), media_type="application/json")
    except Overloaded as exc:
        response = _mlflow_error(503, exc.error_code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except ShipyardError as exc:
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        return _mlflow_error(status, exc.error_code, exc.message)
    except Exception as exc:
        # As MLflow's scoring server: a model that fails on the input is the input's problem (400).
        _log.warning("prediction failed on /invocations input: %r", exc)
        request.scope[_ERROR_KIND] = MODEL_ERROR
        message = (
            "Encountered an unexpected error while evaluating the model. Verify that the serialized input "
            f"Dataframe is compatible with the model for inference. ({type(exc).__name__}: {str(exc)[:500]})"
        )
        return _mlflow_error(400, "BAD_REQUEST", message)


async def _metrics(request: Request) -> Response:
    """Prometheus scrape: not counted as a request, so scrapes never show up as traffic."""
    metrics: ServingMetrics = request.app.state.serving.metrics
    return Response(metrics.render(), media_type=metrics.content_type)


def _mlflow_error(status: int, code: str, message: str) -> Response:
    """MLflow's scoring-server error body: ``{"error_code", "message"}``."""
    return _json({"error_code": code, "message": message}, status)


def _warm_up(model: LoadedModel) -> None:
    if model.input_example is not None:
        model.predict(model.input_example)


def create_serving_app(model: LoadedModel, config: ServingConfig) -> Starlette:
    """The inference server for ``model``.

    Args:
        model: the loaded model (``shipyard.models.load_model`` or the SDK's ``sy.load_model``).
        config: its name, version and batching settings.

    Example:
        >>> app = create_serving_app(sy.load_model("models:/churn@champion"), ServingConfig("churn"))  # doctest: +SKIP
    """
    batcher = AdaptiveBatcher(model.predict_checked, config.batching, name=config.name)
    metrics = ServingMetrics(model=config.name, version=config.version, batcher_stats=batcher.snapshot)
    state = _State(model, config, batcher, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(_warm_up, model)
        except Exception:
            _log.exception("warm-up prediction on the input example failed; serving anyway")
        grpc_server = None
        if config.grpc_port is not None:
            from shipyard.serving._grpc import start_grpc_server

            grpc_server = await start_grpc_server(
                state, host=config.grpc_host, port=config.grpc_port, max_message_bytes=config.max_body_bytes
            )
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            if grpc_server is not None:
                await grpc_server.stop(grace=_GRPC_GRACE_S)  # in-flight calls finish, new ones are refused
            await state.batcher.close()

    routes = [
        _route("/v2/health/live", _live, "GET"),
        _route("/v2/health/ready", _ready, "GET"),
        _route("/v2", _server_metadata, "GET"),
        _route("/v2/models/{name}", _metadata, "GET"),
        _route("/v2/models/{name}/versions/{version}", _metadata, "GET"),
        _route("/v2/models/{name}/ready", _model_ready, "GET"),
        _route("/v2/models/{name}/versions/{version}/ready", _model_ready, "GET"),
        _route("/v2/models/{name}/infer", _infer, "POST"),
        _route("/v2/models/{name}/versions/{version}/infer", _infer, "POST"),
        _route("/invocations", _invocations, "POST"),
        _route("/ping", _live, "GET"),
        _route("/health", _live, "GET"),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.serving = state
    return app
