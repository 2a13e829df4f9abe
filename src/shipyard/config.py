"""Settings, read once at the edge (CLI, server start-up, SDK entry) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["SCHEMA_CHECKED_ENV", "Settings"]

_DEFAULT_HOME = ".shipyard"
# Set by `shipyard server` for its workers once it has migrated or checked the schema, so that each worker
# does not do it again (one query plus parsing every migration script, in every worker).
SCHEMA_CHECKED_ENV = "SHIPYARD_SCHEMA_CHECKED"


@dataclass(frozen=True)
class Settings:
    """Where Shipyard keeps its data and how it talks to a server.

    Attributes:
        home: folder for the embedded store and artifacts (``SHIPYARD_HOME``, default ``./.shipyard``).
        store_uri: SQLAlchemy URL of the metadata store (``SHIPYARD_STORE_URI``); default SQLite under ``home``.
        artifacts_uri: artifact root (``SHIPYARD_ARTIFACTS_URI``); default ``home/artifacts``.
        tracking_uri: where the SDK sends data (``SHIPYARD_TRACKING_URI``, falling back to
            ``MLFLOW_TRACKING_URI``): ``http(s)://…`` for a server, a database URL, or empty for embedded.
        flush_interval_s: how often the SDK's background logger flushes queued metrics.
        deliver_webhooks: whether a server process delivers queued webhook calls (``SHIPYARD_DELIVER_WEBHOOKS``).
        s3_endpoint_url: the S3-compatible server for ``s3://`` artifact URIs, such as MinIO
            (``SHIPYARD_S3_ENDPOINT_URL``, falling back to ``AWS_ENDPOINT_URL_S3`` then ``AWS_ENDPOINT_URL``);
            empty for AWS itself.
        auth: whether the server requires sign-in and checks permissions (``SHIPYARD_AUTH``).
        auth_default_permission: what every signed-in user may do with a resource they did not create and
            hold no grant on: ``NO_PERMISSIONS``, ``READ`` (the default), ``EDIT`` or ``MANAGE``
            (``SHIPYARD_AUTH_DEFAULT_PERMISSION``). The creator of a resource always gets ``MANAGE``.
        session_ttl_s: how long a web UI sign-in lasts (``SHIPYARD_SESSION_TTL_S``, default 12 hours).
        allowed_hosts: the ``Host`` header values the server answers (``SHIPYARD_ALLOWED_HOSTS``, comma-separated;
            ``*`` for any). Empty means the loopback names only (``localhost``, ``127.0.0.1``, ``[::1]``), which
            defeats DNS rebinding against a server on a developer's machine; ``shipyard server`` adds the
            address it binds to.
        cors_origins: origins allowed to call the API from a browser (``SHIPYARD_CORS_ORIGINS``,
            comma-separated). Empty (the default) closes CORS.
        outbound_allowlist: hosts, addresses or CIDR networks the server may call although they are loopback,
            private, link-local or cloud metadata addresses (``SHIPYARD_OUTBOUND_ALLOWLIST``, comma-separated):
            webhook receivers on an internal network, for instance.
        max_request_bytes: the largest JSON request body accepted (``SHIPYARD_MAX_REQUEST_BYTES``, 64 MiB).
        tracking_token: the API token the SDK and CLI send to a server (``SHIPYARD_TRACKING_TOKEN``, falling
            back to ``MLFLOW_TRACKING_TOKEN``).
        tracking_username: with ``tracking_password``, HTTP Basic credentials for a server
            (``SHIPYARD_TRACKING_USERNAME``/``_PASSWORD``, falling back to ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``).
        tracking_password: see ``tracking_username``.
        sdk_queue_max_mb: how much the SDK's logging queue may hold in memory, roughly, before the oldest records
            spill to the journal on disk (``SHIPYARD_SDK_QUEUE_MAX_MB``, default 64).
        sdk_wait_s: the longest ``start_run`` and ``end_run`` wait for a server to confirm (``SHIPYARD_SDK_WAIT_S``,
            default 5); they stop waiting at once when the server is unreachable.
        sdk_exit_timeout_s: at exit, how long the SDK keeps trying to send what is queued without any progress
            before it writes the rest to the journal (``SHIPYARD_SDK_EXIT_TIMEOUT_S``, default 10).
        sdk_journal_dir: where unsent records are kept, one folder per tracking URI (``SHIPYARD_SDK_JOURNAL_DIR``);
            None means ``home/journal``. ``from_env`` picks ``$SHIPYARD_HOME/journal`` when ``SHIPYARD_HOME`` is set,
            else ``~/.shipyard/journal``, so that the next process finds the journal whatever its working folder.
        statement_timeout_s: the server cancels any database statement running longer than this and answers 503
            with ``Retry-After`` (``SHIPYARD_STATEMENT_TIMEOUT_S``, default 30, well under the mlflow client's 120 s
            request timeout; 0 disables). Migrations are exempt.
        db_connection_budget: PostgreSQL connections all server workers may hold together
            (``SHIPYARD_DB_CONNECTIONS``); each worker's pool gets an equal share. 0 (the default) means 80% of
            what the server allows ordinary users (``max_connections`` minus the reserved ones), read at start.
        server_workers: how many worker processes ``shipyard server`` runs (``SHIPYARD_SERVER_WORKERS``, which it
            sets for its workers; default 1), to divide the connection budget.
    """

    home: Path = Path(_DEFAULT_HOME)
    store_uri: str = ""
    artifacts_uri: str = ""
    tracking_uri: str = ""
    flush_interval_s: float = 1.0
    deliver_webhooks: bool = True
    s3_endpoint_url: str = ""
    auth: bool = False
    auth_default_permission: str = "READ"
    session_ttl_s: int = 12 * 3600
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    outbound_allowlist: tuple[str, ...] = ()
    max_request_bytes: int = 64 * 1024 * 1024
    tracking_token: str = field(default="", repr=False)
    tracking_username: str = ""
    tracking_password: str = field(default="", repr=False)
    # The SDK's queue and journal while a server is away (docs/tracking.md, "When the server is away").
    sdk_queue_max_mb: float = 64.0
    sdk_wait_s: float = 5.0
    sdk_exit_timeout_s: float = 10.0
    sdk_journal_dir: Path | None = None
    # The server's database limits (docs/postgresql.md).
    statement_timeout_s: float = 30.0
    db_connection_budget: int = 0
    server_workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``SHIPYARD_*`` environment variables (the process environment by default)."""
        env = os.environ if env is None else env
        home = Path(env.get("SHIPYARD_HOME") or _DEFAULT_HOME)
        return cls(
            home=home,
            store_uri=env.get("SHIPYARD_STORE_URI", ""),
            artifacts_uri=env.get("SHIPYARD_ARTIFACTS_URI", ""),
            tracking_uri=env.get("SHIPYARD_TRACKING_URI") or env.get("MLFLOW_TRACKING_URI", ""),
            flush_interval_s=float(env.get("SHIPYARD_FLUSH_INTERVAL_S", "1.0")),
            deliver_webhooks=_flag(env.get("SHIPYARD_DELIVER_WEBHOOKS", "1")),
            s3_endpoint_url=(
                env.get("SHIPYARD_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL", "")
            ),
            auth=_flag(env.get("SHIPYARD_AUTH", "0")),
            auth_default_permission=env.get("SHIPYARD_AUTH_DEFAULT_PERMISSION", "READ").strip().upper() or "READ",
            session_ttl_s=int(env.get("SHIPYARD_SESSION_TTL_S", str(12 * 3600))),
            allowed_hosts=_csv(env.get("SHIPYARD_ALLOWED_HOSTS", "")),
            cors_origins=_csv(env.get("SHIPYARD_CORS_ORIGINS", "")),
            outbound_allowlist=_csv(env.get("SHIPYARD_OUTBOUND_ALLOWLIST", "")),
            max_request_bytes=int(env.get("SHIPYARD_MAX_REQUEST_BYTES", str(64 * 1024 * 1024))),
            tracking_token=env.get("SHIPYARD_TRACKING_TOKEN") or env.get("MLFLOW_TRACKING_TOKEN", ""),
            tracking_username=env.get("SHIPYARD_TRACKING_USERNAME") or env.get("MLFLOW_TRACKING_USERNAME", ""),
            tracking_password=env.get("SHIPYARD_TRACKING_PASSWORD") or env.get("MLFLOW_TRACKING_PASSWORD", ""),
            sdk_queue_max_mb=float(env.get("SHIPYARD_SDK_QUEUE_MAX_MB", "64")),
            sdk_wait_s=float(env.get("SHIPYARD_SDK_WAIT_S", "5")),
            sdk_exit_timeout_s=float(env.get("SHIPYARD_SDK_EXIT_TIMEOUT_S", "10")),
            sdk_journal_dir=_journal_dir(env),
            statement_timeout_s=float(env.get("SHIPYARD_STATEMENT_TIMEOUT_S", "30")),
            db_connection_budget=int(env.get("SHIPYARD_DB_CONNECTIONS", "0")),
            server_workers=max(1, int(env.get("SHIPYARD_SERVER_WORKERS", "1"))),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def resolved_store_uri(self) -> str:
        """The store URL, defaulting to a SQLite file under ``home``."""
        if self.store_uri:
            return self.store_uri
        return f"sqlite:///{(self.home / 'shipyard.db').absolute()}"

    @property
    def embedded_store_uri(self) -> str:
        """The store an embedded client uses: the tracking URI when it is a database URL (``sqlite:///…``,
        ``postgresql://…``), else `resolved_store_uri`. Not meaningful for an ``http(s)://`` tracking URI."""
        uri = self.tracking_uri
        return uri if "://" in uri and not uri.startswith(("http://", "https://")) else self.resolved_store_uri

    @property
    def resolved_artifacts_uri(self) -> str:
        """The artifact root, defaulting to ``home/artifacts``."""
        return self.artifacts_uri or str((self.home / "artifacts").absolute())


def _journal_dir(env: Mapping[str, str]) -> Path | None:
    if env.get("SHIPYARD_SDK_JOURNAL_DIR"):
        return Path(env["SHIPYARD_SDK_JOURNAL_DIR"])
    if env.get("SHIPYARD_HOME"):
        return None  # home/journal
    try:
        return Path.home() / _DEFAULT_HOME / "journal"
    except RuntimeError:  # no home folder (a bare container): home/journal
        return None


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())
