"""MLflow's REST wire format: entities to and from MLflow's JSON shapes, shared by server and client.

One module per area; each is the one place its JSON shapes are written and read.
"""

from __future__ import annotations

from shipyard.wire import auth, registry, tracking

__all__ = ["auth", "registry", "tracking"]
