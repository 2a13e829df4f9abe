"""Every shape of a run search returns exactly what the join shape returns, in the same order, page by page.

The join shape is checked against MLflow itself (test_search_mlflow_parity.py); the PostgreSQL shapes (one lookup
per run, candidate ids first, the window over the leading order key) must agree with it row for row, on windows
that hold the whole answer, windows cut inside ties, and windows too small for the page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import Engine

from shipyard._visibility import EVERYTHING, Visible
from shipyard.tracking._run_search import _page_from_window, search_run_ids, window_query
from shipyard.tracking._search_sql import RunQueryShape, runs_query
from shipyard.tracking.search import RUN_SEARCH, parse_filter, parse_order_by
from tests.unit.tracking.test_search_mlflow_parity import FILTERS, ORDERS, _random_runs
from tests.unit.tracking.test_search_sql import (  # noqa: F401  # the engine fixtures are used by name
    RunRow,
    add_runs,
    clear,
    pg_engine,
    sqlite_engine,
)

PAGES = [(0, 1000), (3, 4)]  # (offset, limit)
# The parity suite's orders that lead with what a window can read (metrics, start_time), plus two it cannot.
SHAPE_ORDERS = [o for o in ORDERS if not o or o[0].startswith(("metrics.", "start_time", "attributes.start_time"))]
SHAPE_ORDERS += [["params.p"], ["status", "metrics.m DESC"]]
EXPERIMENTS = [1, 2]


@pytest.fixture(scope="module")
def pg_runs(pg_engine: Engine) -> Iterator[Engine]:  # noqa: F811  # the fixture imported above
    """The parity suite's random runs, spread over two experiments, some deleted, on PostgreSQL."""
    rows = [
        dataclasses.replace(row, experiment_id=1 + i % 2, lifecycle_stage="deleted" if i % 7 == 3 else "active")
        for i, row in enumerate(_random_runs(11))
    ]
    add_runs(pg_engine, *rows)
    yield pg_engine
    clear(pg_engine)


def _ids(
    engine: Engine,
    filter_string: str,
    order_by: Sequence[str],
    offset: int,
    limit: int,
    *,
    shape: RunQueryShape = RunQueryShape.JOINS,
    visible: Visible = EVERYTHING,
) -> list[str]:
    query = runs_query(
        parse_filter(filter_string, RUN_SEARCH),
        parse_order_by(list(order_by), RUN_SEARCH),
        EXPERIMENTS,
        ("active",),
        offset,
        limit,
        visible=visible,
        shape=shape,
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def _searched(
    engine: Engine, filter_string: str, order_by: Sequence[str], offset: int, limit: int, **knobs: int
) -> list[str]:
    with engine.connect() as conn, conn.begin():
        return search_run_ids(
            conn,
            sqlite=False,
            comparisons=parse_filter(filter_string, RUN_SEARCH),
            order_keys=parse_order_by(list(order_by), RUN_SEARCH),
            experiment_ids=EXPERIMENTS,
            lifecycle_stages=("active",),
            offset=offset,
            limit=limit,
            **knobs,  # type: ignore[arg-type]
        )


@pytest.mark.postgres
@pytest.mark.parametrize("filter_string", ["", *FILTERS])
def test_postgresql_shapes_return_the_join_shapes_pages(pg_runs: Engine, filter_string: str) -> None:
    mismatches = []
    for order_by in SHAPE_ORDERS:
        for offset, limit in PAGES:
            expected = _ids(pg_runs, filter_string, order_by, offset, limit)
            got = {
                "per_run": _ids(pg_runs, filter_string, order_by, offset, limit, shape=RunQueryShape.PER_RUN),
                "candidates": _ids(pg_runs, filter_string, order_by, offset, limit, shape=RunQueryShape.CANDIDATES),
            }
            for size in (2, 9, 1000):  # windows cut inside ties, too small for the page, and holding everything
                got[f"window {size}"] = _searched(
                    pg_runs, filter_string, order_by, offset, limit, per_run_max_runs=0, window_size=size
                )
            mismatches += [(order_by, offset, limit, name) for name, ids in got.items() if ids != expected]
    assert [] == mismatches


@pytest.fixture(scope="module")
def distinct_runs(pg_runs: Engine) -> Engine:
    """Thirty more runs in experiment 3, with distinct start times and metric values (no ties at a window's edge)."""
    rows = [RunRow(f"w{i:02d}", 3, start_time=i, metrics={"d": i / 7}, params={"p": "ab"[i % 2]}) for i in range(30)]
    add_runs(pg_runs, *rows)
    return pg_runs


@pytest.mark.postgres
@pytest.mark.parametrize("order_by", [[], ["metrics.d DESC"], ["metrics.d"]])
def test_a_window_answers_a_page_that_ends_inside_it(distinct_runs: Engine, order_by: list[str]) -> None:
    comparisons = parse_filter("params.p = 'a'", RUN_SEARCH)
    keys = parse_order_by(order_by, RUN_SEARCH)
    window = window_query(comparisons, keys, [3], ("active",), 2, 5, size=20)
    assert window is not None
    with distinct_runs.connect() as conn, conn.begin():
        page = _page_from_window(conn, window, 5)
        expected = [row[0] for row in conn.execute(runs_query(comparisons, keys, [3], ("active",), 2, 5))]
    assert (expected, 5) == (page, len(expected))


@pytest.mark.postgres
@pytest.mark.parametrize("shape", [RunQueryShape.PER_RUN, RunQueryShape.CANDIDATES])
def test_postgresql_shapes_leave_out_experiments_the_caller_may_not_see(pg_runs: Engine, shape: RunQueryShape) -> None:
    only_one = Visible(allowed=frozenset({"2"}))
    expected = _ids(pg_runs, "metrics.m > 0", ["metrics.m DESC"], 0, 1000, visible=only_one)
    got = _ids(pg_runs, "metrics.m > 0", ["metrics.m DESC"], 0, 1000, visible=only_one, shape=shape)
    assert (expected, True) == (got, bool(expected))


def test_window_is_only_offered_for_an_order_an_index_can_read() -> None:
    def offered(filter_string: str, order_by: list[str], experiments: Sequence[int] = (1,)) -> bool:
        comparisons = parse_filter(filter_string, RUN_SEARCH)
        keys = parse_order_by(order_by, RUN_SEARCH)
        return window_query(comparisons, keys, experiments, ("active",), 0, 10) is not None

    assert [True, True, True, False, False] == [
        offered("", []),  # start_time DESC within one experiment
        offered("", ["metrics.m"]),
        offered("metrics.m > 1", ["metrics.m DESC", "params.p"]),
        offered("", [], experiments=(1, 2)),  # the runs index orders one experiment only
        offered("", ["params.p"]),  # params sort by code point, which their index does not
    ]
