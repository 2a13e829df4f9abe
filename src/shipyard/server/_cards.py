"""A version's model card as the server shows it (the native API and the UI share this)."""

from __future__ import annotations

from shipyard.models import ModelSummary, summarize_mlmodel
from shipyard.registry.card import model_card_markdown, read_version_file
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage
from shipyard.server._context import AppContext

__all__ = ["version_card", "version_facts"]


def version_facts(ctx: AppContext, mv: ModelVersion) -> ModelSummary | None:
    """Flavor and signature from the version's ``MLmodel`` file, when its files are in this server's store."""
    return summarize_mlmodel(read_version_file(ctx.artifacts, mv.storage_location or mv.source))


def version_card(ctx: AppContext, lineage: ModelLineage) -> str:
    """The model card of the lineage's version."""
    return model_card_markdown(lineage, version_facts(ctx, lineage.version))
