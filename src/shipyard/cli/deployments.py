"""``shipyard deployments apply|status|rollback``: change and inspect a running inference server's deployment."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli._common import console, handle_errors
from shipyard.config import Settings
from shipyard.errors import InvalidParameter, ShipyardError, StoreUnavailable, error_from_code

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


def _headers() -> dict[str, str]:
    settings = Settings.from_env()
    if settings.tracking_token:
        return {"Authorization": f"Bearer {settings.tracking_token}"}
    if settings.tracking_username:
        pair = f"{settings.tracking_username}:{settings.tracking_password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


def _call(server: str, method: str, path: str, *, content: bytes | None = None, content_type: str = "") -> Any:
    import httpx

    if not server.startswith(("http://", "https://")):
        raise InvalidParameter(f"--server must be an http(s):// URL, not {server!r}.")
    headers = _headers()
    if content_type:
        headers["Content-Type"] = content_type
    try:
        answer = httpx.request(method, server.rstrip("/") + path, content=content, headers=headers, timeout=300.0)
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"Cannot reach the inference server at {server}: {exc}.") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code >= 400:
        message = body.get("error") if isinstance(body, dict) else None
        if not message:
            message = f"The server answered {answer.status_code}: {answer.text[:300]}"
        raise _error_for(answer.status_code, str(message))
    return body


def _error_for(status: int, message: str) -> ShipyardError:
    codes = {
        400: "INVALID_PARAMETER_VALUE",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "RESOURCE_DOES_NOT_EXIST",
        409: "INVALID_STATE",
        413: "INVALID_PARAMETER_VALUE",
        503: "TEMPORARILY_UNAVAILABLE",
    }
    return error_from_code(codes.get(status, "INTERNAL_ERROR"), message)


@app.command()
def status(server: Server = _DEFAULT_SERVER, as_json: AsJson = False) -> None:
    """What the deployment serves now, per route, the A/B analysis and the recent revisions."""
    with handle_errors():
        answer = _call(server, "GET", "/v1/deployment")
    _show(answer, as_json)


@app.command()
def apply(
    spec: Annotated[Path, typer.Argument(help="The deployment spec (YAML or JSON).", exists=False)],
    server: Server = _DEFAULT_SERVER,
    as_json: AsJson = False,
) -> None:
    """Serve SPEC on the running server: new versions load beside the old, then traffic switches (no restart)."""
    from shipyard.serving.rollout.deployment import load_spec

    with handle_errors():
        load_spec(spec)  # refuse a bad spec here, with the same message, before sending it
        answer = _call(server, "PUT", "/v1/deployment", content=spec.read_bytes(), content_type="application/yaml")
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
    body = json.dumps({"revision": revision} if revision is not None else {}).encode()
    with handle_errors():
        answer = _call(server, "POST", "/v1/deployment/rollback", content=body, content_type="application/json")
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
