"""What events add: the outbox and webhook tables, the delivery log's route and ``shipyard webhooks`` (the webhooks
themselves are MLflow routes, which come with tracking's: they share one dispatcher)."""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="events",
    tables="shipyard.events.tables",
    routes=("shipyard.server.api.webhooks:router",),  # the delivery log; the webhooks are MLflow's routes
    cli=(CliEntry("webhooks", "shipyard.cli.webhooks:app"),),
)
