"""Cancelling database work: a request's reads when its client goes away, any statement past its time limit.

The server opens a `QueryScope` around a request (`query_scope`); every read transaction started under it
(`Database.read`, in whichever worker thread: the scope travels in a context variable, which Starlette's thread
pool copies) registers its DBAPI connection. `QueryScope.cancel`, called from the event loop when the client has
gone, interrupts what those connections are running: ``cancel_safe()`` on PostgreSQL, ``interrupt()`` on SQLite.
A cancelled connection is discarded rather than pooled, so that a late cancel cannot reach the next request.

`cancelled_error` turns what the database raises on a cancel or a timeout into `QueryCancelled` or `StatementTimeout`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from shipyard.errors import QueryCancelled, ShipyardError, StatementTimeout

__all__ = ["QueryScope", "cancelled_error", "current_scope", "query_scope"]

_log = logging.getLogger("shipyard.db")
_SCOPE: ContextVar[QueryScope | None] = ContextVar("shipyard_query_scope", default=None)
_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by a timeout or a cancel request
GONE = "The request's client disconnected, so its database query was cancelled."


class QueryScope:
    """The database connections one request is reading with, so that another thread can cancel them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancels: dict[int, Callable[[], None]] = {}
        self.cancelled = False

    @property
    def busy(self) -> bool:
        """Whether a read is under way (registered and not yet finished)."""
        return bool(self._cancels)

    def cancel(self) -> None:
        """Interrupt every read under way and refuse new ones (blocking: a cancel request to PostgreSQL)."""
        with self._lock:
            self.cancelled = True
            cancels = list(self._cancels.values())
        for cancel in cancels:
            try:
                cancel()
            except Exception as exc:  # the query may have ended meanwhile: nothing left to interrupt
                _log.debug("cancel failed: %s", exc)

    def register(self, dbapi_connection: Any) -> int:
        """Record a connection starting a read; raises `QueryCancelled` when the client is already gone."""
        with self._lock:
            if self.cancelled:
                raise QueryCancelled(GONE)
            key = id(dbapi_connection)
            self._cancels[key] = _canceller(dbapi_connection)
            return key

    def unregister(self, key: int) -> None:
        """The read that `register` returned ``key`` for has finished."""
        with self._lock:
            self._cancels.pop(key, None)


def _canceller(dbapi_connection: Any) -> Callable[[], None]:
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.interrupt
    if hasattr(dbapi_connection, "cancel_safe"):  # psycopg >= 3.2: a bounded wait, and the GIL released meanwhile
        return lambda: dbapi_connection.cancel_safe(timeout=5.0)
    cancel: Callable[[], None] = dbapi_connection.cancel
    return cancel


def current_scope() -> QueryScope | None:
    """The scope of the request this code runs for, if any."""
    return _SCOPE.get()


@contextlib.contextmanager
def query_scope() -> Iterator[QueryScope]:
    """Open a scope for the reads of the code run inside (and in threads started from its context)."""
    scope = QueryScope()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def _interrupted(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig) == "interrupted"
    return getattr(orig, "sqlstate", None) == _QUERY_CANCELED


def cancelled_error(exc: BaseException, *, timeout_s: float, scope: QueryScope | None = None) -> ShipyardError | None:
    """The Shipyard error for a statement the database cancelled, or None for any other failure.

    Args:
        exc: what SQLAlchemy raised (its ``orig`` is the driver's error).
        timeout_s: the statement timeout in force, for the message.
        scope: the request's scope: when it was cancelled, the client is gone and the timeout played no part.
    """
    if not _interrupted(getattr(exc, "orig", None)):
        return None
    if scope is not None and scope.cancelled:
        return QueryCancelled(GONE)
    limit = f"{timeout_s:g} s" if timeout_s > 0 else "its time limit"
    return StatementTimeout(
        f"The query ran longer than the server's statement timeout ({limit}) and was cancelled. Narrow it (a "
        "tighter filter, fewer experiments, a smaller page) or retry later; the limit is SHIPYARD_STATEMENT_TIMEOUT_S.",
        retry_after_s=max(1, math.ceil(timeout_s)),
    )
