"""What tracking adds: experiments, runs and their tables, MLflow's REST API, the run pages and their commands."""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry, NavEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="tracking",
    tables="shipyard.tracking.tables",
    # MLflow's REST API is one protocol with one dispatcher: the registry's, webhooks' and the artifact proxy's
    # MLflow routes come with tracking's.
    routes=("shipyard.server.mlflow_api:mlflow_routes",),
    pages=("shipyard.server.ui.routes:tracking_pages",),
    nav=(NavEntry("Experiments", "/", 10),),
    cli=(
        CliEntry("sync", "shipyard.cli.sync:sync"),
        CliEntry("experiments", "shipyard.cli.experiments:app"),
        CliEntry("runs", "shipyard.cli.runs:app"),
        CliEntry("runs reproduce", "shipyard.cli.reproduce:reproduce"),
    ),
    resource_types=("experiment",),
)
