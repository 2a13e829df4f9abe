"""Engine set-up for SQLite and PostgreSQL, migrations at open, and the single write path.

Two limits keep one slow query from hurting everyone: a statement timeout (PostgreSQL's ``statement_timeout``,
set on each connection; on SQLite a progress handler that interrupts a statement past its deadline), and a
connection budget shared by every worker process (PostgreSQL only), from which each engine's pool is sized.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from shipyard.db._cancel import GONE, QueryScope, cancelled_error, current_scope
from shipyard.errors import InvalidParameter, MissingExtra, QueryCancelled

__all__ = ["ConnectionLimits", "Database", "connection_budget_warning", "open_database", "pool_size_for"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)
# SQLite calls the progress handler every this many virtual-machine steps (some tens of microseconds of work).
_PROGRESS_STEPS = 20_000
# One worker's pool never grows past this (what a single worker had before budgets): 8 kept, 16 more on demand.
_MAX_PER_WORKER = 24
# The default budget: this share of the connections PostgreSQL allows ordinary users (the rest is left to psql,
# backups, monitoring and the other clients of the server).
_DEFAULT_SHARE = 0.8
# Fewer connections than this per worker and requests queue for one under moderate load.
_MIN_PER_WORKER = 4


@dataclass
class Database:
    """An engine plus the write discipline the store needs.

    On SQLite every write goes through one lock per process and starts with ``BEGIN IMMEDIATE``, so
    concurrent writers queue instead of failing with "database is locked"; readers run in parallel (WAL).
    Reads started inside a `query_scope` can be cancelled from another thread; a statement cancelled by the
    statement timeout (or by the scope) raises `StatementTimeout` (or `QueryCancelled`).
    """

    engine: Engine
    is_sqlite: bool
    statement_timeout_s: float = 0.0
    pool_size: int = 0  # connections kept per process (PostgreSQL; 0 on SQLite)
    max_overflow: int = 0  # more connections opened on demand
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success and rolled back on error."""
        with self._translated(None):
            if not self.is_sqlite:
                with self.engine.begin() as conn:
                    yield conn
                return
            with (
                self._write_lock,
                self.engine.connect().execution_options(sqlite_immediate=True) as conn,
                conn.begin(),
            ):
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (one consistent snapshot), cancellable through the request's `QueryScope`."""
        scope = current_scope()
        with self.engine.connect() as conn, self._translated(scope), self._cancellable(conn, scope), conn.begin():
            yield conn

    @contextlib.contextmanager
    def _cancellable(self, conn: Connection, scope: QueryScope | None) -> Iterator[None]:
        if scope is None:
            yield
            return
        key = scope.register(conn.connection.dbapi_connection)
        conn.info["shipyard_scope"] = scope
        try:
            yield
        finally:
            conn.info.pop("shipyard_scope", None)
            scope.unregister(key)
            if scope.cancelled:
                conn.invalidate()  # a cancel may still be on its way: this backend serves no one else

    @contextlib.contextmanager
    def _translated(self, scope: QueryScope | None) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            error = cancelled_error(exc, timeout_s=self.statement_timeout_s, scope=scope)
            if error is None:
                raise
            raise error from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class ConnectionLimits(NamedTuple):
    """What PostgreSQL allows, and the share of it Shipyard's workers may use together."""

    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections on PostgreSQL 16)
    budget: int  # total for all workers: the setting, or the default share of what ordinary users get

    @property
    def available(self) -> int:
        """Connections PostgreSQL gives ordinary users."""
        return self.max_connections - self.reserved


