"""The inference server: a deployment behind the Open Inference Protocol (v2) REST routes and MLflow's
``/invocations``, with adaptive batching, a traffic split, a shadow, and optionally the v2 gRPC service.

``create_deployment_app`` takes a spec and a model provider (the CLI resolves registry URIs and downloads the
folders through the SDK), so the server never talks to the metadata store itself. Readiness turns true once
every route's model has answered its own input example (warm-up), so a load balancer never routes to a cold
replica. ``/v1/deployment`` (status, apply, rollback) and ``/v1/feedback`` (ground truth) manage the deployment
while it serves; ``/deployment`` is its page.

The tracking server's request guards wrap every route (Host allow-list, cross-site writes refused, safe headers;
see ``_guards``). A spec applied over the API names models a caller chose: each is checked with the caller's own
identity (``ServingConfig.authorize_models``) before anything is resolved or loaded, and models that execute code
when loaded are refused unless the operator opted in (``ServingConfig.allow_code_models_over_api``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard._body import read_body
from shipyard._version import __version__
from shipyard.errors import InvalidParameter, Overloaded, ResourceNotFound, ShipyardError
from shipyard.models import LoadedModel
from shipyard.serving._guards import install_serving_guards
from shipyard.serving.protocols._matrix import invocation_matrix
from shipyard.serving.protocols._mlflow_scoring import parse_invocation, predictions_to_json
from shipyard.serving.protocols._v2 import encode_infer_response, parse_infer_request
from shipyard.serving.rollout._state import ResolvedModel, StateFile
from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec, parse_spec
from shipyard.serving.runtime._batcher import BatcherStats
from shipyard.serving.runtime._config import Authorizer, ModelAuthorizer, ServingConfig
from shipyard.serving.runtime._metrics import MODEL_ERROR, ServingMetrics
from shipyard.serving.runtime._runtime import DeploymentRuntime, ModelProvider, metadata_of

__all__ = ["Authorizer", "ModelAuthorizer", "ServingConfig", "create_deployment_app", "create_serving_app"]

_log = logging.getLogger("shipyard.serving")
_HEADER_LENGTH = "inference-header-content-length"
_GRPC_GRACE_S = 10.0
_ERROR_KIND = "shipyard.error_kind"  # scope key: set when the status alone cannot tell the error's kind
_VERSION = "shipyard.version"  # scope key: the model version that answered, for the metrics
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_MAX_ADMIN_BODY_BYTES = 1024 * 1024
_FLUSH_EVERY_S = 2.0


@dataclass
class _State:
    runtime: DeploymentRuntime
    config: ServingConfig
    metrics: ServingMetrics
    log: Any = None  # PredictionLog | None
    feedback: Any = None  # FeedbackLog | None
    flushed_at: float = 0.0

    @property
    def name(self) -> str:
        return self.runtime.name

    @property
    def ready(self) -> bool:
        return self.runtime.ready

    def batchers(self) -> Iterator[tuple[str, BatcherStats]]:
        for served in self.runtime.serving_now():
            yield served.version, served.batcher.snapshot()


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
            route,
            response.status_code,
            time.perf_counter() - started_s,
            request.scope.get(_ERROR_KIND),
            request.scope.get(_VERSION, ""),
        )
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _error_answer(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Overloaded):
        return _error(503, exc.message, {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, ShipyardError):
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        return _error(status, exc.message, _retry_after(exc))
    _log.error("prediction failed", exc_info=exc)
    request.scope[_ERROR_KIND] = MODEL_ERROR
    return _error(500, "The model failed to predict; the server log has the details.")


def _retry_after(exc: ShipyardError) -> dict[str, str] | None:
    """``Retry-After`` for errors that know when to retry (too many failed sign-ins)."""
    seconds = getattr(exc, "retry_after_s", 0)
    return {"Retry-After": str(seconds)} if seconds else None


async def _authorize(request: Request, state: _State, level: str) -> str | None:
    if state.config.authorize is None:
        return None
    return await state.config.authorize(request.headers, state.name, level, client=_client_address(request))


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _check_name(request: Request, state: _State) -> None:
    name = request.path_params["name"]
    if name != state.name:
        raise ResourceNotFound(f"No model named {name[:200]!r} here; this server serves {state.name!r}.")


def _request_id(request: Request, given: str | None = None) -> str:
    """The caller's id for the request (v2 ``id`` or ``X-Request-ID``) when it is sane, else a new one."""
    candidate = given or request.headers.get("x-request-id")
    if candidate and _REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def _sticky_key(request: Request, state: _State) -> str | None:
    sticky = state.runtime.revision.spec.sticky
    return request.headers.get(sticky.header) if sticky is not None else None


