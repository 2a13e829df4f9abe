"""The model registry: logged models, registered models, versions, tags, aliases and stages.

The names are imported on first use, so reading an entity loads no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.registry.card import model_card_markdown
    from shipyard.registry.entities import (
        LoggedModel,
        LoggedModelStatus,
        ModelVersion,
        ModelVersionStatus,
        RegisteredModel,
        Stage,
    )
    from shipyard.registry.lineage import ModelLineage, model_lineage
    from shipyard.registry.service import RegistryService
    from shipyard.registry.uris import ModelUri, parse_model_uri

__all__ = [
    "LoggedModel",
    "LoggedModelStatus",
    "ModelLineage",
    "ModelUri",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RegistryService",
    "Stage",
    "model_card_markdown",
    "model_lineage",
    "parse_model_uri",
]

_LAZY = {
    "LoggedModel": "shipyard.registry.entities",
    "LoggedModelStatus": "shipyard.registry.entities",
    "ModelVersion": "shipyard.registry.entities",
    "ModelVersionStatus": "shipyard.registry.entities",
    "RegisteredModel": "shipyard.registry.entities",
    "Stage": "shipyard.registry.entities",
    "RegistryService": "shipyard.registry.service",
    "ModelUri": "shipyard.registry.uris",
    "parse_model_uri": "shipyard.registry.uris",
    "ModelLineage": "shipyard.registry.lineage",
    "model_lineage": "shipyard.registry.lineage",
    "model_card_markdown": "shipyard.registry.card",
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
