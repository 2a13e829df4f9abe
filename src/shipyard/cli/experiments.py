"""``shipyard experiments``: list, create, rename, delete and restore experiments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, backend_for, console, format_ms
from shipyard.tracking.entities import ViewType

__all__ = ["app"]

app = typer.Typer(help="Manage experiments.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    tracking_uri: TrackingUri = None,
    view: Annotated[ViewType, typer.Option(help="Which lifecycle stages to show.")] = ViewType.ACTIVE_ONLY,
    filter_string: Annotated[str | None, typer.Option("--filter", help="e.g. \"name LIKE 'iris%'\"")] = None,
) -> None:
    """List experiments."""
    with backend_for(tracking_uri) as backend:
        found, _ = backend.search_experiments(view, filter_string, ["name ASC"], 1000, None)
    table = Table("id", "name", "stage", "created", "artifact location", title="Experiments")
    for exp in found:
        table.add_row(
            exp.experiment_id, exp.name, exp.lifecycle_stage, format_ms(exp.creation_time_ms), exp.artifact_location
        )
    console.print(table)


@app.command()
def create(name: str, tracking_uri: TrackingUri = None) -> None:
    """Create an experiment and print its id."""
    with backend_for(tracking_uri) as backend:
        typer.echo(backend.create_experiment(name))


@app.command()
def delete(experiment_id: str, tracking_uri: TrackingUri = None) -> None:
    """Soft-delete an experiment (its runs too); `restore` undoes it."""
    with backend_for(tracking_uri) as backend:
        backend.delete_experiment(experiment_id)
    typer.echo(f"Deleted experiment {experiment_id}.")


@app.command()
def restore(experiment_id: str, tracking_uri: TrackingUri = None) -> None:
    """Restore a soft-deleted experiment and its runs."""
    with backend_for(tracking_uri) as backend:
        backend.restore_experiment(experiment_id)
    typer.echo(f"Restored experiment {experiment_id}.")


@app.command()
def rename(experiment_id: str, new_name: str, tracking_uri: TrackingUri = None) -> None:
    """Give an experiment a new name."""
    with backend_for(tracking_uri) as backend:
        backend.rename_experiment(experiment_id, new_name)
    typer.echo(f"Renamed experiment {experiment_id} to {new_name!r}.")
