"""What serving adds: the deployment revision tables, ``shipyard serve``, ``predict`` and ``deployments``, and the
deployment grants it checks.

Serving is its own ASGI app (``shipyard serve``), so it mounts nothing on the tracking server.
"""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="serving",
    tables="shipyard.serving.tables",
    cli=(
        CliEntry("serve", "shipyard.cli.serve_models:serve"),
        CliEntry("predict", "shipyard.cli.predict:predict"),
        CliEntry("deployments", "shipyard.cli.deployments:app"),
    ),
    resource_types=("deployment",),
)
