"""How traffic moves between model versions: deployment specs, their revisions, the A/B analysis and the bandit.

The specs and revisions load nothing heavy; the analysis (numpy, scipy) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports
from shipyard.serving.rollout._state import ResolvedModel, Revision
from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec, load_spec, parse_spec

if TYPE_CHECKING:
    from shipyard.serving.rollout._abtest import analyse_deployment, bandit_weights
    from shipyard.serving.rollout.analysis import Analysis, ThompsonAllocator, VariantSummary, Verdict, analyse

__all__ = [
    "Analysis",
    "DeploymentSpec",
    "ResolvedModel",
    "Revision",
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
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
