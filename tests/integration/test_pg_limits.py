"""The database limits (issue 13, items 3 and 4): a statement timeout answered with 503 and Retry-After, queries
cancelled when their client leaves, migrations exempt from the timeout and followed by ANALYZE, and pools sized
from a connection budget shared by the workers.

A "slow query" here is a real one: a read blocked behind ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` held by another
connection (PostgreSQL counts the wait against ``statement_timeout``, and the blocked backend shows in
``pg_stat_activity`` until it is cancelled), ``pg_sleep``, or on SQLite a recursive query that runs for seconds.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from shipyard.config import Settings
from shipyard.db import connection_budget_warning, current_revision, head_revision, open_database, pool_size_for
from shipyard.db._migrate import _LOCK_KEY, _migration_lock
from shipyard.errors import StatementTimeout
from shipyard.server import create_app
from shipyard.server._disconnect import cancels_on_disconnect
from tests.conftest import _reset_pg
from tests.support.servers import _launch, free_port

API = "/api/2.0/mlflow"
SLOW_SQLITE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000) SELECT count(*) FROM c"
)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied (no schema at all) for this test."""
    _reset_pg(pg_database)
    return pg_database


def _psycopg(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


@contextlib.contextmanager
def locked(url: str, *tables: str) -> Iterator[None]:
    """Hold ACCESS EXCLUSIVE locks on ``tables`` from another connection: every read of them waits."""
    conn = _psycopg(url)
    try:
        conn.execute("BEGIN")
        for table in tables:
            conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _waiting_on_locks(url: str) -> int:
    with _psycopg(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0])


# ---------------------------------------------------------------------------------------------------------------
# Statement timeout


@pytest.mark.postgres
def test_postgresql_statement_past_the_timeout_raises_statement_timeout(pg_url: str) -> None:
    database = open_database(pg_url, statement_timeout_s=0.2)
    try:
        with pytest.raises(StatementTimeout) as raised, database.read() as conn:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
        with database.read() as conn:  # the pool is still usable
            after = conn.exec_driver_sql("SELECT 1").scalar_one()
    finally:
        database.dispose()
    assert (1, True, 1) == (raised.value.retry_after_s, "0.2 s" in raised.value.message, after)


def test_sqlite_statement_past_the_timeout_is_interrupted(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 's.db'}", statement_timeout_s=0.2)
    try:
        with pytest.raises(StatementTimeout) as raised, database.read() as conn:
            conn.exec_driver_sql(SLOW_SQLITE).scalar_one()
        with database.read() as conn:
            after = conn.exec_driver_sql("SELECT 1").scalar_one()
    finally:
        database.dispose()
    assert (1, 1) == (raised.value.retry_after_s, after)


def test_sqlite_migration_transaction_is_not_subject_to_the_timeout(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 's.db'}", statement_timeout_s=0.05)
    quick = SLOW_SQLITE.replace("200000000", "1000000")  # several times the timeout on any machine
    try:
        with _migration_lock(database.engine) as conn:
            counted = conn.exec_driver_sql(quick).scalar_one()
    finally:
        database.dispose()
    assert 1_000_000 == counted


@pytest.mark.postgres
def test_a_server_waiting_for_another_upgrade_longer_than_the_timeout_still_comes_up(pg_url: str) -> None:
    """The wait for the migration lock is exempt: a second server must not die because the first takes its time."""
    holder = _psycopg(pg_url)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    threading.Timer(1.5, lambda: holder.execute("COMMIT")).start()
    database = open_database(pg_url, statement_timeout_s=0.3)
    try:
        revision = current_revision(database.engine)
    finally:
        database.dispose()
        holder.close()
    assert head_revision(database.engine) == revision


@pytest.mark.postgres
def test_an_upgrade_on_postgresql_leaves_statistics_on_every_table(pg_url: str) -> None:
    database = open_database(pg_url)
    try:
        with database.read() as conn:
            never = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reltuples < 0 "
                    "AND c.relname <> 'alembic_version'"
                )
            ).scalar_one()
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")).scalar()
    finally:
        database.dispose()
    assert (0, True) == (never, tables > 20)  # reltuples is -1 until a table is first analysed


def test_an_upgrade_on_sqlite_writes_no_statistics(tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path / 's.db'}").dispose()
    with contextlib.closing(sqlite3.connect(tmp_path / "s.db")) as conn:
        found = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0]
    assert 0 == found


# ---------------------------------------------------------------------------------------------------------------
# 503 with Retry-After on the MLflow API, the Shipyard API and the web UI


@pytest.fixture
def slow_client(pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, store_uri=pg_url, artifacts_uri=str(tmp_path / "a"), statement_timeout_s=0.3)
    app = create_app(settings)
    try:
        with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
            assert client.post(f"{API}/registered-models/create", json={"name": "m"}).status_code == 200
            yield client
    finally:
        app.state.context.registry.database.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("method", "path", "body", "table"),
    [
        ("POST", f"{API}/runs/search", {"experiment_ids": ["0"], "filter": "params.lr = '0.1'"}, "runs"),
        ("GET", "/ajax-api/2.0/mlflow/registered-models/search", None, "registered_models"),
        ("GET", "/api/v1/models/m/history", None, "events"),
    ],
    ids=["runs-search", "model-search", "shipyard-api"],
)
def test_a_timed_out_query_answers_503_with_retry_after(
    slow_client: TestClient, pg_url: str, method: str, path: str, body: dict[str, Any] | None, table: str
) -> None:
    with locked(pg_url, table):
        answer = slow_client.request(method, path, json=body)
    shape = (answer.status_code, answer.headers.get("retry-after"), answer.json()["error_code"])
    assert ((503, "1", "TEMPORARILY_UNAVAILABLE"), True) == (shape, "statement timeout" in answer.json()["message"])


