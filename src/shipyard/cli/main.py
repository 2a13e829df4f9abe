"""The ``shipyard`` command: one Typer app, with each capability's commands from the capability registry."""

from __future__ import annotations

import typer

from shipyard._capabilities import CliEntry, capabilities, resolve
from shipyard._version import __version__
from shipyard.cli import db
from shipyard.cli.tracking_server import server

__all__ = ["app", "build_cli", "main"]


def version() -> None:
    """Print Shipyard's version."""
    typer.echo(__version__)


def build_cli() -> typer.Typer:
    """The ``shipyard`` app: ``server``, then every capability's commands in registry order, then ``db`` and
    ``version``."""
    root = typer.Typer(
        name="shipyard",
        help="Shipyard: track, register, serve and monitor models.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.command()(server)
    groups: dict[str, typer.Typer] = {}
    for capability in capabilities():
        for entry in capability.cli:
            _add(root, groups, entry)
    root.add_typer(db.app, name="db")
    root.command()(version)
    return root


def _add(root: typer.Typer, groups: dict[str, typer.Typer], entry: CliEntry) -> None:
    """Add one entry: a Typer app as a group, a function as a command; ``"runs reproduce"`` goes into ``runs``."""
    target = resolve(entry.target)
    parent_name, _, name = entry.name.rpartition(" ")
    if parent_name and parent_name not in groups:
        raise LookupError(f"CLI entry {entry.name!r}: no group {parent_name!r} was declared before it.")
    parent = groups[parent_name] if parent_name else root
    if isinstance(target, typer.Typer):
        parent.add_typer(target, name=name)
        groups[entry.name] = target
    elif not any(command.name == name for command in parent.registered_commands):  # a group is built once per app
        parent.command(name)(target)


app = build_cli()


def main() -> None:
    """Entry point of the ``shipyard`` console script."""
    app()
