"""``shipyard deployments apply|status|rollback``: change and inspect a running inference server's deployment."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli._common import console, handle_errors
from shipyard.client.ports import DeploymentsPort, open_deployments
from shipyard.config import Settings

__all__ = ["app"]

app = typer.Typer(help="Apply, inspect and roll back a running deployment (`shipyard serve`).", no_args_is_help=True)

Server = Annotated[
    str,
    typer.Option(
        "--server",
        envvar="SHIPYARD_DEPLOYMENT_URL",
        help="The inference server (`shipyard serve`); signs in with SHIPYARD_/MLFLOW_TRACKING_TOKEN or "
        "_USERNAME/_PASSWORD.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer instead of tables.")]
_DEFAULT_SERVER = "http://127.0.0.1:8080"


@contextlib.contextmanager
def _deployment(server: str) -> Iterator[DeploymentsPort]:
    """The deployments port of the inference server at ``server``; errors print as one line."""
    with handle_errors():
        port = open_deployments(server, Settings.from_env())
        try:
            yield port
        finally:
            port.transport.close()


@app.command()
def status(server: Server = _DEFAULT_SERVER, as_json: AsJson = False) -> None:
    """What the deployment serves now, per route, the A/B analysis and the recent revisions."""
    with _deployment(server) as deployment:
        answer = deployment.status()
    _show(answer, as_json)


@app.command()
def apply(
    spec: Annotated[Path, typer.Argument(help="The deployment spec (YAML or JSON).", exists=False)],
    server: Server = _DEFAULT_SERVER,
    as_json: AsJson = False,
) -> None:
    """Serve SPEC on the running server: new versions load beside the old, then traffic switches (no restart)."""
    from shipyard.serving.rollout.deployment import load_spec

    with _deployment(server) as deployment:
        load_spec(spec)  # refuse a bad spec here, with the same message, before sending it
        answer = deployment.apply(spec.read_bytes())
    console.print(f"Applied: revision {answer['revision']['number']} is serving.", highlight=False)
    _show(answer, as_json)


@app.command()
def rollback(
    server: Server = _DEFAULT_SERVER,
    revision: Annotated[
        int | None, typer.Option(min=1, help="The revision to return to (default: the previous one).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Return at once to the previous revision (or ``--revision N``), pinned to the versions it served."""
    with _deployment(server) as deployment:
        answer = deployment.rollback(revision)
    console.print(f"Rolled back: revision {answer['revision']['number']} is serving.", highlight=False)
    _show(answer, as_json)


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _show(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
        return
    from rich.table import Table

    revision = answer["revision"]
    console.print(
        f"[bold]{answer['deployment']}[/bold]  revision {revision['number']} ({revision['reason']}"
        f"{', by ' + revision['actor'] if revision.get('actor') else ''}, {_when(revision['time_ms'])})"
        f"  {'ready' if answer.get('ready') else 'NOT READY'}",
        highlight=False,
    )
    routes = Table("route", "model", "version", "share", "requests", "errors", title="Routes")
    for route in answer["routes"]:
        model = route["model"] + ("  (follows alias)" if route["follows_alias"] else "")
        routes.add_row(
            route["name"],
            model,
            route["version"],
            f"{route['share']:.1%}",
            str(route["requests"]),
            str(route["errors"]),
        )
    console.print(routes)
    shadow = answer.get("shadow")
    if shadow:
        console.print(
            f"Shadow: {shadow['model']} (version {shadow['version']}, {shadow['sample']:.0%} of requests): "
            f"{shadow['requests']} predictions logged, {shadow['errors']} errors, {shadow['skipped']} skipped",
            highlight=False,
        )
    if answer.get("sticky"):
        console.print(f"Sticky by header: {answer['sticky']}", highlight=False)
    _show_analysis(answer.get("analysis"))
    log = answer.get("prediction_log")
    if log:
        console.print(
            f"Prediction log: {log['uri']}: {log['written_records']} requests written, {log['dropped']} dropped",
            highlight=False,
        )
    history = Table("revision", "when", "why", "by", "versions", title="History")
    for item in answer.get("history", [])[:10]:
        versions = ", ".join(f"{route}={version}" for route, version in item["versions"].items())
        history.add_row(str(item["number"]), _when(item["time_ms"]), item["reason"], item.get("actor") or "", versions)
    console.print(history)


def _show_analysis(analysis: dict[str, Any] | None) -> None:
    from rich.table import Table

    if not analysis:
        return
    if analysis.get("message") and not analysis.get("variants"):
        console.print(f"A/B analysis: {analysis['message']}", highlight=False)
        return
    table = Table("variant", "n", analysis.get("metric", "metric"), "CI", title="A/B analysis")
    for variant in analysis.get("variants", []):
        low, high = variant.get("ci_low"), variant.get("ci_high")
        interval = f"[{low:.4g}, {high:.4g}]" if low is not None and high is not None else "-"
        mean = variant.get("mean")
        table.add_row(variant["name"], str(variant["n"]), "-" if mean is None else f"{mean:.4g}", interval)
    console.print(table)
    for comparison in analysis.get("comparisons", []):
        if comparison.get("message") != analysis.get("message"):
            console.print(f"  {comparison.get('message', '')}", highlight=False)
    if analysis.get("message"):
        console.print(f"[bold]Verdict:[/bold] {analysis['message']}", highlight=False)
