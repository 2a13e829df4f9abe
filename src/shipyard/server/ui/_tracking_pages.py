"""The UI's pages: each takes the services and the query, calls the tracking service, and renders a template.

Every function here is synchronous and runs in a worker thread (see ``routes.page``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

from shipyard._ids import canonical_experiment_id
from shipyard.artifacts import safe_relpath
from shipyard.auth import Level
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.server._context import AppContext
from shipyard.server.ui import _artifacts, _model_pages, _views
from shipyard.server.ui._render import render
from shipyard.server.ui._viewer import Viewer
from shipyard.tracking import search
from shipyard.tracking.entities import Run, ViewType

__all__ = ["compare_page", "experiments_page", "raw_artifact", "run_page", "runs_page"]

EXPERIMENTS_PER_PAGE = 100
DEFAULT_RUNS_PER_PAGE = 100
MAX_RUNS_PER_PAGE = 1000
MAX_CHARTS = 50
MAX_COMPARED_RUNS = 20
_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
_DEFAULT_ORDER = search.OrderKey(search.Kind.ATTRIBUTE, "start_time", ascending=False)


# ------------------------------------------------------------------------------------------ query values
def _view(query: QueryParams) -> str:
    view = query.get("view", "active") or "active"
    if view not in _VIEWS:
        raise InvalidParameter(f"Invalid view {view!r}: expected one of {', '.join(_VIEWS)}.")
    return view


def _int(query: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidParameter(f"Invalid {name} {raw!r}: expected a whole number from {low} to {high}.")
    return int(raw)


def _run_ids(query: QueryParams) -> list[str]:
    """Run ids from ``?runs=a,b`` and from repeated ``?runs=a&runs=b`` (what the runs-table form sends)."""
    ids: list[str] = []
    for value in query.getlist("runs"):
        ids.extend(part.strip() for part in value.split(",") if part.strip())
    unique = list(dict.fromkeys(ids))
    if len(unique) < 2:
        raise InvalidParameter("Pick at least two runs to compare, e.g. /compare?runs=<run id>,<run id>.")
    if len(unique) > MAX_COMPARED_RUNS:
        raise InvalidParameter(f"Compare at most {MAX_COMPARED_RUNS} runs at a time; {len(unique)} were given.")
    return unique


def _labels(runs: list[Run]) -> list[str]:
    """Legend labels: run names, with a short id added where two runs share a name."""
    names = [run.run_name or run.run_id[:8] for run in runs]
    counts = Counter(names)
    return [name if counts[name] == 1 else f"{name} ({run.run_id[:8]})" for name, run in zip(names, runs, strict=True)]


# ---------------------------------------------------------------------------------------------------- pages
def experiments_page(ctx: AppContext, viewer: Viewer, query: QueryParams, _path: dict[str, Any]) -> Response:
    """The experiments list, active or deleted (only those the viewer may read)."""
    view = _view(query)
    token = query.get("page_token") or None
    experiments, next_token = ctx.tracking.search_experiments(
        view_type=_VIEWS[view],
        max_results=EXPERIMENTS_PER_PAGE,
        page_token=token,
        visible=ctx.permissions.visible(viewer.principal, "experiment"),  # filtered in SQL: full pages, no oracle
    )
    return render(
        "experiments.html", viewer=viewer, experiments=experiments, view=view, page_token=token, next_token=next_token
    )


def runs_page(ctx: AppContext, viewer: Viewer, query: QueryParams, path: dict[str, Any]) -> Response:
    """An experiment's runs: a sortable, filterable table with a param and a metric column per key."""
    experiment_id = canonical_experiment_id(path["experiment_id"], "experiment id")  # "02" is "2"; "٢" is refused
    ctx.access.experiment(viewer.principal, experiment_id, Level.READ)
    experiment = ctx.tracking.get_experiment(experiment_id)
    view = _view(query)
    max_results = _int(query, "max", DEFAULT_RUNS_PER_PAGE, 1, MAX_RUNS_PER_PAGE)
    filter_text = query.get("filter", "")
    order = query.get("order", "").strip()
    token = query.get("page_token") or None
    runs: list[Run] = []
    next_token = None
    error = None
    current = _DEFAULT_ORDER
    try:
        current = _views.parse_order(order) or _DEFAULT_ORDER
        runs, next_token = ctx.tracking.search_runs(
            [experiment.experiment_id],
            filter_text or None,
            _VIEWS[view],
            max_results,
            [order] if order else [],
            token,
        )
    except InvalidParameter as exc:  # a filter or sort the grammar rejects: say why, next to the box
        error = exc.message
    attributes, params, metrics = _views.sort_columns(runs, current)
    rows = [(run, _views.latest_metrics(run)) for run in runs]
    state = {
        "filter": filter_text,
        "order": order,
        "view": view if view != "active" else "",
        "max": str(max_results) if max_results != DEFAULT_RUNS_PER_PAGE else "",
    }
    return render(
        "runs.html",
        viewer=viewer,
        status_code=400 if error else 200,
        experiment=experiment,
        rows=rows,
        attributes=attributes,
        params=params,
        metrics=metrics,
        state=state,
        error=error,
        page_token=token,
        next_token=next_token,
    )


