"""Model serving: deployments of registry models behind the Open Inference Protocol (v2) and MLflow's scoring
protocol, with adaptive batching, traffic splits, shadows, blue-green switches, a prediction log and batch scoring.

Everything is imported on first use: the specs need pydantic, and the server (``create_deployment_app``,
``create_serving_app``, ``ServingConfig``) needs the ``serving`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.serving.app import ServingConfig, create_deployment_app, create_serving_app
    from shipyard.serving.rollout._revision import ResolvedModel, Revision
    from shipyard.serving.rollout.deployment import DeploymentSpec, load_spec, parse_spec
    from shipyard.serving.runtime._batcher import BatchingConfig
    from shipyard.serving.runtime._runtime import ModelProvider

__all__ = [
    "BatchingConfig",
    "DeploymentSpec",
    "ModelProvider",
    "ResolvedModel",
    "Revision",
    "ServingConfig",
    "create_deployment_app",
    "create_serving_app",
    "load_spec",
    "parse_spec",
]

_LAZY = {
    "DeploymentSpec": "shipyard.serving.rollout.deployment",
    "load_spec": "shipyard.serving.rollout.deployment",
    "parse_spec": "shipyard.serving.rollout.deployment",
    "ResolvedModel": "shipyard.serving.rollout._revision",
    "Revision": "shipyard.serving.rollout._revision",
    "BatchingConfig": "shipyard.serving.runtime._batcher",
    "ModelProvider": "shipyard.serving.runtime._runtime",
    "ServingConfig": "shipyard.serving.app",
    "create_deployment_app": "shipyard.serving.app",
    "create_serving_app": "shipyard.serving.app",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())
