"""``shipyard models``: browse the registry, move aliases and stages, read lineage, history and cards, download."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, backend_for, console, format_ms
from shipyard.client import Backend
from shipyard.client.model_functions import download_tree
from shipyard.errors import InvalidParameter
from shipyard.events import Event
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage
from shipyard.registry.service import CARD_PREFIX
from shipyard.registry.uris import UriKind, is_model_uri, parse_model_uri

__all__ = ["app"]

app = typer.Typer(help="Browse and manage the model registry.", no_args_is_help=True)

VersionRef = Annotated[
    str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, NAME/Production or a models:/… URI.", show_default=False)
]


class ExportFormat(StrEnum):
    """What `models export` can produce."""

    ONNX = "onnx"
    BUNDLE = "bundle"


def _resolve_version(backend: Backend, ref: str) -> ModelVersion:
    """The version ``NAME/VERSION``, ``NAME@ALIAS``, ``NAME/Stage``, ``NAME/latest`` or a ``models:/`` form names."""
    parsed = parse_model_uri(ref, bare=True)
    if parsed.kind in (UriKind.RUN, UriKind.LOGGED_MODEL):
        raise InvalidParameter(f"{ref!r} is not a registered model version: expected NAME/VERSION or NAME@ALIAS.")
    return backend.version_for(parsed)


def _list_versions(backend: Backend, name: str) -> list[ModelVersion]:
    backend.get_registered_model(name)  # a clear 404 for an unknown model, not an empty table
    escaped = name.replace("'", "''")
    return sorted(backend.search_model_versions(f"name = '{escaped}'", 200_000), key=lambda v: -v.version)


def _version_number(text: str) -> int:
    body = text[1:] if text[:1] in ("v", "V") else text
    if not body.isdigit() or int(body) < 1:
        raise InvalidParameter(f"Invalid version {text!r}: expected a positive integer such as 3.")
    return int(body)


def _versions_table(versions: list[ModelVersion], title: str) -> Table:
    table = Table("version", "stage", "aliases", "run", "source", "registered", title=title)
    for mv in versions:
        table.add_row(
            str(mv.version),
            mv.current_stage,
            ", ".join(mv.aliases),
            mv.run_id or "",
            mv.source,
            format_ms(mv.creation_time_ms),
        )
    return table


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table("key", "value", title=title)
    for key, value in rows:
        table.add_row(key, value)
    return table


@app.command("list")
def list_models(
    filter_string: Annotated[str | None, typer.Option("--filter", help="e.g. \"name LIKE 'churn%'\"")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """List registered models with their latest version and aliases."""
    with backend_for(tracking_uri) as backend:
        found = backend.search_registered_models(filter_string)
    table = Table("name", "latest", "aliases", "updated", "description", title="Registered models")
    for model in found:
        latest = max((v.version for v in model.latest_versions), default=None)
        aliases = ", ".join(f"{a} → {v}" for a, v in sorted(model.aliases.items()))
        table.add_row(
            model.name,
            str(latest or ""),
            aliases,
            format_ms(model.last_updated_time_ms),
            model.description or "",
        )
    console.print(table)


@app.command()
def show(name: str, tracking_uri: TrackingUri = None) -> None:
    """Show a registered model: description, tags, aliases and every version."""
    with backend_for(tracking_uri) as backend:
        model = backend.get_registered_model(name)
        versions = _list_versions(backend, name)
    console.print(
        _key_values(
            f"Model {model.name}",
            [
                ("description", model.description or ""),
                ("created", format_ms(model.creation_time_ms)),
                ("updated", format_ms(model.last_updated_time_ms)),
                ("versions", str(len(versions))),
            ],
        )
    )
    console.print(_key_values("Tags", sorted(model.tags.items())))
    console.print(_key_values("Aliases", [(a, str(v)) for a, v in sorted(model.aliases.items())]))
    console.print(_versions_table(versions, "Versions"))


@app.command()
def versions(name: str, tracking_uri: TrackingUri = None) -> None:
    """List the versions of a registered model, newest first."""
    with backend_for(tracking_uri) as backend:
        found = _list_versions(backend, name)
    console.print(_versions_table(found, f"Versions of {name}"))


@app.command()
def alias(
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion.", show_default=False)],
    version: Annotated[str | None, typer.Argument(help="The version to point at (not with --delete).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the model's history.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Point an alias at a version (moving it if it pointed elsewhere), or remove it with --delete."""
    with backend_for(tracking_uri) as backend:
        if delete:
            if version is not None:
                raise InvalidParameter("Give no VERSION with --delete: the alias is removed from whichever it names.")
            backend.delete_alias(name, alias_name, reason)
            typer.echo(f"Removed alias {alias_name!r} of {name}.")
            return
        if version is None:
            raise InvalidParameter("Missing VERSION: give the version the alias should point at, or --delete.")
        number = _version_number(version)
        backend.set_alias(name, alias_name, str(number), reason)
    typer.echo(f"{name}@{alias_name} → version {number}.")


