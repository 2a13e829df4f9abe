"""``shipyard server``: run the tracking server and web UI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from shipyard.config import Settings

__all__ = ["server"]


def server(
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the server private.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
    store: Annotated[str | None, typer.Option(help="Metadata store URL (sqlite:///… or postgresql://…).")] = None,
    artifacts: Annotated[
        str | None, typer.Option(help="Artifact root: a folder, file:// or s3://bucket/prefix URI.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve MLflow's REST API, the artifact proxy and the web UI."""
    import uvicorn

    from shipyard.db import open_database

    settings = Settings.from_env().with_overrides(store_uri=store, artifacts_uri=artifacts)
    store_uri = settings.resolved_store_uri
    artifacts_uri = settings.resolved_artifacts_uri
    if "://" not in artifacts_uri:
        artifacts_uri = str(Path(artifacts_uri).absolute())
    # Migrate once here, before workers start, so they do not race on the schema.
    open_database(store_uri).dispose()
    os.environ["SHIPYARD_STORE_URI"] = store_uri
    os.environ["SHIPYARD_ARTIFACTS_URI"] = artifacts_uri
    url = f"http://{host}:{port}"
    typer.echo(f"Shipyard server listening on {url}  (web UI: {url}/ , store: {_redact(store_uri)})", err=True)
    uvicorn.run(
        "shipyard.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
    )


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<store>"
