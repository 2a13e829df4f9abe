"""How a deployment is served: `ServingConfig`, and the two checks of callers that ``shipyard serve --auth`` injects."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shipyard.serving.runtime._batcher import BatchingConfig

if TYPE_CHECKING:
    from shipyard.events import EventConsumer
    from shipyard.serving.rollout._store import RevisionStore

__all__ = ["Authorizer", "ModelAuthorizer", "ServingConfig"]


class Authorizer(Protocol):
    """``await authorize(headers, deployment, level, client=address)`` with level ``READ`` or ``EDIT``: the caller's
    name (None when sign-in is off), or raises ``Unauthenticated``/``PermissionDenied``/``Overloaded`` (too many
    failed passwords from ``client``, the caller's address)."""

    def __call__(
        self, headers: Mapping[str, str], deployment: str, needed: str, *, client: str
    ) -> Awaitable[str | None]: ...


class ModelAuthorizer(Protocol):
    """``await authorize_models(headers, uris, client=address)``: raises unless the caller may read every model
    URI (``models:/…``, ``runs:/…``) with their own identity, resolved as they would resolve it."""

    def __call__(self, headers: Mapping[str, str], uris: list[str], *, client: str) -> Awaitable[None]: ...


@dataclass(frozen=True)
class ServingConfig:
    """How a deployment is served.

    Attributes:
        name: the deployment's name (the model name in ``/v2/models/{name}``); for a spec, the spec's name.
        version: the version reported for a single model served without a registry (``create_serving_app``).
        batching: the adaptive batchers' settings (one batcher per loaded model version).
        max_body_bytes: the largest request body accepted (413 past it; gRPC: the largest message).
        grpc_port: also serve the v2 protocol over gRPC on this port (the ``grpc`` extra), or None.
        grpc_host: the address the gRPC server binds.
        deployments: where the deployment's revisions are kept: a `DeploymentStore` on the metadata store shares
            them with every worker process and replica and keeps them across restarts; None keeps them in memory.
        alias_events: the events outbox's consumer through which alias moves arrive (the metadata store must be
            the one the registry writes to); None re-resolves followed aliases every ``poll_interval_s`` instead.
        poll_interval_s: how often alias moves are looked for: the outbox read, or without one, followed aliases
            re-resolved (0: never follow).
        prediction_log: where predictions and feedback are logged (a folder or artifact URI), or None.
        authorize: checks callers of every route but health and ``/metrics``; None serves everyone.
        authorize_models: checks, with the caller's identity, every registry or run model a spec applied over the
            API names; None when sign-in is off.
        allow_code_models_over_api: let specs applied over the API name models that execute code when loaded
            (pickle, cloudpickle, python models); off by default, since that is running the caller's code with the
            server's credentials.
        allowed_hosts: the ``Host`` headers answered (``SHIPYARD_ALLOWED_HOSTS``); empty means the loopback names.
        cors_origins: origins whose pages may call the server (``SHIPYARD_CORS_ORIGINS``).
        ops_interval_s: how often request and error counters per version are written beside the prediction log
            (``ops/``), for monitors' error rates.
    """

    name: str
    version: str = "1"
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    max_body_bytes: int = 64 * 1024 * 1024
    grpc_port: int | None = None
    grpc_host: str = "127.0.0.1"
    deployments: RevisionStore | None = None
    alias_events: EventConsumer | None = None
    poll_interval_s: float = 2.0
    prediction_log: str | None = None
    authorize: Authorizer | None = None
    ops_interval_s: float = 30.0
    authorize_models: ModelAuthorizer | None = None
    allow_code_models_over_api: bool = False
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
