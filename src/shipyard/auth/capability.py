"""What accounts and permissions add: their tables, ``/api/v1`` account routes, the sign-in and account pages,
``shipyard users`` and ``tokens``, and their audit events (the resource types grants name come from the others)."""

from __future__ import annotations

from shipyard._capabilities import Capability, CliEntry

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="auth",
    tables="shipyard.auth.tables",
    routes=("shipyard.server.api.accounts:router",),
    pages=("shipyard.server.ui.routes:account_pages",),
    cli=(
        CliEntry("users", "shipyard.cli.accounts:users_app"),
        CliEntry("tokens", "shipyard.cli.accounts:tokens_app"),
    ),
    event_kinds=("user.*", "token.*", "permission.*"),
)
