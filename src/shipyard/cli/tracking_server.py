"""``shipyard server``: run the tracking server and web UI."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._common import handle_errors
from shipyard.config import SCHEMA_CHECKED_ENV, Settings

if TYPE_CHECKING:
    from shipyard._composition import Services
    from shipyard.auth import AuthService

__all__ = ["server"]

_log = logging.getLogger("shipyard.server")


def server(
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the server private.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
    store: Annotated[str | None, typer.Option(help="Metadata store URL (sqlite:///… or postgresql://…).")] = None,
    artifacts: Annotated[
        str | None, typer.Option(help="Artifact root: a folder, file:// or s3://bucket/prefix URI.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require sign-in and check permissions (default: SHIPYARD_AUTH). Create accounts with "
            "`shipyard users create`.",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Allow binding to a non-loopback address without authentication: anyone who can reach the "
            "port can read and change everything. Only for a network you fully trust.",
        ),
    ] = False,
    no_migrate: Annotated[
        bool,
        typer.Option(
            "--no-migrate",
            help="Do not upgrade the database schema; refuse to start when it is not current "
            "(run `shipyard db upgrade` first).",
        ),
    ] = False,
) -> None:
    """Serve MLflow's REST API, the artifact proxy and the web UI.

    With ``--workers N`` the command replaces itself (same PID) with a light supervisor process, so that each
    worker starts, and answers the supervisor's health checks, quickly even under load.
    """
    import uvicorn

    from shipyard._composition import build_services, open_store
    from shipyard._http_guards import hosts_for_bind, is_loopback

    settings = Settings.from_env().with_overrides(store_uri=store, artifacts_uri=artifacts, auth=auth)
    _check_settings(settings)
    _check_healthcheck_budget()
    loopback = is_loopback(host)
    if not settings.auth and not loopback:
        if not insecure_no_auth:
            typer.echo(
                f"error: refusing to serve {host} without authentication: anyone who can reach it could read and "
                "change every experiment, model and artifact. Start with --auth (after `shipyard users create "
                "NAME --admin`), bind to 127.0.0.1, or, on a network you fully trust, pass --insecure-no-auth.",
                err=True,
            )
            raise typer.Exit(2)
        _log.warning(
            "SECURITY WARNING: serving %s WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who can reach this "
            "port can read, change and delete every experiment, model and artifact.",
            host,
        )
        typer.echo(f"WARNING: --insecure-no-auth: {host} is served without authentication.", err=True)
    store_uri = settings.resolved_store_uri
    artifacts_uri = settings.resolved_artifacts_uri
    if "://" not in artifacts_uri:
        artifacts_uri = str(Path(artifacts_uri).absolute())
    # Migrate once here, before workers start (migrations take a lock, so other servers may start at once).
    with handle_errors():
        database = open_store(settings, migrate=not no_migrate)
        try:
            if no_migrate:
                from shipyard.db import check_schema

                check_schema(database.engine)
            services = build_services(settings, database=database, artifacts_uri=artifacts_uri)
        except BaseException:
            database.dispose()
            raise
    try:
        _before_workers_start(services, workers)
    finally:
        database.dispose()
    os.environ["SHIPYARD_STORE_URI"] = store_uri
    os.environ["SHIPYARD_ARTIFACTS_URI"] = artifacts_uri
    os.environ["SHIPYARD_AUTH"] = "1" if settings.auth else "0"
    if not settings.allowed_hosts and not loopback:
        os.environ["SHIPYARD_ALLOWED_HOSTS"] = ",".join(hosts_for_bind(host, ()))
    url = f"http://{host}:{port}"
    sign_in = "sign-in required" if settings.auth else "no sign-in"
    typer.echo(
        f"Shipyard server listening on {url}  (web UI: {url}/ , store: {_redact(store_uri)}, {sign_in})", err=True
    )
    os.environ["SHIPYARD_SERVER_WORKERS"] = str(workers)
    os.environ[SCHEMA_CHECKED_ENV] = "1"  # migrated (or checked) once above: workers skip it
    if workers > 1:
        from shipyard.cli._workers import exec_supervisor

        exec_supervisor(host=host, port=port, workers=workers, log_level=log_level)  # never returns
    uvicorn.run(
        "shipyard.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
    )


def _check_settings(settings: Settings) -> None:
    """Stop with one line, before any worker starts, when a setting cannot work."""
    from shipyard.auth import Level
    from shipyard.errors import ShipyardError

    try:
        Level.parse(settings.auth_default_permission)
    except ShipyardError as exc:
        typer.echo(f"error: SHIPYARD_AUTH_DEFAULT_PERMISSION: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _before_workers_start(services: Services, workers: int) -> None:
    """What is done once, not in every worker: an admin to sign in with, and the connection budget's check."""
    from shipyard.db import connection_budget_warning, resolved_connection_budget

    database, settings = services.database, services.settings
    if settings.auth:
        _ensure_an_admin(services.accounts)
    warning = connection_budget_warning(database, workers, settings.db_connection_budget)
    if warning:
        typer.echo(f"WARNING: {warning}", err=True)
    budget = resolved_connection_budget(database, settings.db_connection_budget)
    if budget is not None:  # read max_connections once here, not once in every worker
        os.environ["SHIPYARD_DB_CONNECTIONS"] = str(budget)


def _check_healthcheck_budget() -> None:
    value = os.environ.get("SHIPYARD_WORKER_HEALTHCHECK_S", "").strip()
    if value and not (value.isdigit() and int(value) > 0):
        typer.echo(
            f"error: SHIPYARD_WORKER_HEALTHCHECK_S must be a whole number of seconds above 0, not {value!r}.", err=True
        )
        raise typer.Exit(2)


def _ensure_an_admin(accounts: AuthService) -> None:
    """With sign-in on, make sure someone can sign in: an admin from the environment, or stop with a hint."""
    from shipyard.errors import ShipyardError

    if accounts.count_users() > 0:
        return
    username = os.environ.get("SHIPYARD_ADMIN_USERNAME", "")
    password = os.environ.get("SHIPYARD_ADMIN_PASSWORD", "")
    if username and password:
        try:
            accounts.create_user(username, password, is_admin=True, actor="server-start")
        except ShipyardError as exc:
            typer.echo(
                f"error: cannot create the admin from SHIPYARD_ADMIN_USERNAME/_PASSWORD: {exc.message}", err=True
            )
            raise typer.Exit(2) from None
        typer.echo(f"Created admin user {username!r} from SHIPYARD_ADMIN_USERNAME/SHIPYARD_ADMIN_PASSWORD.", err=True)
        return
    typer.echo(
        "error: sign-in is on but no account exists yet. Create an admin first: `shipyard users create NAME "
        "--admin` (same --store), or set SHIPYARD_ADMIN_USERNAME and SHIPYARD_ADMIN_PASSWORD for the first start.",
        err=True,
    )
    raise typer.Exit(2)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<store>"
