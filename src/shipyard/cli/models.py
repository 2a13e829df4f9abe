"""``shipyard models``: browse the registry, move aliases and stages, read lineage, history and cards, download."""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, console, format_ms, handle_errors
from shipyard.cli._registry import RegistryClient, open_registry, resolve_version
from shipyard.config import Settings
from shipyard.errors import InvalidParameter, MissingExtra, ShipyardError
from shipyard.events import Event
from shipyard.registry.entities import ModelVersion
from shipyard.registry.lineage import ModelLineage

__all__ = ["app"]

app = typer.Typer(help="Browse and manage the model registry.", no_args_is_help=True)

VersionRef = Annotated[
    str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, NAME/Production or a models:/… URI.", show_default=False)
]


class ExportFormat(StrEnum):
    """What `models export` can produce."""

    ONNX = "onnx"
    BUNDLE = "bundle"


@contextlib.contextmanager
def _registry(tracking_uri: str | None) -> Iterator[RegistryClient]:
    """The registry the URI names; Shipyard errors print as one red line and exit 1."""
    settings = Settings.from_env()
    if tracking_uri is not None:
        settings = settings.with_overrides(tracking_uri=tracking_uri)
    with handle_errors(), open_registry(settings) as client:
        yield client


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
    with _registry(tracking_uri) as client:
        found = client.search_models(filter_string)
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
    with _registry(tracking_uri) as client:
        model = client.get_model(name)
        versions = client.list_versions(name)
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
    with _registry(tracking_uri) as client:
        found = client.list_versions(name)
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
    with _registry(tracking_uri) as client:
        if delete:
            if version is not None:
                raise InvalidParameter("Give no VERSION with --delete: the alias is removed from whichever it names.")
            client.delete_alias(name, alias_name, reason)
            typer.echo(f"Removed alias {alias_name!r} of {name}.")
            return
        if version is None:
            raise InvalidParameter("Missing VERSION: give the version the alias should point at, or --delete.")
        number = _version_number(version)
        client.set_alias(name, alias_name, number, reason)
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
    with _registry(tracking_uri) as client:
        mv = resolve_version(client, ref)
        moved = client.transition_stage(
            mv.name, mv.version, stage_name, archive_existing=archive_existing, reason=reason
        )
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
    with _registry(tracking_uri) as client:
        mv = resolve_version(client, ref)
        found = client.lineage(mv.name, mv.version)
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
    with _registry(tracking_uri) as client:
        events = client.history(name)
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
    with _registry(tracking_uri) as client:
        mv = resolve_version(client, ref)
        if fields:
            client.set_card_fields(mv.name, mv.version, fields)
            typer.echo(f"Set {', '.join(sorted(fields))} on the card of {mv.name} version {mv.version}.")
            if markdown_out is None:
                return
        markdown = client.card_markdown(mv.name, mv.version)
    if markdown_out is None:
        typer.echo(markdown, nl=False)
        return
    markdown_out.parent.mkdir(parents=True, exist_ok=True)
    markdown_out.write_text(markdown, encoding="utf-8")
    typer.echo(f"Wrote the model card of {mv.name} version {mv.version} to {markdown_out}.")


def _location(client: RegistryClient, ref: str) -> tuple[str, str]:
    """``(artifact URI, label)`` of what a download reference names."""
    if ref.startswith("runs:/") or (ref.startswith("models:/m-") and "/" not in ref[len("models:/") :]):
        return client.resolve_uri(ref), ref
    mv = resolve_version(client, ref)
    return client.version_location(mv.name, mv.version), f"{mv.name} version {mv.version}"


@app.command()
def download(
    ref: Annotated[
        str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, models:/… or runs:/<run>/<path>.", show_default=False)
    ],
    dst: Annotated[Path, typer.Option("--dst", help="Folder to copy the model's files into.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Download a model version's files (or any models:/ or runs:/ URI) into a folder."""
    with _registry(tracking_uri) as client:
        uri, label = _location(client, ref)
        written = client.download(uri, dst)
    typer.echo(f"Downloaded {len(written)} files of {label} to {dst}.")


def _export_function() -> Callable[..., Any]:
    """``shipyard.models.export_model``, or a clear error when this build has none."""
    try:
        module = importlib.import_module("shipyard.models")
    except ImportError as exc:
        raise MissingExtra(f"shipyard.models ({exc})", "models") from None
    function = getattr(module, "export_model", None)
    if not callable(function):
        raise ShipyardError("Model export is not available in this Shipyard version (no shipyard.models.export_model).")
    return function  # type: ignore[no-any-return]  # looked up by name: the export module is optional


@app.command()
def export(
    ref: VersionRef,
    export_format: Annotated[ExportFormat, typer.Option("--format", help="onnx or a self-contained bundle.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the exported model to.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Download a version and export it (ONNX, or a self-contained bundle) into a folder."""
    with _registry(tracking_uri) as client, tempfile.TemporaryDirectory(prefix="shipyard-export-") as tmp:
        export_model = _export_function()
        uri, label = _location(client, ref)
        source = Path(tmp) / "model"
        client.download(uri, source)
        export_model(source, out, format=export_format.value, input_example=None)
    typer.echo(f"Exported {label} as {export_format.value} to {out}.")