@pytest.mark.postgres
def test_a_timed_out_ui_page_says_so_with_503(slow_client: TestClient, pg_url: str) -> None:
    with locked(pg_url, "runs"):
        answer = slow_client.get("/experiments/0")
    assert (503, True) == (answer.status_code, "statement timeout" in answer.text)


# ---------------------------------------------------------------------------------------------------------------
# A client that leaves has its query cancelled


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[str]:
    """``shipyard server`` on PostgreSQL, with a statement timeout far longer than the tests wait."""
    port = free_port()
    cmd = [sys.executable, "-m", "shipyard", "server", "--port", str(port), "--store", pg_url]
    cmd += ["--artifacts", str(tmp_path / "artifacts")]
    env = {"SHIPYARD_STATEMENT_TIMEOUT_S": "120", "SHIPYARD_HOME": str(tmp_path)}
    with _launch(cmd, f"http://127.0.0.1:{port}", tmp_path, 60.0, env) as server:
        yield server.url


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("method", "path", "body", "table"),
    [
        ("POST", f"{API}/runs/search", {"experiment_ids": ["0"], "order_by": ["metrics.acc DESC"]}, "runs"),
        ("GET", f"{API}/registered-models/search?filter=name%20LIKE%20%27a%25%27", None, "registered_models"),
        ("GET", "/experiments/0", None, "runs"),
    ],
    ids=["runs-search", "model-search", "ui-experiment-page"],
)
def test_a_query_whose_client_left_is_cancelled(
    pg_server: str, pg_url: str, method: str, path: str, body: dict[str, Any] | None, table: str
) -> None:
    with locked(pg_url, table):
        with pytest.raises(httpx.ReadTimeout):
            httpx.request(method, f"{pg_server}{path}", json=body, timeout=httpx.Timeout(5.0, read=1.0))
        # Still locked: only a cancel can end the server's wait now.
        deadline = time.monotonic() + 5.0
        while _waiting_on_locks(pg_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _waiting_on_locks(pg_url)
    assert 0 == left


@pytest.mark.postgres
def test_a_client_that_waits_gets_its_answer(pg_server: str, pg_url: str) -> None:
    """A query that is merely slow is not cancelled while its client is still there."""
    answers: list[httpx.Response] = []

    def search() -> None:
        answers.append(httpx.post(f"{pg_server}{API}/runs/search", json={"experiment_ids": ["0"]}, timeout=30))

    with locked(pg_url, "runs"):
        client = threading.Thread(target=search)
        client.start()
        time.sleep(1.5)  # the search waits behind the lock meanwhile
    client.join()
    assert [(200, {})] == [(a.status_code, a.json()) for a in answers]


def test_heavy_reads_are_the_ones_cancelled_on_disconnect() -> None:
    cases = [
        ("POST", "/api/2.0/mlflow/runs/search"),
        ("GET", "/ajax-api/2.0/mlflow/registered-models/search"),
        ("GET", "/api/2.0/mlflow/metrics/get-history"),
        ("GET", "/api/v1/models/m/history"),
        ("GET", "/experiments/3"),
        ("POST", "/api/2.0/mlflow/runs/log-batch"),
        ("GET", "/api/2.0/mlflow/runs/get"),
        ("GET", "/ui/static/app.css"),
        ("POST", "/models/m/aliases"),
    ]
    assert [True, True, True, True, True, False, False, False, False] == [cancels_on_disconnect(*c) for c in cases]


# ---------------------------------------------------------------------------------------------------------------
# Connection budget


def test_each_worker_gets_an_equal_share_of_the_budget() -> None:
    assert [(8, 16), (6, 13), (1, 2), (1, 0)] == [
        pool_size_for(77, 1),  # one worker: at most what it always had
        pool_size_for(77, 4),
        pool_size_for(12, 4),
        pool_size_for(3, 8),  # never below one connection
    ]


@pytest.mark.postgres
def test_the_pool_is_sized_from_the_servers_max_connections(pg_url: str) -> None:
    with _psycopg(pg_url) as conn:
        max_connections, reserved = conn.execute(
            "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int"
        ).fetchone()
    database = open_database(pg_url, workers=4, migrate=False)
    try:
        sized = (database.pool_size, database.max_overflow)
    finally:
        database.dispose()
    assert pool_size_for(int((max_connections - reserved) * 0.8), 4) == sized


@pytest.mark.postgres
def test_start_up_warns_when_the_budget_cannot_be_met(pg_url: str) -> None:
    database = open_database(pg_url, migrate=False)
    try:
        warnings = [
            connection_budget_warning(database, workers=1),
            connection_budget_warning(database, workers=40),
            connection_budget_warning(database, workers=2, budget=100_000),
        ]
    finally:
        database.dispose()
    assert [None, True, True] == [
        warnings[0],
        warnings[1] is not None and "fewer than 4" in warnings[1],
        warnings[2] is not None and "SHIPYARD_DB_CONNECTIONS=100000 is more than" in warnings[2],
    ]


def test_sqlite_has_no_connection_budget(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 's.db'}", migrate=False)
    try:
        assert connection_budget_warning(database, workers=64) is None
    finally:
        database.dispose()


def test_settings_read_the_limits_from_the_environment() -> None:
    env = {"SHIPYARD_STATEMENT_TIMEOUT_S": "0", "SHIPYARD_DB_CONNECTIONS": "40", "SHIPYARD_SERVER_WORKERS": "4"}
    read = Settings.from_env(env)
    default = Settings.from_env({})
    assert [(0.0, 40, 4), (30.0, 0, 1)] == [
        (read.statement_timeout_s, read.db_connection_budget, read.server_workers),
        (default.statement_timeout_s, default.db_connection_budget, default.server_workers),
    ]
