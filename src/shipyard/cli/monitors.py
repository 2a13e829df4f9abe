"""``shipyard monitors``: declare monitors from YAML/JSON, run them (once or in a loop), inspect and delete them.

These commands work on the metadata store directly (``--store``, else ``SHIPYARD_STORE_URI``, else the embedded
store under ``SHIPYARD_HOME``), like ``shipyard users``: run them where the store and the prediction log are
reachable. Over the network, the same operations are the ``/api/v1/monitors`` routes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import console, err_console, format_ms, handle_errors
from shipyard.config import Settings
from shipyard.errors import ShipyardError
from shipyard.monitoring.monitors import (
    MonitorService,
    RunResult,
    describe,
    load_spec,
    monitor_to_json,
    window_to_json,
)

__all__ = ["app"]

app = typer.Typer(help="Declare, run and inspect monitors (on the metadata store).", no_args_is_help=True)

Store = Annotated[
    str | None,
    typer.Option("--store", envvar="SHIPYARD_STORE_URI", help="The metadata store URL."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@contextlib.contextmanager
def _service(store: str | None) -> Iterator[MonitorService]:
    from shipyard.db import open_database

    settings = Settings.from_env().with_overrides(store_uri=store)
    with handle_errors():
        database = open_database(settings.resolved_store_uri)
        try:
            yield MonitorService(database, s3_endpoint_url=settings.s3_endpoint_url)
        finally:
            database.dispose()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The monitor spec, YAML or JSON.")],
    replace: Annotated[bool, typer.Option("--replace", help="Give an existing monitor this spec.")] = False,
    store: Store = None,
) -> None:
    """Create a monitor from its spec (validation errors name the field)."""
    with _service(store) as service:
        monitor = service.create(load_spec(file), actor=_actor(), replace=replace)
    console.print(f"Monitor '{monitor.name}' {'saved' if replace else 'created'}.", highlight=False)


@app.command("list")
def list_monitors(store: Store = None, as_json: AsJson = False) -> None:
    """Every monitor, with its newest window."""
    with _service(store) as service:
        monitors = service.list_monitors()
        latest = {m.name: service.windows(m.name, limit=1) for m in monitors}
    if as_json:
        typer.echo(json.dumps({"monitors": [monitor_to_json(m) for m in monitors]}, indent=2))
        return
    table = Table("Name", "Watches", "Window (s)", "Newest window", "Drifted share", "Last run")
    for m in monitors:
        newest = latest[m.name][-1] if latest[m.name] else None
        watches = f"deployment {m.deployment}" if m.deployment else "data set"
        table.add_row(
            m.name,
            watches,
            str(m.spec.window_s),
            format_ms(newest.start_ms) if newest else "",
            _share(newest.drifted_share) if newest else "",
            format_ms(m.last_run_at_ms),
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    windows: Annotated[int, typer.Option("--windows", min=1, help="How many of the newest windows.")] = 20,
    store: Store = None,
    as_json: AsJson = False,
) -> None:
    """A monitor's rules, newest windows and alerts."""
    with _service(store) as service:
        monitor = service.get(name)
        found = service.windows(name, limit=windows)
        alerts = service.alerts(name, limit=50)
    if as_json:
        doc = {"monitor": monitor_to_json(monitor), "windows": [window_to_json(w, details=False) for w in found]}
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(f"[bold]{monitor.name}[/bold]  window {monitor.spec.window_s} s", highlight=False)
    for rule in monitor.spec.alerts:
        console.print(f"  rule {rule.name} ({rule.severity}): {describe(rule)}", highlight=False)
    table = Table("Window start", "Rows", "Drifted share", "Dataset drift", "Drifted columns")
    for w in found:
        drifted = ", ".join(sorted(c for c, r in w.columns.items() if isinstance(r, dict) and r.get("drifted")))
        flag = "" if w.dataset_drift is None else ("yes" if w.dataset_drift else "no")
        table.add_row(format_ms(w.start_ms), str(w.rows), _share(w.drifted_share), flag, drifted)
    console.print(table)
    alert_table = Table("State", "Rule", "Severity", "Fired in window", "Resolved in window", "Message")
    for a in alerts:
        alert_table.add_row(
            a.state,
            a.rule,
            a.severity,
            format_ms(a.window_start_ms),
            format_ms(a.resolved_window_start_ms),
            a.message,
        )
    console.print(alert_table)


def _report(result: RunResult) -> None:
    console.print(f"{result.monitor}: computed {len(result.computed)} window(s)", highlight=False)
    for alert in result.fired:
        console.print(f"  [red]FIRING[/red] {alert.message} ({alert.severity})", highlight=False)
    for alert in result.resolved:
        console.print(f"  [green]RESOLVED[/green] {alert.message}", highlight=False)


def _run_once(service: MonitorService, name: str | None, now_ms: int | None, *, only_due: bool) -> bool:
    """Run one monitor or every (due) one; returns whether all succeeded."""
    names = [name] if name else [m.name for m in service.list_monitors() if not only_due or service.due(m)]
    ok = True
    for each in names:
        try:
            _report(service.run(each, now_ms=now_ms, actor=_actor()))
        except ShipyardError as exc:
            if name:
                raise
            err_console.print(f"[red]error:[/red] {each}: {exc.message}", highlight=False)
            ok = False
    return ok


@app.command("run")
def run(
    name: Annotated[str | None, typer.Argument(help="The monitor; every monitor when left out.")] = None,
    now_ms: Annotated[int | None, typer.Option("--now-ms", help="Run as of this time (ms since the epoch).")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Keep running due monitors until interrupted.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=1.0, help="Seconds between loop rounds.")] = 60.0,
    store: Store = None,
) -> None:
    """Compute the windows due, evaluate the alert rules, record alert events."""
    with _service(store) as service:
        if not loop:
            if not _run_once(service, name, now_ms, only_due=False):
                raise typer.Exit(1)
            return
        try:
            while True:
                _run_once(service, name, None, only_due=name is None)
                time.sleep(interval)
        except KeyboardInterrupt:
            console.print("Stopped.")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="The monitor.")], store: Store = None) -> None:
    """Delete a monitor with its windows and alerts (their events stay)."""
    with _service(store) as service:
        service.delete(name)
    console.print(f"Monitor '{name}' deleted.", highlight=False)
