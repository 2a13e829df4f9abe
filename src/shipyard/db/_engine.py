"""Engine set-up for SQLite and PostgreSQL, migrations at open, and the single write path."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from shipyard.errors import InvalidParameter, MissingExtra

__all__ = ["Database", "open_database"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


@dataclass
class Database:
    """An engine plus the write discipline the store needs.

    On SQLite every write goes through one lock per process and starts with ``BEGIN IMMEDIATE``, so
    concurrent writers queue instead of failing with "database is locked"; readers run in parallel (WAL).
    """

    engine: Engine
    is_sqlite: bool
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success and rolled back on error."""
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
        """A connection for reads (one consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _normalise_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=32)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that we can issue BEGIN IMMEDIATE for writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_exclusive", False):  # migrations: no other connection reads or writes meanwhile
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN")

    return engine


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open (and by default migrate to the newest schema) the metadata database at ``url``.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql://user@host/db``.
        migrate: run Alembic migrations up to head first.

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
        engine = _sqlite_engine(normalised)
    elif backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtra("psycopg", "postgres") from exc
        engine = create_engine(normalised, pool_size=8, max_overflow=16, pool_pre_ping=True)
    else:
        raise InvalidParameter(f"Unsupported store {backend!r}: use sqlite:///… or postgresql://….")
    database = Database(engine=engine, is_sqlite=backend == "sqlite")
    if migrate:
        from shipyard.db._migrate import upgrade_to_head

        upgrade_to_head(database.engine)
    return database
