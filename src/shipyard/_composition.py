"""The composition root: every service built once from `Settings`, for the server, the CLI and the embedded SDK.

Nothing else constructs services; a test walks ``src/`` to keep it so. Opening the database is the costly part
(a connection pool, and the schema check or migration), so a process builds `Services` once and passes it down.

Example:
    >>> services = build_services(Settings.from_env())  # doctest: +SKIP
    >>> services.tracking.create_experiment("churn")  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class Services:
    """Every capability's service over one database and one artifact store.

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

    settings: Settings
    database: Database
    tracking: TrackingService
    artifacts: ArtifactStore
    registry: RegistryService
    webhooks: WebhookService
    accounts: AuthService
    permissions: Permissions
    monitors: MonitorService
    deployments: DeploymentStore


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
    # Imported here: building services needs SQLAlchemy and every capability, which `import shipyard` must not load.
    from shipyard.artifacts import open_artifact_store
    from shipyard.auth import AuthService, Level, Permissions
    from shipyard.events.webhooks import WebhookService
    from shipyard.monitoring.monitors import MonitorService
    from shipyard.registry.service import RegistryService
    from shipyard.serving.rollout import DeploymentStore
    from shipyard.tracking.service import TrackingService
    from shipyard.tracking.store import TrackingStore

    if embedded:
        settings = settings.with_overrides(statement_timeout_s=0.0)
    artifact_root = artifacts_uri or settings.resolved_artifacts_uri
    if database is None:
        database = open_store(settings, migrate=migrate, store_uri=store_uri)
    tracking = TrackingService(TrackingStore(database), artifact_root="" if embedded else artifact_root)
    return Services(
        settings=settings,
        database=database,
        tracking=tracking,
        artifacts=open_artifact_store(artifact_root, s3_endpoint_url=settings.s3_endpoint_url),
        registry=RegistryService(database, tracking),
        webhooks=WebhookService(database, outbound_allowlist=settings.outbound_allowlist),
        accounts=AuthService(database),
        permissions=Permissions(database, Level.parse(settings.auth_default_permission)),
        monitors=MonitorService(database, s3_endpoint_url=settings.s3_endpoint_url),
        deployments=DeploymentStore(database),
    )
