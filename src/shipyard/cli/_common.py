"""What every CLI command shares: the backend from the tracking URI, tables, and error display."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console

from shipyard.client import Backend, open_backend
from shipyard.client._transport import local_user
from shipyard.client.ports import Clients, open_clients
from shipyard.config import Settings
from shipyard.errors import ShipyardError

__all__ = [
    "TrackingUri",
    "backend_for",
    "cli_actor",
    "clients_for",
    "console",
    "err_console",
    "format_ms",
    "handle_errors",
    "settings_for",
]


class _Console:
    """A rich Console made afresh for each use.

    rich fixes a console's width when it is created (from ``COLUMNS`` or the terminal); a module-level console
    would keep the width of whatever environment first imported the CLI, truncating tables later on.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(Console(stderr=self._stderr), name)


console: Any = _Console()
err_console: Any = _Console(stderr=True)

TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        "-u",
        envvar="SHIPYARD_TRACKING_URI",
        help="Server URL (http://…) or store URL; the embedded store under SHIPYARD_HOME by default.",
    ),
]


def settings_for(tracking_uri: str | None) -> Settings:
    """The settings from the environment, with ``--tracking-uri`` (when given) in place of the variables'."""
    settings = Settings.from_env()
    return settings if tracking_uri is None else settings.with_overrides(tracking_uri=tracking_uri)


def cli_actor() -> str:
    """Who a command makes changes as, in-process (``cli:ada``), for audit trails and events."""
    return f"cli:{local_user()}"


@contextlib.contextmanager
def backend_for(tracking_uri: str | None) -> Iterator[Backend]:
    """Open the backend the URI names and close it afterwards; errors print as one red line."""
    settings = settings_for(tracking_uri)
    with handle_errors():
        backend = open_backend(settings)
        try:
            yield backend
        finally:
            backend.close()


@contextlib.contextmanager
def clients_for(
    tracking_uri: str | None = None, *, server: str | None = None, store: str | None = None
) -> Iterator[Clients]:
    """The capability clients a command names, closed afterwards; errors print as one red line.

    Args:
        tracking_uri: ``--tracking-uri``: a server (REST) or a store; the environment's when None.
        server: ``--server``: ask this server, whatever else is set.
        store: ``--store``: open this store in-process, even if the tracking URI names a server.
    """
    with handle_errors():
        clients = open_clients(settings_for(tracking_uri), server=server, store_uri=store, actor=cli_actor())
        try:
            yield clients
        finally:
            clients.close()


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Show a Shipyard error as its message (no traceback) and exit with status 1."""
    try:
        yield
    except ShipyardError as exc:
        from rich.markup import escape

        err_console.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False)
        raise typer.Exit(1) from None


def format_ms(value: int | None) -> str:
    """Epoch milliseconds as a readable UTC time."""
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
