"""Which query a run search sends, so that PostgreSQL answers fast even on tables it has never analysed.

Without statistics PostgreSQL guesses one row for every filter, and the join it then picks may rescan every run
holding a param value once per run: 230 s at 39,347 runs. The shapes in `RunQueryShape` leave it no such plan.
On PostgreSQL, a search first counts the runs it covers, up to `PER_RUN_MAX_RUNS`:

1. In a small experiment, ``PER_RUN``: every run, one exact lookup per filter.
2. In a large one, when the order starts with a metric or ``start_time``, a **window**: the first runs by that key,
   read in index order (a few thousand at most, scaled to the page), each checked by exact lookups; when the
   window holds the whole page and the page ends strictly inside it, that page is the answer (every run outside
   the window sorts after it). A search ordered by ``metrics.acc DESC`` reads a few hundred rows, not 100,000.
3. Otherwise, ``CANDIDATES``: the filters' run ids intersected by hashing, then those runs by primary key.

SQLite keeps its joins (``JOINS``): its planner needs no statistics and was measured fast with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Select, String, bindparam, false, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from shipyard._visibility import EVERYTHING, Visible
from shipyard.filters import IS_NOT_NULL, Comparison, Kind, OrderKey
from shipyard.filters.sql import check_page, metric_condition
from shipyard.tracking._search_sql import (
    _KEYED_TABLES,
    PER_RUN_MAX_RUNS,
    RunQueryShape,
    _fenced_exists,
    _fenced_filters,
    _keyed_scalar,
    _order_clauses,
    _order_column,
    _scope,
    has_candidate_filters,
    run_count_query,
    runs_query,
)
from shipyard.tracking.tables import latest_metrics, runs

__all__ = ["for_runs", "search_run_ids", "window_query"]

# The window reads this many rows per row of the page asked for (offset included), within these bounds. A filter
# keeping one run in eight still fills the page from the window.
_WINDOW_PER_ROW = 8
_WINDOW_MIN = 1_000
_WINDOW_MAX = 20_000
_DEFAULT_ORDER = (OrderKey(Kind.ATTRIBUTE, "start_time", ascending=False),)


class Window(NamedTuple):
    """The first runs by the leading order key, and how many rows that window reads at most."""

    query: Select[Any]  # (run_uuid, v: the leading key's value, window_rows, edge), one page in search order
    size: int
    ascending: bool


def _window_source(
    first: OrderKey,
    comparisons: Sequence[Comparison],
    experiment_ids: Sequence[int],
    lifecycle_stages: Sequence[str],
    visible: Visible,
) -> tuple[Select[Any], ColumnElement[Any]] | None:
    """The rows that have a real value of the leading key, and that value's column; None when no index orders it."""
    if first.kind is Kind.METRIC:
        on_key = [c for c in comparisons if c.kind is Kind.METRIC and c.key == first.key]
        m = latest_metrics
        where = [m.c.key == first.key, m.c.is_nan == false()]
        where += [metric_condition(m, c.op, c.value) for c in on_key if c.op != IS_NOT_NULL]
        return select(m.c.run_uuid, m.c.value.label("v")).where(*where), m.c.value
    if first.kind is Kind.ATTRIBUTE and first.key == "start_time":
        if len(experiment_ids) != 1 or len(lifecycle_stages) != 1:
            return None  # the runs index orders by start_time within one experiment and stage only
        where = [*_scope(experiment_ids, lifecycle_stages, visible), runs.c.start_time.is_not(None)]
        return select(runs.c.run_uuid, runs.c.start_time.label("v")).where(*where), runs.c.start_time
    return None


def window_query(
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    experiment_ids: Sequence[int],
    lifecycle_stages: Sequence[str],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
    size: int | None = None,
) -> Window | None:
    """A page of runs taken from the first runs by the leading order key, or None when the order cannot use one.

    ``size`` (rows the window reads) defaults to eight per row of the page, within 1,000 and 20,000.

    Run it with ``enable_sort`` off, so that PostgreSQL reads the window in index order. Every other condition is a
    lookup per window row, and the outer query reads nothing but the window: no join is left for a planner without
    statistics to get wrong.
    """
    check_page(offset, limit)
    keys = tuple(order_keys) or _DEFAULT_ORDER
    first = keys[0]
    source = _window_source(first, comparisons, experiment_ids, lifecycle_stages, visible)
    if source is None:
        return None
    rows, column = source
    if size is None:
        size = min(max(_WINDOW_MIN, _WINDOW_PER_ROW * (offset + limit)), _WINDOW_MAX)
    ordered = rows.order_by(column.asc() if first.ascending else column.desc()).limit(size)
    window = ordered.cte("run_window").prefix_with("MATERIALIZED")
    run_id = window.c.run_uuid
    _, attributes, checks = _fenced_filters(comparisons, RunQueryShape.PER_RUN, run_id)
    scope = _scope(experiment_ids, lifecycle_stages, visible, indexed=False)
    in_scope = _fenced_exists(select(runs.c.run_uuid).where(runs.c.run_uuid == run_id, *scope, *attributes))

    def value_of(key: OrderKey) -> tuple[ColumnElement[Any], ColumnElement[Any] | None]:
        if key is first:
            return window.c.v, None  # a real value for every window row: no NaN or missing group to place
        if key.kind in _KEYED_TABLES:
            nan = _keyed_scalar(key.kind, key.key, "is_nan", run_id) if key.kind is Kind.METRIC else None
            return _keyed_scalar(key.kind, key.key, "value", run_id), nan
        return _run_column(_order_column(key), run_id), None

    order = _order_clauses(keys, value_of, _run_column(runs.c.start_time, run_id), run_id)
    edge = func.max(window.c.v) if first.ascending else func.min(window.c.v)
    stats = (
        select(func.count()).select_from(window).scalar_subquery().label("window_rows"),
        select(edge).scalar_subquery().label("edge"),
    )
    query = select(run_id, window.c.v, *stats).where(in_scope, *checks).order_by(*order).offset(offset).limit(limit)
    return Window(query, size, first.ascending)


