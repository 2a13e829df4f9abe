"""What every CLI command shares: the backend from the tracking URI, tables, and error display."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console

from shipyard.client import Backend, open_backend
from shipyard.config import Settings
from shipyard.errors import ShipyardError

__all__ = ["TrackingUri", "backend_for", "console", "format_ms", "handle_errors"]


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


@contextlib.contextmanager
def backend_for(tracking_uri: str | None) -> Iterator[Backend]:
    """Open the backend the URI names and close it afterwards; errors print as one red line."""
    settings = Settings.from_env()
    if tracking_uri is not None:
        settings = settings.with_overrides(tracking_uri=tracking_uri)
    with handle_errors():
        backend = open_backend(settings)
        try:
            yield backend
        finally:
            backend.close()


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
