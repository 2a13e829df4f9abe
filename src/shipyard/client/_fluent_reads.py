"""The fluent API's reads: a run, a metric's history, and runs searched into a pandas DataFrame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.client._fluent_state import flush_for_read, state
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import Metric, Run, ViewType

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["get_metric_history", "get_run", "search_runs"]


def get_run(run_id: str) -> Run:
    """A run with its latest metrics, params and tags (what this process logged to it is sent first)."""
    flush_for_read()
    return state.get_backend().get_run(state.get_logger().server_id(run_id))


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of a run."""
    flush_for_read()
    return state.get_backend().get_metric_history(state.get_logger().server_id(run_id), key)


def search_runs(
    experiment_names: list[str] | None = None,
    *,
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100_000,
    view: str = "active",
) -> pd.DataFrame:
    """Runs matching MLflow's filter grammar as a pandas DataFrame (``metrics.*``, ``params.*``, ``tags.*``).

    Example:
        >>> sy.search_runs(["iris"], filter_string="metrics.acc > 0.9", order_by=["metrics.acc DESC"])  # doctest: +SKIP
    """
    import pandas as pd

    backend = state.get_backend()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        experiment = backend.get_experiment_by_name(name)
        if experiment is None:
            raise InvalidParameter(f"No experiment named {name!r}.")
        ids.append(experiment.experiment_id)
    if not ids:
        ids = [state.experiment_id or "0"]
    view_type = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}.get(view)
    if view_type is None:
        raise InvalidParameter(f"view must be 'active', 'deleted' or 'all', got {view!r}.")
    flush_for_read()
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while len(rows) < max_results:
        page, token = backend.search_runs(
            ids, filter_string, view_type, min(1000, max_results - len(rows)), order_by or [], token
        )
        rows.extend(_run_row(r) for r in page)
        if not token:
            break
    columns = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    for col in ("start_time", "end_time"):
        frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
    return frame


def _run_row(run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "run_name": run.run_name,
        "status": run.status,
        "start_time": run.start_time_ms,
        "end_time": run.end_time_ms,
    }
    row.update({f"metrics.{m.key}": m.value for m in run.metrics})
    row.update({f"params.{k}": v for k, v in run.params.items()})
    row.update({f"tags.{k}": v for k, v in run.tags.items()})
    return row
