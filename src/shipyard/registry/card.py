"""Model cards: a version's compliance record in Markdown, generated from what the platform knows.

One implementation for every interface: the server's native API and UI (``server/_cards.py``) and the SDK's
embedded backend build a card with `version_card`, which reads the version's ``MLmodel`` through
`version_facts` and so survives a hostile or broken file the same way everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shipyard.artifacts import ArtifactStore
from shipyard.errors import ShipyardError
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage
from shipyard.registry.service import CARD_PREFIX
from shipyard.tracking.service import ARTIFACT_SCHEME, artifact_key

__all__ = [
    "CARD_FIELDS",
    "CardFacts",
    "ModelFacts",
    "Summarize",
    "model_card_markdown",
    "read_version_file",
    "version_card",
    "version_facts",
]

CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owners")
_MISSING = "_Not provided. Set it with `shipyard models card NAME/VERSION --{flag} TEXT`._"
_MAX_COLUMNS = 1000  # a card or page lists at most this many signature columns per part
_log = logging.getLogger("shipyard.registry")


class ModelFacts(Protocol):
    """What a version's own files say, for its card: `shipyard.models.summarize_mlmodel` gives one.

    A protocol, because the model format sits above the registry: the registry never imports it.
    """

    @property
    def flavor(self) -> str:
        """The primary flavor (``sklearn``, ``onnx``, …)."""
        ...

    @property
    def inputs(self) -> Sequence[tuple[str, str, bool]]:
        """``(name, type, required)`` per input column or tensor."""
        ...

    @property
    def outputs(self) -> Sequence[tuple[str, str, bool]]:
        """The same for outputs."""
        ...


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What a version's ``MLmodel`` says, every name and type a string (a `ModelFacts`).

    Attributes:
        flavor: the primary flavor.
        inputs: ``(name, type, required)`` per input column or tensor, at most 1000.
        outputs: the same for outputs.
    """

    flavor: str
    inputs: tuple[tuple[str, str, bool], ...] = ()
    outputs: tuple[tuple[str, str, bool], ...] = ()


#: Reads an ``MLmodel`` file's text (None: no file): `shipyard.models.summarize_mlmodel`.
Summarize = Callable[[str | None], ModelFacts | None]


def read_version_file(
    artifacts: ArtifactStore, location: str, name: str = "MLmodel", max_bytes: int = 1 << 20
) -> str | None:
    """The text of one file of a version's folder, when the folder is in ``artifacts`` (else None)."""
    if not location.startswith(ARTIFACT_SCHEME):
        return None
    try:
        with artifacts.open_read(f"{artifact_key(location)}/{name}") as handle:
            return handle.read(max_bytes).decode("utf-8", errors="replace")
    except ShipyardError:  # missing file, or a location this store cannot address
        return None


def version_facts(artifacts: ArtifactStore, mv: ModelVersion, summarize: Summarize) -> CardFacts | None:
    """Flavor and signature from the version's ``MLmodel`` file, when its files are in ``artifacts``.

    The file is whatever the uploader wrote: it is only ever parsed as data (``summarize`` reads YAML and JSON
    safely), never loaded as a model, and a file that cannot be understood (hostile or just broken) gives None,
    so pages and cards still show everything else.

    Args:
        artifacts: the artifact store the version's files may be in.
        mv: the version.
        summarize: reads the file's text (`shipyard.models.summarize_mlmodel`; the model format sits above the
            registry, so it is passed in).
    """
    text = read_version_file(artifacts, mv.storage_location or mv.source)
    try:
        summary = summarize(text)
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        _log.warning("unreadable MLmodel for %s version %s: %s", mv.name, mv.version, type(exc).__name__)
        return None
    return None if summary is None else _as_text(summary)


def _as_text(summary: ModelFacts) -> CardFacts:
    """The summary with every name and type a string (a hand-written MLmodel may put anything there)."""

    def columns(specs: Sequence[tuple[object, object, object]]) -> tuple[tuple[str, str, bool], ...]:
        return tuple(
            ("" if name is None else str(name), str(kind), bool(required))
            for name, kind, required in list(specs)[:_MAX_COLUMNS]
        )

    return CardFacts(str(summary.flavor), columns(summary.inputs), columns(summary.outputs))


