"""Compiles parsed search filters and order keys into SQLAlchemy selects over the tracking tables.

Semantics follow MLflow's SQL store, made identical on SQLite and PostgreSQL:

* A metric, param or tag comparison matches runs that have that key and whose value satisfies it; a run
  without the key never matches (``!=`` and ``NOT IN`` included). ``IS NULL`` / ``IS NOT NULL`` test
  whether the key is present. NaN metrics (stored as value 0 with ``is_nan`` set) satisfy only ``!=``.
* Dataset comparisons match runs with at least one dataset input satisfying them, each comparison on its
  own (``dataset.name = 'a' AND dataset.digest = 'x'`` may be met by two different inputs, as in MLflow).
  ``context`` is the ``mlflow.data.context`` key of ``run_inputs.tags_json`` (a JSON object), read with
  the database's JSON functions so LIKE and IN work on the value itself and paging stays in SQL.
* ``LIKE`` / ``ILIKE``, numeric binds, NaN and the code-point order of strings are the filter grammar's
  shared SQL (`shipyard.filters.sql`).
* Order: each order key, rows missing the key (or a NULL attribute) last in both directions, NaN metrics
  after real values and before missing ones; then ``start_time DESC`` (NULL last, also on PostgreSQL
  where MLflow puts it first) unless start_time was an order key; then ``run_uuid`` ascending.
  Experiments: ``creation_time DESC, experiment_id ASC`` by default, and an ``experiment_id DESC``
  tie-break after explicit keys, exactly as MLflow.

Indexes relied on: ``runs (experiment_id, lifecycle_stage, start_time)``; the primary keys
``(run_uuid, key)`` of latest_metrics, params and tags (one row per run and key, so joins never duplicate
runs); ``latest_metrics (key, value, run_uuid)`` and ``params (key, value, run_uuid)`` for selective filters
and exact lookups; ``tags (key, run_uuid)``; ``run_inputs (run_uuid, dataset_uuid)``; ``experiment_tags (experiment_id,
key)``. How a run search is shaped for each database, so that PostgreSQL plans it well without statistics, is
`RunQueryShape`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, FromClause, Select, and_, exists, func, intersect, select

from shipyard._visibility import EVERYTHING, Visible
from shipyard.errors import InvalidParameter
from shipyard.filters import IS_NOT_NULL, IS_NULL, Comparison, Kind, OrderKey, Value
from shipyard.filters.sql import (
    JsonTextField,
    attribute_condition,
    check_page,
    keyed_exists,
    metric_condition,
    metric_order,
    sortable,
    string_condition,
    visible_condition,
)
from shipyard.tracking.tables import (
    datasets,
    experiment_tags,
    experiments,
    latest_metrics,
    params,
    run_inputs,
    runs,
    tags,
)

__all__ = [
    "PER_RUN_MAX_RUNS",
    "RunQueryShape",
    "experiments_query",
    "has_candidate_filters",
    "run_count_query",
    "runs_query",
]

DATASET_CONTEXT_KEY = "mlflow.data.context"

# Beyond this many keyed joins, further filters become EXISTS subqueries (SQLite allows 64 tables a join).
_MAX_JOINS = 24

_RUN_COLUMNS: dict[str, ColumnElement[Any]] = {
    "run_id": runs.c.run_uuid,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
}

_EXPERIMENT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "experiment_id": experiments.c.experiment_id,
    "name": experiments.c.name,
    "creation_time": experiments.c.creation_time,
    "last_update_time": experiments.c.last_update_time,
}

# ---------------------------------------------------------------------------------------------------------
# Conditions


_KEYED_TABLES: dict[Kind, FromClause] = {Kind.METRIC: latest_metrics, Kind.PARAM: params, Kind.TAG: tags}


def _keyed_condition(kind: Kind, table: FromClause, op: str, value: Value) -> ColumnElement[bool]:
    if kind is Kind.METRIC:
        return metric_condition(table, op, value)
    return string_condition(table.c.value, op, value)


def _dataset_select(comparison: Comparison, run_id: ColumnElement[Any] = runs.c.run_uuid) -> Select[Any]:
    """The dataset inputs of the run ``run_id`` that satisfy a dataset comparison (for EXISTS)."""
    if comparison.key == "context":
        column: ColumnElement[Any] = JsonTextField(run_inputs.c.tags_json, DATASET_CONTEXT_KEY)
    elif comparison.key in ("name", "digest"):
        column = datasets.c[comparison.key]
    else:
        raise InvalidParameter(f"'{comparison.key}' is not a dataset field; use name, digest or context.")
    return (
        select(run_inputs.c.run_uuid)
        .select_from(run_inputs.join(datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid))
        .where(run_inputs.c.run_uuid == run_id, string_condition(column, comparison.op, comparison.value))
    )


# ---------------------------------------------------------------------------------------------------------
# Runs


class RunQueryShape(enum.Enum):
    """How a run search is put to the database; every shape returns the same runs in the same order.

    * ``JOINS`` (SQLite): each keyed filter is inner-joined by (run, key). SQLite's planner, which keeps no
      statistics unless asked, walks the experiment's runs (or the most selective index) and probes each key's
      primary key.
    * ``PER_RUN`` (PostgreSQL, experiments of at most `PER_RUN_MAX_RUNS` runs): the experiment's runs are read
      through their index and each filter is one fenced lookup per run.
    * ``CANDIDATES`` (PostgreSQL, larger experiments): the run ids each positive keyed filter matches are read
      from its ``(key, value, run_uuid)`` index and intersected first (by hashing), then only those runs are read,
      by primary key; the experiment is checked on each of them.

    The PostgreSQL shapes leave the planner no plan whose cost grows with the product of two row counts, whatever
    its row estimates: without statistics it guesses one row for every filter, and a plain join then rescans all
    runs holding a param value once per run (230 s at 39,347 runs).
    """

    JOINS = "joins"
    PER_RUN = "per_run"
    CANDIDATES = "candidates"


# Above this many runs in the searched experiments, PostgreSQL intersects the filters' run ids first.
PER_RUN_MAX_RUNS = 5_000


class _RunJoins:
    """One alias of latest_metrics / params / tags per (kind, key): inner-joined to filter, outer to sort.

    (run_uuid, key) is each table's primary key, so no join multiplies runs. Past ``_MAX_JOINS`` aliases,
    filters fall back to EXISTS and sort keys to scalar subqueries, which need no join.
    """

    def __init__(self) -> None:
        self.inner: dict[tuple[Kind, str], FromClause] = {}
        self.inner_conditions: dict[tuple[Kind, str], list[ColumnElement[bool]]] = {}
        self.outer: dict[tuple[Kind, str], FromClause] = {}

    def _alias(self, kind: Kind) -> FromClause | None:
        number = len(self.inner) + len(self.outer)
        return None if number >= _MAX_JOINS else _KEYED_TABLES[kind].alias(f"{kind.value}_{number}")

    def filtered(self, kind: Kind, key: str) -> FromClause | None:
        """The inner-joined alias for this key, or None once the join budget is spent."""
        if (kind, key) not in self.inner:
            table = self._alias(kind)
            if table is None:
                return None
            self.inner[(kind, key)] = table
            self.inner_conditions[(kind, key)] = []
        return self.inner[(kind, key)]

    def sorted(self, kind: Kind, key: str) -> FromClause | None:
        """An alias to sort by (the filter's inner join if any, else an outer join), or None past the budget."""
        if (kind, key) in self.inner:
            return self.inner[(kind, key)]
        if (kind, key) not in self.outer:
            table = self._alias(kind)
            if table is None:
                return None
            self.outer[(kind, key)] = table
        return self.outer[(kind, key)]

    def from_clause(self) -> FromClause:
        joined: FromClause = runs
        for (_, key), table in self.inner.items():
            joined = joined.join(table, and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == key))
        for (_, key), table in self.outer.items():
            joined = joined.outerjoin(table, and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == key))
        return joined