def _answer_headers(route: str, version: str, request_id: str) -> dict[str, str]:
    return {"X-Request-ID": request_id, "X-Shipyard-Variant": route, "X-Shipyard-Model-Version": version}


async def _live(_request: Request, _state: _State) -> Response:
    return _json({"live": True})


async def _ready(_request: Request, state: _State) -> Response:
    return _json({"ready": state.ready}, 200 if state.ready else 503)


async def _model_ready(request: Request, state: _State) -> Response:
    _check_name(request, state)
    version = request.path_params.get("version")
    if version is not None and state.ready:
        state.runtime.pick(version=version)
    return _json({"name": state.name, "ready": state.ready}, 200 if state.ready else 503)


async def _server_metadata(_request: Request, _state: _State) -> Response:
    return _json({"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]})


async def _metadata(request: Request, state: _State) -> Response:
    _check_name(request, state)
    await _authorize(request, state, "READ")
    version = request.path_params.get("version")
    served = state.runtime.pick(version=version)[1] if version is not None else None
    return _json(metadata_of(state.runtime, served))


async def _infer(request: Request, state: _State) -> Response:
    _check_name(request, state)
    await _authorize(request, state, "READ")
    route, served = state.runtime.pick(_sticky_key(request, state), request.path_params.get("version"))
    request.scope[_VERSION] = served.version
    body = await read_body(request, state.config.max_body_bytes)
    if not body:
        raise InvalidParameter("The request body is empty: send a JSON infer request with 'inputs'.")
    parsed = parse_infer_request(body, header_length=request.headers.get(_HEADER_LENGTH), columns=served.matrix_columns)
    signature = served.model.signature
    data = parsed.matrix if parsed.matrix is not None else served.v2_input(parsed)
    request_id = _request_id(request, parsed.id)
    prediction = await state.runtime.predict(route, served, data, request_id=request_id)
    content, headers = encode_infer_response(
        prediction,
        request=parsed,
        model_name=state.name,
        model_version=served.version,
        signature=signature,
    )
    headers.update(_answer_headers(route, served.version, request_id))
    return Response(content, headers=headers, media_type=headers.pop("Content-Type", "application/json"))


async def _invocations(request: Request, state: _State) -> Response:
    """MLflow's scoring protocol: ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, CSV."""
    try:
        await _authorize(request, state, "READ")
        route, served = state.runtime.pick(_sticky_key(request, state))
        request.scope[_VERSION] = served.version
        body = await read_body(request, state.config.max_body_bytes)
        request_id = _request_id(request)
        content_type = request.headers.get("content-type")
        fast = invocation_matrix(body, content_type, served.matrix_columns) if served.matrix_columns else None
        if fast is not None:
            prediction = await state.runtime.predict(route, served, fast, request_id=request_id)
        else:
            signature = served.model.signature
            parsed = parse_invocation(body, content_type, signature.inputs if signature else None)
            if parsed.params:
                prediction = await run_in_threadpool(served.model.predict, parsed.data, parsed.params)
            else:
                prediction = await state.runtime.predict(route, served, parsed.data, request_id=request_id)
        return Response(
            predictions_to_json(prediction),
            media_type="application/json",
            headers=_answer_headers(route, served.version, request_id),
        )
    except Overloaded as exc:
        response = _mlflow_error(503, exc.error_code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except ShipyardError as exc:
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        response = _mlflow_error(status, exc.error_code, exc.message)
        response.headers.update(_retry_after(exc) or {})
        return response
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


# ---- deployment management --------------------------------------------------------------------------------


async def _status(request: Request, state: _State) -> Response:
    await _authorize(request, state, "READ")
    return _json(await _status_of(state))


async def _status_of(state: _State) -> dict[str, Any]:
    status = state.runtime.status()
    if state.log is not None:
        status["analysis"] = await run_in_threadpool(_analysis_of, state)  # flushes the log first
        status["prediction_log"] = {
            "uri": state.config.prediction_log,
            "written_records": state.log.written_records,
            "dropped": state.log.dropped,
            "failed": state.log.failed,
            "queued": state.log.queued,
        }
    return status


def _analysis_of(state: _State) -> dict[str, Any]:
    """The A/B analysis from the log, after writing out what is buffered (so fresh feedback counts)."""
    from shipyard.serving.rollout._abtest import analyse_deployment

    spec = state.runtime.revision.spec
    try:
        _flush_logs(state)
        return analyse_deployment(spec, str(state.config.prediction_log))
    except ShipyardError as exc:
        return {"metric": spec.analysis.metric, "message": f"No analysis: {exc.message}", "variants": []}
    except Exception as exc:  # a damaged segment must not take the status page down with it
        _log.warning("A/B analysis of %r failed: %r", spec.name, exc)
        return {"metric": spec.analysis.metric, "message": f"No analysis: {type(exc).__name__}", "variants": []}


def _flush_logs(state: _State) -> None:
    now = time.monotonic()
    if now - state.flushed_at < _FLUSH_EVERY_S:
        return
    state.flushed_at = now
    for log in (state.log, state.feedback):
        if log is not None:
            log.flush(timeout_s=5.0)


def _bandit_weights(state: _State, spec: DeploymentSpec) -> dict[str, float] | None:
    from shipyard.serving.rollout._abtest import bandit_weights

    _flush_logs(state)
    return bandit_weights(spec, str(state.config.prediction_log))


async def _ops_snapshots(state: _State, uri: str) -> None:
    """Every ``ops_interval_s``, write this process's request and error counters per version (and once at exit)."""
    import asyncio

    from shipyard.artifacts import open_artifact_store
    from shipyard.predlog._ops import write_ops_snapshot

    store = await run_in_threadpool(open_artifact_store, uri)
    started_ms = int(time.time() * 1000)
    try:
        while True:
            await asyncio.sleep(state.config.ops_interval_s)
            await _write_ops(store, state, started_ms, write_ops_snapshot)
    finally:
        await _write_ops(store, state, started_ms, write_ops_snapshot)


async def _write_ops(store: Any, state: _State, started_ms: int, write: Any) -> None:
    totals = {version: dict(counts) for version, counts in state.metrics.totals.items()}
    if not totals:
        return
    try:
        await run_in_threadpool(write, store, state.name, totals, started_ms=started_ms)
    except Exception as exc:  # the artifact store being away must not stop serving
        _log.warning("writing the ops snapshot of %r failed: %r", state.name, exc)


async def _bandit(state: _State) -> None:
    """Every ``bandit.interval_s``, set the split to the Thompson-sampling weights (when the spec turns it on)."""
    import asyncio

    while True:
        spec = state.runtime.revision.spec
        await asyncio.sleep(spec.bandit.interval_s)
        spec = state.runtime.revision.spec
        if not spec.bandit.enabled or len(spec.routes) < 2:
            state.runtime.set_weights(None)
            continue
        try:
            found = await run_in_threadpool(_bandit_weights, state, spec)
        except Exception as exc:
            _log.warning("bandit update of %r failed: %r", spec.name, exc)
            continue
        if found is not None and state.runtime.revision.spec is spec:
            state.runtime.set_weights(found)
            _log.info("bandit weights for %r: %s", spec.name, found)


async def _apply(request: Request, state: _State) -> Response:
    actor = await _authorize(request, state, "EDIT")
    body = await read_body(request, _MAX_ADMIN_BODY_BYTES)
    spec = parse_spec(body)
    _check_sources(spec, state)
    await _authorize_models(request, state, spec)
    revision = await state.runtime.apply(spec, actor=actor)
    _log.warning("deployment %r: revision %d applied by %s", state.name, revision.number, actor or "anonymous")
    return _json(await _status_of(state))


def _check_sources(spec: DeploymentSpec, state: _State) -> None:
    """Over the API, models come from the registry or runs; a local folder only if the server already knew it.

    Loading a model can run code from its files (pickle), so a caller with EDIT on the deployment must not be able
    to point the server at any folder on its disk.
    """
    known = state.runtime.known_models()
    models = [route.model for route in spec.routes] + ([spec.shadow.model] if spec.shadow else [])
    local = [model for model in models if not model.startswith(("models:/", "runs:/")) and model not in known]
    if local:
        raise InvalidParameter(
            f"Model {local[0][:200]!r} is a local folder: over the API a deployment may name registry models "
            "(models:/name/version, models:/name@alias) or runs (runs:/<run_id>/<path>); local folders only in the "
            "spec the server was started with."
        )


async def _authorize_models(request: Request, state: _State, spec: DeploymentSpec) -> None:
    """Check every registry or run model the spec names with the caller's identity, before anything is resolved.

    The server resolves and downloads with its own credentials afterwards, so without this a caller with EDIT on
    the deployment could serve (and read the outputs of) a model from a run or registered model she is denied.
    """
    if state.config.authorize_models is None:
        return
    models = [route.model for route in spec.routes] + ([spec.shadow.model] if spec.shadow else [])
    named = sorted({model for model in models if model.startswith(("models:/", "runs:/"))})
    if named:
        await state.config.authorize_models(request.headers, named, client=_client_address(request))


async def _rollback(request: Request, state: _State) -> Response:
    actor = await _authorize(request, state, "EDIT")
    body = await read_body(request, _MAX_ADMIN_BODY_BYTES)
    to = None
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidParameter('The rollback body must be JSON: {} or {"revision": N}.') from None
        revision = data.get("revision") if isinstance(data, dict) else None
        if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool) or revision < 1):
            raise InvalidParameter(f"'revision' must be a revision number (1, 2, ...), got {revision!r}.")
        to = revision
    await state.runtime.rollback(to=to, actor=actor)
    return _json(await _status_of(state))


async def _feedback(request: Request, state: _State) -> Response:
    await _authorize(request, state, "EDIT")
    if state.feedback is None:
        raise InvalidParameter("This server keeps no prediction log, so feedback cannot be joined: start it with one.")
    from shipyard.predlog._writer import parse_feedback

    records = parse_feedback(await read_body(request, state.config.max_body_bytes))
    if not state.feedback.append(records, deployment=state.name):
        state.metrics.prediction_log_dropped(len(records))
        raise Overloaded(f"The feedback log is behind: {len(records)} label(s) not accepted; send them again.")
    return _json({"accepted": len(records)})


async def _page(request: Request, state: _State) -> Response:
    await _authorize(request, state, "READ")
    from shipyard.serving._page import render_deployment_page

    html = render_deployment_page(await _status_of(state))
    return HTMLResponse(html, headers=_PAGE_HEADERS)


_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


# ---- assembly ---------------------------------------------------------------------------------------------


class _FixedModel:
    """A provider for one model already loaded (``create_serving_app``): nothing to resolve or follow."""

    def __init__(self, model: LoadedModel, name: str, version: str) -> None:
        self._model = model
        self._resolved = ResolvedModel(uri=str(model.path), name=name, version=version, source=str(model.path))

    def resolve(self, uri: str) -> ResolvedModel:
        return self._resolved

    def load(self, model: ResolvedModel, *, allow_code: bool = True) -> LoadedModel:
        return self._model  # loaded by the caller of create_serving_app already


def create_serving_app(model: LoadedModel, config: ServingConfig) -> Starlette:
    """The inference server for one model already loaded (no registry, no rollouts).

    Example:
        >>> app = create_serving_app(sy.load_model("model"), ServingConfig("churn"))  # doctest: +SKIP
    """
    spec = DeploymentSpec(name=config.name, routes=[RouteSpec(name="main", model=str(model.path))])
    return create_deployment_app(spec, _FixedModel(model, config.name, config.version), config)


def create_deployment_app(spec: DeploymentSpec, provider: ModelProvider, config: ServingConfig) -> Starlette:
    """The inference server for a deployment.

    Args:
        spec: the deployment to start with (a newer revision stored in ``config.state_dir`` wins).
        provider: resolves model URIs to versions and loads them.
        config: batching, limits, gRPC, state, prediction log and authorization.

    Example:
        >>> app = create_deployment_app(load_spec("churn.yaml"), provider, ServingConfig("churn"))  # doctest: +SKIP
    """
    state_file = StateFile(config.state_dir, spec.name) if config.state_dir is not None else None
    runtime = DeploymentRuntime(
        spec,
        provider,
        batching=config.batching,
        state=state_file,
        poll_interval_s=config.poll_interval_s,
        allow_code_models=config.allow_code_models_over_api,
    )
    state = _State(runtime, config, ServingMetrics(model=spec.name))
    state.metrics = ServingMetrics(model=spec.name, batchers=lambda: list(state.batchers()))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if config.prediction_log is not None:
            _open_logs(state, config.prediction_log)
        await runtime.start()
        bandit = ops = None
        if state.log is not None:
            import asyncio

            bandit = asyncio.create_task(_bandit(state), name=f"shipyard-bandit-{spec.name}")
            ops = asyncio.create_task(_ops_snapshots(state, str(config.prediction_log)), name="shipyard-ops")
        grpc_server = None
        if config.grpc_port is not None:
            from shipyard.serving.protocols._grpc import start_grpc_server

            grpc_server = await start_grpc_server(
                state, host=config.grpc_host, port=config.grpc_port, max_message_bytes=config.max_body_bytes
            )
        try:
            yield
        finally:
            for task in (bandit, ops):
                if task is not None:
                    task.cancel()
            if ops is not None:
                with contextlib.suppress(BaseException):
                    await ops  # its last snapshot
            if grpc_server is not None:
                await grpc_server.stop(grace=_GRPC_GRACE_S)  # in-flight calls finish, new ones are refused
            await runtime.stop()
            for log in (state.log, state.feedback):
                if log is not None:
                    await run_in_threadpool(log.close)

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
        _route("/v1/deployment", _status, "GET"),
        _route("/v1/deployment", _apply, "PUT"),
        _route("/v1/deployment/rollback", _rollback, "POST"),
        _route("/v1/feedback", _feedback, "POST"),
        _route("/deployment", _page, "GET"),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.serving = state
    install_serving_guards(app, allowed_hosts=config.allowed_hosts, cors_origins=config.cors_origins)
    return app


def _open_logs(state: _State, uri: str) -> None:
    """Open the prediction and feedback logs and hook the runtime's predictions into the first."""
    from shipyard.predlog._writer import FeedbackLog, PredictionLog, PredictionLogConfig, PredictionRecord

    config = PredictionLogConfig(uri=uri)
    log = state.log = PredictionLog(config)
    state.feedback = FeedbackLog(config)
    deployment = state.name
    metrics = state.metrics

    def on_prediction(
        *, request_id: str, route: str, served: Any, inputs: Any, outputs: Any, latency_ms: float, shadow: bool = False
    ) -> None:
        record = PredictionRecord(
            request_id=request_id,
            time_ms=int(time.time() * 1000),
            deployment=deployment,
            variant=route,
            model_name=served.resolved.name,
            model_version=served.version,
            inputs=inputs,
            outputs=outputs,
            latency_ms=latency_ms,
            shadow=shadow,
        )
        if not log.append(record):
            metrics.prediction_log_dropped()

    state.runtime.on_prediction = on_prediction
