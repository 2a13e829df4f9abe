"""The composition root: every service built once from `Settings`, for the server, the CLI and the embedded SDK.

Nothing else constructs services; a test walks ``src/`` to keep it so. Opening the database is the costly part
(a connection pool, and the schema check or migration), so a process builds `Services` once and passes it down.

Example:
    >>> services = build_services(Settings.from_env())  # doctest: +SKIP
    >>> services.tracking.create_experiment("churn")  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from shipyard.artifacts import ArtifactStore
    from shipyard.auth import AuthService, Permissions
    from shipyard.config import Settings
    from shipyard.db import Database
    from shipyard.events.webhooks import WebhookService
    from shipyard.monitoring.monitors import MonitorService
    from shipyard.registry.service import RegistryService
    from shipyard.serving.rollout import DeploymentStore
    from shipyard.tracking.service import TrackingService

__all__ = ["Services", "build_services", "open_store"]

_T = TypeVar("_T")


class Services:
    """Every capability's service over one database and one artifact store, each built on first use, once.

    Building lazily keeps what a process does not use out of it: the embedded SDK touches tracking, the registry
    and the artifact store, and never loads accounts (argon2), monitors or deployment specs (pydantic), which
    would otherwise cost it import time and slow its garbage collection.

    Attributes:
        settings: what the services were built from.
        database: the metadata store (SQLite or PostgreSQL).
        tracking: experiments, runs, metrics, params, tags, inputs.
        artifacts: the artifact store (a folder, or S3).
        registry: logged models, registered models, versions, aliases.
        webhooks: webhook subscriptions and their deliveries.
        accounts: users, tokens and sessions.
        permissions: grants, and what a caller may see.
        monitors: monitors, their windows and alerts.
        deployments: deployment revisions, shared by every ``shipyard serve`` process and replica.
    """

    def __init__(self, settings: Settings, database: Database, *, artifact_root: str, embedded: bool) -> None:
        self.settings = settings
        self.database = database
        self._artifact_root = artifact_root
        self._embedded = embedded
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()  # two threads asking at once still get one service

    def _once(self, name: str, build: Callable[[], _T]) -> _T:
        built = self._built.get(name)
        if built is None:
            with self._lock:
                built = self._built.get(name)
                if built is None:
                    built = self._built[name] = build()
        return built

    @property
    def tracking(self) -> TrackingService:
        """Experiments, runs, metrics, params, tags and dataset inputs."""
        from shipyard.tracking.service import TrackingService
        from shipyard.tracking.store import TrackingStore

        # Embedded, tracking trusts no local artifact root (see `build_services`).
        root = "" if self._embedded else self._artifact_root
        return self._once("tracking", lambda: TrackingService(TrackingStore(self.database), artifact_root=root))

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store (a folder, or S3)."""
        from shipyard.artifacts import open_artifact_store

        endpoint = self.settings.s3_endpoint_url
        return self._once("artifacts", lambda: open_artifact_store(self._artifact_root, s3_endpoint_url=endpoint))

    @property
    def registry(self) -> RegistryService:
        """Logged models, registered models, versions, tags, aliases and stages."""
        from shipyard.registry.service import RegistryService

        return self._once("registry", lambda: RegistryService(self.database, self.tracking))

    @property
    def webhooks(self) -> WebhookService:
        """Webhook subscriptions and their delivery log."""
        from shipyard.events.webhooks import WebhookService

        allow = self.settings.outbound_allowlist
        return self._once("webhooks", lambda: WebhookService(self.database, outbound_allowlist=allow))

    @property
    def accounts(self) -> AuthService:
        """Users, tokens and sessions."""
        from shipyard.auth import AuthService

        return self._once("accounts", lambda: AuthService(self.database))

    @property
    def permissions(self) -> Permissions:
        """Grants, and what a caller may see."""
        from shipyard.auth import Level, Permissions

        default = Level.parse(self.settings.auth_default_permission)
        return self._once("permissions", lambda: Permissions(self.database, default))

    @property
    def monitors(self) -> MonitorService:
        """Monitors, their windows and alerts."""
        from shipyard.monitoring.monitors import MonitorService

        endpoint = self.settings.s3_endpoint_url
        return self._once("monitors", lambda: MonitorService(self.database, s3_endpoint_url=endpoint))

    @property
    def deployments(self) -> DeploymentStore:
        """Deployment revisions, shared by every ``shipyard serve`` process and replica."""
        from shipyard.serving.rollout import DeploymentStore

        return self._once("deployments", lambda: DeploymentStore(self.database))


def open_store(settings: Settings, *, migrate: bool = True, store_uri: str | None = None) -> Database:
    """Open the metadata store ``settings`` names, with its limits (statement timeout, connection budget).

    For what needs the database but no service: ``shipyard db`` and ``shipyard server``'s checks before its
    workers start. Everything else takes `build_services`.

    Args:
        settings: the store and its limits.
        migrate: bring the schema to head first.
        store_uri: a store other than the one ``settings`` names.
    """
    from shipyard.db import open_database  # SQLAlchemy: not loaded by `import shipyard`

    return open_database(
        store_uri or settings.resolved_store_uri,
        migrate=migrate,
        statement_timeout_s=settings.statement_timeout_s,
        connection_budget=settings.db_connection_budget,
        workers=settings.server_workers,
    )


def build_services(
    settings: Settings,
    *,
    migrate: bool = True,
    store_uri: str | None = None,
    artifacts_uri: str | None = None,
    database: Database | None = None,
    embedded: bool = False,
) -> Services:
    """Open the store and the artifact store named by ``settings`` and build every service on them.

    Args:
        settings: where the store and artifacts live, and how the services behave.
        migrate: bring the schema to head first (``shipyard server`` does it once, before its workers start).
        store_uri: a store other than the one ``settings`` names (``shipyard serve`` reads the embedded store).
        artifacts_uri: an artifact root other than the one ``settings`` names.
        database: a store already open (and checked) to build on; ``migrate`` and ``store_uri`` are then unused.
        embedded: for the SDK's in-process transport: no statement timeout (no client waits on a request), and
            tracking trusts no local artifact root, so local folders are refused as artifact locations and
            model-version sources (what only a server's operator may allow).
    """
    if embedded:
        settings = settings.with_overrides(statement_timeout_s=0.0)
    if database is None:
        database = open_store(settings, migrate=migrate, store_uri=store_uri)
    services = Services(
        settings, database, artifact_root=artifacts_uri or settings.resolved_artifacts_uri, embedded=embedded
    )
    # Every process uses these two: build them now, so a bad store or artifact root fails here, not mid-request.
    services.tracking  # noqa: B018
    services.artifacts  # noqa: B018
    return services
