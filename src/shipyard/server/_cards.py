"""A version's model card as the server shows it (the native API and the UI share this)."""

from __future__ import annotations

import logging

from shipyard.models import ModelSummary, summarize_mlmodel
from shipyard.registry.card import model_card_markdown, read_version_file
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage
from shipyard.server._context import AppContext

__all__ = ["version_card", "version_facts"]

_log = logging.getLogger("shipyard.server")
_MAX_COLUMNS = 1000  # a card or page lists at most this many signature columns per part


def version_facts(ctx: AppContext, mv: ModelVersion) -> ModelSummary | None:
    """Flavor and signature from the version's ``MLmodel`` file, when its files are in this server's store.

    The file is whatever the uploader wrote: it is only ever parsed as data (``yaml.safe_load``, JSON), never
    loaded as a model, and a file that cannot be understood (hostile or just broken) gives None, so the pages
    and the card still show everything else.
    """
    text = read_version_file(ctx.artifacts, mv.storage_location or mv.source)
    try:
        summary = summarize_mlmodel(text)
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        _log.warning("unreadable MLmodel for %s version %s: %s", mv.name, mv.version, type(exc).__name__)
        return None
    return None if summary is None else _as_text(summary)


def _as_text(summary: ModelSummary) -> ModelSummary:
    """The summary with every name and type a string (a hand-written MLmodel may put anything there)."""

    def columns(specs: tuple[tuple[object, object, object], ...]) -> tuple[tuple[str, str, bool], ...]:
        return tuple(
            ("" if name is None else str(name), str(kind), bool(required))
            for name, kind, required in specs[:_MAX_COLUMNS]
        )

    return ModelSummary(str(summary.flavor), columns(summary.inputs), columns(summary.outputs))


def version_card(ctx: AppContext, lineage: ModelLineage) -> str:
    """The model card of the lineage's version."""
    return model_card_markdown(lineage, version_facts(ctx, lineage.version))
