"""The ``shipyard`` command line: one Typer app with a module per area (the console script is ``cli.main:main``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.cli.main import app

__all__ = ["app"]

_LAZY = {"app": "shipyard.cli.main"}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
