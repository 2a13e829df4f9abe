"""The ``shipyard`` command: one Typer app with a module per area."""

from __future__ import annotations

import typer

from shipyard._version import __version__
from shipyard.cli import accounts, db, deployments, drift, experiments, models, monitors, reproduce, runs, webhooks
from shipyard.cli.predict import predict
from shipyard.cli.serve_models import serve
from shipyard.cli.sync import sync
from shipyard.cli.tracking_server import server

__all__ = ["app", "main"]

app = typer.Typer(
    name="shipyard",
    help="Shipyard: track, register, serve and monitor models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(server)
app.command()(serve)
app.command()(predict)
app.command()(drift.drift)
app.command()(sync)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(accounts.users_app, name="users")
app.add_typer(accounts.tokens_app, name="tokens")
app.add_typer(deployments.app, name="deployments")
app.add_typer(monitors.app, name="monitors")
app.add_typer(db.app, name="db")
runs.app.command("reproduce")(reproduce.reproduce)


@app.command()
def version() -> None:
    """Print Shipyard's version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``shipyard`` console script."""
    app()