def version_card(artifacts: ArtifactStore, lineage: ModelLineage, summarize: Summarize) -> str:
    """The model card of the lineage's version, with the flavor and signature its ``MLmodel`` gives.

    Args:
        artifacts: the artifact store the version's files may be in.
        lineage: from `shipyard.registry.lineage.model_lineage`.
        summarize: reads an ``MLmodel`` file (see `version_facts`).
    """
    return model_card_markdown(lineage, version_facts(artifacts, lineage.version, summarize))


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _data_section(lineage: ModelLineage) -> list[str]:
    lines = ["## Training data", ""]
    if not lineage.datasets:
        return [*lines, "_No dataset inputs were logged by the producing run._"]
    lines += ["| Dataset | Digest | Source | Context |", "|---|---|---|---|"]
    return lines + [
        f"| {_md(d.name)} | `{d.digest}` | {_md(d.source)} | {_md(d.tags.get('mlflow.data.context', ''))} |"
        for d in lineage.datasets
    ]


def _params_section(lineage: ModelLineage) -> list[str]:
    lines = ["", "## Parameters", ""]
    if not lineage.params:
        return [*lines, "_None recorded._"]
    return [*lines, "| Param | Value |", "|---|---|"] + [
        f"| {_md(k)} | {_md(v)} |" for k, v in sorted(lineage.params.items())
    ]


def _metrics_section(lineage: ModelLineage) -> list[str]:
    lines = ["", "## Evaluation metrics", ""]
    if not lineage.metrics:
        return [*lines, "_None recorded._"]
    return [*lines, "| Metric | Value | Step |", "|---|---|---|"] + [
        f"| {_md(m.key)} | {m.value:.6g} | {m.step} |" for m in sorted(lineage.metrics, key=lambda m: m.key)
    ]


def _evaluations_section(lineage: ModelLineage) -> list[str]:
    lines = ["", "## Evaluation and fairness results attached later", ""]
    if not lineage.evaluations:
        return [*lines, "_None attached. Attach with `sy.attach_evaluation(name, version, evaluation, results)`._"]
    for key, value in sorted(lineage.evaluations.items()):
        lines += [f"### {key}", "", "```json", value, "```", ""]
    return lines


def model_card_markdown(lineage: ModelLineage, facts: ModelFacts | None = None) -> str:
    """The model card of a version.

    Args:
        lineage: from `shipyard.registry.lineage.model_lineage`.
        facts: the flavor and signature from the version's ``MLmodel`` file, when it could be read.
    """
    mv = lineage.version
    card = {k[len(CARD_PREFIX) :]: v for k, v in mv.tags.items() if k.startswith(CARD_PREFIX)}
    lines = [f"# Model card: {mv.name} version {mv.version}", ""]
    rows = [
        ("Registered", _when(mv.creation_time_ms)),
        ("Stage", mv.current_stage),
        ("Aliases", ", ".join(mv.aliases) or "none"),
        ("Source", mv.source),
        ("Description", mv.description or "none"),
    ]
    if facts is not None:
        rows.append(("Flavor", facts.flavor))
    lines += [f"- **{k}**: {_md(str(v))}" for k, v in rows] + [""]
    for section in CARD_FIELDS:
        title = section.replace("_", " ").capitalize()
        lines += [f"## {title}", "", card.get(section) or _MISSING.format(flag=section.replace("_", "-")), ""]
    lines += _data_section(lineage)
    lines += _params_section(lineage)
    lines += _metrics_section(lineage)
    lines += _evaluations_section(lineage)
    lines += ["", "## Signature", ""]
    if facts is not None and facts.inputs:
        for part, specs in (("Inputs", facts.inputs), ("Outputs", facts.outputs)):
            lines += [f"**{part}**", "", "| Name | Type |", "|---|---|"]
            lines += [f"| {_md(name or '-')} | {_md(kind)} |" for name, kind, _required in specs]
            lines.append("")
    else:
        lines.append("_No signature recorded._")
    lines += ["", "## Lineage", ""]
    lines.append(" → ".join(f"{kind} `{label}`" for kind, label in lineage.chain))
    if lineage.run is not None:
        lines += [
            "",
            f"- **Run**: `{lineage.run.run_id}` ({lineage.run.run_name}) in experiment {lineage.experiment_name}",
        ]
    lines += [f"- **{k.replace('_', ' ').capitalize()}**: `{_md(v)}`" for k, v in lineage.code.items()]
    lines += [f"- **{k.replace('_', ' ').capitalize()}**: `{_md(v)}`" for k, v in lineage.environment.items()]
    return "\n".join(lines).rstrip() + "\n"
