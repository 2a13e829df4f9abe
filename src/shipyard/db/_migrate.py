"""Run Alembic migrations programmatically: cheaply when the schema is current, under a lock when it is not.

Several servers (or workers) may start at once on one fresh database. Each checks the revision without a lock
(one query, the common case); one that finds the schema behind takes the migration lock (a transaction-level
advisory lock on PostgreSQL, an exclusive transaction on SQLite), checks again, and migrates on that same
connection, so the others wait and then find the schema at head. A database stamped with a revision this
Shipyard does not know (a newer release migrated it) is refused with one sentence, not a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from shipyard.errors import InvalidState

__all__ = ["alembic_config", "check_schema", "current_revision", "head_revision", "upgrade_to_head"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: any constant shared by every Shipyard process ("shipyard" as a 63-bit number).
_LOCK_KEY = int.from_bytes(b"shipyard", "big") >> 1


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at Shipyard's migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str:
    """The newest revision this Shipyard knows."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def check_schema(engine: Engine) -> None:
    """Refuse a schema that is not at head (for ``shipyard server --no-migrate``), naming the command to run.

    Raises:
        InvalidState: the schema is behind (or empty), or newer than this Shipyard knows.
    """
    current, head = current_revision(engine), head_revision(engine)
    if current == head:
        return
    _refuse_unknown(engine, current)
    shown = "empty" if current is None else f"at revision {current}"
    raise InvalidState(
        f"The database is {shown}, behind this Shipyard's schema ({head}): run `shipyard db upgrade` first, "
        "or start without --no-migrate."
    )


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op (one query) when it is already there.

    Raises:
        InvalidState: the database was migrated by a newer Shipyard.
    """
    head = head_revision(engine)
    if current_revision(engine) == head:
        return
    with _migration_lock(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()  # another process may have migrated
        if current == head:
            return
        _refuse_unknown(engine, current)
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _refuse_unknown(engine: Engine, current: str | None) -> None:
    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config(engine)).get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise InvalidState(
            f"The database is at schema revision {current!r}, which this Shipyard does not know: a newer release "
            "migrated it. Upgrade Shipyard (pip install -U shipyard), or point it at another database."
        )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock; committed when the block ends."""
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(sqlite_exclusive=True) as conn, conn.begin():
            yield conn
        return
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        yield conn
