"""The inference routes: the Open Inference Protocol (v2) REST routes, MLflow's ``/invocations``, health, metrics."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipyard._body import read_body
from shipyard._http_errors import http_error
from shipyard._version import __version__
from shipyard.errors import InvalidParameter, ShipyardError
from shipyard.serving._http import (
    ERROR_KIND,
    VERSION,
    ServingState,
    answer_headers,
    authorize,
    check_name,
    json_response,
    request_id,
    route,
    sticky_key,
)
from shipyard.serving.protocols._matrix import invocation_matrix
from shipyard.serving.protocols._mlflow_scoring import parse_invocation, predictions_to_json
from shipyard.serving.protocols._v2 import parse_infer_request
from shipyard.serving.protocols._v2_outputs import encode_infer_response
from shipyard.serving.runtime._metrics import MODEL_ERROR, ServingMetrics
from shipyard.serving.runtime._runtime import metadata_of

__all__ = ["inference_routes"]

_log = logging.getLogger("shipyard.serving")
_HEADER_LENGTH = "inference-header-content-length"


async def _live(_request: Request, _state: ServingState) -> Response:
    return json_response({"live": True})


async def _ready(_request: Request, state: ServingState) -> Response:
    return json_response({"ready": state.ready}, 200 if state.ready else 503)


async def _model_ready(request: Request, state: ServingState) -> Response:
    check_name(request, state)
    version = request.path_params.get("version")
    if version is not None and state.ready:
        state.runtime.pick(version=version)
    return json_response({"name": state.name, "ready": state.ready}, 200 if state.ready else 503)


async def _server_metadata(_request: Request, _state: ServingState) -> Response:
    return json_response({"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]})


async def _metadata(request: Request, state: ServingState) -> Response:
    check_name(request, state)
    await authorize(request, state, "READ")
    version = request.path_params.get("version")
    served = state.runtime.pick(version=version)[1] if version is not None else None
    return json_response(metadata_of(state.runtime, served))


async def _infer(request: Request, state: ServingState) -> Response:
    check_name(request, state)
    await authorize(request, state, "READ")
    variant, served = state.runtime.pick(sticky_key(request, state), request.path_params.get("version"))
    request.scope[VERSION] = served.version
    body = await read_body(request, state.config.max_body_bytes)
    if not body:
        raise InvalidParameter("The request body is empty: send a JSON infer request with 'inputs'.")
    parsed = parse_infer_request(body, header_length=request.headers.get(_HEADER_LENGTH), columns=served.matrix_columns)
    signature = served.model.signature
    data = parsed.matrix if parsed.matrix is not None else served.v2_input(parsed)
    rid = request_id(request, parsed.id)
    prediction = await state.runtime.predict(variant, served, data, request_id=rid)
    content, headers = encode_infer_response(
        prediction,
        request=parsed,
        model_name=state.name,
        model_version=served.version,
        signature=signature,
    )
    headers.update(answer_headers(variant, served.version, rid))
    return Response(content, headers=headers, media_type=headers.pop("Content-Type", "application/json"))


async def _invocations(request: Request, state: ServingState) -> Response:
    """MLflow's scoring protocol: ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, CSV."""
    try:
        await authorize(request, state, "READ")
        variant, served = state.runtime.pick(sticky_key(request, state))
        request.scope[VERSION] = served.version
        body = await read_body(request, state.config.max_body_bytes)
        rid = request_id(request)
        content_type = request.headers.get("content-type")
        fast = invocation_matrix(body, content_type, served.matrix_columns) if served.matrix_columns else None
        if fast is not None:
            prediction = await state.runtime.predict(variant, served, fast, request_id=rid)
        else:
            signature = served.model.signature
            parsed = parse_invocation(body, content_type, signature.inputs if signature else None)
            if parsed.params:
                prediction = await run_in_threadpool(served.model.predict, parsed.data, parsed.params)
            else:
                prediction = await state.runtime.predict(variant, served, parsed.data, request_id=rid)
        return Response(
            predictions_to_json(prediction),
            media_type="application/json",
            headers=answer_headers(variant, served.version, rid),
        )
    except ShipyardError as exc:
        failure = http_error(exc)
        response = _mlflow_error(failure.status, failure.error_code, failure.message)
        response.headers.update(failure.headers)
        return response
    except Exception as exc:
        # As MLflow's scoring server: a model that fails on the input is the input's problem (400).
        _log.warning("prediction failed on /invocations input: %r", exc)
        request.scope[ERROR_KIND] = MODEL_ERROR
        message = (
            "Encountered an unexpected error while evaluating the model. Verify that the serialized input "
            f"Dataframe is compatible with the model for inference. ({type(exc).__name__}: {str(exc)[:500]})"
        )
        return _mlflow_error(400, "BAD_REQUEST", message)


def _mlflow_error(status: int, code: str, message: str) -> Response:
    """MLflow's scoring-server error body: ``{"error_code", "message"}``."""
    return json_response({"error_code": code, "message": message}, status)


async def _metrics(request: Request) -> Response:
    """Prometheus scrape: not counted as a request, so scrapes never show up as traffic."""
    metrics: ServingMetrics = request.app.state.serving.metrics
    return Response(metrics.render(), media_type=metrics.content_type)


def inference_routes() -> list[BaseRoute]:
    """The v2 routes, ``/invocations``, the health checks and ``/metrics``."""
    return [
        route("/v2/health/live", _live, "GET"),
        route("/v2/health/ready", _ready, "GET"),
        route("/v2", _server_metadata, "GET"),
        route("/v2/models/{name}", _metadata, "GET"),
        route("/v2/models/{name}/versions/{version}", _metadata, "GET"),
        route("/v2/models/{name}/ready", _model_ready, "GET"),
        route("/v2/models/{name}/versions/{version}/ready", _model_ready, "GET"),
        route("/v2/models/{name}/infer", _infer, "POST"),
        route("/v2/models/{name}/versions/{version}/infer", _infer, "POST"),
        route("/invocations", _invocations, "POST"),
        route("/ping", _live, "GET"),
        route("/health", _live, "GET"),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
