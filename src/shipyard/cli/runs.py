"""``shipyard runs``: list, show and compare runs in readable tables."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, backend_for, console, format_ms
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import Run, ViewType

__all__ = ["app"]

app = typer.Typer(help="Inspect runs.", no_args_is_help=True)


def _duration(run: Run) -> str:
    if run.start_time_ms is None or run.end_time_ms is None:
        return ""
    return f"{(run.end_time_ms - run.start_time_ms) / 1000:.1f}s"


def _value(value: float) -> str:
    return f"{value:.6g}"


@app.command("list")
def list_runs(
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment name or id.")] = "0",
    filter_string: Annotated[
        str | None, typer.Option("--filter", help='MLflow filter, e.g. "metrics.acc > 0.9"')
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help="e.g. 'metrics.acc DESC' (repeatable)")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", min=1, max=50000)] = 50,
    view: Annotated[ViewType, typer.Option(help="Which lifecycle stages to show.")] = ViewType.ACTIVE_ONLY,
    tracking_uri: TrackingUri = None,
) -> None:
    """List runs with their params and latest metrics."""
    with backend_for(tracking_uri) as backend:
        exp = backend.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else experiment
        found, _ = backend.search_runs([exp_id], filter_string, view, max_results, order_by or [], None)
    metric_keys = sorted({m.key for r in found for m in r.metrics})
    param_keys = sorted({k for r in found for k in r.params})
    table = Table(
        "run id",
        "name",
        "status",
        "started",
        "duration",
        *param_keys,
        *metric_keys,
        title=f"Runs of experiment {experiment}",
    )
    for run in found:
        metrics = {m.key: _value(m.value) for m in run.metrics}
        table.add_row(
            run.run_id[:12],
            run.run_name,
            run.status,
            format_ms(run.start_time_ms),
            _duration(run),
            *(run.params.get(k, "") for k in param_keys),
            *(metrics.get(k, "") for k in metric_keys),
        )
    console.print(table)


@app.command()
def show(run_id: str, tracking_uri: TrackingUri = None) -> None:
    """Show one run: info, params, metrics, tags and dataset inputs."""
    with backend_for(tracking_uri) as backend:
        run = backend.get_run(run_id)
    info = Table("field", "value", title=f"Run {run.run_id}", show_header=False)
    for field, value in [
        ("name", run.run_name),
        ("experiment", run.experiment_id),
        ("status", run.status),
        ("user", run.user_id),
        ("started", format_ms(run.start_time_ms)),
        ("ended", format_ms(run.end_time_ms)),
        ("duration", _duration(run)),
        ("lifecycle", run.lifecycle_stage),
        ("artifacts", run.artifact_uri),
    ]:
        info.add_row(field, value)
    console.print(info)
    for title, rows in [
        ("Params", sorted(run.params.items())),
        ("Metrics (latest)", sorted((m.key, f"{_value(m.value)} @ step {m.step}") for m in run.metrics)),
        ("Tags", sorted(run.tags.items())),
    ]:
        table = Table("key", "value", title=title)
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
    if run.inputs:
        table = Table("dataset", "digest", "source", "context", title="Dataset inputs")
        for item in run.inputs:
            table.add_row(item.name, item.digest, item.source, item.tags.get("mlflow.data.context", ""))
        console.print(table)


@app.command()
def compare(run_ids: list[str], tracking_uri: TrackingUri = None) -> None:
    """Compare two or more runs side by side; rows whose values differ are highlighted."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids")
    with backend_for(tracking_uri) as backend:
        found = [backend.get_run(r) for r in run_ids]
    if len(found) != len(run_ids):
        raise InvalidParameter("some runs were not found")
    table = Table("", *(f"{r.run_name}\n{r.run_id[:8]}" for r in found), title="Compare runs")
    for key in sorted({k for r in found for k in r.params}):
        values = [r.params.get(key, "—") for r in found]
        style = "bold yellow" if len(set(values)) > 1 else None
        table.add_row(f"param {key}", *values, style=style)
    latest = [{m.key: m.value for m in r.metrics} for r in found]
    for key in sorted({k for m in latest for k in m}):
        values = [_value(m[key]) if key in m else "—" for m in latest]
        style = "bold yellow" if len(set(values)) > 1 else None
        table.add_row(f"metric {key}", *values, style=style)
    console.print(table)
