"""How traffic moves between versions: deployment specs, their revisions and stores, the A/B analysis, the bandit.

The specs and revisions load nothing heavy; the stores (SQLAlchemy) and the analysis (numpy, scipy) are imported
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports
from shipyard.serving.rollout._revision import ResolvedModel, Revision
from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec, load_spec, parse_spec

if TYPE_CHECKING:
    from shipyard.serving.rollout._abtest import analyse_deployment, bandit_weights
    from shipyard.serving.rollout._store import DeploymentStore, InMemoryDeploymentStore, RevisionStore
    from shipyard.serving.rollout.analysis import Analysis, ThompsonAllocator, VariantSummary, Verdict, analyse

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
