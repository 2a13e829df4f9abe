"""A version's model card as the server shows it (the native API and the UI share this).

The card and the guard against a hostile ``MLmodel`` are `shipyard.registry.card`'s; this binds them to the
server's artifact store and the model format's reader.
"""

from __future__ import annotations

from shipyard.models import summarize_mlmodel
from shipyard.registry.card import CardFacts
from shipyard.registry.card import version_card as _version_card
from shipyard.registry.card import version_facts as _version_facts
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage
from shipyard.server._context import AppContext

__all__ = ["version_card", "version_facts"]


def version_facts(ctx: AppContext, mv: ModelVersion) -> CardFacts | None:
    """Flavor and signature from the version's ``MLmodel`` file, when its files are in this server's store."""
    return _version_facts(ctx.artifacts, mv, summarize_mlmodel)


def version_card(ctx: AppContext, lineage: ModelLineage) -> str:
    """The model card of the lineage's version."""
    return _version_card(ctx.artifacts, lineage, summarize_mlmodel)