def _fenced_exists(query: Select[Any]) -> ColumnElement[bool]:
    """EXISTS that PostgreSQL keeps as a subplan run once per outer row, with the run id as a constant.

    PostgreSQL turns a plain EXISTS into a join, and without statistics it may pick an inner side that reads every
    row of a key for each run. OFFSET 0 forbids that rewrite (it cannot know the offset changes nothing); inside
    the subplan the run id is an index condition, so each check is one descent of a primary key or of
    ``(key, value, run_uuid)``. SQLite reads the OFFSET as the no-op it is.
    """
    return exists(query.offset(0))


def _keyed_select(kind: Kind, key: str, op: str | None = None, value: Value = None) -> Select[Any]:
    """The run ids that have this key (and whose value satisfies ``op value`` when given)."""
    table = _KEYED_TABLES[kind]
    where = [table.c.key == key]
    if op is not None:
        where.append(_keyed_condition(kind, table, op, value))
    return select(table.c.run_uuid).where(*where)


def _keyed_exists(kind: Kind, key: str, op: str | None = None, value: Value = None) -> ColumnElement[bool]:
    """EXISTS a row for this run and key (that also satisfies ``op value`` when given)."""
    table = _KEYED_TABLES[kind]
    return exists(_keyed_select(kind, key, op, value).where(table.c.run_uuid == runs.c.run_uuid))


