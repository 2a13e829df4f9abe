"""``shipyard monitors``: declare monitors from YAML/JSON, run them (once or in a loop), inspect and delete them.

With an ``http(s)://`` tracking URI (``--tracking-uri``, ``SHIPYARD_TRACKING_URI``) the commands ask the server
(``/api/v1/monitors``): it reads the data and checks your grants on the watched deployment. Otherwise, or with
``--store`` (``SHIPYARD_STORE_URI``), they run here on that metadata store (else the embedded store under
``SHIPYARD_HOME``): run them where the store and the prediction log are reachable. Both ways go through the
monitors port (`shipyard.client.ports.monitors`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, clients_for, console, err_console, format_ms
from shipyard.client.ports import MonitorsPort
from shipyard.errors import ShipyardError
from shipyard.monitoring.monitors import RunResult, describe, load_spec
from shipyard.wire.monitoring import monitor_to_json, window_to_json

__all__ = ["app"]

app = typer.Typer(help="Declare, run and inspect monitors (on a server or the metadata store).", no_args_is_help=True)

Store = Annotated[
    str | None,
    typer.Option("--store", envvar="SHIPYARD_STORE_URI", help="Run here on this metadata store URL."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@contextlib.contextmanager
def _monitors(store: str | None, tracking_uri: str | None) -> Iterator[MonitorsPort]:
    """The named store in-process, else the tracking URI's server or store; errors print as one line."""
    with clients_for(tracking_uri, store=store) as clients:
        yield clients.monitors


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The monitor spec, YAML or JSON.")],
    replace: Annotated[bool, typer.Option("--replace", help="Give an existing monitor this spec.")] = False,
    store: Store = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Create a monitor from its spec (validation errors name the field)."""
    with _monitors(store, tracking_uri) as monitors:
        monitor = monitors.create(load_spec(file), replace=replace)
    console.print(f"Monitor '{monitor.name}' {'saved' if replace else 'created'}.", highlight=False)


@app.command("list")
def list_monitors(store: Store = None, tracking_uri: TrackingUri = None, as_json: AsJson = False) -> None:
    """Every monitor, with its newest window."""
    with _monitors(store, tracking_uri) as monitors:
        found = monitors.list_monitors()
        latest = {m.name: monitors.windows(m.name, limit=1) for m in found}
    if as_json:
        typer.echo(json.dumps({"monitors": [monitor_to_json(m) for m in found]}, indent=2))
        return
    table = Table("Name", "Watches", "Window (s)", "Newest window", "Drifted share", "Last run")
    for m in found:
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
    tracking_uri: TrackingUri = None,
    as_json: AsJson = False,
) -> None:
    """A monitor's rules, newest windows and alerts."""
    with _monitors(store, tracking_uri) as monitors:
        monitor = monitors.get(name)
        found = monitors.windows(name, limit=windows)
        alerts = monitors.alerts(name, limit=50)
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


def _run_once(monitors: MonitorsPort, name: str | None, now_ms: int | None, *, only_due: bool) -> bool:
    """Run one monitor or every (due) one; returns whether all succeeded."""
    names = [name] if name else [m.name for m in monitors.list_monitors() if not only_due or monitors.due(m)]
    ok = True
    for each in names:
        try:
            _report(monitors.run(each, now_ms=now_ms))
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
    tracking_uri: TrackingUri = None,
) -> None:
    """Compute the windows due, evaluate the alert rules, record alert events."""
    with _monitors(store, tracking_uri) as monitors:
        if not loop:
            if not _run_once(monitors, name, now_ms, only_due=False):
                raise typer.Exit(1)
            return
        try:
            while True:
                _run_once(monitors, name, None, only_due=name is None)
                time.sleep(interval)
        except KeyboardInterrupt:
            console.print("Stopped.")


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The monitor.")], store: Store = None, tracking_uri: TrackingUri = None
) -> None:
    """Delete a monitor with its windows and alerts (their events stay)."""
    with _monitors(store, tracking_uri) as monitors:
        monitors.delete(name)
    console.print(f"Monitor '{name}' deleted.", highlight=False)
