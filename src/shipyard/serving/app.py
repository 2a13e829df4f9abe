"""The inference server: a deployment behind the Open Inference Protocol (v2) REST routes and MLflow's
``/invocations``, with adaptive batching, a traffic split, a shadow, and optionally the v2 gRPC service.

``create_deployment_app`` takes a spec and a model provider (the CLI resolves registry URIs and downloads the
folders through the SDK), and optionally the deployment store and the events outbox's consumer the CLI opens on the
metadata store (revisions shared by every replica, alias moves announced by the registry). Readiness turns true once
every route's model has answered its own input example (warm-up), so a load balancer never routes to a cold
replica. ``/v1/deployment`` (status, apply, rollback) and ``/v1/feedback`` (ground truth) manage the deployment
while it serves; ``/deployment`` is its page.

The tracking server's request guards wrap every route (Host allow-list, cross-site writes refused, safe headers;
see ``_guards``). A spec applied over the API names models a caller chose: each is checked with the caller's own
identity (``ServingConfig.authorize_models``) before anything is resolved or loaded, and models that execute code
when loaded are refused unless the operator opted in (``ServingConfig.allow_code_models_over_api``).

The routes are in ``_inference`` (prediction, health, metrics) and ``_management`` (the deployment), what they share
in ``_http``, and the logs, ops snapshots and bandit in ``_background``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from shipyard.models import LoadedModel
from shipyard.serving._background import bandit, open_logs, ops_snapshots
from shipyard.serving._guards import install_serving_guards
from shipyard.serving._http import ServingState
from shipyard.serving._inference import inference_routes
from shipyard.serving._management import management_routes
from shipyard.serving.rollout._revision import ResolvedModel
from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec
from shipyard.serving.runtime._config import Authorizer, ModelAuthorizer, ServingConfig
from shipyard.serving.runtime._metrics import ServingMetrics
from shipyard.serving.runtime._runtime import DeploymentRuntime, ModelProvider

__all__ = ["Authorizer", "ModelAuthorizer", "ServingConfig", "create_deployment_app", "create_serving_app"]

_GRPC_GRACE_S = 10.0


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
        spec: the deployment to start with (the revisions in ``config.deployments`` win when the spec is the same).
        provider: resolves model URIs to versions and loads them.
        config: batching, limits, gRPC, revisions, alias events, prediction log and authorization.

    Example:
        >>> app = create_deployment_app(load_spec("churn.yaml"), provider, ServingConfig("churn"))  # doctest: +SKIP
    """
    runtime = DeploymentRuntime(
        spec,
        provider,
        batching=config.batching,
        store=config.deployments,
        alias_events=config.alias_events,
        poll_interval_s=config.poll_interval_s,
        allow_code_models=config.allow_code_models_over_api,
    )
    state = ServingState(runtime, config, ServingMetrics(model=spec.name))
    state.metrics = ServingMetrics(model=spec.name, batchers=lambda: list(state.batchers()))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if config.prediction_log is not None:
            open_logs(state, config.prediction_log)
        await runtime.start()
        tasks = []
        if state.log is not None:
            tasks.append(asyncio.create_task(bandit(state), name=f"shipyard-bandit-{spec.name}"))
            tasks.append(asyncio.create_task(ops_snapshots(state, str(config.prediction_log)), name="shipyard-ops"))
        grpc_server = None
        if config.grpc_port is not None:
            from shipyard.serving.protocols._grpc import start_grpc_server

            grpc_server = await start_grpc_server(
                state, host=config.grpc_host, port=config.grpc_port, max_message_bytes=config.max_body_bytes
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task  # the ops snapshots write their last one
            if grpc_server is not None:
                await grpc_server.stop(grace=_GRPC_GRACE_S)  # in-flight calls finish, new ones are refused
            await runtime.stop()
            for log in (state.log, state.feedback):
                if log is not None:
                    await run_in_threadpool(log.close)

    app = Starlette(routes=[*inference_routes(), *management_routes()], lifespan=lifespan)
    app.state.serving = state
    install_serving_guards(app, allowed_hosts=config.allowed_hosts, cors_origins=config.cors_origins)
    return app
