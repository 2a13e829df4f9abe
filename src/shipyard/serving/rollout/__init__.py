"""How traffic moves between versions: deployment specs, their revisions and stores, the A/B analysis, the bandit.

Everything is imported on first use: the specs need pydantic, the stores SQLAlchemy, the analysis numpy and scipy,
so that reading the package (its tables, for Alembic) loads none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.serving.rollout._abtest import analyse_deployment, bandit_weights
    from shipyard.serving.rollout._revision import ResolvedModel, Revision
    from shipyard.serving.rollout._store import DeploymentStore, InMemoryDeploymentStore, RevisionStore
    from shipyard.serving.rollout.analysis import Analysis, ThompsonAllocator, VariantSummary, Verdict, analyse
    from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec, load_spec, parse_spec

__all__ = [
    "Analysis",
    "DeploymentSpec",
    "DeploymentStore",
    "InMemoryDeploymentStore",
    "ResolvedModel",
    "Revision",
    "RevisionStore",
    "RouteSpec",
    "ThompsonAllocator",
    "VariantSummary",
    "Verdict",
    "analyse",
    "analyse_deployment",
    "bandit_weights",
    "load_spec",
    "parse_spec",
]

_LAZY = {
    "DeploymentSpec": "shipyard.serving.rollout.deployment",
    "RouteSpec": "shipyard.serving.rollout.deployment",
    "load_spec": "shipyard.serving.rollout.deployment",
    "parse_spec": "shipyard.serving.rollout.deployment",
    "ResolvedModel": "shipyard.serving.rollout._revision",
    "Revision": "shipyard.serving.rollout._revision",
    "Analysis": "shipyard.serving.rollout.analysis",
    "ThompsonAllocator": "shipyard.serving.rollout.analysis",
    "VariantSummary": "shipyard.serving.rollout.analysis",
    "Verdict": "shipyard.serving.rollout.analysis",
    "analyse": "shipyard.serving.rollout.analysis",
    "analyse_deployment": "shipyard.serving.rollout._abtest",
    "bandit_weights": "shipyard.serving.rollout._abtest",
    "DeploymentStore": "shipyard.serving.rollout._store",
    "InMemoryDeploymentStore": "shipyard.serving.rollout._store",
    "RevisionStore": "shipyard.serving.rollout._store",
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