def _run_column(column: ColumnElement[Any], run_id: ColumnElement[Any]) -> Any:
    """A column of the run ``run_id``, looked up by primary key."""
    return select(column).where(runs.c.run_uuid == run_id).scalar_subquery()


def _page_from_window(conn: Connection, window: Window, limit: int) -> list[str] | None:
    """The page, when the window alone decides it; None when runs outside it could belong on the page."""
    # For this statement only: read the window in index order. The penalty that steers the planner off sorting
    # also lifts the plan's cost past jit_above_cost, and compiling it would take longer than running it.
    conn.exec_driver_sql("SET LOCAL enable_sort = off; SET LOCAL jit = off")
    rows = conn.execute(window.query).all()
    conn.exec_driver_sql("RESET enable_sort; RESET jit")
    if len(rows) < limit:
        return None  # the rest of the page lies beyond the window, or among runs with NaN or without the key
    if rows[0].window_rows < window.size:
        return [row.run_uuid for row in rows]  # the window holds every run with a value: nothing is missing
    last = rows[-1].v
    inside = last < rows[0].edge if window.ascending else last > rows[0].edge
    # A run outside the window may tie with the edge and then sort before a window run of equal value.
    return [row.run_uuid for row in rows] if inside else None


def search_run_ids(
    conn: Connection,
    *,
    sqlite: bool,
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    experiment_ids: Sequence[int],
    lifecycle_stages: Sequence[str],
    offset: int,
    limit: int,
    visible: Visible = EVERYTHING,
    per_run_max_runs: int = PER_RUN_MAX_RUNS,
    window_size: int | None = None,
) -> list[str]:
    """The ids of one page of a run search, in search order, in the shape that suits the database and the data.

    Args:
        conn: a connection inside a read transaction.
        sqlite: whether the database is SQLite (else PostgreSQL).
        comparisons: the parsed filter.
        order_keys: the parsed order (empty: MLflow's default, ``start_time DESC``).
        experiment_ids: the experiments searched.
        lifecycle_stages: the stages included.
        offset: rows to skip.
        limit: rows to return.
        visible: the experiments the caller may see.
        per_run_max_runs: the largest search that reads every run (tests lower it).
        window_size: rows the window reads (tests lower it; default: see `window_query`).
    """
    args = (comparisons, order_keys, experiment_ids, lifecycle_stages, offset, limit)
    if sqlite:
        return [row[0] for row in conn.execute(runs_query(*args, visible=visible, shape=RunQueryShape.JOINS))]
    cap = per_run_max_runs + 1
    covered = conn.execute(run_count_query(experiment_ids, lifecycle_stages, cap, visible=visible)).scalar_one()
    shape = RunQueryShape.PER_RUN
    if covered >= cap:
        window = window_query(*args, visible=visible, size=window_size)
        page = _page_from_window(conn, window, limit) if window is not None else None
        if page is not None:
            return page
        if has_candidate_filters(comparisons):
            shape = RunQueryShape.CANDIDATES
    return [row[0] for row in conn.execute(runs_query(*args, visible=visible, shape=shape))]


_FOR_RUNS: dict[str, Select[Any]] = {}


def for_runs(
    name: str, query: Select[Any], run_id: ColumnElement[Any], ids: Sequence[str], *, sqlite: bool
) -> tuple[Select[Any], dict[str, Any]]:
    """``query`` restricted to the runs ``ids``: an IN list on SQLite, one primary-key lookup per id on PostgreSQL.

    Without statistics PostgreSQL takes ``run_uuid IN (100 ids)`` on params, tags or metrics to match half the table
    and reads all of it (a quarter of a second at 100,000 runs); a lateral subquery per id can only be a lookup.
    The PostgreSQL statement is built once per ``name`` (building it costs more than running it).

    Returns:
        The statement and its parameters, for ``conn.execute``.
    """
    if sqlite:
        return query.where(run_id.in_(list(ids))), {}
    statement = _FOR_RUNS.get(name)
    if statement is None:
        ids_param = bindparam("run_ids", type_=ARRAY(String()))
        wanted = func.unnest(ids_param).table_valued("run_uuid").render_derived(name="wanted")
        found = query.where(run_id == wanted.c.run_uuid).offset(0).lateral("found")
        statement = _FOR_RUNS[name] = select(*found.c).select_from(wanted.join(found, true()))
    return statement, {"run_ids": list(ids)}
