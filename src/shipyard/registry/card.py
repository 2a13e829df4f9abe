"""Model cards: a version's compliance record in Markdown, generated from what the platform knows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import yaml

from shipyard.registry.lineage import ModelLineage
from shipyard.registry.service import CARD_PREFIX

__all__ = ["CARD_FIELDS", "model_card_markdown", "signature_columns"]

CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owners")
_MISSING = "_Not provided. Set it with `shipyard models card NAME/VERSION --{flag} TEXT`._"


def signature_columns(mlmodel_text: str | None) -> dict[str, list[dict[str, Any]]]:
    """The signature of an ``MLmodel`` file as ``{"inputs": [...], "outputs": [...]}`` column specs."""
    if not mlmodel_text:
        return {}
    try:
        meta = yaml.safe_load(mlmodel_text) or {}
    except yaml.YAMLError:
        return {}
    signature = meta.get("signature") if isinstance(meta, dict) else None
    if not isinstance(signature, dict):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for part in ("inputs", "outputs"):
        raw = signature.get(part)
        try:
            specs = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            specs = None
        if isinstance(specs, list):
            out[part] = [s for s in specs if isinstance(s, dict)]
    return out


def _spec_type(spec: dict[str, Any]) -> str:
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec", {})
        return f"tensor {tensor.get('dtype', '?')} {tensor.get('shape', '')}"
    return str(spec.get("type", "?"))


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


def model_card_markdown(lineage: ModelLineage, mlmodel_text: str | None = None) -> str:
    """The model card of a version.

    Args:
        lineage: from `shipyard.registry.lineage.model_lineage`.
        mlmodel_text: the version's ``MLmodel`` file, for the signature and flavor (optional).
    """
    mv = lineage.version
    card = {k[len(CARD_PREFIX) :]: v for k, v in mv.tags.items() if k.startswith(CARD_PREFIX)}
    lines = [f"# Model card: {mv.name} version {mv.version}", ""]
    facts = [
        ("Registered", _when(mv.creation_time_ms)),
        ("Stage", mv.current_stage),
        ("Aliases", ", ".join(mv.aliases) or "none"),
        ("Source", mv.source),
        ("Description", mv.description or "none"),
    ]
    if mlmodel_text:
        meta = yaml.safe_load(mlmodel_text) or {}
        flavors = [f for f in (meta.get("flavors") or {}) if f != "python_function"]
        facts.append(("Flavor", ", ".join(flavors) or "python_function"))
    lines += [f"- **{k}**: {_md(str(v))}" for k, v in facts] + [""]
    for section in CARD_FIELDS:
        title = section.replace("_", " ").capitalize()
        lines += [f"## {title}", "", card.get(section) or _MISSING.format(flag=section.replace("_", "-")), ""]
    lines += _data_section(lineage)
    lines += _params_section(lineage)
    lines += _metrics_section(lineage)
    lines += _evaluations_section(lineage)
    lines += ["", "## Signature", ""]
    signature = signature_columns(mlmodel_text)
    if signature.get("inputs"):
        for part in ("inputs", "outputs"):
            lines += [f"**{part.capitalize()}**", "", "| Name | Type |", "|---|---|"]
            lines += [f"| {_md(str(s.get('name', '-')))} | {_spec_type(s)} |" for s in signature.get(part, [])]
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
