"""What monitoring adds: monitor tables, ``/api/v1/monitors``, the monitoring pages, its commands and alerts."""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry, NavEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="monitoring",
    tables="shipyard.monitoring.tables",
    routes=("shipyard.server.api.monitors:router",),
    pages=("shipyard.server.ui.routes:monitoring_pages",),
    nav=(NavEntry("Monitoring", "/monitoring", 30),),
    cli=(
        CliEntry("drift", "shipyard.cli.drift:drift"),
        CliEntry("monitors", "shipyard.cli.monitors:app"),
    ),
    event_kinds=("alert.fired", "alert.resolved"),
)