def _keyed_scalar(kind: Kind, key: str, column: str, run_id: ColumnElement[Any] = runs.c.run_uuid) -> Any:
    """The value (or another column) of one key of the run whose id is ``run_id``, as a scalar subquery."""
    table = _KEYED_TABLES[kind]
    return select(table.c[column]).where(table.c.run_uuid == run_id, table.c.key == key).scalar_subquery()


def _attribute_condition(comparison: Comparison) -> ColumnElement[bool]:
    return attribute_condition(_RUN_COLUMNS, "run", comparison)


def _run_filters(comparisons: Sequence[Comparison], joins: _RunJoins) -> list[ColumnElement[bool]]:
    """The ``JOINS`` shape: keyed filters become inner joins (EXISTS past the join budget)."""
    where: list[ColumnElement[bool]] = []
    for comparison in comparisons:
        kind, key, op, value = comparison.kind, comparison.key, comparison.op, comparison.value
        if kind is Kind.ATTRIBUTE:
            where.append(_attribute_condition(comparison))
        elif kind is Kind.DATASET:
            where.append(exists(_dataset_select(comparison)))
        elif kind in _KEYED_TABLES:
            if op in (IS_NULL, IS_NOT_NULL):
                present = _keyed_exists(kind, key)
                where.append(~present if op == IS_NULL else present)
                continue
            table = joins.filtered(kind, key)
            if table is None:
                where.append(_keyed_exists(kind, key, op, value))
            else:
                joins.inner_conditions[(kind, key)].append(_keyed_condition(kind, table, op, value))
        else:
            raise InvalidParameter(f"Runs cannot be filtered by {kind.value}s.")
    for conditions in joins.inner_conditions.values():
        where.extend(conditions)
    return where


def _is_candidate_filter(comparison: Comparison) -> bool:
    return comparison.kind in _KEYED_TABLES and comparison.op != IS_NULL


def has_candidate_filters(comparisons: Sequence[Comparison]) -> bool:
    """Whether a parsed run filter names a metric, param or tag that a run must have (``IS NULL`` aside).

    Only such a filter can narrow a search before the runs are read, so only then does the choice between the
    ``PER_RUN`` and ``CANDIDATES`` shapes matter.
    """
    return any(_is_candidate_filter(c) for c in comparisons)


class _FencedFilters(NamedTuple):
    """A run filter as the PostgreSQL shapes put it."""

    members: list[Select[Any]]  # CANDIDATES: the run id sets to intersect
    attributes: list[ColumnElement[bool]]  # conditions on the runs table's own columns
    checks: list[ColumnElement[bool]]  # fenced lookups, one per run


