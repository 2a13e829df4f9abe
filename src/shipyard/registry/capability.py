"""What the registry adds: model tables, the native model routes, the model pages, ``shipyard models``, events."""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry, NavEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="registry",
    tables="shipyard.registry.tables",
    routes=("shipyard.server.api.models:router",),  # its MLflow routes come with tracking's (one dispatcher)
    pages=("shipyard.server.ui.routes:registry_pages",),
    nav=(NavEntry("Models", "/models", 20),),
    cli=(CliEntry("models", "shipyard.cli.models:app"),),
    resource_types=("registered_model",),
    event_kinds=(
        "registered_model.*",
        "registered_model_tag.*",
        "model_version.*",
        "model_version_tag.*",
        "model_version_alias.*",
    ),
)
