"""The REST wire format: entities to and from their JSON shapes (MLflow's where MLflow has one), shared by the
server, the CLI and the REST client.

One module per area; each is the one place its JSON shapes are written and read. ``wire`` sits above the
capabilities (it knows their entities) and below the interfaces; no capability imports it. The modules are imported
on first use, so reading tracking's shapes does not load the monitoring or auth entities.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.wire import auth, monitoring, registry, tracking, webhooks

__all__ = ["auth", "monitoring", "registry", "tracking", "webhooks"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