def _fenced_filters(
    comparisons: Sequence[Comparison], shape: RunQueryShape, run_id: ColumnElement[Any] = runs.c.run_uuid
) -> _FencedFilters:
    """A filter for the PostgreSQL shapes; the per-run lookups are correlated to ``run_id``."""
    found = _FencedFilters([], [], [])
    for comparison in comparisons:
        kind, key, op, value = comparison.kind, comparison.key, comparison.op, comparison.value
        if kind is Kind.ATTRIBUTE:
            found.attributes.append(_attribute_condition(comparison))
        elif kind is Kind.DATASET:
            found.checks.append(_fenced_exists(_dataset_select(comparison, run_id)))
        elif kind in _KEYED_TABLES:
            if shape is RunQueryShape.CANDIDATES and _is_candidate_filter(comparison):
                found.members.append(_keyed_select(kind, key, None if op == IS_NOT_NULL else op, value))
                continue
            table = _KEYED_TABLES[kind]
            per_run = _keyed_select(kind, key, None if op in (IS_NULL, IS_NOT_NULL) else op, value)
            present = _fenced_exists(per_run.where(table.c.run_uuid == run_id))
            found.checks.append(~present if op == IS_NULL else present)
        else:
            raise InvalidParameter(f"Runs cannot be filtered by {kind.value}s.")
    return found