def run_page(ctx: AppContext, viewer: Viewer, query: QueryParams, path: dict[str, Any]) -> Response:
    """One run: overview, params, metrics with charts, lineage, inputs, tags and artifacts."""
    run = ctx.tracking.get_run(path["run_id"])
    ctx.access.experiment(viewer.principal, run.experiment_id, Level.READ)
    experiment = ctx.tracking.get_experiment(run.experiment_id)
    latest = sorted(run.metrics, key=lambda m: m.key)
    charts = []
    for metric in latest[:MAX_CHARTS]:
        history = ctx.tracking.store.histories([run.run_id], metric.key).get(run.run_id, [])
        charts.append({"key": metric.key, "series": [{"name": run.run_name, "points": _views.chart_points(history)}]})
    root = _artifacts.artifact_root(run)
    tree: list[_artifacts.Node] = []
    tree_cut, requirements = False, None
    if root is not None:
        tree, tree_cut = _artifacts.artifact_tree(ctx.artifacts, root)
        requirements = _artifacts.read_requirements(ctx.artifacts, root)
    selected = safe_relpath(query.get("artifact", ""))
    preview, preview_error = None, None
    if selected and root is not None:
        try:
            preview = _artifacts.preview(ctx.artifacts, root, selected)
        except ResourceNotFound:
            preview_error = f"No artifact file at {selected!r} in this run."
    model_versions, logged_models = _model_pages.run_models(ctx, viewer, run.run_id)
    return render(
        "run.html",
        viewer=viewer,
        status_code=404 if preview_error else 200,
        run=run,
        experiment=experiment,
        latest=latest,
        charts=charts,
        more_charts=max(0, len(latest) - MAX_CHARTS),
        params=sorted(run.params.items()),
        tags=sorted(run.tags.items()),
        lineage=_views.lineage_facts(run.tags),
        lineage_extra=_views.extra_lineage_tags(run.tags),
        requirements=requirements,
        tree=tree,
        tree_cut=tree_cut,
        artifacts_here=root is not None,
        selected=selected,
        preview=preview,
        preview_error=preview_error,
        model_versions=model_versions,
        logged_models=logged_models,
    )


def compare_page(ctx: AppContext, viewer: Viewer, query: QueryParams, _path: dict[str, Any]) -> Response:
    """Two or more runs side by side: differing params highlighted, metrics overlaid per key."""
    runs = [ctx.tracking.get_run(run_id) for run_id in _run_ids(query)]
    for run in runs:
        ctx.access.experiment(viewer.principal, run.experiment_id, Level.READ)
    labels = _labels(runs)
    experiments = {e: ctx.tracking.get_experiment(e).name for e in {run.experiment_id for run in runs}}
    params = _views.diff_rows(runs, lambda run: run.params)
    metrics = _views.diff_rows(runs, lambda run: {m.key: m.value for m in run.metrics})
    run_ids = [run.run_id for run in runs]
    charts = []
    for row in metrics[:MAX_CHARTS]:
        histories = ctx.tracking.store.histories(run_ids, row.key)
        series = [
            {"name": label, "points": _views.chart_points(histories.get(run.run_id, []))}
            for run, label in zip(runs, labels, strict=True)
        ]
        charts.append({"key": row.key, "series": series})
    return render(
        "compare.html",
        viewer=viewer,
        runs=runs,
        labels=labels,
        experiments=experiments,
        params=params,
        metrics=metrics,
        charts=charts,
        more_charts=max(0, len(metrics) - MAX_CHARTS),
    )


def raw_artifact(ctx: AppContext, viewer: Viewer, query: QueryParams, path: dict[str, Any]) -> Response:
    """One artifact file as is: inline for text and images, a download for anything else."""
    run = ctx.tracking.get_run(path["run_id"])
    ctx.access.experiment(viewer.principal, run.experiment_id, Level.READ)
    root = _artifacts.artifact_root(run)
    if root is None:
        raise ResourceNotFound(f"Run {run.run_id}'s artifacts are stored outside this server ({run.artifact_uri}).")
    rel = safe_relpath(query.get("path", ""))
    download = query.get("download", "") not in ("", "0", "false")
    try:
        return _artifacts.raw_response(ctx.artifacts, root, rel, download=download)
    except ResourceNotFound:
        raise ResourceNotFound(f"No artifact file at {rel!r} in run {run.run_id}.") from None
