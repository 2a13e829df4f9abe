"""Run search on a PostgreSQL database that was never analysed reads nothing repeatedly except by run id.

On commit 665ca51 such a database answered a filtered, ordered search in 230 s: without statistics the planner
guessed one row per filter and, for every run, rescanned all runs holding the param value (a nested loop over the
params index). Every statement a search sends is run here under EXPLAIN ANALYZE: a table read more than once in a
statement must be read by run id (an exact lookup), and no intermediate result may be rescanned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from shipyard.db import Database, open_database
from shipyard.tracking._run_search import search_run_ids
from shipyard.tracking._search_sql import RunQueryShape, runs_query
from shipyard.tracking.entities import ViewType
from shipyard.tracking.search import RUN_SEARCH, parse_filter, parse_order_by
from shipyard.tracking.store import TrackingStore
from tests.conftest import PG_ADMIN_URL, require_postgres

pytestmark = pytest.mark.postgres

N_RUNS = 3_000
TABLES = ("runs", "params", "latest_metrics", "tags")
SEARCHES = [
    ("params.lr = '0.01' and metrics.acc > 0.5", ["metrics.acc DESC"]),
    ("params.lr = '0.01'", []),
    ("params.model = 'rf' and tags.team = 'vision'", ["params.depth"]),
    ("metrics.acc > 0.99 and params.lr != '0.3'", ["start_time"]),
    ("tags.team IS NULL", ["metrics.loss"]),
    ("", ["metrics.acc DESC"]),
]


@pytest.fixture(scope="module")
def unanalysed() -> Iterator[Database]:
    """A fresh database at head with 3,000 runs loaded in bulk, autovacuum off, never analysed."""
    require_postgres()
    import psycopg

    name = f"shipyard_plans_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database = open_database(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        with database.engine.begin() as conn:
            _load(conn)
        yield database
    finally:
        database.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load(conn: Connection) -> None:
    for table in TABLES:
        conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    conn.exec_driver_sql(
        "INSERT INTO experiments VALUES (1, 'e', '/tmp/a', 'active', 0, 0), (2, 'other', '/tmp/b', 'active', 0, 0)"
    )
    conn.exec_driver_sql(
        "INSERT INTO runs SELECT md5(i::text), 1 + (mod(i, 10) = 0)::int, 'run-' || i, 'u', 'FINISHED', i, NULL, NULL, "
        f"'active', '' FROM generate_series(1, {N_RUNS}) i"
    )
    conn.exec_driver_sql(
        "INSERT INTO params SELECT md5(i::text), k, CASE k "
        "WHEN 'lr' THEN (ARRAY['0.01','0.03','0.1','0.3'])[1 + mod(i, 4)] "
        "WHEN 'model' THEN (ARRAY['rf','xgb','lr'])[1 + mod(i, 3)] ELSE mod(i, 11)::text END "
        f"FROM generate_series(1, {N_RUNS}) i, unnest(ARRAY['lr', 'model', 'depth']) k"
    )
    conn.exec_driver_sql(
        "INSERT INTO latest_metrics SELECT md5(i::text), k, 0, 0, mod(i * 7919, 10007) / 10007.0, false "
        f"FROM generate_series(1, {N_RUNS}) i, unnest(ARRAY['acc', 'loss']) k"
    )
    conn.exec_driver_sql(
        "INSERT INTO tags SELECT md5(i::text), 'team', (ARRAY['vision','nlp'])[1 + mod(i, 2)] "
        f"FROM generate_series(1, {N_RUNS}) i WHERE mod(i, 5) <> 0"
    )


def _rescans(plan: dict[str, Any]) -> list[str]:
    """Nodes that read a table more than once other than by run id, or rescan an intermediate result."""
    found = []
    loops = plan.get("Actual Loops", 1)
    relation = plan.get("Relation Name")
    condition = plan.get("Index Cond", "") or plan.get("Recheck Cond", "")  # a bitmap scan rechecks its index's
    if loops > 1 and relation in TABLES and "run_uuid" not in condition:
        found.append(f"{plan['Node Type']} on {relation} x{loops}: {condition}")
    if loops > 1 and plan["Node Type"] in ("CTE Scan", "Materialize", "WorkTable Scan"):
        found.append(f"{plan['Node Type']} x{loops}")
    for child in plan.get("Plans", []):
        found += _rescans(child)
    return found


class _Explained:
    """Runs every statement a connection sends under EXPLAIN ANALYZE first, and keeps what it finds."""

    def __init__(self, engine: Engine) -> None:
        self.rescans: list[str] = []
        self.statements = 0
        self.engine = engine

    def __enter__(self) -> _Explained:
        event.listen(self.engine, "before_cursor_execute", self._explain)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._explain)

    def _explain(self, _conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            return
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        (plan,) = cursor.fetchone()[0]
        self.statements += 1
        self.rescans += _rescans(plan["Plan"])


@pytest.mark.parametrize(("filter_string", "order_by"), SEARCHES)
@pytest.mark.parametrize("large", [False, True], ids=["per-run", "large-experiment"])
def test_search_reads_tables_repeatedly_only_by_run_id(
    unanalysed: Database, filter_string: str, order_by: list[str], large: bool
) -> None:
    knobs = {"per_run_max_runs": 0, "window_size": 50} if large else {}
    with _Explained(unanalysed.engine) as explained, unanalysed.read() as conn:
        search_run_ids(
            conn,
            sqlite=False,
            comparisons=parse_filter(filter_string, RUN_SEARCH),
            order_keys=parse_order_by(order_by, RUN_SEARCH),
            experiment_ids=[1],
            lifecycle_stages=("active",),
            offset=0,
            limit=101,
            **knobs,  # type: ignore[arg-type]
        )
    assert ([], True) == (explained.rescans, explained.statements >= 2)


def test_loading_a_page_of_runs_reads_each_run_by_id(unanalysed: Database) -> None:
    store = TrackingStore(unanalysed)
    with _Explained(unanalysed.engine) as explained:
        page, _ = store.search_runs(["1"], "params.lr = '0.01'", ViewType.ACTIVE_ONLY, 100, [], None)
    assert ([], 100) == (explained.rescans, len(page))


def test_the_check_catches_the_plan_that_took_230_seconds(unanalysed: Database) -> None:
    """The join shape (what PostgreSQL got before) is still planned as the slow nested loop on this database."""
    query = runs_query(
        parse_filter("params.lr = '0.01' and metrics.acc > 0.5", RUN_SEARCH),
        parse_order_by(["metrics.acc DESC"], RUN_SEARCH),
        [1],
        ("active",),
        0,
        101,
        shape=RunQueryShape.JOINS,
    )
    compiled = query.compile(unanalysed.engine, compile_kwargs={"literal_binds": True})
    with unanalysed.read() as conn:
        explained = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}").scalar_one()
    found = _rescans((json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"])
    assert found, "the join shape no longer rescans: this check may have stopped catching anything"