def _order_clauses(
    order_keys: Sequence[OrderKey],
    value_of: Callable[[OrderKey], tuple[ColumnElement[Any], ColumnElement[Any] | None]],
    start_time: ColumnElement[Any],
    run_id: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """MLflow's run order: each key (``value_of`` gives its value, and for a metric its NaN flag), then the
    ``start_time DESC`` and run id tie-breaks."""
    clauses: list[ColumnElement[Any]] = []
    for key in order_keys:
        value, is_nan = value_of(key)
        if is_nan is not None:
            clauses += metric_order(value, is_nan, ascending=key.ascending)
            continue
        value = sortable(value)
        clauses.append((value.asc() if key.ascending else value.desc()).nulls_last())
    if not any(k.kind is Kind.ATTRIBUTE and k.key == "start_time" for k in order_keys):
        clauses.append(start_time.desc().nulls_last())
    clauses.append(sortable(run_id).asc())
    return clauses


def _order_column(key: OrderKey) -> ColumnElement[Any]:
    if key.kind is Kind.ATTRIBUTE:
        column = _RUN_COLUMNS.get(key.key)
        if column is None:
            raise InvalidParameter(f"Runs cannot be sorted by '{key.key}'.")
        return column
    raise InvalidParameter(f"Runs cannot be sorted by {key.kind.value}s.")


def _run_order(order_keys: Sequence[OrderKey], joins: _RunJoins) -> list[ColumnElement[Any]]:
    def value_of(key: OrderKey) -> tuple[ColumnElement[Any], ColumnElement[Any] | None]:
        if key.kind not in _KEYED_TABLES:
            return _order_column(key), None
        table = joins.sorted(key.kind, key.key)
        metric = key.kind is Kind.METRIC
        if table is None:
            nan = _keyed_scalar(key.kind, key.key, "is_nan") if metric else None
            return _keyed_scalar(key.kind, key.key, "value"), nan
        return table.c.value, table.c.is_nan if metric else None

    return _order_clauses(order_keys, value_of, runs.c.start_time, runs.c.run_uuid)


def _scope(
    experiment_ids: Sequence[int], lifecycle_stages: Sequence[str], visible: Visible, *, indexed: bool = True
) -> list[ColumnElement[bool]]:
    """The searched experiments and stages, and the caller's visibility.

    ``indexed=False`` hides the columns from the planner (``experiment_id + 0``): the ``CANDIDATES`` shape checks
    them on each candidate run, and must not let a one-row guess for "runs of this experiment" drive the plan.
    """
    experiment: ColumnElement[Any] = runs.c.experiment_id if indexed else runs.c.experiment_id + 0
    stage: ColumnElement[Any] = runs.c.lifecycle_stage if indexed else runs.c.lifecycle_stage + ""
    return [
        experiment.in_(list(experiment_ids)),
        stage.in_(list(lifecycle_stages)),
        *visible_condition(experiment, visible),
    ]


def run_count_query(
    experiment_ids: Sequence[int], lifecycle_stages: Sequence[str], cap: int, *, visible: Visible = EVERYTHING
) -> Select[Any]:
    """How many runs a search covers, counted up to ``cap`` (it reads at most ``cap`` entries of the runs index)."""
    covered = select(runs.c.run_uuid).where(*_scope(experiment_ids, lifecycle_stages, visible)).limit(cap).subquery()
    return select(func.count()).select_from(covered)


def runs_query(
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    experiment_ids: Sequence[int],
    lifecycle_stages: Sequence[str],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
    shape: RunQueryShape = RunQueryShape.JOINS,
) -> Select[str]:
    """The ids of the runs matching a parsed filter, in search order, one page of them.

    Args:
        comparisons: from :func:`shipyard.tracking.search.parse_filter` with ``RUN_SEARCH``.
        order_keys: from :func:`shipyard.tracking.search.parse_order_by` with ``RUN_SEARCH``.
        experiment_ids: the experiments to search (none: no rows).
        lifecycle_stages: the stages to include, e.g. ``("active",)``.
        offset: rows to skip (from the page token).
        limit: rows to return (callers ask for one more than a page to learn whether another follows).
        visible: the experiments the caller may see; runs of others are left out before the page is cut.
        shape: how to put the search to the database (see `RunQueryShape`); the answer is the same.

    Returns:
        A select of ``runs.run_uuid``.
    """
    check_page(offset, limit)
    joins = _RunJoins()
    if shape is RunQueryShape.JOINS:
        where = [*_scope(experiment_ids, lifecycle_stages, visible), *_run_filters(comparisons, joins)]
    else:
        members, attributes, checks = _fenced_filters(comparisons, shape)
        where = [*_scope(experiment_ids, lifecycle_stages, visible, indexed=not members), *attributes, *checks]
        if members:
            # MATERIALIZED: the intersection is computed once, by hashing, before any run is read.
            found = members[0] if len(members) == 1 else intersect(*members)
            candidates = found.cte("candidates").prefix_with("MATERIALIZED")
            where.append(runs.c.run_uuid.in_(select(candidates.c.run_uuid)))
    order = _run_order(order_keys, joins)
    return (
        select(runs.c.run_uuid)
        .select_from(joins.from_clause())
        .where(*where)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )


# ---------------------------------------------------------------------------------------------------------
# Experiments


def _experiment_filter(comparison: Comparison) -> ColumnElement[bool]:
    if comparison.kind is Kind.ATTRIBUTE:
        return attribute_condition(_EXPERIMENT_COLUMNS, "experiment", comparison)
    if comparison.kind is Kind.TAG:
        owner = [(experiment_tags.c.experiment_id, experiments.c.experiment_id)]
        return keyed_exists(experiment_tags, owner, comparison)
    raise InvalidParameter(f"Experiments cannot be filtered by {comparison.kind.value}s.")


def experiments_query(
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    lifecycle_stages: Sequence[str],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
) -> Select[int]:
    """The ids of the experiments matching a parsed filter, in search order, one page of them.

    Args:
        comparisons: from :func:`shipyard.tracking.search.parse_filter` with ``EXPERIMENT_SEARCH``.
        order_keys: from :func:`shipyard.tracking.search.parse_order_by` with ``EXPERIMENT_SEARCH``; empty
            means MLflow's default, ``creation_time DESC, experiment_id ASC``.
        lifecycle_stages: the stages to include.
        offset: rows to skip.
        limit: rows to return.
        visible: the experiments the caller may see; the others are left out before the page is cut.

    Returns:
        A select of ``experiments.experiment_id``.
    """
    check_page(offset, limit)
    order: list[ColumnElement[Any]] = []
    if not order_keys:
        order = [experiments.c.creation_time.desc(), experiments.c.experiment_id.asc()]
    for key in order_keys:
        column = _EXPERIMENT_COLUMNS.get(key.key) if key.kind is Kind.ATTRIBUTE else None
        if column is None:
            raise InvalidParameter(f"Experiments cannot be sorted by {key.kind.value} '{key.key}'.")
        by = sortable(column)
        order.append(by.asc() if key.ascending else by.desc())
    if order_keys and not any(k.kind is Kind.ATTRIBUTE and k.key == "experiment_id" for k in order_keys):
        order.append(experiments.c.experiment_id.desc())  # MLflow's tie-break after explicit keys
    return (
        select(experiments.c.experiment_id)
        .where(experiments.c.lifecycle_stage.in_(list(lifecycle_stages)))
        .where(*(_experiment_filter(c) for c in comparisons))
        .where(*visible_condition(experiments.c.experiment_id, visible))
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
