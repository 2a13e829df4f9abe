"""Shipyard's native REST API (``/api/v1``): one FastAPI router per area, every route guarded and documented.

Each capability names its router in its ``capability.py`` (``shipyard.server.api.models:router``), and
``create_app`` includes it; `native_routers` lists them all, for tests and for embedding the API elsewhere.
"""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.server.api import accounts, models, monitors, webhooks

__all__ = ["native_routers"]


def native_routers() -> list[APIRouter]:
    """Every router of the native API (registry, monitors, accounts, webhook deliveries)."""
    return [models.router, monitors.router, accounts.router, webhooks.router]