def pool_size_for(budget: int, workers: int) -> tuple[int, int]:
    """``(pool_size, max_overflow)`` for one of ``workers`` processes sharing ``budget`` connections.

    A third of a worker's share is kept open, the rest opened on demand; a share is capped at 24 (8 + 16), what one
    worker had before budgets, and never below one connection.

    Example:
        >>> pool_size_for(77, 4)
        (6, 13)
    """
    share = max(1, min(_MAX_PER_WORKER, budget // max(1, workers)))
    kept = max(1, share // 3)
    return kept, share - kept


def _default_budget(available: int) -> int:
    return max(1, int(available * _DEFAULT_SHARE))


def _server_limits(conn: Any, budget: int) -> ConnectionLimits:
    row = conn.exec_driver_sql(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int"
        " + coalesce(current_setting('reserved_connections', true), '0')::int"
    ).one()
    max_connections, reserved = int(row[0]), int(row[1])
    return ConnectionLimits(max_connections, reserved, budget or _default_budget(max_connections - reserved))


def resolved_connection_budget(database: Database, budget: int = 0) -> int | None:
    """The total connection budget ``budget`` stands for (0: the default share of ``max_connections``), read once
    so that ``shipyard server`` can hand it to its workers; None on SQLite, which has no connection limit."""
    if database.is_sqlite:
        return None
    with database.engine.connect() as conn:
        return _server_limits(conn, budget).budget


def connection_budget_warning(database: Database, workers: int, budget: int = 0) -> str | None:
    """A sentence for ``shipyard server`` to print at start when the connection budget cannot work, else None.

    Args:
        database: the metadata store (SQLite has no connection limit: always None).
        workers: server worker processes sharing the budget.
        budget: the configured total (``SHIPYARD_DB_CONNECTIONS``); 0 for the default share of ``max_connections``.

    Example:
        >>> connection_budget_warning(open_database("sqlite:///s.db"), workers=4)  # doctest: +SKIP
    """
    if database.is_sqlite:
        return None
    with database.engine.connect() as conn:
        limits = _server_limits(conn, budget)
    allowed = (
        f"the {limits.available} connections PostgreSQL allows ordinary users (max_connections "
        f"{limits.max_connections} minus {limits.reserved} reserved)"
    )
    if limits.budget > limits.available:
        return (
            f"SHIPYARD_DB_CONNECTIONS={limits.budget} is more than {allowed}: under load, workers will be refused "
            "connections. Lower it, or raise max_connections."
        )
    share = limits.budget // max(1, workers)
    if share < _MIN_PER_WORKER:
        source = "SHIPYARD_DB_CONNECTIONS" if budget else f"{_DEFAULT_SHARE:.0%} of {allowed}"
        return (
            f"{workers} workers share a budget of {limits.budget} database connections ({source}): {max(share, 1)} "
            f"each, fewer than {_MIN_PER_WORKER}, so requests will wait for a connection under load. Use fewer "
            "workers, or raise max_connections (and SHIPYARD_DB_CONNECTIONS)."
        )
    return None


def _normalise_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class _Deadline:
    """When the statement running on one SQLite connection must stop (its progress handler reads this)."""

    def __init__(self) -> None:
        self.at = math.inf

    def passed(self) -> int:
        return 1 if time.monotonic() > self.at else 0


def _sqlite_engine(url: str, statement_timeout_s: float) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=32)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Take transaction control from pysqlite so that we can issue BEGIN IMMEDIATE for writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()
        if statement_timeout_s > 0:
            deadline = record.info["shipyard_deadline"] = _Deadline()
            dbapi_conn.set_progress_handler(deadline.passed, _PROGRESS_STEPS)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_exclusive", False):  # migrations: no other connection reads or writes meanwhile
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN")

    if statement_timeout_s > 0:

        @event.listens_for(engine, "before_cursor_execute")
        def _start_clock(conn: Connection, *_: Any) -> None:
            deadline = conn.info.get("shipyard_deadline")
            if deadline is not None:
                migrating = conn.get_execution_options().get("sqlite_exclusive", False)
                deadline.at = math.inf if migrating else time.monotonic() + statement_timeout_s

    return engine


def _postgresql_engine(url: str, statement_timeout_s: float, connection_budget: int, workers: int) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("psycopg", "postgres") from exc
    connect_args: dict[str, Any] = {}
    if statement_timeout_s > 0:
        # Per connection, so that nothing else sharing the server is affected; migrations lift it (SET LOCAL).
        connect_args["options"] = f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}"
    if not connection_budget:
        probe = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        try:
            with probe.connect() as conn:
                connection_budget = _server_limits(conn, 0).budget
        finally:
            probe.dispose()
    pool_size, max_overflow = pool_size_for(connection_budget, workers)
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, connect_args=connect_args
    )


def open_database(
    url: str,
    *,
    migrate: bool = True,
    statement_timeout_s: float = 0.0,
    connection_budget: int = 0,
    workers: int = 1,
) -> Database:
    """Open (and by default migrate to the newest schema) the metadata database at ``url``.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql://user@host/db``.
        migrate: run Alembic migrations up to head first (never subject to the statement timeout).
        statement_timeout_s: cancel any statement running longer than this (0: no limit); the server passes
            ``Settings.statement_timeout_s``.
        connection_budget: PostgreSQL connections all ``workers`` processes may hold together; 0 for 80% of what
            the server allows ordinary users (read from it at open).
        workers: processes sharing ``connection_budget``; this one's pool gets its share (see `pool_size_for`).

    Raises:
        InvalidParameter: the URL names a database Shipyard does not support.
        MissingExtra: PostgreSQL was asked for without ``shipyard[postgres]``.
    """
    try:
        normalised = _normalise_url(url)
    except Exception as exc:
        raise InvalidParameter(f"Not a database URL: {url!r} ({exc}).") from exc
    backend = make_url(normalised).get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(normalised, statement_timeout_s)
    elif backend == "postgresql":
        engine = _postgresql_engine(normalised, statement_timeout_s, connection_budget, workers)
    else:
        raise InvalidParameter(f"Unsupported store {backend!r}: use sqlite:///… or postgresql://….")
    _refuse_cancelled_scopes(engine)
    pool = engine.pool
    database = Database(
        engine=engine,
        is_sqlite=backend == "sqlite",
        statement_timeout_s=statement_timeout_s,
        pool_size=0 if backend == "sqlite" else int(getattr(pool, "size", lambda: 0)()),
        max_overflow=0 if backend == "sqlite" else int(getattr(pool, "_max_overflow", 0)),
    )
    if migrate:
        from shipyard.db._migrate import upgrade_to_head

        upgrade_to_head(database.engine)
    return database


def _refuse_cancelled_scopes(engine: Engine) -> None:
    """A read whose request was cancelled between two statements sends no further statement."""

    @event.listens_for(engine, "before_cursor_execute")
    def _check(conn: Connection, *_: Any) -> None:
        scope = conn.info.get("shipyard_scope")
        if scope is not None and scope.cancelled:
            raise QueryCancelled(GONE)
