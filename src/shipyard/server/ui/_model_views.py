"""Plain data the registry pages show: model rows, history entries, signature rows and lineage links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shipyard.events import Event
from shipyard.registry.card import ModelFacts
from shipyard.registry.entities import ModelVersion, RegisteredModel, Stage
from shipyard.server.ui._artifacts import Node

__all__ = [
    "STAGES",
    "ChainLink",
    "FileRow",
    "HistoryEntry",
    "ModelRow",
    "SignatureRow",
    "chain_links",
    "file_rows",
    "history_entries",
    "model_row",
    "model_url",
    "signature_rows",
    "version_url",
    "versions_filter",
]

STAGES = tuple(stage.value for stage in Stage)
_WHAT = {
    "registered_model.created": "model created",
    "registered_model.renamed": "model renamed",
    "registered_model.updated": "description changed",
    "registered_model.deleted": "model deleted",
    "registered_model_tag.set": "model tag set",
    "registered_model_tag.deleted": "model tag removed",
    "model_version.created": "version registered",
    "model_version.updated": "version description changed",
    "model_version.deleted": "version deleted",
    "model_version.stage_changed": "stage changed",
    "model_version_alias.created": "alias set",
    "model_version_alias.moved": "alias moved",
    "model_version_alias.deleted": "alias removed",
    "model_version_tag.set": "version tag set",
    "model_version_tag.deleted": "version tag removed",
}

# Changes whose from → to says something; for the rest (a version registered, a tag set) the payload is the news.
_SHOWS_CHANGE = frozenset(
    {
        "registered_model.renamed",
        "model_version.stage_changed",
        "model_version_alias.created",
        "model_version_alias.moved",
        "model_version_alias.deleted",
    }
)


def model_url(name: str) -> str:
    """The model page's path (model names may hold spaces, ``?``, ``#`` and ``%``, but never ``/``)."""
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: int | str) -> str:
    """The version page's path."""
    return f"{model_url(name)}/versions/{version}"


def versions_filter(name: str) -> str:
    """The search filter for every version of one model, with the name quoted for the filter grammar."""
    return "name = '" + name.replace("'", "''") + "'"


@dataclass(frozen=True)
class ModelRow:
    """One line of the models list."""

    name: str
    latest_version: int | None
    aliases: list[tuple[str, int]]
    stages: list[tuple[str, int]]
    last_updated_ms: int
    description: str


def model_row(model: RegisteredModel) -> ModelRow:
    """The models-list line of a registered model: its newest version, aliases and versions in a live stage."""
    latest = max((v.version for v in model.latest_versions), default=None)
    stages = sorted(
        ((v.current_stage, v.version) for v in model.latest_versions if v.current_stage != Stage.NONE.value),
        key=lambda pair: STAGES.index(pair[0]) if pair[0] in STAGES else len(STAGES),
    )
    return ModelRow(
        name=model.name,
        latest_version=latest,
        aliases=sorted(model.aliases.items()),
        stages=stages,
        last_updated_ms=model.last_updated_time_ms,
        description=model.description or "",
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One change in a model's history timeline."""

    occurred_at_ms: int
    actor: str
    what: str
    subject: str
    version: str
    from_value: str
    to_value: str
    reason: str


def _subject(event: Event) -> str:
    """What the change was about besides the version: the alias or tag key, when there is one."""
    payload: dict[str, Any] = event.payload
    for key in ("alias", "key"):
        if payload.get(key):
            return str(payload[key])
    return ""


def history_entries(events: Iterable[Event]) -> list[HistoryEntry]:
    """Registry events as timeline entries, in the order given (the service returns newest first)."""
    return [
        HistoryEntry(
            occurred_at_ms=e.occurred_at_ms,
            actor=e.actor,
            what=_WHAT.get(e.kind, e.kind),
            subject=_subject(e),
            version=e.version or "",
            from_value=(e.from_value or "") if e.kind in _SHOWS_CHANGE else "",
            to_value=(e.to_value or "") if e.kind in _SHOWS_CHANGE else "",
            reason=e.reason or "",
        )
        for e in events
    ]


@dataclass(frozen=True)
class SignatureRow:
    """One column of a model signature."""

    part: str
    name: str
    type: str
    required: bool


def signature_rows(facts: ModelFacts | None) -> list[SignatureRow]:
    """Inputs then outputs of a version's signature, one row per column."""
    if facts is None:
        return []
    return [
        SignatureRow(part, name or "—", kind, required)
        for part, specs in (("inputs", facts.inputs), ("outputs", facts.outputs))
        for name, kind, required in specs
    ]


@dataclass(frozen=True)
class ChainLink:
    """One step of a version's lineage chain, with the page it links to (empty when it has none)."""

    kind: str
    title: str
    label: str
    href: str


_CHAIN_LABELS = {
    "dataset": "Dataset",
    "code": "Code",
    "run": "Run",
    "logged_model": "Logged model",
    "model_version": "Model version",
}


def chain_links(chain: Sequence[tuple[str, str]], run_id: str | None, version: ModelVersion) -> list[ChainLink]:
    """The lineage chain with links: data and code to their sections of the run page, the run to its page."""
    run_page = f"/runs/{quote(run_id, safe='')}" if run_id else ""
    anchors = {
        "dataset": f"{run_page}#inputs" if run_page else "",
        "code": f"{run_page}#lineage" if run_page else "",
        "run": run_page,
        "logged_model": "",
        "model_version": version_url(version.name, version.version),
    }
    return [ChainLink(kind, _CHAIN_LABELS.get(kind, kind), label, anchors.get(kind, "")) for kind, label in chain]


@dataclass(frozen=True)
class FileRow:
    """One file of a version's folder, with the path the raw route serves it under."""

    path: str
    size_bytes: int | None
    raw_path: str


def file_rows(nodes: Iterable[Node], prefix: str = "") -> list[FileRow]:
    """The files of an artifact tree, depth first; ``prefix`` turns a folder-relative path into the raw route's."""
    rows: list[FileRow] = []
    for node in nodes:
        if node.is_dir:
            rows.extend(file_rows(node.children, prefix))
        else:
            rows.append(FileRow(node.path, node.size_bytes, f"{prefix}{node.path}"))
    return rows
