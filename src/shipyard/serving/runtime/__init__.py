"""A deployment at run time: the loaded models, their adaptive batchers, the traffic router, the metrics, and the
worker processes that serve them.

Everything here needs the ``serving`` extra and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.serving.runtime._batcher import AdaptiveBatcher, BatcherStats, BatchingConfig
    from shipyard.serving.runtime._config import Authorizer, ModelAuthorizer, ServingConfig
    from shipyard.serving.runtime._follow import alias_event_consumer
    from shipyard.serving.runtime._metrics import ServingMetrics
    from shipyard.serving.runtime._router import Router
    from shipyard.serving.runtime._runtime import DeploymentRuntime, ModelProvider, metadata_of
    from shipyard.serving.runtime.workers import run_server

__all__ = [
    "AdaptiveBatcher",
    "Authorizer",
    "BatcherStats",
    "BatchingConfig",
    "DeploymentRuntime",
    "ModelAuthorizer",
    "ModelProvider",
    "Router",
    "ServingConfig",
    "ServingMetrics",
    "alias_event_consumer",
    "metadata_of",
    "run_server",
]

_LAZY = {
    "DeploymentRuntime": "shipyard.serving.runtime._runtime",
    "ModelProvider": "shipyard.serving.runtime._runtime",
    "metadata_of": "shipyard.serving.runtime._runtime",
    "AdaptiveBatcher": "shipyard.serving.runtime._batcher",
    "BatcherStats": "shipyard.serving.runtime._batcher",
    "BatchingConfig": "shipyard.serving.runtime._batcher",
    "Router": "shipyard.serving.runtime._router",
    "ServingMetrics": "shipyard.serving.runtime._metrics",
    "Authorizer": "shipyard.serving.runtime._config",
    "ModelAuthorizer": "shipyard.serving.runtime._config",
    "ServingConfig": "shipyard.serving.runtime._config",
    "run_server": "shipyard.serving.runtime.workers",
    "alias_event_consumer": "shipyard.serving.runtime._follow",
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