@app.command()
def stage(
    ref: VersionRef,
    stage_name: Annotated[
        str, typer.Argument(metavar="STAGE", help="None, Staging, Production or Archived.", show_default=False)
    ],
    archive_existing: Annotated[
        bool, typer.Option("--archive-existing", help="Archive the versions already in that stage.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the model's history.")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Move a version to a legacy stage (Staging, Production, Archived, None)."""
    with backend_for(tracking_uri) as backend:
        mv = _resolve_version(backend, ref)
        moved = backend.transition_stage(mv.name, str(mv.version), stage_name, archive_existing, reason)
    typer.echo(f"{moved.name} version {moved.version}: {mv.current_stage} → {moved.current_stage}.")


def _print_lineage(found: ModelLineage) -> None:
    console.print("[bold]Lineage:[/bold] " + " → ".join(f"{kind} {label}" for kind, label in found.chain))
    run = found.run
    run_rows = [("run", "not recorded")]
    if run is not None:
        run_rows = [
            ("run", run.run_id),
            ("name", run.run_name),
            ("experiment", found.experiment_name or run.experiment_id),
            ("status", run.status),
            ("artifacts", run.artifact_uri),
        ]
    if found.logged_model is not None:
        run_rows.append(("logged model", found.logged_model.model_id))
    console.print(_key_values(f"Model version {found.version.name}/{found.version.version}", run_rows))
    code_labels = {
        "git_commit": "git commit",
        "git_branch": "git branch",
        "git_dirty": "uncommitted changes",
        "git_repo": "git repository",
        "entry_point": "entry point",
        "command": "command",
    }
    console.print(_key_values("Code", [(code_labels.get(k, k), v) for k, v in found.code.items()]))
    console.print(_key_values("Environment", sorted(found.environment.items())))
    console.print(_key_values("Params", sorted(found.params.items())))
    metrics = Table("metric", "value", "step", title="Metrics (latest)")
    for metric in sorted(found.metrics, key=lambda m: m.key):
        metrics.add_row(metric.key, f"{metric.value:.6g}", str(metric.step))
    console.print(metrics)
    datasets = Table("dataset", "digest", "source", "context", title="Dataset inputs")
    for item in found.datasets:
        datasets.add_row(item.name, item.digest, item.source, item.tags.get("mlflow.data.context", ""))
    console.print(datasets)
    if found.evaluations:
        console.print(_key_values("Evaluations attached later", sorted(found.evaluations.items())))


@app.command()
def lineage(ref: VersionRef, tracking_uri: TrackingUri = None) -> None:
    """Where a version came from: the chain, and its run's params, metrics, code, environment and data."""
    with backend_for(tracking_uri) as backend:
        mv = _resolve_version(backend, ref)
        found = backend.model_lineage(mv.name, str(mv.version))
    _print_lineage(found)


def _what(event: Event) -> str:
    detail = event.payload.get("alias") or event.payload.get("tag")
    return f"{event.kind} {detail}" if detail else event.kind


def _change(event: Event) -> str:
    if event.from_value is None and event.to_value is None:
        return ""
    return f"{event.from_value or '—'} → {event.to_value or '—'}"


@app.command()
def history(name: str, tracking_uri: TrackingUri = None) -> None:
    """Every recorded change of a model and its versions, newest first: who, what, when and why."""
    with backend_for(tracking_uri) as backend:
        events = backend.model_history(name)
    table = Table("when", "who", "what", "version", "from → to", "reason", title=f"History of {name}")
    for event in events:
        table.add_row(
            format_ms(event.occurred_at_ms),
            event.actor,
            _what(event),
            event.version or "",
            _change(event),
            event.reason or "",
        )
    console.print(table)


@app.command()
def card(
    ref: VersionRef,
    markdown_out: Annotated[Path | None, typer.Option("--markdown-out", help="Write the card to this file.")] = None,
    intended_use: Annotated[str | None, typer.Option(help="Set the card's 'Intended use' section.")] = None,
    limitations: Annotated[str | None, typer.Option(help="Set the card's 'Limitations' section.")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Print a version's model card, write it with --markdown-out, or set its owner-written sections."""
    fields = {k: v for k, v in {"intended_use": intended_use, "limitations": limitations}.items() if v is not None}
    with backend_for(tracking_uri) as backend:
        mv = _resolve_version(backend, ref)
        for key, value in fields.items():
            backend.set_model_version_tag(mv.name, str(mv.version), CARD_PREFIX + key, value)
        if fields:
            typer.echo(f"Set {', '.join(sorted(fields))} on the card of {mv.name} version {mv.version}.")
            if markdown_out is None:
                return
        markdown = backend.model_card(mv.name, str(mv.version))
    if markdown_out is None:
        typer.echo(markdown, nl=False)
        return
    markdown_out.parent.mkdir(parents=True, exist_ok=True)
    markdown_out.write_text(markdown, encoding="utf-8")
    typer.echo(f"Wrote the model card of {mv.name} version {mv.version} to {markdown_out}.")


def _location(backend: Backend, ref: str) -> tuple[str, str]:
    """``(artifact URI, label)`` of what a download reference names."""
    if is_model_uri(ref) and parse_model_uri(ref).kind in (UriKind.RUN, UriKind.LOGGED_MODEL):
        return backend.resolve_model_uri(ref), ref
    mv = _resolve_version(backend, ref)
    return backend.resolve_model_uri(f"models:/{mv.name}/{mv.version}"), f"{mv.name} version {mv.version}"


@app.command()
def download(
    ref: Annotated[
        str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, models:/… or runs:/<run>/<path>.", show_default=False)
    ],
    dst: Annotated[Path, typer.Option("--dst", help="Folder to copy the model's files into.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Download a model version's files (or any models:/ or runs:/ URI) into a folder."""
    with backend_for(tracking_uri) as backend:
        uri, label = _location(backend, ref)
        written = download_tree(backend, uri, dst)
    typer.echo(f"Downloaded {len(written)} files of {label} to {dst}.")


@app.command()
def export(
    ref: VersionRef,
    export_format: Annotated[ExportFormat, typer.Option("--format", help="onnx or a self-contained bundle.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the exported model to.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Download a version and export it (ONNX, or a self-contained bundle) into a folder."""
    from shipyard.models import export_model

    with backend_for(tracking_uri) as backend, tempfile.TemporaryDirectory(prefix="shipyard-export-") as tmp:
        uri, label = _location(backend, ref)
        source = Path(tmp) / "model"
        download_tree(backend, uri, source)
        export_model(source, out, format=export_format.value, input_example=None)
    typer.echo(f"Exported {label} as {export_format.value} to {out}.")
